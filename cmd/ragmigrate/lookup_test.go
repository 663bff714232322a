package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
)

// countingAWS is a CloudFormation and Secrets Manager endpoint that counts the requests it gets
// and answers each with a stack that does not exist (a ValidationError, which the SDK does not
// retry), so a test can tell whether a command looked anything up.
func countingAWS(t *testing.T) (env []string, calls *atomic.Int64) {
	t.Helper()
	calls = &atomic.Int64{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Header.Get("X-Amz-Target") != "" { // Secrets Manager's JSON protocol
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}`))
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id Nope does not exist</Message></Error><RequestId>1</RequestId></ErrorResponse>`))
	}))
	t.Cleanup(srv.Close)
	return []string{"AWS_ENDPOINT_URL_CLOUDFORMATION=" + srv.URL, "AWS_ENDPOINT_URL_SECRETS_MANAGER=" + srv.URL}, calls
}

// TestFlagsCheckedBeforeStack: a command's bad flag is a usage error (exit 2) naming the flag
// before --stack or a secret is looked up: no request reaches CloudFormation or Secrets Manager.
// With good flags the same command line does look the stack up (the endpoint counts it), so the
// count of zero means something.
func TestFlagsCheckedBeforeStack(t *testing.T) {
	t.Parallel()
	secret := "arn:aws:secretsmanager:us-east-1:000000000000:secret:DbSecret-x"
	stack := []string{"--stack", "Nope"}
	for name, tt := range map[string]struct {
		args []string
		says string
	}{
		"Plan":             {append([]string{"plan", "--dimensions", "-1"}, stack...), "--dimensions"},
		"Reembed":          {append([]string{"reembed", "--concurrency", "0"}, stack...), "--concurrency 0"},
		"Copy":             {append([]string{"copy", "--source-db", "postgres://u@h/db", "--lock-wait", "-1s"}, stack...), "--lock-wait -1s"},
		"CopyNoSource":     {append([]string{"copy"}, stack...), "--source-db is required"},
		"Verify":           {append([]string{"verify", "--expect", "bogus"}, stack...), `--expect "bogus"`},
		"ReplicateStart":   {append([]string{"replicate", "start", "--source-db", "postgres://u@h/db", "--jobs", "0"}, stack...), "--jobs"},
		"ReplicateStatus":  {append([]string{"replicate", "status", "--source-db", "postgres://u@h/db", "--interval", "1ms"}, stack...), "--interval 1ms"},
		"ReplicateCutover": {append([]string{"replicate", "cutover", "--source-db", "postgres://u@h/db", "--queries", "-1"}, stack...), "--queries -1"},
		"ReplicateAbort":   {append([]string{"replicate", "abort"}, stack...), "--source-db is required"},
		"SnapshotRestore":  {append([]string{"snapshot", "restore", "--latest", "--max-acu", "0.7"}, stack...), "--max-acu 0.7"},
		"SnapshotCleanup":  {append([]string{"snapshot", "cleanup", "--timeout", "0s"}, stack...), "--timeout 0s"},
		"Remote":           {append([]string{"remote", "--image", "i", "--cpu", "3"}, append(stack, "--", "status")...), `--cpu "3"`},
		"Inspect":          {append([]string{"inspect", "notes.txt", "--chunk-size", "0"}, stack...), "--chunk-size 0"},
		"Status":           {append([]string{"status", "--limit", "0"}, stack...), "--limit 0"},
		"TargetSecret":     {[]string{"plan", "--table", "t", "--bucket", "b", "--target-secret", secret, "--rpm", "-5"}, "--rpm -5"},
		"SourceSecret":     {[]string{"copy", "--source-secret", secret, "--target-db", "postgres://u@h/db", "--jobs", "0"}, "--jobs"},
		"StackAndSecret":   {append([]string{"verify", "--source-secret", secret, "--top-k", "0"}, stack...), "--top-k"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env, calls := countingAWS(t)
			r := ragmigrate(t, env, tt.args...)
			require.Equal(t, exitUsage, r.code, r.stderr)
			require.Contains(t, r.stderr, tt.says)
			require.NotContains(t, r.stderr, "does not exist", "the stack was not looked up")
			require.NotContains(t, r.stderr, "can't find the specified secret", "the secret was not read")
			require.Zero(t, calls.Load(), "no AWS lookup before the flags are checked")
		})
	}

	t.Run("GoodFlagsLookUp", func(t *testing.T) {
		t.Parallel()
		env, calls := countingAWS(t)
		r := ragmigrate(t, env, "plan", "--stack", "Nope")
		require.Equal(t, exitUsage, r.code, r.stderr)
		require.Contains(t, r.stderr, "--stack Nope")
		require.Contains(t, r.stderr, "does not exist")
		require.EqualValues(t, 1, calls.Load())
	})
}

// TestSilentLookupBounded: a CloudFormation or Secrets Manager endpoint that accepts connections
// and never answers ends the lookup after --aws-timeout (its retries included), with a message
// naming the service, the call, the endpoint and the flag, instead of about 9 × --aws-timeout of
// the SDK's attempts and back-offs.
func TestSilentLookupBounded(t *testing.T) {
	t.Parallel()
	secret := "arn:aws:secretsmanager:us-east-1:000000000000:secret:DbSecret-x"
	for name, tt := range map[string]struct {
		envName string
		args    []string
		says    string
	}{
		"CloudFormation": {"AWS_ENDPOINT_URL_CLOUDFORMATION", []string{"plan", "--stack", "BedrockChatStack"}, "--stack: describe stack BedrockChatStack: CloudFormation DescribeStacks: no answer from "},
		"SecretsManager": {"AWS_ENDPOINT_URL_SECRETS_MANAGER", []string{"status", "--target-secret", secret}, "--target-secret: read secret " + secret + ": Secrets Manager GetSecretValue: no answer from "},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			url := "http://" + stacktest.SilentListener(t)
			r := ragmigrate(t, []string{tt.envName + "=" + url}, append(tt.args, "--aws-timeout", "700ms")...)
			require.Equal(t, exitFailure, r.code, r.stderr)
			require.Contains(t, r.stderr, tt.says+url+" within 700ms (--aws-timeout, retries included)")
			require.Equal(t, 1, strings.Count(r.stderr, "no answer"), r.stderr)
		})
	}

	// An endpoint that refuses connections: the retries end with the bound too, and the message
	// says what the last attempt met (the SDK's own error, cut short in a back-off, does not).
	t.Run("Refused", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		url := "http://" + ln.Addr().String()
		require.NoError(t, ln.Close())
		r := ragmigrate(t, []string{"AWS_ENDPOINT_URL_CLOUDFORMATION=" + url}, "plan", "--stack", "BedrockChatStack", "--aws-timeout", "700ms")
		require.Equal(t, exitFailure, r.code, r.stderr)
		require.Contains(t, r.stderr, "CloudFormation DescribeStacks: no answer from "+url+" within 700ms (--aws-timeout, retries included): last attempt: ")
		require.Contains(t, r.stderr, "connection refused")
	})
}

// TestInterruptedBeforeTheCommand: Ctrl-C while --stack is read (before the command began), and
// while remote looks up the task definition (before it started a task), says so and that nothing
// was done or runs — not "context canceled".
func TestInterruptedBeforeTheCommand(t *testing.T) {
	t.Parallel()
	for name, tt := range map[string]struct {
		envName string
		args    []string
		says    string
	}{
		"StackLookup": {"AWS_ENDPOINT_URL_CLOUDFORMATION", []string{"plan", "--stack", "BedrockChatStack"},
			"ragmigrate: interrupted: while reading --stack or a secret, before ragmigrate plan began: nothing was done: run it again\n"},
		"RemoteTaskDefinition": {"AWS_ENDPOINT_URL_ECS", []string{"remote", "--image", "i", "--cluster", "c", "--subnets", "s", "--security-groups", "g",
			"--task-definition", "F", "--", "status"}, "ragmigrate: interrupted: remote stopped before it started a task: nothing runs: run it again\n"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			addr, accepted := stacktest.NotifyingSilentListener(t)
			cmd, stderr := startRagmigrate(t, []string{tt.envName + "=http://" + addr}, tt.args...)
			select {
			case <-accepted:
			case <-time.After(time.Minute):
				t.Fatalf("no request reached the endpoint: %s", stderr)
			}
			require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
			require.Error(t, cmd.Wait())
			require.Equal(t, exitInterrupted, cmd.ProcessState.ExitCode(), stderr.String())
			require.Contains(t, stderr.String(), tt.says)
			require.NotContains(t, stderr.String(), "context canceled")
		})
	}
}
