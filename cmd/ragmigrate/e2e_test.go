package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	brtypes "github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
)

// binary is the real ragmigrate executable, built once for the end-to-end tests. It is the
// development build (tag devTag): the tests seed their deployments with 'ragmigrate dev seed'.
var binary string

// devTag is the build tag that links the development rig (dev.go and internal/dev).
const devTag = "dev"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ragmigrate-e2e-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "ragmigrate")
	// Under 'go test -race' (make test) the binary is built with -race too, so the race detector
	// watches the worker pools, the Coalescer and pgcopy's workers in real runs; a child that
	// sees a race prints "WARNING: DATA RACE" and exits 66, which the helpers below report.
	build := []string{"build", "-tags", devTag, "-o", binary}
	if raceEnabled {
		build = append(build, "-race")
	}
	if out, err := exec.Command("go", append(build, ".")...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build ragmigrate: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

// ragmigrate runs the binary with args and extra environment, with no terminal on stdin.
func ragmigrate(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return ragmigrateStdin(t, env, nil, args...)
}

// ragmigrateStdin is ragmigrate with stdin read from in.
func ragmigrateStdin(t *testing.T, env []string, in io.Reader, args ...string) result {
	t.Helper()
	// Not t.Context(): cleanups run this too, after the test's context has ended.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = testEnv(env)
	cmd.Stdin = in
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	requireNoRace(t, args, stderr.String())
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// raceReport is what a binary built with -race prints on stderr when it sees a data race (it then
// goes on, and exits 66 at the end).
const raceReport = "WARNING: DATA RACE"

// requireNoRace fails the test, showing the race detector's report, when a run of the binary
// reported a data race: a clearer failure than the exit code 66 it causes.
func requireNoRace(t *testing.T, args []string, stderr string) {
	t.Helper()
	if strings.Contains(stderr, raceReport) {
		t.Fatalf("ragmigrate %s: the race detector reported a data race:\n%s", strings.Join(args, " "), stderr)
	}
}

// testEnv is the process environment without the RAGMIGRATE_* variables the shell running the
// tests may export (the stack's defaults), plus env: a test sees only what it passes.
func testEnv(env []string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RAGMIGRATE_") {
			out = append(out, kv)
		}
	}
	return append(out, env...)
}

// startRagmigrate runs the binary in the background, for tests that kill it; stderr is captured,
// and checked for a data race when the test ends.
func startRagmigrate(t *testing.T, env []string, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	return startRagmigrateOut(t, env, nil, args...)
}

// startRagmigrateOut is startRagmigrate copying stdout into stdout too (nil: dropped).
func startRagmigrateOut(t *testing.T, env []string, stdout *syncBuffer, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = testEnv(env)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if stdout != nil {
		cmd.Stdout = stdout
	}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		// A race seen before a kill -9 is on stderr already: the detector prints at once.
		requireNoRace(t, args, stderr.String())
	})
	return cmd, stderr
}

// syncBuffer is a buffer the child's output can be copied into while the test reads it (a
// failing Eventually prints stderr while the child still runs).
type syncBuffer = stacktest.SyncBuffer

func TestHelpExplains(t *testing.T) {
	t.Parallel()
	r := ragmigrate(t, nil, "--help")
	require.Zero(t, r.code, r.stderr)
	for _, want := range []string{"Exit codes:", "130", "verification mismatch", "RAGMIGRATE_TABLE", "RAGMIGRATE_TARGET_DB", "AWS_ENDPOINT_URL_", "--log-format", "--yes"} {
		require.Contains(t, r.stdout, want)
	}
}

func TestHelpNeverPrintsSecrets(t *testing.T) {
	t.Parallel()
	secret := "postgres://u:hunter2-secret@db.example:5432/postgres"
	r := ragmigrate(t, []string{"RAGMIGRATE_SOURCE_DB=" + secret}, "dev", "seed", "--help")
	require.Zero(t, r.code)
	require.NotContains(t, r.stdout+r.stderr, "hunter2-secret")
}

func TestUsageErrorsExit2(t *testing.T) {
	t.Parallel()
	for name, args := range map[string][]string{
		"UnknownFlag":    {"--no-such-flag"},
		"UnknownCommand": {"frobnicate"},
		"BadLogLevel":    {"--log-level", "loud", "dev", "stack", "env"},
		"ExtraArgument":  {"dev", "stack", "env", "extra"},
		// Serverless v2 capacity goes in steps of 0.5 ACU; RDS would refuse 1.3 only after the
		// restore was asked for.
		"MaxACUHalfSteps": {"snapshot", "restore", "--latest", "--dry-run", "--max-acu", "1.3"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := ragmigrate(t, nil, args...)
			require.Equal(t, exitUsage, r.code, r.stderr)
			require.Contains(t, r.stderr, "ragmigrate: ")
		})
	}
}

func TestSeedRefusesWithoutYes(t *testing.T) {
	t.Parallel()
	env := stackEnv(t)
	table := "rmtest-noyes-" + stacktest.Suffix()
	src := stacktest.Database(t, "RAGMIGRATE_SOURCE_DB")
	r := ragmigrate(t, env, "dev", "seed", "--table", table, "--bucket", "rmtest-noyes", "--source-db", src, "--no-target")
	require.Equal(t, exitUsage, r.code, r.stderr)
	require.Contains(t, r.stderr, "refusing to write without --yes")
	// Nothing was written: the table does not exist.
	r = ragmigrate(t, env, "dev", "summary", "--table", table, "--bucket", "rmtest-noyes")
	require.Equal(t, exitFailure, r.code)
	require.Contains(t, r.stderr, "ResourceNotFoundException")
}

func TestSeedThenSummary(t *testing.T) {
	t.Parallel()
	env := stackEnv(t)
	clients := stacktest.AWS(t)
	table := stacktest.Table(t, clients.DynamoDB)
	bucket := stacktest.Bucket(t, clients.S3)
	src := stacktest.Database(t, "RAGMIGRATE_SOURCE_DB")
	dst := stacktest.Database(t, "RAGMIGRATE_TARGET_DB")
	args := []string{"--table", table, "--bucket", bucket, "--source-db", src, "--target-db", dst}

	r := ragmigrate(t, env, append([]string{"dev", "seed", "--yes", "--json", "--bots", "12"}, args...)...)
	require.Zero(t, r.code, r.stderr)
	var expect struct {
		Bots, Malformed, Rows int
		ByStatus              map[string]int `json:"by_status"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &expect))
	require.Equal(t, 12, expect.Bots)

	r = ragmigrate(t, env, append([]string{"dev", "summary", "--json"}, args...)...)
	require.Zero(t, r.code, r.stderr)
	var inv struct {
		Items struct {
			Bots      int `json:"bots"`
			Malformed int `json:"malformed_bots"`
		} `json:"items"`
		Bots struct {
			ByStatus map[string]int `json:"by_status"`
		} `json:"bots"`
		Source struct {
			Rows int `json:"rows"`
		} `json:"source_items"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &inv))
	require.Equal(t, expect.Bots, inv.Items.Bots)
	require.Equal(t, expect.Malformed, inv.Items.Malformed)
	require.Equal(t, expect.ByStatus, inv.Bots.ByStatus)
	require.Equal(t, expect.Rows, inv.Source.Rows)

	r = ragmigrate(t, env, append([]string{"dev", "summary", "--log-level", "debug"}, args...)...)
	require.Zero(t, r.code, r.stderr)
	require.Contains(t, r.stdout, "bots by status")
	require.NotContains(t, r.stdout+r.stderr, "ragmigrate-local-secret", "the database password never reaches output")
}

// TestStackLifecycle brings a second, private stack up from nothing, checks it twice, and takes
// it down, leaving no process behind.
func TestStackLifecycle(t *testing.T) {
	t.Parallel()
	// PostgreSQL runs as the postgres OS user, which must reach the state directory (t.TempDir's
	// parent is private to root).
	dir, err := os.MkdirTemp("", "ragmigrate-stack-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(dir, 0o755))
	t.Cleanup(func() { os.RemoveAll(dir) })
	env := []string{"RAGMIGRATE_STACK_DIR=" + dir, "RAGMIGRATE_STACK_BASE_PORT=16430", "RAGMIGRATE_DYNALITE_DIR=" + dynaliteDir(t)}
	t.Cleanup(func() { ragmigrate(t, env, "dev", "stack", "down") })

	up := ragmigrate(t, env, "dev", "stack", "up")
	require.Zero(t, up.code, up.stderr)
	require.Contains(t, up.stdout, "export AWS_ENDPOINT_URL_DYNAMODB='http://127.0.0.1:16440'")
	pids := stackPIDs(t, env)
	require.Len(t, pids, 7) // two PostgreSQL clusters, dynalite, S3, Bedrock, web, aws

	// A client dying mid-request (kill -9 does that) must not take the DynamoDB server down. TCP
	// delivers the request's start before the close, so the server sees a request cut off
	// mid-body; its log says when it has dealt with it (tools/dynalite/server.js), and only then
	// is it checked.
	conn, err := net.Dial("tcp", "127.0.0.1:16440")
	require.NoError(t, err)
	_, err = conn.Write([]byte("POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\nContent-Length: 1000\r\n\r\n{\"a\":"))
	require.NoError(t, err)
	conn.Close()
	dynamoLog := filepath.Join(dir, "logs", "dynamodb.log")
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(dynamoLog)
		return err == nil && bytes.Contains(b, []byte("aborted"))
	}, 30*time.Second, 20*time.Millisecond, "dynalite never saw the aborted request")
	logged, err := os.ReadFile(dynamoLog)
	require.NoError(t, err)
	require.Regexp(t, `dynalite: a client aborted its request \(.*\); still serving`, string(logged), "dynalite survived the aborted request")

	// The stack publishes a v1-shaped Bedrock Chat stack on its AWS control plane, whose
	// database secret logs in as the app's role, not the superuser.
	awsEnv := append([]string{"AWS_ENDPOINT_URL_CLOUDFORMATION=http://127.0.0.1:16444", "AWS_ENDPOINT_URL_SECRETS_MANAGER=http://127.0.0.1:16444"}, env...)
	pub := ragmigrate(t, awsEnv, "status", "--stack", "BedrockChatStack")
	require.Zero(t, pub.code, pub.stderr)
	require.Contains(t, pub.stderr, "server=bedrockchat_app@127.0.0.1:16433/postgres")

	again := ragmigrate(t, env, "dev", "stack", "up")
	require.Zero(t, again.code, again.stderr)
	require.Contains(t, again.stderr, "already running")
	require.Equal(t, pids, stackPIDs(t, env), "a second up leaves running services alone")

	down := ragmigrate(t, env, "dev", "stack", "down")
	require.Zero(t, down.code, down.stderr)
	for name, pid := range pids {
		require.Eventually(t, func() bool { return syscall.Kill(pid, 0) != nil }, 15*time.Second, 50*time.Millisecond, "%s (pid %d) still running", name, pid)
	}
	require.Empty(t, processesMentioning(t, dir), "no process of the stack is left")
	st := ragmigrate(t, env, "dev", "stack", "status")
	require.Equal(t, exitFailure, st.code)
	// The stack's Go servers are this binary too ('dev serve'): their races land in their logs.
	logs, err := filepath.Glob(filepath.Join(dir, "logs", "*.log"))
	require.NoError(t, err)
	for _, f := range logs {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		requireNoRace(t, []string{"dev", "serve", "(" + filepath.Base(f) + ")"}, string(b))
	}

	purge := ragmigrate(t, env, "dev", "stack", "down", "--purge")
	require.Zero(t, purge.code, purge.stderr)
	_, err = os.Stat(filepath.Join(dir, "pg"))
	require.True(t, os.IsNotExist(err))
}

func stackPIDs(t *testing.T, env []string) map[string]int {
	t.Helper()
	r := ragmigrate(t, env, "dev", "stack", "status", "--json")
	require.Zero(t, r.code, r.stdout+r.stderr)
	var st []struct {
		Name    string
		PID     int
		Healthy bool
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &st))
	pids := map[string]int{}
	for _, s := range st {
		require.True(t, s.Healthy, s.Name)
		require.NotZero(t, s.PID, s.Name)
		pids[s.Name] = s.PID
	}
	return pids
}

// processesMentioning lists processes whose command line contains s.
func processesMentioning(t *testing.T, s string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var found []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(b, []byte(s)) {
			continue
		}
		found = append(found, e.Name()+": "+strings.ReplaceAll(string(b), "\x00", " "))
	}
	return found
}

func dynaliteDir(t *testing.T) string {
	d, err := filepath.Abs("../../tools/dynalite")
	require.NoError(t, err)
	return d
}

// stackEnv is the environment that reaches the running shared stack's AWS-protocol servers and
// web site (exported by 'make test'). Databases, tables and buckets are not in it: each test
// passes its own, so none sees the shared deployment.
func stackEnv(t *testing.T) []string {
	t.Helper()
	var env []string
	for _, name := range []string{"AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3", "RAGMIGRATE_DEV_WEB_URL"} {
		env = append(env, name+"="+stacktest.Getenv(t, name))
	}
	// Clipped: parallel subtests append their own variables to it, each to a copy.
	return slices.Clip(env)
}

// TestBedrockReachedThroughEndpointVariable calls the stack's contract server the way ragmigrate
// will: the SDK's default configuration, redirected only by AWS_ENDPOINT_URL_BEDROCK_RUNTIME.
func TestBedrockReachedThroughEndpointVariable(t *testing.T) {
	t.Parallel()
	stacktest.Getenv(t, "AWS_ENDPOINT_URL_BEDROCK_RUNTIME")
	statsURL := stacktest.Getenv(t, "RAGMIGRATE_DEV_BEDROCK_URL") + "/stats"
	clients := stacktest.AWS(t)
	client := bedrockruntime.NewFromConfig(clients.Config)
	before := bedrockStats(t, statsURL)

	out, err := client.InvokeModel(t.Context(), &bedrockruntime.InvokeModelInput{
		ModelId:     aws.String("cohere.embed-multilingual-v3"),
		ContentType: aws.String("application/json"),
		Accept:      aws.String("application/json"),
		Body:        []byte(`{"texts":["出張の日当はいくらですか？","How much is the daily allowance?"],"input_type":"search_document"}`),
	})
	require.NoError(t, err)
	var resp struct {
		Embeddings   [][]float32 `json:"embeddings"`
		ResponseType string      `json:"response_type"`
	}
	require.NoError(t, json.Unmarshal(out.Body, &resp))
	require.Equal(t, "embeddings_floats", resp.ResponseType)
	require.Len(t, resp.Embeddings, 2)
	require.Len(t, resp.Embeddings[0], 1024)

	_, err = client.InvokeModel(t.Context(), &bedrockruntime.InvokeModelInput{
		ModelId: aws.String("cohere.embed-multilingual-v3"), ContentType: aws.String("application/json"),
		Body: []byte(`{"texts":["no input type"]}`),
	})
	var ve *brtypes.ValidationException
	require.ErrorAs(t, err, &ve)

	after := bedrockStats(t, statsURL)
	require.GreaterOrEqual(t, after.Requests-before.Requests, int64(2))
	require.GreaterOrEqual(t, after.Texts-before.Texts, int64(2))
}

func bedrockStats(t *testing.T, url string) (s struct{ Requests, Texts int64 }) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&s))
	return s
}
