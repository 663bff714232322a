package botjob_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/journal"
	"github.com/ragmigrate/ragmigrate/internal/reembed/botjob"
)

// leaseRun is a journal with one re-embed run of bots and a table standing for the bots' rows,
// written in the job's transaction as reembed.Job.Run writes items.
func leaseRun(t *testing.T, bots ...string) (*pgxpool.Pool, int64) {
	t.Helper()
	ctx := stacktest.Context(t)
	db, err := pgxpool.New(ctx, stacktest.Database(t, "RAGMIGRATE_TARGET_DB"))
	require.NoError(t, err)
	t.Cleanup(db.Close)
	require.NoError(t, journal.Migrate(ctx, db))
	run, err := journal.StartRun(ctx, db, botjob.Kind, "bots", map[string]int{"version": 1})
	require.NoError(t, err)
	var jobs []botjob.Job
	for _, b := range bots {
		jobs = append(jobs, botjob.Job{RunID: run.ID, BotID: b, UserID: "u"})
	}
	require.NoError(t, botjob.Add(ctx, db, jobs))
	_, err = db.Exec(ctx, `CREATE TABLE rows (bot_id text, writer text)`)
	require.NoError(t, err)
	return db, run.ID
}

// commit is a worker's bot transaction: the fence, its rows, the job done.
func commit(t *testing.T, db *pgxpool.Pool, j botjob.Job) error {
	t.Helper()
	ctx := stacktest.Context(t)
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		mine, err := botjob.ClaimLeased(ctx, tx, j.RunID, j.BotID, j.Lease)
		if err != nil {
			return err
		}
		require.True(t, mine)
		if _, err := tx.Exec(ctx, `INSERT INTO rows VALUES ($1, $2)`, j.BotID, j.Lease); err != nil {
			return err
		}
		j.Status = botjob.Done
		return botjob.FinishLeased(ctx, tx, j)
	})
}

// expire ends j's lease now, as time passing without a heartbeat would.
func expire(t *testing.T, db *pgxpool.Pool, j *botjob.Job) {
	t.Helper()
	_, err := db.Exec(stacktest.Context(t), `UPDATE ragmigrate.bot_jobs SET lease_until = now() - interval '1 second' WHERE run_id = $1 AND bot_id = $2`, j.RunID, j.BotID)
	require.NoError(t, err)
}

// TestStaleLeaseCannotCommit: worker A's lease on a job expires (A paused), worker B claims the
// job and commits it; A, resuming, can neither renew, start, finish nor commit the job: its
// transaction rolls back, and the bot has B's rows only. The reverse order (A commits before B
// claims) leaves B nothing to claim.
func TestStaleLeaseCannotCommit(t *testing.T) {
	t.Parallel()
	ctx := stacktest.Context(t)
	db, runID := leaseRun(t, "bot1")

	a, err := botjob.ClaimNext(ctx, db, runID, "worker-a", time.Hour)
	require.NoError(t, err)
	require.NotNil(t, a)
	none, err := botjob.ClaimNext(ctx, db, runID, "worker-b", time.Hour)
	require.NoError(t, err)
	require.Nil(t, none, "a job leased and not expired is not claimed again")
	require.NoError(t, botjob.StartLeased(ctx, db, a))
	require.NoError(t, botjob.Renew(ctx, db, *a, time.Hour))

	expire(t, db, a)
	b, err := botjob.ClaimNext(ctx, db, runID, "worker-b", time.Hour)
	require.NoError(t, err)
	require.NotNil(t, b, "an expired lease is claimed again")
	require.Equal(t, "bot1", b.BotID)
	require.NoError(t, botjob.StartLeased(ctx, db, b))

	require.ErrorIs(t, botjob.Renew(ctx, db, *a, time.Hour), botjob.ErrLeaseLost)
	require.ErrorIs(t, botjob.StartLeased(ctx, db, a), botjob.ErrLeaseLost)
	require.ErrorIs(t, commit(t, db, *a), botjob.ErrLeaseLost, "the stale holder's commit is fenced")
	failed := *a
	failed.Status, failed.Error = botjob.Failed, "stale"
	require.ErrorIs(t, botjob.FinishLeased(ctx, db, failed), botjob.ErrLeaseLost, "nor can it record an outcome")

	require.NoError(t, commit(t, db, *b))
	// A's late commit, after B's: still fenced, B's result stands.
	require.ErrorIs(t, commit(t, db, *a), botjob.ErrLeaseLost)

	var writers []string
	rows, err := db.Query(ctx, `SELECT writer FROM rows WHERE bot_id = 'bot1'`)
	require.NoError(t, err)
	writers, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"worker-b"}, writers, "the bot's rows are the lease holder's, once")
	jobs, err := botjob.List(ctx, db, runID)
	require.NoError(t, err)
	require.Equal(t, botjob.Done, jobs[0].Status)
	require.Equal(t, 2, jobs[0].Attempts, "both workers' attempts counted")
	next, err := botjob.ClaimNext(ctx, db, runID, "worker-c", time.Hour)
	require.NoError(t, err)
	require.Nil(t, next, "a done job is never claimed")
}

// TestLeaseHeldWhileCommitting: a worker inside its bot transaction holds the job's row: a
// lease expiring meanwhile does not let another worker claim the job (SKIP LOCKED), and once
// the commit is in, the job is done. Workers claiming at once get distinct jobs.
func TestLeaseHeldWhileCommitting(t *testing.T) {
	t.Parallel()
	ctx := stacktest.Context(t)
	db, runID := leaseRun(t, "bot1", "bot2", "bot3")

	a, err := botjob.ClaimNext(ctx, db, runID, "worker-a", time.Hour)
	require.NoError(t, err)
	// Expired before anyone claimed it again: the job is still A's to commit.
	expire(t, db, a)
	tx, err := db.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	mine, err := botjob.ClaimLeased(ctx, tx, a.RunID, a.BotID, a.Lease)
	require.NoError(t, err)
	require.True(t, mine)

	seen := map[string]bool{a.BotID: true}
	for _, w := range []string{"worker-b", "worker-c"} {
		j, err := botjob.ClaimNext(ctx, db, runID, w, time.Hour)
		require.NoError(t, err)
		require.NotNil(t, j)
		require.False(t, seen[j.BotID], "job %s claimed twice", j.BotID)
		seen[j.BotID] = true
	}
	none, err := botjob.ClaimNext(ctx, db, runID, "worker-d", time.Hour)
	require.NoError(t, err)
	require.Nil(t, none, "the job being committed is skipped although its lease expired")
	a.Status = botjob.Done
	require.NoError(t, botjob.FinishLeased(ctx, tx, *a))
	require.NoError(t, tx.Commit(ctx))

	require.NoError(t, botjob.Release(ctx, db, runID, "worker-b"))
	pending, leased, err := botjob.CountPending(ctx, db, runID)
	require.NoError(t, err)
	require.Equal(t, 2, pending)
	require.Equal(t, 1, leased, "worker-b's lease given back, worker-c's held")
}
