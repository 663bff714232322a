package journal_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/journal"
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
	require.ErrorContains(t, err, "held by the database session of backend pid")
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

// TestUpgradeAnOlderJournal: a journal an older build wrote (a column and the version table
// missing) is brought up to date by Upgrade, which then leaves a current journal and a database
// without one untouched.
func TestUpgradeAnOlderJournal(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	conn := connect(t, stacktest.Database(t, "RAGMIGRATE_TARGET_DB"))
	require.NoError(t, journal.Upgrade(ctx, conn), "no journal: nothing to do")
	exists, err := journal.Exists(ctx, conn)
	require.NoError(t, err)
	require.False(t, exists, "Upgrade creates no journal")

	require.NoError(t, journal.Migrate(ctx, conn))
	_, err = conn.Exec(ctx, `ALTER TABLE ragmigrate.runs DROP COLUMN heartbeat_at; DROP TABLE ragmigrate.schema_version`)
	require.NoError(t, err)
	require.NoError(t, journal.Upgrade(ctx, conn))
	var has bool
	require.NoError(t, conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.columns
		WHERE table_schema = 'ragmigrate' AND table_name = 'runs' AND column_name = 'heartbeat_at')`).Scan(&has))
	require.True(t, has, "the older journal got the column")

	// Current: Upgrade runs no DDL, so it does not wait behind a run's lock on its tables.
	tx, err := connect(t, conn.Config().ConnString()).Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	_, err = tx.Exec(ctx, `LOCK TABLE ragmigrate.runs IN ACCESS EXCLUSIVE MODE`)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `SET lock_timeout = '2s'`)
	require.NoError(t, err)
	require.NoError(t, journal.Upgrade(ctx, conn), "a current journal is not altered")
}
