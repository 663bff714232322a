// Package secretsim is a contract server (test double) for the part of AWS Secrets Manager that
// ragmigrate reads: GetSecretValue, in the AWS JSON 1.1 protocol the SDK speaks (POST / with
// X-Amz-Target: secretsmanager.<Operation>). The SDK reaches it through
// AWS_ENDPOINT_URL_SECRETS_MANAGER.
//
// Its knob POST /_dev/secretsmanager/rotate?secret-id=… rotates a database secret the way a
// single-user rotation does: a new password, set on the database role (ALTER ROLE … PASSWORD,
// through an admin URL the server was given for that host and port) and then stored. Rotation
// holds the server's lock throughout, so from the moment the role's password changes no reader
// gets the old one, and the old password stops working at once, as it does in AWS.
//
// It is part of the development rig and never linked into the operator's binary.
package secretsim

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ragmigrate/ragmigrate/internal/dev/awssim"
)

// TargetPrefix is the X-Amz-Target prefix of Secrets Manager's operations.
const TargetPrefix = "secretsmanager"

// secret is one stored secret (its current version only).
type secret struct {
	ARN          string    `json:"ARN"`
	Name         string    `json:"Name"`
	SecretString string    `json:"SecretString"`
	VersionID    string    `json:"VersionId"`
	Created      time.Time `json:"Created"`
}

// Server is the Secrets Manager test double: an http.Handler for the API, safe for concurrent
// use. Other contract servers create secrets through Put (an RDS-managed cluster secret, say).
type Server struct {
	mu      sync.Mutex
	file    string   // "" keeps secrets in memory only
	admins  []string // superuser URLs of the clusters whose roles rotation may change
	secrets map[string]*secret
	gets    map[string]int // GetSecretValue calls by secret name
}

// New returns a server keeping its secrets in dir/secretsmanager.json ("" for memory only).
// admins are PostgreSQL URLs of superusers, one per cluster; rotating a secret changes its
// role's password through the admin URL whose host and port match the secret's.
func New(dir string, admins []string) (*Server, error) {
	s := &Server{admins: admins, secrets: map[string]*secret{}, gets: map[string]int{}}
	if dir == "" {
		return s, nil
	}
	s.file = filepath.Join(dir, "secretsmanager.json")
	if err := awssim.LoadState(s.file, &s.secrets); err != nil {
		return nil, fmt.Errorf("secrets manager state: %w", err)
	}
	return s, nil
}

// Register routes the server's API and development endpoints on a.
func (s *Server) Register(a *awssim.Server) {
	a.HandleJSON(TargetPrefix, s)
	a.HandleDev("POST /_dev/secretsmanager/rotate", http.HandlerFunc(s.serveRotate))
	a.HandleDev("POST /_dev/secretsmanager/secrets", http.HandlerFunc(s.servePut))
}

// ARN is the ARN Secrets Manager gives a secret named name: a fixed account and region, and
// six characters after the name derived from it, so it is stable across restarts.
func ARN(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + name + "-" + hex.EncodeToString(sum[:3])
}

// Put creates or replaces secret name with secretString and returns its ARN.
func (s *Server) Put(name, secretString string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.put(name, secretString)
}

func (s *Server) put(name, secretString string) (string, error) {
	sec := s.secrets[name]
	if sec == nil {
		sec = &secret{ARN: ARN(name), Name: name, Created: time.Now().UTC().Truncate(time.Second)}
		s.secrets[name] = sec
	}
	sec.SecretString = secretString
	sec.VersionID = newVersionID()
	return sec.ARN, s.save()
}

// PutIfAbsent creates secret name with secretString unless it exists, and returns its ARN and
// current value either way.
func (s *Server) PutIfAbsent(name, secretString string) (arn, current string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec := s.secrets[name]; sec != nil {
		return sec.ARN, sec.SecretString, nil
	}
	arn, err = s.put(name, secretString)
	return arn, secretString, err
}

// Gets counts the GetSecretValue calls that named secret name (by name or ARN).
func (s *Server) Gets(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gets[name]
}

// SecretString returns the current value of secret id (name or ARN), for tests that look for
// the password where it must not be.
func (s *Server) SecretString(id string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec := s.lookup(id); sec != nil {
		return sec.SecretString, true
	}
	return "", false
}

// lookup finds a secret by name or ARN; the caller holds mu.
func (s *Server) lookup(id string) *secret {
	if sec := s.secrets[id]; sec != nil {
		return sec
	}
	for _, sec := range s.secrets {
		if sec.ARN == id {
			return sec
		}
	}
	return nil
}

func (s *Server) save() error {
	if err := awssim.SaveState(s.file, s.secrets); err != nil {
		return fmt.Errorf("save secrets manager state: %w", err)
	}
	return nil
}

func newVersionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// ServeHTTP answers one JSON-protocol call.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix+".")
	if op != "GetSecretValue" {
		awssim.WriteJSONError(w, http.StatusBadRequest, "UnknownOperationException", "no such operation: "+op)
		return
	}
	var in struct {
		SecretID     string `json:"SecretId"`
		VersionID    string `json:"VersionId"`
		VersionStage string `json:"VersionStage"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil {
		awssim.WriteJSONError(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	if in.SecretID == "" {
		awssim.WriteJSONError(w, http.StatusBadRequest, "InvalidParameterException", "SecretId is required")
		return
	}
	// Rotation holds mu while it changes the role's password, so this read waits for it.
	s.mu.Lock()
	sec := s.lookup(in.SecretID)
	var out map[string]any
	if sec != nil {
		s.gets[sec.Name]++
		out = map[string]any{
			"ARN": sec.ARN, "Name": sec.Name, "SecretString": sec.SecretString, "VersionId": sec.VersionID,
			"VersionStages": []string{"AWSCURRENT"}, "CreatedDate": sec.Created.Unix(),
		}
	}
	s.mu.Unlock()
	switch {
	case sec == nil:
		awssim.WriteJSONError(w, http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
	case (in.VersionStage != "" && in.VersionStage != "AWSCURRENT") || (in.VersionID != "" && in.VersionID != sec.VersionID):
		awssim.WriteJSONError(w, http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for VersionId or VersionStage.")
	default:
		awssim.WriteJSON(w, out)
	}
}

// dbSecret is the JSON of an RDS cluster secret, the fields rotation uses.
type dbSecret struct {
	Host     string          `json:"host"`
	Port     json.RawMessage `json:"port"` // a number in CDK's secrets; a string is accepted too
	Username string          `json:"username"`
}

// Rotate gives database secret id (name or ARN) a new password: it sets it on the role first,
// then stores it, both under the server's lock. It returns the new version id.
func (s *Server) Rotate(ctx context.Context, id string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.lookup(id)
	if sec == nil {
		return "", fmt.Errorf("rotate %s: no such secret", id)
	}
	var fields map[string]any
	var db dbSecret
	if err := json.Unmarshal([]byte(sec.SecretString), &fields); err != nil {
		return "", fmt.Errorf("rotate %s: secret is not JSON: %w", sec.Name, err)
	}
	_ = json.Unmarshal([]byte(sec.SecretString), &db)
	port := strings.Trim(string(db.Port), `"`)
	if db.Host == "" || port == "" || db.Username == "" {
		return "", fmt.Errorf("rotate %s: secret lacks host, port or username", sec.Name)
	}
	admin, err := s.adminFor(db.Host, port)
	if err != nil {
		return "", fmt.Errorf("rotate %s: %w", sec.Name, err)
	}
	password, err := newPassword()
	if err != nil {
		return "", err
	}
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", fmt.Errorf("rotate %s: connect as admin: %w", sec.Name, err)
	}
	defer conn.Close(ctx)
	// ALTER ROLE takes no parameters; the password is alphanumeric, quoted anyway.
	stmt := "ALTER ROLE " + pgx.Identifier{db.Username}.Sanitize() + " PASSWORD '" + strings.ReplaceAll(password, "'", "''") + "'"
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return "", fmt.Errorf("rotate %s: alter role %s: %w", sec.Name, db.Username, err)
	}
	fields["password"] = password
	b, err := json.Marshal(fields)
	if err != nil {
		return "", err
	}
	sec.SecretString = string(b)
	sec.VersionID = newVersionID()
	return sec.VersionID, s.save()
}

// adminFor finds the admin URL of the cluster at host:port.
func (s *Server) adminFor(host, port string) (string, error) {
	for _, a := range s.admins {
		u, err := url.Parse(a)
		if err != nil {
			continue
		}
		if u.Hostname() == host && u.Port() == port {
			return a, nil
		}
	}
	return "", fmt.Errorf("no admin URL for %s:%s (dev serve aws --admin-db)", host, port)
}

const passwordChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newPassword returns 32 random alphanumeric characters, as a rotation's GetRandomPassword
// with punctuation excluded would.
func newPassword() (string, error) {
	b := make([]byte, 32)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(passwordChars))))
		if err != nil {
			return "", err
		}
		b[i] = passwordChars[n.Int64()]
	}
	return string(b), nil
}

func (s *Server) serveRotate(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("secret-id")
	if id == "" {
		http.Error(w, "secret-id is required", http.StatusBadRequest)
		return
	}
	version, err := s.Rotate(r.Context(), id)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	awssim.WriteJSON(w, map[string]string{"VersionId": version})
}

// servePut creates secret ?name= with the body as its value; with ?if-absent=true an existing
// secret is kept. It answers the ARN and the current value.
func (s *Server) servePut(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if name == "" || err != nil {
		http.Error(w, "name and a body are required", http.StatusBadRequest)
		return
	}
	ifAbsent, _ := strconv.ParseBool(r.URL.Query().Get("if-absent"))
	var arn, current string
	if ifAbsent {
		arn, current, err = s.PutIfAbsent(name, string(body))
	} else {
		arn, err = s.Put(name, string(body))
		current = string(body)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	awssim.WriteJSON(w, map[string]string{"ARN": arn, "SecretString": current})
}
