// Package dbcred gives ragmigrate's PostgreSQL sessions their credentials from where a Bedrock
// Chat deployment keeps them: the Aurora cluster's Secrets Manager secret (v1 rotates it every
// 30 days) or an RDS IAM authentication token. It turns either into a database URL without a
// password and a vectorstore.PasswordSource registered for that URL, so every new session reads
// the freshest password and retries once after a refusal; the password is never put in a URL,
// a log or an error.
package dbcred

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/rds/auth"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// ErrEndpointTwice and ErrNoEndpoint say that a secret and a URL do not combine.
var (
	ErrEndpointTwice = errors.New("the secret names its host, and a database URL was given too: pass one")
	ErrNoEndpoint    = errors.New("give its endpoint as a database URL without a password")
)

// SecretsAPI is the one Secrets Manager call the package makes.
type SecretsAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// ClusterSecret is the JSON of an RDS cluster secret, the fields Bedrock Chat's code reads.
type ClusterSecret struct {
	Host     string
	Port     int
	Username string
	Password string
	DBName   string
}

// String names the database without the password (fmt never prints it).
func (c ClusterSecret) String() string {
	return fmt.Sprintf("%s@%s:%d/%s", c.Username, c.Host, c.Port, c.DBName)
}

// ParseClusterSecret reads a cluster secret's JSON. The port is a number in the secrets CDK and
// RDS create; a string is accepted too. A missing dbname means "postgres", the app's
// defaultDatabaseName. Errors never quote the secret.
func ParseClusterSecret(s string) (ClusterSecret, error) {
	var raw struct {
		Host     string          `json:"host"`
		Port     json.RawMessage `json:"port"`
		Username string          `json:"username"`
		Password string          `json:"password"`
		DBName   string          `json:"dbname"`
	}
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		// json's syntax errors quote no input, but say only what went wrong to be sure.
		return ClusterSecret{}, errors.New("the secret is not a JSON object with host, port, username, password")
	}
	c := ClusterSecret{Host: raw.Host, Username: raw.Username, Password: raw.Password, DBName: raw.DBName}
	if p := strings.Trim(string(raw.Port), `"`); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return ClusterSecret{}, errors.New("the secret's port is not a port number")
		}
		c.Port = n
	}
	var missing []string
	// The host may be missing: an RDS-managed master user secret holds only username and
	// password, and FromSecret then takes the endpoint from a URL.
	for _, f := range []struct{ name, v string }{{"username", c.Username}, {"password", c.Password}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return ClusterSecret{}, fmt.Errorf("the secret lacks %s", strings.Join(missing, ", "))
	}
	if c.Port == 0 && c.Host != "" {
		c.Port = 5432
	}
	if c.DBName == "" && c.Host != "" {
		c.DBName = "postgres"
	}
	return c, nil
}

// Options say how sessions on a secret's cluster log in.
type Options struct {
	// IAMAuth logs in with an RDS IAM token for the secret's user instead of its password.
	IAMAuth bool
	// AWS signs IAM tokens (region and credentials); needed with IAMAuth.
	AWS aws.Config
}

// SecretSource reads a cluster secret's password, caching it until a login is refused.
type SecretSource struct {
	api SecretsAPI
	arn string

	mu       sync.Mutex
	password string
	reads    int
}

// Password returns the cached password unless it is the one just refused (the secret was
// rotated), or nothing is cached: then it reads the secret again. Concurrent sessions refused
// with the same password wait for one read and share it.
func (s *SecretSource) Password(ctx context.Context, refused string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.password != "" && s.password != refused {
		return s.password, nil
	}
	c, err := readSecret(ctx, s.api, s.arn)
	if err != nil {
		return "", err
	}
	s.password = c.Password
	s.reads++
	return s.password, nil
}

// Reads counts the times the secret was read.
func (s *SecretSource) Reads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

// ReadSecret reads secret arn and returns what it names, without its password: to tell which
// database it is, not to log in. A secret without a host (RDS-managed) has Host empty. Errors
// name the secret, never its value.
func ReadSecret(ctx context.Context, api SecretsAPI, arn string) (ClusterSecret, error) {
	c, err := readSecret(ctx, api, arn)
	c.Password = ""
	return c, err
}

func readSecret(ctx context.Context, api SecretsAPI, arn string) (ClusterSecret, error) {
	out, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &arn})
	if err != nil {
		return ClusterSecret{}, fmt.Errorf("read secret %s: %w", arn, err)
	}
	if out.SecretString == nil {
		return ClusterSecret{}, fmt.Errorf("read secret %s: it holds binary data, not a cluster secret's JSON", arn)
	}
	c, err := ParseClusterSecret(*out.SecretString)
	if err != nil {
		return ClusterSecret{}, fmt.Errorf("read secret %s: %w", arn, err)
	}
	return c, nil
}

// IAMSource signs a fresh RDS IAM token at every login (a token lives 15 minutes; signing is
// local and cheap, so nothing is cached).
type IAMSource struct {
	endpoint, user string
	cfg            aws.Config
}

// NewIAMSource returns a source of IAM tokens for user on host:port.
func NewIAMSource(host string, port int, user string, cfg aws.Config) *IAMSource {
	return &IAMSource{endpoint: net.JoinHostPort(host, strconv.Itoa(port)), user: user, cfg: cfg}
}

// Password signs a token.
func (s *IAMSource) Password(ctx context.Context, _ string) (string, error) {
	tok, err := auth.BuildAuthToken(ctx, s.endpoint, s.cfg.Region, s.user, s.cfg.Credentials)
	if err != nil {
		return "", fmt.Errorf("sign an RDS IAM token for %s on %s: %w", s.user, s.endpoint, err)
	}
	return tok, nil
}

// FromSecret reads secret arn and returns a database URL for its cluster, without a password,
// whose sessions take theirs from the secret (or from IAM with o.IAMAuth), the source registered
// with vectorstore for that URL, and the secret without its password for messages.
// sslmode is require unless the host is loopback.
//
// endpoint, when not empty, is a password-less URL naming the host, port and database of a
// secret that holds only username and password (an RDS-managed master user secret, such as
// 'snapshot restore' makes); a secret that names its host cannot take one.
func FromSecret(ctx context.Context, api SecretsAPI, arn, endpoint string, o Options) (string, ClusterSecret, error) {
	c, err := readSecret(ctx, api, arn)
	if err != nil {
		return "", ClusterSecret{}, err
	}
	switch {
	case c.Host != "" && endpoint != "":
		return "", ClusterSecret{}, ErrEndpointTwice
	case c.Host == "" && endpoint == "":
		return "", ClusterSecret{}, fmt.Errorf("secret %s holds no host (an RDS-managed secret holds only username and password): %w", arn, ErrNoEndpoint)
	case c.Host == "":
		e, err := url.Parse(endpoint)
		if err != nil || e.Hostname() == "" {
			return "", ClusterSecret{}, errors.New("the endpoint is not a postgres://host:port/db URL")
		}
		if _, has := e.User.Password(); has {
			return "", ClusterSecret{}, errors.New("the endpoint URL carries a password: drop it, the secret holds the password")
		}
		c.Host, c.Port, c.DBName = e.Hostname(), 5432, strings.TrimPrefix(e.Path, "/")
		if p := e.Port(); p != "" {
			if c.Port, err = strconv.Atoi(p); err != nil {
				return "", ClusterSecret{}, fmt.Errorf("the endpoint's port %q is not a number", p)
			}
		}
		if c.DBName == "" {
			c.DBName = "postgres"
		}
	}
	u := URL(c.Host, c.Port, c.Username, c.DBName)
	if o.IAMAuth {
		vectorstore.UsePasswordSource(u, NewIAMSource(c.Host, c.Port, c.Username, o.AWS))
	} else {
		vectorstore.UsePasswordSource(u, &SecretSource{api: api, arn: arn, password: c.Password, reads: 1})
	}
	c.Password = ""
	return u, c, nil
}

// UseIAM makes the sessions on databaseURL log in with IAM tokens for the URL's user, host and
// port. The URL must not carry a password.
func UseIAM(databaseURL string, cfg aws.Config) error {
	u, err := url.Parse(databaseURL)
	if err != nil || u.User == nil || u.Hostname() == "" {
		return errors.New("--iam-auth needs a URL with a user and a host (postgres://user@host:port/db)")
	}
	if _, has := u.User.Password(); has {
		return errors.New("--iam-auth: the URL carries a password; drop it, the IAM token replaces it")
	}
	port := 5432
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			return fmt.Errorf("--iam-auth: port %q is not a number", p)
		}
	}
	vectorstore.UsePasswordSource(databaseURL, NewIAMSource(u.Hostname(), port, u.User.Username(), cfg))
	return nil
}

// URL builds a password-less PostgreSQL URL; sslmode is require for any host but loopback,
// where the local stack's clusters have no TLS.
func URL(host string, port int, user, db string) string {
	mode := "require"
	if IsLoopback(host) {
		mode = "prefer"
	}
	u := url.URL{Scheme: "postgres", User: url.User(user), Host: net.JoinHostPort(host, strconv.Itoa(port)), Path: "/" + db,
		RawQuery: url.Values{"sslmode": {mode}}.Encode()}
	return u.String()
}

// IsLoopback tells whether host is localhost or a loopback address.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
