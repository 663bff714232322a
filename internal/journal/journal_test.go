package journal_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/journal"
	"github.com/ragmigrate/ragmigrate/internal/stacktest"
)

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(stacktest.Context(t), url)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestRunsAndParts(t *testing.T) {
	t.Parallel()
	ctx := stacktest.Context(t)
	conn := connect(t, stacktest.Database(t, "RAGMIGRATE_TARGET_DB"))
	require.NoError(t, journal.Migrate(ctx, conn))
	require.NoError(t, journal.Migrate(ctx, conn), "Migrate is idempotent")

	_, err := journal.LatestRun(ctx, conn, "copy", "public.items")
	require.ErrorIs(t, err, journal.ErrNoRun)
	run, err := journal.StartRun(ctx, conn, "copy", "public.items", map[string]int{"jobs": 2})
	require.NoError(t, err)
	b := "M"
	require.NoError(t, journal.AddParts(ctx, conn, []journal.Part{
		{RunID: run.ID, Table: "public.items", Part: 1, Upper: &b, EstBytes: 10},
		{RunID: run.ID, Table: "public.items", Part: 2, Lower: &b, EstBytes: 10},
	}))
	require.NoError(t, journal.SetPhase(ctx, conn, run.ID, "data"))

	parts, err := journal.Parts(ctx, conn, run.ID, "public.items")
	require.NoError(t, err)
	require.Len(t, parts, 2)
	require.Nil(t, parts[0].Lower)
	require.Equal(t, "M", *parts[0].Upper)

	// A part marked done in a rolled-back transaction stays to do; a committed one is done once.
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	ok, err := journal.ClaimPart(ctx, tx, parts[0])
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, journal.MarkPartDone(ctx, tx, parts[0], 5, 500, 1))
	require.NoError(t, tx.Rollback(ctx))
	tx, err = conn.Begin(ctx)
	require.NoError(t, err)
	ok, err = journal.ClaimPart(ctx, tx, parts[0])
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, journal.MarkPartDone(ctx, tx, parts[0], 5, 500, 2))
	require.NoError(t, tx.Commit(ctx))
	tx, err = conn.Begin(ctx)
	require.NoError(t, err)
	ok, err = journal.ClaimPart(ctx, tx, parts[0])
	require.NoError(t, err)
	require.False(t, ok, "a done part cannot be claimed again")
	require.Error(t, journal.MarkPartDone(ctx, tx, parts[0], 5, 500, 3))
	require.NoError(t, tx.Rollback(ctx))

	parts, err = journal.Parts(ctx, conn, run.ID, "public.items")
	require.NoError(t, err)
	require.True(t, parts[0].Done)
	require.EqualValues(t, 5, parts[0].Rows)
	require.False(t, parts[1].Done)

	require.NoError(t, journal.Finish(ctx, conn, run.ID, journal.StatusDone, nil))
	latest, err := journal.LatestRun(ctx, conn, "copy", "public.items")
	require.NoError(t, err)
	require.Equal(t, run.ID, latest.ID)
	require.Equal(t, journal.StatusDone, latest.Status)
	require.Equal(t, "data", latest.Phase)
}

func TestLockIsExclusivePerDatabase(t *testing.T) {
	t.Parallel()
	ctx := stacktest.Context(t)
	url := stacktest.Database(t, "RAGMIGRATE_TARGET_DB")
	first, second := connect(t, url), connect(t, url)
	other := connect(t, stacktest.Database(t, "RAGMIGRATE_TARGET_DB"))

	lock, err := journal.Acquire(ctx, first, 0)
	require.NoError(t, err)
	_, err = journal.Acquire(ctx, second, 300*time.Millisecond)
	require.ErrorIs(t, err, journal.ErrLockHeld)
	require.ErrorContains(t, err, "held by pid")
	otherLock, err := journal.Acquire(ctx, other, 0)
	require.NoError(t, err, "another target database is another lock")
	require.NoError(t, otherLock.Release(ctx))

	require.NoError(t, lock.Release(ctx))
	lock, err = journal.Acquire(ctx, second, 0)
	require.NoError(t, err)
	// The session ending releases the lock, as when a run is killed.
	second.Close(ctx)
	lock2, err := journal.Acquire(ctx, first, 5*time.Second)
	require.NoError(t, err)
	require.NoError(t, lock2.Release(ctx))
	_ = lock
}
