// Package stssim is a contract server (test double) for the part of AWS STS that ragmigrate and
// the app's code use: AssumeRole, with a session policy, which the app's embedding task calls to
// reach the DynamoDB table as the table access role scoped to one user's items, and
// GetCallerIdentity. It speaks the AWS query protocol the SDK does (a form POST with
// Version=2011-06-15, answered in XML; errors as ErrorResponse whose Code is the modeled error's
// query code: MalformedPolicyDocument, PackedPolicyTooLarge, or the unmodeled ValidationError and
// AccessDenied). The SDK reaches it through AWS_ENDPOINT_URL_STS.
//
// AssumeRole checks its input as STS does (RoleArn an IAM role's ARN, RoleSessionName 2 to 64
// characters of [\w+=,.@-], DurationSeconds 900 to 43200 and at most an hour for a session that
// assumes a role with a session's credentials, Policy JSON of at most 2048 characters) and
// issues temporary credentials: an access key id starting ASIA, a secret key, a session token
// and their expiration. Nothing checks the credentials later (the local DynamoDB takes any key):
// what proves that a client used them is the access key id, which each call's record holds.
//
// # Knobs
//
//   - GET /_dev/sts/calls lists every call: the action, the role ARN, the session name, the
//     session policy, the access key id of the caller and of the credentials issued, or the
//     error answered. DELETE clears the list.
//   - PUT /_dev/sts/denied {"role_arns": [...]} makes AssumeRole of those roles answer
//     AccessDenied (403), as STS does when the role's trust policy does not name the caller.
//
// Deliberate differences from STS: no role needs to exist (every well-formed role ARN can be
// assumed unless denied), signatures are not checked, and the packed policy size is the policy's
// compact JSON and the session tags against 2048 bytes. The record and the issued sessions live
// in memory, and under Dir when one is given, so that they survive a restart of the stack.
//
// It is part of the development rig and never linked into the operator's binary.
package stssim

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ragmigrate/ragmigrate/internal/dev/awssim"
)

// Version is the STS API version the query protocol names in every request.
const Version = "2011-06-15"

const namespace = "https://sts.amazonaws.com/doc/" + Version + "/"

// Account is the account of a caller whose access key the server did not issue.
const Account = "123456789012"

// Limits of AssumeRole's input, from the API reference.
const (
	MinDuration     = 900
	MaxDuration     = 43200
	DefaultDuration = 3600
	// ChainedMaxDuration bounds a session whose caller is itself an assumed role (role chaining).
	ChainedMaxDuration = 3600
	MaxPolicy          = 2048
	// maxCalls bounds the record kept, so that a long-running stack's state stays small.
	maxCalls = 2000
)

var (
	sessionName = regexp.MustCompile(`^[\w+=,.@-]*$`)
	roleARN     = regexp.MustCompile(`^arn:aws[a-z-]*:iam::(\d{12}):role/((?:[\x21-\x7E]*/)?([\w+=,.@-]{1,64}))$`)
	accessKey   = regexp.MustCompile(`Credential=([^/,\s]+)/`)
)

// Call is one recorded call.
type Call struct {
	Time   time.Time `json:"time"`
	Action string    `json:"action"`
	// Caller is the access key id that signed the call.
	Caller          string `json:"caller,omitempty"`
	RoleARN         string `json:"role_arn,omitempty"`
	SessionName     string `json:"session_name,omitempty"`
	Policy          string `json:"policy,omitempty"`
	DurationSeconds int    `json:"duration_seconds,omitempty"`
	// AccessKeyID is the access key id of the credentials issued.
	AccessKeyID string `json:"access_key_id,omitempty"`
	// Error is the error code answered, if any.
	Error string `json:"error,omitempty"`
}

// session is issued credentials, for GetCallerIdentity and role chaining.
type session struct {
	RoleARN     string    `json:"role_arn"`
	SessionName string    `json:"session_name"`
	RoleID      string    `json:"role_id"`
	Expiration  time.Time `json:"expiration"`
}

type state struct {
	Calls    []Call              `json:"calls"`
	Sessions map[string]*session `json:"sessions"`
	Denied   []string            `json:"denied"`
}

// Server is the STS test double; it is an http.Handler for the query protocol, safe for
// concurrent use. Register it with Register.
type Server struct {
	dir string
	mu  sync.Mutex
	st  state
	now func() time.Time
}

// New returns a server; it keeps its state under dir ("" keeps it in memory only).
func New(dir string) (*Server, error) {
	s := &Server{dir: dir, st: state{Sessions: map[string]*session{}}, now: time.Now}
	if err := awssim.LoadState(s.statePath(), &s.st); err != nil {
		return nil, fmt.Errorf("sts: read state: %w", err)
	}
	if s.st.Sessions == nil {
		s.st.Sessions = map[string]*session{}
	}
	return s, nil
}

func (s *Server) statePath() string {
	if s.dir == "" {
		return ""
	}
	return filepath.Join(s.dir, "sts.json")
}

// Register routes the STS query protocol and the /_dev/sts/ knobs of a to s.
func (s *Server) Register(a *awssim.Server) {
	a.HandleQuery(Version, s)
	a.HandleDev("GET /_dev/sts/calls", http.HandlerFunc(s.devCalls))
	a.HandleDev("DELETE /_dev/sts/calls", http.HandlerFunc(s.devClearCalls))
	a.HandleDev("PUT /_dev/sts/denied", http.HandlerFunc(s.devDenied))
}

// Calls returns the calls recorded so far, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.st.Calls)
}

// Deny makes AssumeRole of the roles answer AccessDenied, in place of the roles denied before.
func (s *Server) Deny(roles ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Denied = slices.Clone(roles)
	return s.save()
}

// save writes the state; the caller holds mu.
func (s *Server) save() error {
	if err := awssim.SaveState(s.statePath(), &s.st); err != nil {
		return fmt.Errorf("sts: write state: %w", err)
	}
	return nil
}

// fault is an error answer: its HTTP status and query error code.
type fault struct {
	status int
	code   string
	msg    string
}

func validation(msg string) *fault { return &fault{http.StatusBadRequest, "ValidationError", msg} }

// constraint is the wording of STS's model validation errors.
func constraint(value, member, what string) *fault {
	return validation(fmt.Sprintf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: %s", value, member, what))
}

// ServeHTTP answers one query protocol call.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		awssim.WriteQueryError(w, http.StatusBadRequest, "MalformedQueryString", err.Error())
		return
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		awssim.WriteQueryError(w, http.StatusForbidden, "MissingAuthenticationToken", "Request is missing Authentication Token")
		return
	}
	caller := ""
	if m := accessKey.FindStringSubmatch(auth); m != nil {
		caller = m[1]
	}
	f := r.PostForm
	call := Call{Time: s.now().UTC(), Action: f.Get("Action"), Caller: caller}
	var result any
	var flt *fault
	s.mu.Lock()
	switch call.Action {
	case "AssumeRole":
		result, flt = s.assumeRole(f, &call)
	case "GetCallerIdentity":
		result, flt = s.callerIdentity(caller)
	default:
		flt = &fault{http.StatusBadRequest, "InvalidAction", "Could not find operation " + call.Action + " for version " + Version}
	}
	if flt != nil {
		call.Error = flt.code
	}
	s.st.Calls = append(s.st.Calls, call)
	if n := len(s.st.Calls); n > maxCalls {
		s.st.Calls = slices.Delete(s.st.Calls, 0, n-maxCalls)
	}
	err := s.save()
	s.mu.Unlock()
	switch {
	case flt != nil:
		awssim.WriteQueryError(w, flt.status, flt.code, flt.msg)
	case err != nil:
		awssim.WriteQueryError(w, http.StatusInternalServerError, "InternalFailure", err.Error())
	default:
		awssim.WriteQueryResult(w, namespace, call.Action, result)
	}
}

type xmlCredentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string
	SessionToken    string
	Expiration      string
}

type xmlAssumedRoleUser struct {
	AssumedRoleID string `xml:"AssumedRoleId"`
	Arn           string
}

type xmlAssumeRoleResult struct {
	Credentials      xmlCredentials
	AssumedRoleUser  xmlAssumedRoleUser
	PackedPolicySize *int `xml:",omitempty"`
}

type xmlCallerIdentity struct {
	UserID  string `xml:"UserId"`
	Account string
	Arn     string
}

// assumeRole checks the input as STS does and issues a session; the caller holds mu.
func (s *Server) assumeRole(f url.Values, call *Call) (any, *fault) {
	arn, name, policy := f.Get("RoleArn"), f.Get("RoleSessionName"), f.Get("Policy")
	call.RoleARN, call.SessionName, call.Policy = arn, name, policy
	var errs []string
	add := func(flt *fault) { errs = append(errs, strings.TrimPrefix(flt.msg, "1 validation error detected: ")) }
	if _, ok := f["RoleArn"]; !ok {
		add(constraint("null", "roleArn", "Member must not be null"))
	} else if len(arn) < 20 || len(arn) > 2048 {
		add(constraint(arn, "roleArn", "Member must have length between 20 and 2048"))
	}
	if _, ok := f["RoleSessionName"]; !ok {
		add(constraint("null", "roleSessionName", "Member must not be null"))
	} else {
		if n := len(name); n < 2 {
			add(constraint(name, "roleSessionName", "Member must have length greater than or equal to 2"))
		} else if n > 64 {
			add(constraint(name, "roleSessionName", "Member must have length less than or equal to 64"))
		}
		if !sessionName.MatchString(name) {
			add(constraint(name, "roleSessionName", `Member must satisfy regular expression pattern: [\w+=,.@-]*`))
		}
	}
	duration := DefaultDuration
	if v := f.Get("DurationSeconds"); v != "" {
		d, err := strconv.Atoi(v)
		switch {
		case err != nil:
			return nil, validation("DurationSeconds " + v + " is not an integer")
		case d < MinDuration:
			add(constraint(v, "durationSeconds", "Member must have value greater than or equal to 900"))
		case d > MaxDuration:
			add(constraint(v, "durationSeconds", "Member must have value less than or equal to 43200"))
		}
		duration = d
	}
	if _, ok := f["Policy"]; ok {
		if n := len(policy); n < 1 || n > MaxPolicy {
			add(constraint("<policy>", "policy", fmt.Sprintf("Member must have length between 1 and %d", MaxPolicy)))
		}
	}
	call.DurationSeconds = duration
	switch len(errs) {
	case 0:
	case 1:
		return nil, validation("1 validation error detected: " + errs[0])
	default:
		return nil, validation(fmt.Sprintf("%d validation errors detected: %s", len(errs), strings.Join(errs, "; ")))
	}
	m := roleARN.FindStringSubmatch(arn)
	if m == nil {
		return nil, validation(arn + " is invalid")
	}
	roleName := m[3]
	packed := 0
	if _, ok := f["Policy"]; ok {
		var doc map[string]any
		if err := json.Unmarshal([]byte(policy), &doc); err != nil {
			return nil, &fault{http.StatusBadRequest, "MalformedPolicyDocument", "Syntax errors in policy."}
		}
		if _, ok := doc["Statement"]; !ok {
			return nil, &fault{http.StatusBadRequest, "MalformedPolicyDocument", "Policy document should not be empty."}
		}
		var compact bytes.Buffer
		_ = json.Compact(&compact, []byte(policy))
		packed = compact.Len()
	}
	for i := 1; ; i++ {
		k, ok := f["Tags.member."+strconv.Itoa(i)+".Key"]
		if !ok {
			break
		}
		packed += len(k[0]) + len(f.Get("Tags.member."+strconv.Itoa(i)+".Value"))
	}
	pct := int(math.Ceil(100 * float64(packed) / MaxPolicy))
	if pct > 100 {
		return nil, &fault{http.StatusBadRequest, "PackedPolicyTooLarge",
			fmt.Sprintf("Packed policy consumes %d%% of allotted space, please use smaller policy for scoping down.", pct)}
	}
	if _, chained := s.st.Sessions[call.Caller]; chained && duration > ChainedMaxDuration {
		return nil, validation("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
	}
	if slices.Contains(s.st.Denied, arn) {
		return nil, &fault{http.StatusForbidden, "AccessDenied", fmt.Sprintf(
			"User: %s is not authorized to perform: sts:AssumeRole on resource: %s", s.callerARN(call.Caller), arn)}
	}

	now := s.now().UTC()
	ak := "ASIA" + randomString(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
	sess := &session{RoleARN: arn, SessionName: name, RoleID: "AROA" + roleID(arn), Expiration: now.Add(time.Duration(duration) * time.Second)}
	s.dropExpired(now)
	s.st.Sessions[ak] = sess
	call.AccessKeyID = ak
	token := make([]byte, 256)
	_, _ = rand.Read(token)
	out := xmlAssumeRoleResult{
		Credentials: xmlCredentials{AccessKeyID: ak, SecretAccessKey: randomString(40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"),
			SessionToken: "IQoJb3JpZ2luX2Vj" + base64.StdEncoding.EncodeToString(token), Expiration: sess.Expiration.Format(time.RFC3339)},
		AssumedRoleUser: xmlAssumedRoleUser{AssumedRoleID: sess.RoleID + ":" + name, Arn: assumedRoleARN(m[1], roleName, name)},
	}
	if _, ok := f["Policy"]; ok || packed > 0 {
		out.PackedPolicySize = &pct
	}
	return out, nil
}

// callerIdentity answers GetCallerIdentity; the caller holds mu.
func (s *Server) callerIdentity(caller string) (any, *fault) {
	if sess, ok := s.st.Sessions[caller]; ok {
		m := roleARN.FindStringSubmatch(sess.RoleARN)
		return xmlCallerIdentity{UserID: sess.RoleID + ":" + sess.SessionName, Account: m[1], Arn: assumedRoleARN(m[1], m[3], sess.SessionName)}, nil
	}
	return xmlCallerIdentity{UserID: "AIDA" + roleID(caller), Account: Account, Arn: s.callerARN(caller)}, nil
}

// callerARN names the caller as STS's errors do; the caller holds mu.
func (s *Server) callerARN(caller string) string {
	if sess, ok := s.st.Sessions[caller]; ok {
		m := roleARN.FindStringSubmatch(sess.RoleARN)
		return assumedRoleARN(m[1], m[3], sess.SessionName)
	}
	return "arn:aws:iam::" + Account + ":user/" + caller
}

func assumedRoleARN(account, role, session string) string {
	return "arn:aws:sts::" + account + ":assumed-role/" + role + "/" + session
}

// dropExpired forgets the sessions past their expiration; the caller holds mu.
func (s *Server) dropExpired(now time.Time) {
	for k, sess := range s.st.Sessions {
		if now.After(sess.Expiration) {
			delete(s.st.Sessions, k)
		}
	}
}

// roleID is a stable 17-character id for a name, as IAM's unique ids look.
func roleID(name string) string {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 1099511628211
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	out := make([]byte, 17)
	for i := range out {
		out[i] = alphabet[h%32]
		h = h/32 + uint64(i)*2654435761
	}
	return string(out)
}

func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func (s *Server) devCalls(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"calls": s.Calls()})
}

func (s *Server) devClearCalls(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	s.st.Calls = nil
	err := s.save()
	s.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) devDenied(w http.ResponseWriter, r *http.Request) {
	var in struct {
		RoleARNs []string `json:"role_arns"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, "want {\"role_arns\": [...]}: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := s.Deny(in.RoleARNs...); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
