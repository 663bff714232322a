package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/bedrocksim"
	"github.com/ragmigrate/ragmigrate/internal/dev/corpus"
	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/docstore"
)

// textLogLine is a line of slog's text handler; the two plain lines main prints when a run fails
// are ragmigrate's own too.
var textLogLine = regexp.MustCompile(`^(time=\S+ level=(DEBUG|INFO|WARN|ERROR) msg=|ragmigrate: |Run 'ragmigrate --help' for usage\.$)`)

// requireOwnStderr checks that every line on stderr is one of ragmigrate's: under
// --log-format json a JSON object with a level and a message, else a text log line.
func requireOwnStderr(t *testing.T, r result, jsonFormat bool, what string) {
	t.Helper()
	for line := range strings.Lines(r.stderr) {
		line = strings.TrimSuffix(line, "\n")
		if jsonFormat {
			var v map[string]any
			require.NoError(t, json.Unmarshal([]byte(line), &v), "%s: a stderr line that is not JSON:\n%s\nstderr:\n%s", what, line, r.stderr)
			require.Contains(t, v, "level", "%s: %s", what, line)
			require.Contains(t, v, "msg", "%s: %s", what, line)
			continue
		}
		require.Regexp(t, textLogLine, line, "%s: a stderr line that is not ragmigrate's:\nstderr:\n%s", what, r.stderr)
	}
}

// TestStderrOnlyOwnLines reads S3 objects through the real binary, as inspect and reembed do, in
// both log formats and at debug level: stderr holds only ragmigrate's log lines. (Before, every
// S3 read printed the SDK's "SDK 2026/... DEBUG Response has no supported checksum. Not
// validating response payload." on stderr, in neither format.) A failing run's last line, and a
// deprecated flag's warning, follow --log-format json too.
func TestStderrOnlyOwnLines(t *testing.T) {
	t.Parallel()
	clients := stacktest.AWS(t)

	t.Run("Inspect", func(t *testing.T) {
		t.Parallel()
		bucket := stacktest.Bucket(t, clients.S3)
		store := docstore.New(clients.S3, bucket)
		require.NoError(t, store.EnsureBucket(t.Context()))
		body, err := corpus.Encode(corpus.Large(1, "en", 4<<10), ".docx")
		require.NoError(t, err)
		// Uploaded without a checksum, as a browser's PUT to the app's presigned URL is: the SDK
		// has none to validate the download with, and says so.
		key := "user-1/01BOT/documents/notes.docx"
		_, err = clients.S3.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)},
			func(o *s3.Options) { o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired })
		require.NoError(t, err)
		uri := docstore.SourceURI(bucket, key)
		for _, args := range [][]string{
			{"--log-level", "debug"},
			{"--log-level", "debug", "--log-format", "json"},
		} {
			r := ragmigrate(t, stackEnv(t), append([]string{"inspect", uri, "--text-only"}, args...)...)
			require.Zero(t, r.code, r.stderr)
			requireOwnStderr(t, r, strings.Contains(strings.Join(args, " "), "json"), "inspect "+strings.Join(args, " "))
		}
		r := ragmigrate(t, append(stackEnv(t), "RAGMIGRATE_LOG_FORMAT=json"), "inspect", docstore.SourceURI(bucket, "user-1/01BOT/documents/gone.pdf"))
		require.Equal(t, exitFailure, r.code, r.stderr)
		requireOwnStderr(t, r, true, "inspect of a missing object")
		require.Contains(t, r.stderr, `"exit_code":1`)
		require.Contains(t, r.stderr, "NoSuchKey")
	})

	t.Run("Reembed", func(t *testing.T) {
		t.Parallel()
		b := setupReembed(t, 9, bedrocksim.Knobs{})
		// The seed's unreadable bots fail the run (exit 1), so its last line is the error.
		r := b.reembed(t, "--log-format", "json", "--log-level", "debug")
		require.Equal(t, exitFailure, r.code, r.stderr)
		require.Contains(t, r.stderr, `"exit_code":1`)
		requireOwnStderr(t, r, true, "reembed --log-format json")
		r = b.reembed(t, "--fresh")
		require.Equal(t, exitFailure, r.code, r.stderr)
		require.Contains(t, r.stderr, "level=INFO", "the run logs")
		requireOwnStderr(t, r, false, "reembed --fresh")
	})

	t.Run("ReembedThrottled", func(t *testing.T) {
		t.Parallel()
		// A provider quota of 2 requests a minute, no budget known to ragmigrate (no --rpm,
		// --tpm, and Service Quotas lists none for the model): the run finds its budget at the
		// first throttle. Interrupted then (the rest would take minutes at that pace), it says
		// what it found in a JSON record like every other line. (Before, that line was plain
		// text in the middle of the JSON.) "embed retry" is logged after the throttle reached
		// the budget.
		b := setupReembed(t, 9, bedrocksim.Knobs{RequestsPerMinute: 2})
		args := append([]string{"reembed", "--yes", "--report", filepath.Join(t.TempDir(), "r.json"), "--log-format", "json", "--log-level", "debug",
			"--batch-linger", "0"}, b.args...)
		cmd, stderr := startRagmigrate(t, b.env, args...)
		require.Eventually(t, func() bool {
			return strings.Contains(stderr.String(), `"msg":"embed retry"`) && strings.Contains(stderr.String(), `"error":"ThrottlingException"`)
		}, 2*time.Minute, 20*time.Millisecond, "a throttle: %s", stderr)
		require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
		var exit *exec.ExitError
		require.ErrorAs(t, cmd.Wait(), &exit, stderr.String())
		r := result{code: exit.ExitCode(), stderr: stderr.String()}
		require.Equal(t, exitInterrupted, r.code, r.stderr)
		requireOwnStderr(t, r, true, "reembed --log-format json, throttled")
		require.Contains(t, r.stderr, `"msg":"budget: none known, found at the first throttle`, "the budget was to be found")
		require.Contains(t, r.stderr, `"msg":"budget found at the first throttle: `, "the budget was discovered")
	})

	t.Run("UsageAndDeprecated", func(t *testing.T) {
		t.Parallel()
		r := ragmigrate(t, nil, "--log-format", "json", "plan", "--no-such-flag")
		require.Equal(t, exitUsage, r.code, r.stderr)
		requireOwnStderr(t, r, true, "a usage error")
		require.Contains(t, r.stderr, `"exit_code":2`)

		db := "postgres://walker@127.0.0.1:1/walker?connect_timeout=5"
		r = ragmigrate(t, nil, "copy", "--yes", "--truncate", "--log-format", "json", "--source-db", db, "--target-db", db)
		require.Equal(t, exitFailure, r.code, r.stderr)
		requireOwnStderr(t, r, true, "copy --truncate")
		require.Contains(t, r.stderr, "Flag --truncate has been deprecated, use --empty-target")
	})
}
