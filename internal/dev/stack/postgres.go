package stack

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgService is one PostgreSQL 15 cluster. PostgreSQL refuses to run as root, so when ragmigrate
// runs as root the cluster belongs to the postgres OS user and every pg_ctl call goes through
// runuser; otherwise it runs as the calling user.
type pgService struct {
	s       *Stack
	svcName string
	port    int
	conf    map[string]string
	dataDir string
	logPath string
}

func (s *Stack) newPostgres(name string, port int, conf map[string]string) *pgService {
	pgDir := filepath.Join(s.cfg.Dir, "pg")
	return &pgService{
		s: s, svcName: name, port: port, conf: conf,
		dataDir: filepath.Join(pgDir, name),
		logPath: filepath.Join(pgDir, name+".log"),
	}
}

func (p *pgService) name() string    { return p.svcName }
func (p *pgService) addr() string    { return "127.0.0.1:" + strconv.Itoa(p.port) }
func (p *pgService) logFile() string { return p.logPath }

func (p *pgService) pid() int {
	b, err := os.ReadFile(filepath.Join(p.dataDir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || !processAlive(pid) {
		return 0
	}
	return pid
}

func (p *pgService) start(ctx context.Context) error {
	if err := p.initOnce(ctx); err != nil {
		return err
	}
	if p.pid() != 0 {
		// Running but not healthy where it should be (Up only starts unhealthy services): for
		// instance started by an older configuration on other ports. Restart it.
		if err := p.stop(ctx); err != nil {
			return err
		}
	}
	// The port is given on the command line too, so a state directory made with other ports
	// follows the current configuration.
	return p.pgctl(ctx, "start", "-w", "-t", "60", "-l", p.logPath, "-o", "-p "+strconv.Itoa(p.port))
}

func (p *pgService) stop(ctx context.Context) error {
	if p.pid() == 0 {
		return nil
	}
	// Fast shutdown: disconnect clients, checkpoint, exit. Immediate would force crash recovery.
	return p.pgctl(ctx, "stop", "-w", "-t", "60", "-m", "fast")
}

func (p *pgService) healthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.s.PostgresURL(p.port, pgDatabase))
	if err != nil {
		return errors.New("not accepting connections")
	}
	defer conn.Close(ctx)
	var version string
	err = conn.QueryRow(ctx, `SELECT default_version FROM pg_available_extensions WHERE name = 'vector'`).Scan(&version)
	if errors.Is(err, pgx.ErrNoRows) {
		return errors.New("pgvector is not installed in this PostgreSQL (run scripts/install.sh)")
	}
	return err
}

// initOnce creates the cluster on first use: data directory owned by the server's user,
// password authentication on loopback TCP, and the stack's settings appended to postgresql.conf.
func (p *pgService) initOnce(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(p.dataDir, "PG_VERSION")); err == nil {
		return nil
	}
	pgDir := filepath.Dir(p.dataDir)
	if err := os.MkdirAll(p.dataDir, 0o700); err != nil {
		return err
	}
	if err := p.chownToServer(pgDir, p.dataDir); err != nil {
		return err
	}
	pwfile := filepath.Join(pgDir, "."+p.svcName+".pw")
	if err := os.WriteFile(pwfile, []byte(pgPassword+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(pwfile)
	if err := p.chownToServer(pwfile); err != nil {
		return err
	}
	initdb := filepath.Join(p.s.cfg.PGBinDir, "initdb")
	if out, err := p.asServer(ctx, initdb, "-D", p.dataDir, "-U", pgUser, "--pwfile", pwfile,
		"--auth-host=scram-sha-256", "--auth-local=peer", "-E", "UTF8", "--locale=C.UTF-8").CombinedOutput(); err != nil {
		os.RemoveAll(p.dataDir) // a half-initialised directory would make the next Up skip initdb
		return fmt.Errorf("initdb: %w: %s", err, strings.TrimSpace(string(out)))
	}
	conf := map[string]string{
		"port":                    strconv.Itoa(p.port),
		"listen_addresses":        "'127.0.0.1'",
		"unix_socket_directories": "''", // TCP on loopback only: nothing outside the state directory
		"max_connections":         "100",
		"shared_buffers":          "256MB",
		"logging_collector":       "off",
	}
	maps.Copy(conf, p.conf)
	var b strings.Builder
	b.WriteString("\n# ragmigrate local stack\n")
	for _, k := range slices.Sorted(maps.Keys(conf)) {
		fmt.Fprintf(&b, "%s = %s\n", k, conf[k])
	}
	f, err := os.OpenFile(filepath.Join(p.dataDir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (p *pgService) pgctl(ctx context.Context, args ...string) error {
	args = append([]string{"-D", p.dataDir}, args...)
	out, err := p.asServer(ctx, filepath.Join(p.s.cfg.PGBinDir, "pg_ctl"), args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl %s: %w: %s", args[2], err, strings.TrimSpace(string(out)))
	}
	return nil
}

// asServer prepares a command that runs as the cluster's OS user.
func (p *pgService) asServer(ctx context.Context, name string, args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		return exec.CommandContext(ctx, "runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
	}
	return exec.CommandContext(ctx, name, args...)
}

// chownToServer hands paths to the postgres OS user when running as root.
func (p *pgService) chownToServer(paths ...string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("running as root needs the postgres OS user (from the postgresql package): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, path := range paths {
		if err := os.Chown(path, uid, gid); err != nil {
			return err
		}
	}
	// Every directory above the data directory must be traversable by that user.
	if err := exec.Command("runuser", "-u", "postgres", "--", "test", "-w", paths[0]).Run(); err != nil {
		return fmt.Errorf("the postgres OS user cannot reach %s; choose a state directory it can reach with RAGMIGRATE_STACK_DIR", paths[0])
	}
	return nil
}
