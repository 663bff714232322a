package main

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
)

// TestVerifyInterrupted: Ctrl-C while verify reads says what stopped (verify, before its report,
// having changed nothing and recorded no verdict) and what to do (run it again), not "context
// canceled"; and indeed no verdict is recorded. status, interrupted, says to run it again.
func TestVerifyInterrupted(t *testing.T) {
	t.Parallel()
	b := setupCopy(t, 50, "", nil)
	r, _ := b.copy(t)
	require.Zero(t, r.code, r.stderr)

	// A transaction holding the source's items table makes verify wait on its first read of it,
	// so the interrupt lands while verify reads.
	src := connectTest(t, b.src)
	tx, err := src.Begin(stacktest.Context(t))
	require.NoError(t, err)
	defer tx.Rollback(stacktest.Context(t))
	_, err = tx.Exec(stacktest.Context(t), `LOCK TABLE items IN ACCESS EXCLUSIVE MODE`)
	require.NoError(t, err)

	stderr := interruptWhileLocked(t, b.env, b.src, "verify", "--source-db", b.src, "--target-db", b.dst)
	require.Contains(t, stderr.String(), "ragmigrate: interrupted: verify stopped before its report; it changed nothing and recorded no verdict: run it again\n")
	require.NotContains(t, stderr.String(), "context canceled")
	dst := connectTest(t, b.dst)
	if queryInt(t, dst, `SELECT count(*) FROM pg_class WHERE oid = to_regclass('ragmigrate.verifications')`) > 0 {
		require.Zero(t, queryInt(t, dst, `SELECT count(*) FROM ragmigrate.verifications`), "no verdict recorded")
	}

	// status, read-only too, waiting on the journal's runs table: the same words.
	tx, err = dst.Begin(stacktest.Context(t))
	require.NoError(t, err)
	defer tx.Rollback(stacktest.Context(t))
	_, err = tx.Exec(stacktest.Context(t), `LOCK TABLE ragmigrate.runs IN ACCESS EXCLUSIVE MODE`)
	require.NoError(t, err)
	stderr = interruptWhileLocked(t, b.env, b.dst, "status", "--target-db", b.dst)
	require.Contains(t, stderr.String(), "ragmigrate: interrupted: status stopped before it finished: run it again\n")
	require.NotContains(t, stderr.String(), "context canceled")
}

// interruptWhileLocked starts ragmigrate command with args, waits until its session on the
// database at db waits for a lock the test holds, sends SIGINT, and requires exit 130.
func interruptWhileLocked(t *testing.T, env []string, db, command string, args ...string) *syncBuffer {
	t.Helper()
	cmd, stderr := startRagmigrate(t, env, append([]string{command}, args...)...)
	waiting := connectTest(t, db)
	require.Eventually(t, func() bool {
		var n int
		err := waiting.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = $1 AND wait_event_type = 'Lock'`, "ragmigrate/"+command).Scan(&n)
		return err == nil && n > 0
	}, time.Minute, 20*time.Millisecond, "%s never waited for the lock: %s", command, stderr)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	require.Error(t, cmd.Wait())
	require.Equal(t, exitInterrupted, cmd.ProcessState.ExitCode(), stderr.String())
	return stderr
}

// TestReplicateCutoverInterrupted: Ctrl-C while cutover waits for the target to catch up says
// that the replication goes on streaming and to cut over again — and it does: the run is back in
// its streaming phase, its slot and subscription in place.
func TestReplicateCutoverInterrupted(t *testing.T) {
	t.Parallel()
	b := setupReplicate(t, 100)
	r := ragmigrate(t, b.env, b.args("start")...)
	require.Zero(t, r.code, r.stderr)
	src, dst := connectTest(t, b.src), connectTest(t, b.dst)

	// A transaction holding the target's items keeps the subscription from applying a new source
	// row, so cutover waits for the target to catch up until it is interrupted.
	tx, err := dst.Begin(stacktest.Context(t))
	require.NoError(t, err)
	defer tx.Rollback(stacktest.Context(t))
	_, err = tx.Exec(stacktest.Context(t), `LOCK TABLE items IN ACCESS EXCLUSIVE MODE`)
	require.NoError(t, err)
	_, err = src.Exec(stacktest.Context(t), `INSERT INTO items SELECT '0INTERRUPTEDCUTOVER0000000', botid, content, source, embedding FROM items LIMIT 1`)
	require.NoError(t, err)

	stdout := &syncBuffer{}
	cmd, stderr := startRagmigrateOut(t, b.env, stdout, b.args("cutover")...)
	journal := connectTest(t, b.dst)
	require.Eventually(t, func() bool {
		var phase string
		err := journal.QueryRow(t.Context(), `SELECT phase FROM ragmigrate.runs WHERE kind = 'replicate'`).Scan(&phase)
		return err == nil && phase == "cutover"
	}, time.Minute, 20*time.Millisecond, "cutover never began: %s", stderr)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	require.Error(t, cmd.Wait())
	require.Equal(t, exitInterrupted, cmd.ProcessState.ExitCode(), stderr.String())
	runID := queryInt(t, journal, `SELECT id FROM ragmigrate.runs WHERE kind = 'replicate'`)
	require.Contains(t, stderr.String(), fmt.Sprintf("ragmigrate: interrupted: cutover of replication run %d stopped before it dropped anything; the replication goes on streaming: run 'ragmigrate replicate cutover' again once writes to the source have stopped\n", runID))
	require.NotContains(t, stderr.String(), "context canceled")
	// stdout says the target had not caught up (it said "target confirmed <the LSN it was behind
	// at> after 0.00s", as a cutover that caught up does).
	require.Regexp(t, fmt.Sprintf(`^replication run %d: the target had not applied the source's LSN [0-9A-F]+/[0-9A-F]+ when cutover stopped waiting, after \d+\.\d+s \(confirmed [0-9A-F]+/[0-9A-F]+\)\n$`, runID), stdout.String())
	var phase string
	require.NoError(t, journal.QueryRow(t.Context(), `SELECT phase FROM ragmigrate.runs WHERE id = $1`, runID).Scan(&phase))
	require.Equal(t, "streaming", phase)
	slots, pubs, subs := b.replicationObjects(t)
	require.EqualValues(t, 3, slots+pubs+subs, "slot, publication and subscription stay")

	require.NoError(t, tx.Rollback(stacktest.Context(t)))
	r = ragmigrate(t, b.env, b.args("abort")...)
	require.Zero(t, r.code, r.stderr)
}
