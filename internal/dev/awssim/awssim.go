// Package awssim is the development rig's AWS control plane: one loopback HTTP server that hosts
// the contract servers (test doubles) of the AWS services that have no real server here —
// Service Quotas, CloudFormation, Secrets Manager, ECS, CloudWatch Logs, RDS and STS. The SDK
// reaches each of them through its AWS_ENDPOINT_URL_<SERVICE> variable, all set to this one
// address; the server tells the services apart the way their wire protocols do:
//
//   - AWS JSON protocols (Service Quotas, Secrets Manager, ECS, CloudWatch Logs) name the
//     operation in the X-Amz-Target header, "<TargetPrefix>.<Operation>";
//   - the AWS query protocol (CloudFormation, RDS, STS) posts a form whose Version names the
//     API (2010-05-15 for CloudFormation, 2014-10-31 for RDS, 2011-06-15 for STS) and Action
//     the operation.
//
// Knobs and inspection endpoints of each service live under /_dev/<service>/. The package is
// part of the development rig and never linked into the operator's binary.
package awssim

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
)

// maxQueryBody bounds the form body the dispatcher reads to find the query protocol's Version.
const maxQueryBody = 1 << 20

// Server routes each request to the service that owns it. It is safe for concurrent use.
type Server struct {
	mu    sync.RWMutex
	json  map[string]http.Handler // by X-Amz-Target prefix (before the dot)
	query map[string]http.Handler // by the query protocol's Version
	dev   *http.ServeMux
}

// New returns a server with no services.
func New() *Server {
	s := &Server{json: map[string]http.Handler{}, query: map[string]http.Handler{}, dev: http.NewServeMux()}
	s.dev.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	return s
}

// HandleJSON routes AWS JSON protocol calls whose X-Amz-Target starts with prefix + "." to h,
// e.g. "ServiceQuotasV20190624", "secretsmanager", "AmazonEC2ContainerServiceV20141113",
// "Logs_20140328".
func (s *Server) HandleJSON(prefix string, h http.Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.json[prefix] = h
}

// HandleQuery routes AWS query protocol calls whose form Version is version to h, e.g.
// "2010-05-15" (CloudFormation) or "2014-10-31" (RDS). h can read the form again: the body is
// restored after the dispatcher has looked at it.
func (s *Server) HandleQuery(version string, h http.Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.query[version] = h
}

// HandleDev registers a development endpoint (knobs, inspection) on pattern, which must start
// with "/_dev/<service>/" and may name a method ("POST /_dev/secretsmanager/rotate").
func (s *Server) HandleDev(pattern string, h http.Handler) { s.dev.Handle(pattern, h) }

// ServeHTTP dispatches one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" || strings.HasPrefix(r.URL.Path, "/_dev/") {
		s.dev.ServeHTTP(w, r)
		return
	}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		prefix, _, _ := strings.Cut(target, ".")
		s.mu.RLock()
		h := s.json[prefix]
		s.mu.RUnlock()
		if h == nil {
			WriteJSONError(w, http.StatusBadRequest, "UnknownOperationException", "no service here answers "+target)
			return
		}
		h.ServeHTTP(w, r)
		return
	}
	if r.Method == http.MethodPost {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxQueryBody))
		if err != nil {
			WriteQueryError(w, http.StatusBadRequest, "MalformedQueryString", err.Error())
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, err := url.ParseQuery(string(body))
		if err != nil {
			WriteQueryError(w, http.StatusBadRequest, "MalformedQueryString", err.Error())
			return
		}
		s.mu.RLock()
		h := s.query[form.Get("Version")]
		s.mu.RUnlock()
		if h != nil {
			h.ServeHTTP(w, r)
			return
		}
	}
	WriteQueryError(w, http.StatusBadRequest, "InvalidAction", "no service here answers "+r.Method+" "+r.URL.Path)
}

// JSONOperation returns the operation an AWS JSON protocol call for the service whose
// X-Amz-Target prefix is prefix names. When the request is not such a call, or is unsigned, it
// answers the error the service does and returns false.
func JSONOperation(w http.ResponseWriter, r *http.Request, prefix string) (string, bool) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), prefix+".")
	if r.Method != http.MethodPost || !ok {
		WriteJSONError(w, http.StatusBadRequest, "UnknownOperationException", "no such operation")
		return "", false
	}
	if r.Header.Get("Authorization") == "" {
		// The service answers unsigned requests so; the SDK always signs.
		WriteJSONError(w, http.StatusBadRequest, "MissingAuthenticationTokenException", "Missing Authentication Token")
		return "", false
	}
	return op, true
}

// WriteJSON answers an AWS JSON protocol call.
func WriteJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(v)
}

// WriteJSONError answers an AWS JSON protocol call with an error the SDK decodes into its
// modeled type by the __type name.
func WriteJSONError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
}

// requestID is the RequestId of every query protocol answer: the SDK only passes it on.
const requestID = "ragmigrate-awssim"

// WriteQueryResult answers an AWS query protocol call of action with the document the SDK's
// query deserializers read: <ActionResponse xmlns=namespace><ActionResult>result</ActionResult>
// <ResponseMetadata><RequestId>…</RequestId></ResponseMetadata></ActionResponse>. result's
// fields are the ActionResult's elements (lists as <member> elements, times RFC 3339).
func WriteQueryResult(w http.ResponseWriter, namespace, action string, result any) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, xml.Header)
	enc := xml.NewEncoder(w)
	root := xml.StartElement{Name: xml.Name{Local: action + "Response"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: namespace}}}
	_ = enc.EncodeToken(root)
	_ = enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: action + "Result"}})
	_ = enc.EncodeElement(struct {
		RequestID string `xml:"RequestId"`
	}{requestID}, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}})
	_ = enc.EncodeToken(root.End())
	_ = enc.Flush()
}

// WriteQueryError answers an AWS query protocol call with the ErrorResponse document the SDK's
// query deserializers read (Error.Code names the modeled type).
func WriteQueryError(w http.ResponseWriter, status int, code, msg string) {
	type errorBody struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	doc := struct {
		XMLName   xml.Name  `xml:"ErrorResponse"`
		Error     errorBody `xml:"Error"`
		RequestID string    `xml:"RequestId"`
	}{Error: errorBody{Type: "Sender", Code: code, Message: msg}, RequestID: requestID}
	if status >= 500 {
		doc.Error.Type = "Receiver"
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, xml.Header)
	_ = xml.NewEncoder(w).Encode(doc)
}

// LoadState reads a service's JSON state file, which SaveState wrote, into v. A file that does
// not exist yet (the first start) leaves v as it is, and so does file "" (state in memory only).
func LoadState(file string, v any) error {
	if file == "" {
		return nil
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// SaveState writes v to a service's state file as JSON, through a temporary file renamed over
// it, so that a server stopped mid-write leaves the previous state rather than half of one. The
// file is readable by its owner only: it may hold passwords. file "" does nothing.
func SaveState(file string, v any) error {
	if file == "" {
		return nil
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}
