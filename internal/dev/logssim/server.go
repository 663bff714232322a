// Package logssim is a contract server (test double) for the part of Amazon CloudWatch Logs that
// ragmigrate reads: GetLogEvents, in the AWS JSON 1.1 protocol the SDK speaks (POST / with
// X-Amz-Target: Logs_20140328.<Operation>), reached through AWS_ENDPOINT_URL_CLOUDWATCH_LOGS.
//
// Its events are written by the ECS contract server (internal/dev/ecssim), which feeds each line a
// task's process prints into the task definition's awslogs group and stream, as the awslogs log
// driver does. Events are kept under the directory the server is given, so that they survive a
// restart of the stack, as real log groups outlive their tasks.
//
// It is part of the development rig and never linked into the operator's binary.
package logssim

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ragmigrate/ragmigrate/internal/dev/awssim"
)

// TargetPrefix is the X-Amz-Target prefix of CloudWatch Logs.
const TargetPrefix = "Logs_20140328"

// Event is one log event as GetLogEvents returns it.
type Event struct {
	Timestamp     int64  `json:"timestamp"` // milliseconds since the epoch
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime"`
}

// maxEventBytes is CloudWatch Logs' limit on one event's message (256 KiB less the 26 bytes of
// overhead it counts); the awslogs driver splits longer lines.
const maxEventBytes = 256*1024 - 26

// defaultLimit is GetLogEvents' default and largest page (it also stops at 1 MB).
const defaultLimit = 10000

// Server is the CloudWatch Logs test double: an http.Handler, safe for concurrent use.
type Server struct {
	dir string

	mu     sync.Mutex
	groups map[string]map[string][]Event // group → stream → events in order
}

// New returns a server keeping its events under dir (created if missing), loading those a previous
// server left there.
func New(dir string) (*Server, error) {
	s := &Server{dir: dir, groups: map[string]map[string][]Event{}}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("logs: %w", err)
	}
	groups, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("logs: %w", err)
	}
	for _, g := range groups {
		if !g.IsDir() {
			continue
		}
		group, err := url.PathUnescape(g.Name())
		if err != nil {
			continue
		}
		s.groups[group] = map[string][]Event{}
		files, err := os.ReadDir(filepath.Join(dir, g.Name()))
		if err != nil {
			return nil, fmt.Errorf("logs: %w", err)
		}
		for _, f := range files {
			name, ok := strings.CutSuffix(f.Name(), ".jsonl")
			if !ok {
				continue
			}
			stream, err := url.PathUnescape(name)
			if err != nil {
				continue
			}
			events, err := readEvents(filepath.Join(dir, g.Name(), f.Name()))
			if err != nil {
				return nil, fmt.Errorf("logs: load %s/%s: %w", group, stream, err)
			}
			s.groups[group][stream] = events
		}
	}
	return s, nil
}

func readEvents(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	events := []Event{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 2*maxEventBytes)
	for sc.Scan() {
		var e Event
		// A line cut short by a crash mid-write is dropped, not fatal.
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			events = append(events, e)
		}
	}
	return events, sc.Err()
}

func (s *Server) streamPath(group, stream string) string {
	return filepath.Join(s.dir, url.PathEscape(group), url.PathEscape(stream)+".jsonl")
}

// CreateStream creates the log group (if missing) and the stream, as the awslogs driver does when
// a container starts (with awslogs-create-group). An existing stream is kept.
func (s *Server) CreateStream(group, stream string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createLocked(group, stream)
}

func (s *Server) createLocked(group, stream string) error {
	if s.groups[group] == nil {
		s.groups[group] = map[string][]Event{}
	}
	if _, ok := s.groups[group][stream]; ok {
		return nil
	}
	path := s.streamPath(group, stream)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	s.groups[group][stream] = []Event{}
	return f.Close()
}

// Put appends one line to a stream (creating it if needed), split into events of at most
// CloudWatch's size, stamped at. Events keep the order of the calls.
func (s *Server) Put(group, stream string, at time.Time, message string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.createLocked(group, stream); err != nil {
		return err
	}
	f, err := os.OpenFile(s.streamPath(group, stream), os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	ms := at.UnixMilli()
	for first := true; first || message != ""; first = false {
		part := message
		if len(part) > maxEventBytes {
			part = part[:maxEventBytes]
		}
		message = message[len(part):]
		e := Event{Timestamp: ms, Message: part, IngestionTime: time.Now().UnixMilli()}
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if _, err := f.Write(append(b, '\n')); err != nil {
			return err
		}
		s.groups[group][stream] = append(s.groups[group][stream], e)
	}
	return nil
}

// Events returns a copy of a stream's events, for tests.
func (s *Server) Events(group, stream string) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.groups[group][stream]...)
}

// Register routes the CloudWatch Logs API on a.
func (s *Server) Register(a *awssim.Server) { a.HandleJSON(TargetPrefix, s) }

// ServeHTTP answers one call.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op, ok := awssim.JSONOperation(w, r, TargetPrefix)
	if !ok {
		return
	}
	switch op {
	case "GetLogEvents":
		s.getLogEvents(w, r)
	default:
		awssim.WriteJSONError(w, http.StatusBadRequest, "UnknownOperationException", "operation not supported by the contract server: "+op)
	}
}

type getLogEventsInput struct {
	LogGroupName       string `json:"logGroupName"`
	LogGroupIdentifier string `json:"logGroupIdentifier"`
	LogStreamName      string `json:"logStreamName"`
	StartTime          *int64 `json:"startTime"`
	EndTime            *int64 `json:"endTime"`
	NextToken          string `json:"nextToken"`
	Limit              *int   `json:"limit"`
	StartFromHead      *bool  `json:"startFromHead"`
}

// Tokens name a position in the stream: the index of the next event forward ("f/") or of the
// event after the last one backward ("b/"), padded and suffixed like the service's opaque tokens.
func token(dir byte, pos int) string { return fmt.Sprintf("%c/%056d/s", dir, pos) }

var errBadToken = errors.New("the specified nextToken is invalid")

func parseToken(t string) (dir byte, pos int, err error) {
	if len(t) < 4 || (t[0] != 'f' && t[0] != 'b') || t[1] != '/' || !strings.HasSuffix(t, "/s") {
		return 0, 0, errBadToken
	}
	pos, err = strconv.Atoi(t[2 : len(t)-2])
	if err != nil || pos < 0 {
		return 0, 0, errBadToken
	}
	return t[0], pos, nil
}

func (s *Server) getLogEvents(w http.ResponseWriter, r *http.Request) {
	var in getLogEventsInput
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		awssim.WriteJSONError(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	group := in.LogGroupName
	if in.LogGroupIdentifier != "" {
		if group != "" {
			awssim.WriteJSONError(w, http.StatusBadRequest, "InvalidParameterException", "LogGroupName and LogGroupIdentifier are mutually exclusive parameters.")
			return
		}
		// An ARN identifier ends with ":log-group:<name>"; anything else is the name.
		group = in.LogGroupIdentifier
		if i := strings.LastIndex(group, ":log-group:"); i >= 0 {
			group = strings.TrimSuffix(group[i+len(":log-group:"):], ":*")
		}
	}
	if group == "" || in.LogStreamName == "" {
		awssim.WriteJSONError(w, http.StatusBadRequest, "InvalidParameterException", "1 validation error detected: a log group and logStreamName are required")
		return
	}
	limit := defaultLimit
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > defaultLimit {
			awssim.WriteJSONError(w, http.StatusBadRequest, "InvalidParameterException",
				fmt.Sprintf("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and 10000", *in.Limit))
			return
		}
		limit = *in.Limit
	}
	s.mu.Lock()
	streams, ok := s.groups[group]
	if !ok {
		s.mu.Unlock()
		awssim.WriteJSONError(w, http.StatusBadRequest, "ResourceNotFoundException", "The specified log group does not exist.")
		return
	}
	all, ok := streams[in.LogStreamName]
	if !ok {
		s.mu.Unlock()
		awssim.WriteJSONError(w, http.StatusBadRequest, "ResourceNotFoundException", "The specified log stream does not exist.")
		return
	}
	// Only the events inside [startTime, endTime) count; positions index that selection, which is
	// stable for a given request shape because events are only ever appended.
	var events []Event
	for _, e := range all {
		if (in.StartTime == nil || e.Timestamp >= *in.StartTime) && (in.EndTime == nil || e.Timestamp < *in.EndTime) {
			events = append(events, e)
		}
	}
	s.mu.Unlock()

	forward := in.StartFromHead != nil && *in.StartFromHead
	var from, to int
	switch {
	case in.NextToken != "":
		dir, pos, err := parseToken(in.NextToken)
		if err != nil || pos > len(events) {
			awssim.WriteJSONError(w, http.StatusBadRequest, "InvalidParameterException", "The specified nextToken is invalid.")
			return
		}
		forward = dir == 'f'
		if forward {
			from, to = pos, min(pos+limit, len(events))
		} else {
			from, to = max(pos-limit, 0), pos
		}
	case forward:
		from, to = 0, min(limit, len(events))
	default:
		// Without a token and startFromHead, the service answers the most recent events.
		from, to = max(len(events)-limit, 0), len(events)
	}
	page := events[from:to]
	if page == nil {
		page = []Event{}
	}
	// At the end of the stream the forward token is the one given: a caller that follows
	// nextForwardToken knows it has read everything when the token comes back unchanged.
	awssim.WriteJSON(w, map[string]any{
		"events":            page,
		"nextForwardToken":  token('f', to),
		"nextBackwardToken": token('b', from),
	})
}
