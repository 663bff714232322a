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
