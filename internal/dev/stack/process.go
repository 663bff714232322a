package stack

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// service is one server of the stack.
type service interface {
	name() string
	addr() string
	logFile() string
	// pid is the server's process id, or 0 when it is not running.
	pid() int
	// start launches the server in the background and returns without waiting for health.
	start(ctx context.Context) error
	// stop ends the server and waits for it; stopping a stopped server is not an error.
	stop(ctx context.Context) error
	healthy(ctx context.Context) error
}

// procService is a server the stack launches itself as a detached process with a pid file.
type procService struct {
	svcName string
	port    int
	argv    []string
	dir     string
	logPath string
	pidPath string
	health  func(ctx context.Context) error
}

func (p *procService) name() string    { return p.svcName }
func (p *procService) addr() string    { return "127.0.0.1:" + strconv.Itoa(p.port) }
func (p *procService) logFile() string { return p.logPath }

func (p *procService) pid() int {
	b, err := os.ReadFile(p.pidPath)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || !processAlive(pid) {
		return 0
	}
	// Guard against pid reuse after a reboot: the process must still be the program we started.
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte(filepath.Base(p.argv[0]))) {
		return 0
	}
	return pid
}

func (p *procService) start(ctx context.Context) error {
	if pid := p.pid(); pid != 0 {
		// Running but unhealthy (Up only starts unhealthy services): replace it.
		if err := p.stop(ctx); err != nil {
			return err
		}
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "--- %s starting %s\n", time.Now().UTC().Format(time.RFC3339), p.svcName)
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Stdin = nil
	// A session of its own, so the server outlives 'ragmigrate dev stack up' and a terminal's
	// Ctrl-C does not reach it; stop signals the whole group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait() // reap it if it dies while this process still runs (tests)
	return os.WriteFile(p.pidPath, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644)
}

func (p *procService) stop(ctx context.Context) error {
	pid := p.pid()
	if pid == 0 {
		os.Remove(p.pidPath)
		return nil
	}
	if err := terminate(ctx, pid); err != nil {
		return err
	}
	os.Remove(p.pidPath)
	return nil
}

func (p *procService) healthy(ctx context.Context) error { return p.health(ctx) }

func processAlive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	// A zombie answers signal 0 but is gone for every purpose that matters here.
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && len(stat) > i+2 && stat[i+2] == 'Z' {
		return false
	}
	return true
}

// terminate sends SIGTERM to the process group, waits up to ten seconds, then SIGKILLs it.
func terminate(ctx context.Context, pid int) error {
	syscall.Kill(-pid, syscall.SIGTERM)
	syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(10 * time.Second)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(-pid, syscall.SIGKILL)
			syscall.Kill(pid, syscall.SIGKILL)
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	for i := 0; processAlive(pid) && i < 100; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if processAlive(pid) {
		return fmt.Errorf("process %d did not exit", pid)
	}
	return nil
}

func (s *Stack) newProc(name string, port int, argv []string, dir string, health func(ctx context.Context) error) *procService {
	return &procService{
		svcName: name, port: port, argv: argv, dir: dir, health: health,
		logPath: filepath.Join(s.logDir(), name+".log"),
		pidPath: filepath.Join(s.runDir(), name+".pid"),
	}
}

// newGoServer runs 'ragmigrate dev serve <kind> --addr 127.0.0.1:port ...'.
func (s *Stack) newGoServer(name string, port int, kind string, extra ...string) *procService {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	argv := append([]string{s.cfg.Binary, "dev", "serve", kind, "--addr", addr}, extra...)
	var health func(ctx context.Context) error
	switch kind {
	case "s3":
		health = httpCheck("http://"+addr+"/", "ListAllMyBucketsResult")
	case "bedrock", "aws":
		health = httpCheck("http://"+addr+"/healthz", "")
	default:
		health = httpCheck("http://"+addr+"/", "")
	}
	return s.newProc(name, port, argv, s.cfg.Dir, health)
}

// newDynalite runs dynalite from the npm project pinned in tools/dynalite. Its data lives in a
// LevelDB directory under the state directory, so a seeded table survives down/up.
func (s *Stack) newDynalite() *procService {
	addr := "127.0.0.1:" + strconv.Itoa(s.ports.DynamoDB)
	// server.js is dynalite's command line with its crash on aborted requests defused.
	argv := []string{"node", filepath.Join(s.cfg.DynaliteDir, "server.js"),
		"--host", "127.0.0.1", "--port", strconv.Itoa(s.ports.DynamoDB),
		"--path", filepath.Join(s.cfg.Dir, "dynalite"),
		// Real DynamoDB takes seconds to create a table; the stack need not.
		"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"}
	health := func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/", strings.NewReader("{}"))
		if err != nil {
			return err
		}
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810.ListTables")
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		return checkResponse(req, "__type")
	}
	return s.newProc("dynamodb", s.ports.DynamoDB, argv, s.cfg.Dir, health)
}

// httpCheck is healthy when GET url answers 200 and, if want is set, the body contains it.
func httpCheck(url, want string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		return checkResponse(req, want)
	}
}

func checkResponse(req *http.Request, want string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	// dynalite answers an unsigned request with 400 MissingAuthenticationToken: alive, and itself.
	if resp.StatusCode != http.StatusOK && !(want == "__type" && resp.StatusCode == http.StatusBadRequest) {
		return fmt.Errorf("%s %s: status %d", req.Method, req.URL, resp.StatusCode)
	}
	if want != "" && !bytes.Contains(body, []byte(want)) {
		return fmt.Errorf("%s %s: unexpected answer %q", req.Method, req.URL, truncate(body, 120))
	}
	return nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
