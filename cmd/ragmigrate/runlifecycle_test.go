package main

import (
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/bedrocksim"
	"github.com/ragmigrate/ragmigrate/internal/loader"
	"github.com/ragmigrate/ragmigrate/internal/reembed"
)

// TestReembedResumeKeepsRunParams: a run taken up again (--retry-failed, or a resume) goes on
// with the settings recorded with it: another model is refused before anything is spent, a
// source setting not given again is the run's, and one given again changes the run's for the
// jobs still to do, as the journal then says.
func TestReembedResumeKeepsRunParams(t *testing.T) {
	t.Parallel()
	b := setupReembed(t, 9, bedrocksim.Knobs{})
	texts := func() int64 { return bedrockStats(t, b.bedrock+"/stats").Texts }
	failedForLimit := func(r result) []string {
		t.Helper()
		require.Equal(t, exitFailure, r.code, r.stderr)
		var sum reembed.Summary
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &sum))
		var ids []string
		for _, o := range sum.Bots {
			if b.wantRows[o.BotID] > 0 {
				require.Equal(t, "failed", o.Status, o.BotID)
				require.Contains(t, o.Error, "over the 3000-byte limit for one bot (--max-bot-bytes)")
				ids = append(ids, o.BotID)
			}
		}
		return ids
	}
	first := failedForLimit(b.reembed(t, "--json", "--max-bot-bytes", "3000"))
	require.NotEmpty(t, first)

	conn := connectTest(t, b.target)
	failedJobs := func() int64 {
		return queryInt(t, conn, `SELECT count(*) FROM ragmigrate.bot_jobs WHERE status = 'failed'`)
	}
	failed := failedJobs()
	before := texts()
	r := b.reembed(t, "--json", "--retry-failed", "--model", "amazon.titan-embed-text-v2:0")
	require.Equal(t, exitUsage, r.code, r.stderr)
	require.Contains(t, r.stderr, "the run was started with other settings: --model cohere.embed-multilingual-v3 (this invocation: amazon.titan-embed-text-v2:0)")
	require.Contains(t, r.stderr, "pass --fresh to start a new run")
	require.Equal(t, before, texts(), "nothing embedded")
	require.Equal(t, failed, failedJobs(), "the failed jobs are as they were")

	// Not given again, the run's limit holds (this invocation's default would pass the bots).
	require.Equal(t, first, failedForLimit(b.reembed(t, "--json", "--retry-failed")))

	// Given again, it changes for the jobs still to do, and the run's params say so.
	r = b.reembed(t, "--json", "--retry-failed", "--max-bot-bytes", strconv.Itoa(loader.DefaultMaxBotBytes))
	require.Equal(t, exitFailure, r.code, "the unreadable bots fail still: %s", r.stderr)
	require.EqualValues(t, loader.DefaultMaxBotBytes, queryInt(t, conn, `SELECT (params->'sources'->>'max_bot_bytes')::bigint FROM ragmigrate.runs`))
	b.requireFinalState(t)
}

// TestReembedWaitsForAKilledRunsLock: a reembed started while a killed run's session still holds
// the target's lock waits for the server to end that session, and then runs (it used to try
// once and exit 4, refusing the very run meant to resume the killed one).
func TestReembedWaitsForAKilledRunsLock(t *testing.T) {
	t.Parallel()
	b := setupReembed(t, 9, bedrocksim.Knobs{})
	killed, admin := connectTest(t, b.target), connectTest(t, b.target)
	_, err := killed.Exec(t.Context(), `SELECT pg_advisory_lock(x'72676d67'::int, 1)`)
	require.NoError(t, err)

	cmd, stderr := startRagmigrate(t, b.env, append([]string{"reembed", "--yes", "--rpm", "0", "--json", "--report", filepath.Join(t.TempDir(), "r.json")}, b.args...)...)
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "waiting for the target's lock") }, 2*time.Minute, 20*time.Millisecond,
		"reembed waits for the lock instead of giving up at once: %s", stderr)
	// The server ends the killed run's session, as it does once it notices the client is gone.
	_, err = admin.Exec(t.Context(), `SELECT pg_terminate_backend($1)`, killed.PgConn().PID())
	require.NoError(t, err)
	err = cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		require.Equal(t, exitFailure, exit.ExitCode(), "only the unreadable bots fail: %s", stderr)
	} else {
		require.NoError(t, err)
	}
	b.requireFinalState(t)
}
