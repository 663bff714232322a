// Package stack runs ragmigrate's local stack: every server the tool talks to in production, as
// plain processes on loopback, with all state under one project-owned directory.
//
// # Overview
//
// The stack is two PostgreSQL 15 clusters with pgvector (source: the old v0 cluster, with
// wal_level=logical; target: the new v1 cluster), a DynamoDB-API server (dynalite), an S3-API
// server (gofakes3), the Bedrock contract server (internal/bedrocksim, a test double) and a static
// web server for the seeded URL sources (internal/corpus). Up and Down are idempotent: Up leaves
// healthy services alone and starts the rest; Down stops everything and leaves the data for the
// next Up unless asked to purge it.
//
// The Go servers are the ragmigrate binary itself ('ragmigrate dev serve ...'), so the stack needs
// the path of a built binary, not 'go run': the development build (tag 'dev'), the one that has
// the dev commands.
package stack

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Names of the seeded deployment's resources, shaped like the ones CDK gives a real Bedrock Chat
// stack, so that nothing in ragmigrate can rely on short, friendly names.
const (
	DefaultTable  = "BedrockChatStack-DatabaseConversationTable03F3FAE2-1X2Y3Z4A5B6C"
	DefaultBucket = "bedrockchatstack-documentbucketae41e5a9-1x2y3z4a5b6c"
	DefaultRegion = "us-east-1"

	// pgPassword is the superuser password of both local clusters. It is a dev-only secret, but
	// ragmigrate still treats it as one: it must never show up in logs.
	pgPassword = "ragmigrate-local-secret"
	pgUser     = "postgres"
	pgDatabase = "postgres"

	// DefaultBasePort is the first of the stack's ports; each service sits at a fixed offset. The
	// ports stay below Linux's ephemeral range (32768-60999), where any test's outgoing
	// connection or httptest listener could take a port a service is about to bind.
	DefaultBasePort = 15430
)

// Config says where the stack keeps its state and which binaries it runs.
type Config struct {
	// Dir holds all state: data directories, logs, pid files. Default ".stack".
	Dir string
	// BasePort is the first port; services use BasePort+2 … BasePort+13.
	BasePort int
	// Binary is the ragmigrate executable that serves S3, Bedrock and the web site.
	Binary string
	// DynaliteDir is the npm project holding dynalite (tools/dynalite).
	DynaliteDir string
	// PGBinDir holds initdb and pg_ctl. Default /usr/lib/postgresql/15/bin.
	PGBinDir string
	// StartTimeout bounds the wait for each service to become healthy. Default 60s.
	StartTimeout time.Duration
	Logger       *slog.Logger
}

// Ports are the loopback ports of the stack's services.
type Ports struct {
	SourcePG, TargetPG, DynamoDB, S3, Bedrock, Web, AWS int
}

// Stack is the local stack described by a Config.
type Stack struct {
	cfg      Config
	ports    Ports
	services []service
}

// New fills defaults and resolves paths; it starts nothing.
func New(cfg Config) (*Stack, error) {
	cfg.Dir = cmp.Or(cfg.Dir, ".stack")
	cfg.BasePort = cmp.Or(cfg.BasePort, DefaultBasePort)
	cfg.PGBinDir = cmp.Or(cfg.PGBinDir, "/usr/lib/postgresql/15/bin")
	cfg.DynaliteDir = cmp.Or(cfg.DynaliteDir, "tools/dynalite")
	cfg.StartTimeout = cmp.Or(cfg.StartTimeout, 60*time.Second)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var err error
	if cfg.Dir, err = filepath.Abs(cfg.Dir); err != nil {
		return nil, err
	}
	if cfg.DynaliteDir, err = filepath.Abs(cfg.DynaliteDir); err != nil {
		return nil, err
	}
	if cfg.Binary != "" {
		if cfg.Binary, err = filepath.Abs(cfg.Binary); err != nil {
			return nil, err
		}
	}
	p := cfg.BasePort
	s := &Stack{cfg: cfg, ports: Ports{SourcePG: p + 2, TargetPG: p + 3, DynamoDB: p + 10, S3: p + 11, Bedrock: p + 12, Web: p + 13, AWS: p + 14}}
	s.services = []service{
		s.newPostgres("pg-source", s.ports.SourcePG, map[string]string{
			// The old cluster is the publisher for 'ragmigrate replicate'.
			"wal_level":             "logical",
			"max_replication_slots": "16",
			"max_wal_senders":       "16",
		}),
		s.newPostgres("pg-target", s.ports.TargetPG, map[string]string{
			"max_logical_replication_workers":   "8",
			"max_sync_workers_per_subscription": "4",
		}),
		s.newDynalite(),
		s.newGoServer("s3", s.ports.S3, "s3", "--dir", filepath.Join(cfg.Dir, "s3")),
		s.newGoServer("bedrock", s.ports.Bedrock, "bedrock"),
		s.newGoServer("web", s.ports.Web, "web"),
		// RDS snapshots and restored clusters are databases on the source cluster (rdssim).
		s.newGoServer("aws", s.ports.AWS, "aws", "--dir", filepath.Join(cfg.Dir, "aws"),
			"--rds-source-db", s.PostgresURL(s.ports.SourcePG, pgDatabase),
			"--admin-db", s.PostgresURL(s.ports.SourcePG, pgDatabase), "--admin-db", s.PostgresURL(s.ports.TargetPG, pgDatabase),
			// ECS tasks run as local processes that reach the stack through its env file.
			"--ecs-task-env-file", filepath.Join(cfg.Dir, "env")),
	}
	return s, nil
}

// Ports returns the services' ports.
func (s *Stack) Ports() Ports { return s.ports }

// Dir returns the absolute state directory.
func (s *Stack) Dir() string { return s.cfg.Dir }

// Up starts every service that is not already running and healthy, and waits for all of them.
func (s *Stack) Up(ctx context.Context) error {
	if s.cfg.Binary == "" {
		return errors.New("stack up: no ragmigrate binary to run the Go servers (build one with 'make build')")
	}
	for _, d := range []string{s.cfg.Dir, s.logDir(), s.runDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("stack up: %w", err)
		}
	}
	for _, svc := range s.services {
		if err := svc.healthy(ctx); err == nil {
			s.cfg.Logger.InfoContext(ctx, "service already running", slog.String("service", svc.name()), slog.String("addr", svc.addr()))
			continue
		}
		s.cfg.Logger.InfoContext(ctx, "starting service", slog.String("service", svc.name()), slog.String("addr", svc.addr()))
		if err := svc.start(ctx); err != nil {
			return fmt.Errorf("stack up: start %s: %w (log: %s)", svc.name(), err, svc.logFile())
		}
		if err := s.waitHealthy(ctx, svc); err != nil {
			return fmt.Errorf("stack up: %s: %w (log: %s)%s", svc.name(), err, svc.logFile(), logTail(svc.logFile(), 15))
		}
	}
	if err := s.Publish(ctx); err != nil {
		return fmt.Errorf("stack up: %w", err)
	}
	return s.writeEnvFile()
}

func (s *Stack) waitHealthy(ctx context.Context, svc service) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StartTimeout)
	defer cancel()
	var last error
	for {
		if last = svc.healthy(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not healthy after %s: %w", s.cfg.StartTimeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Down stops every service. With purge it also deletes the state directory.
func (s *Stack) Down(ctx context.Context, purge bool) error {
	var errs []error
	for i := len(s.services) - 1; i >= 0; i-- {
		svc := s.services[i]
		if err := svc.stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", svc.name(), err))
			continue
		}
		s.cfg.Logger.InfoContext(ctx, "service stopped", slog.String("service", svc.name()))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stack down: %w", err)
	}
	if purge {
		if err := os.RemoveAll(s.cfg.Dir); err != nil {
			return fmt.Errorf("stack down: purge %s: %w", s.cfg.Dir, err)
		}
	}
	return nil
}

// ServiceStatus is one line of 'ragmigrate dev stack status'.
type ServiceStatus struct {
	Name    string `json:"name"`
	Addr    string `json:"addr"`
	Running bool   `json:"running"`
	Healthy bool   `json:"healthy"`
	Error   string `json:"error,omitempty"`
	PID     int    `json:"pid,omitempty"`
}

// Status reports every service.
func (s *Stack) Status(ctx context.Context) []ServiceStatus {
	out := make([]ServiceStatus, 0, len(s.services))
	for _, svc := range s.services {
		st := ServiceStatus{Name: svc.name(), Addr: svc.addr(), PID: svc.pid()}
		st.Running = st.PID != 0
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if err := svc.healthy(hctx); err != nil {
			st.Error = err.Error()
		} else {
			st.Healthy = true
		}
		cancel()
		out = append(out, st)
	}
	return out
}

// EnvVar is one variable of the stack's environment.
type EnvVar struct{ Name, Value string }

// Env is what a shell or a test exports to point ragmigrate and the AWS SDK at the stack.
func (s *Stack) Env() []EnvVar {
	h := "http://127.0.0.1:"
	return []EnvVar{
		{"AWS_ACCESS_KEY_ID", "ragmigrate-local"},
		{"AWS_SECRET_ACCESS_KEY", "ragmigrate-local"},
		{"AWS_REGION", DefaultRegion},
		{"AWS_ENDPOINT_URL_DYNAMODB", h + strconv.Itoa(s.ports.DynamoDB)},
		{"AWS_ENDPOINT_URL_S3", h + strconv.Itoa(s.ports.S3)},
		{"AWS_ENDPOINT_URL_BEDROCK_RUNTIME", h + strconv.Itoa(s.ports.Bedrock)},
		// One contract server answers every control-plane service (internal/dev/awssim).
		{"AWS_ENDPOINT_URL_SERVICE_QUOTAS", h + strconv.Itoa(s.ports.AWS)},
		{"AWS_ENDPOINT_URL_CLOUDFORMATION", h + strconv.Itoa(s.ports.AWS)},
		{"AWS_ENDPOINT_URL_SECRETS_MANAGER", h + strconv.Itoa(s.ports.AWS)},
		{"AWS_ENDPOINT_URL_ECS", h + strconv.Itoa(s.ports.AWS)},
		{"AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", h + strconv.Itoa(s.ports.AWS)},
		{"AWS_ENDPOINT_URL_RDS", h + strconv.Itoa(s.ports.AWS)},
		{"AWS_ENDPOINT_URL_STS", h + strconv.Itoa(s.ports.AWS)},
		{"RAGMIGRATE_TABLE", DefaultTable},
		{"RAGMIGRATE_BUCKET", DefaultBucket},
		{"RAGMIGRATE_SOURCE_DB", s.PostgresURL(s.ports.SourcePG, pgDatabase)},
		{"RAGMIGRATE_TARGET_DB", s.PostgresURL(s.ports.TargetPG, pgDatabase)},
		{"RAGMIGRATE_DEV_WEB_URL", h + strconv.Itoa(s.ports.Web)},
		// The stack's web sources are on loopback, which ragmigrate refuses by default.
		{"RAGMIGRATE_ALLOW_PRIVATE_URLS", "true"},
		{"RAGMIGRATE_DEV_BEDROCK_URL", h + strconv.Itoa(s.ports.Bedrock)},
	}
}

// PostgresURL is the connection URL of database db on the local cluster at port.
func (s *Stack) PostgresURL(port int, db string) string {
	return fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable", pgUser, pgPassword, port, db)
}

// ShellExports renders env as lines a POSIX shell can eval.
func ShellExports(env []EnvVar) string {
	var b strings.Builder
	for _, e := range env {
		fmt.Fprintf(&b, "export %s='%s'\n", e.Name, strings.ReplaceAll(e.Value, "'", `'\''`))
	}
	return b.String()
}

// EnvFile is where Up writes the exports, for 'source .stack/env'.
func (s *Stack) EnvFile() string { return filepath.Join(s.cfg.Dir, "env") }

func (s *Stack) writeEnvFile() error {
	return os.WriteFile(s.EnvFile(), []byte(ShellExports(s.Env())), 0o600)
}

func (s *Stack) logDir() string { return filepath.Join(s.cfg.Dir, "logs") }
func (s *Stack) runDir() string { return filepath.Join(s.cfg.Dir, "run") }

// logTail returns the last n lines of a service's log, indented, for an error message.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "\n  | " + strings.Join(lines, "\n  | ")
}
