package vectorstore_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// TestCommitOutlivesInterrupt: a transaction whose context is cancelled just before its COMMIT
// (an operator's Ctrl-C) still commits, and says so; pgx's own Commit gives up on it.
func TestCommitOutlivesInterrupt(t *testing.T) {
	t.Parallel()
	url := stacktest.Database(t, "RAGMIGRATE_TARGET_DB")
	ctx := stacktest.Context(t)
	connect := func() *pgx.Conn {
		conn, err := vectorstore.Connect(ctx, url, "test", vectorstore.Timeouts{})
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close(context.Background()) })
		return conn
	}
	conn := connect()
	_, err := conn.Exec(ctx, `CREATE TABLE committed (n int)`)
	require.NoError(t, err)

	// pgx closes a connection whose query it abandons: each transaction has its own.
	insertThenInterrupt := func(n int) (context.Context, pgx.Tx) {
		conn := connect()
		tctx, cancel := context.WithCancel(ctx)
		tx, err := conn.Begin(tctx)
		require.NoError(t, err)
		t.Cleanup(func() { tx.Rollback(context.Background()) })
		_, err = tx.Exec(tctx, `INSERT INTO committed VALUES ($1)`, n)
		require.NoError(t, err)
		cancel()
		return tctx, tx
	}
	tctx, tx := insertThenInterrupt(1)
	require.ErrorIs(t, tx.Commit(tctx), context.Canceled)
	tctx, tx = insertThenInterrupt(2)
	require.NoError(t, vectorstore.Commit(tctx, tx))

	rows, err := conn.Query(ctx, `SELECT n FROM committed ORDER BY n`)
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	require.NoError(t, err)
	require.Equal(t, []int32{2}, got)
}
