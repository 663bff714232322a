package pgcopy

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/journal"
	"github.com/ragmigrate/ragmigrate/internal/stacktest"
)

func testConn(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(stacktest.Context(t), url)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestRunsAndParts(t *testing.T) {
	t.Parallel()
	ctx := stacktest.Context(t)
	conn := testConn(t, stacktest.Database(t, "RAGMIGRATE_TARGET_DB"))
	require.NoError(t, journal.Migrate(ctx, conn))
	require.NoError(t, journal.Migrate(ctx, conn), "Migrate is idempotent")

	_, err := journal.LatestRun(ctx, conn, "copy", "public.items")
	require.ErrorIs(t, err, journal.ErrNoRun)
	run, err := journal.StartRun(ctx, conn, "copy", "public.items", map[string]int{"jobs": 2})
	require.NoError(t, err)
	b := "M"
	require.NoError(t, AddParts(ctx, conn, []Part{
		{RunID: run.ID, Table: "public.items", Part: 1, Upper: &b, EstBytes: 10},
		{RunID: run.ID, Table: "public.items", Part: 2, Lower: &b, EstBytes: 10},
	}))
	require.NoError(t, journal.SetPhase(ctx, conn, run.ID, "data"))

	parts, err := Parts(ctx, conn, run.ID, "public.items")
	require.NoError(t, err)
	require.Len(t, parts, 2)
	require.Nil(t, parts[0].Lower)
	require.Equal(t, "M", *parts[0].Upper)

	// A part marked done in a rolled-back transaction stays to do; a committed one is done once.
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	ok, err := ClaimPart(ctx, tx, parts[0])
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, MarkPartDone(ctx, tx, parts[0], 5, 500, 1))
	require.NoError(t, tx.Rollback(ctx))
	tx, err = conn.Begin(ctx)
	require.NoError(t, err)
	ok, err = ClaimPart(ctx, tx, parts[0])
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, MarkPartDone(ctx, tx, parts[0], 5, 500, 2))
	require.NoError(t, tx.Commit(ctx))
	tx, err = conn.Begin(ctx)
	require.NoError(t, err)
	ok, err = ClaimPart(ctx, tx, parts[0])
	require.NoError(t, err)
	require.False(t, ok, "a done part cannot be claimed again")
	require.Error(t, MarkPartDone(ctx, tx, parts[0], 5, 500, 3))
	require.NoError(t, tx.Rollback(ctx))

	parts, err = Parts(ctx, conn, run.ID, "public.items")
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

// TestCopyRunsInStatus: the copy strategy's registered progress is what status shows of a copy
// run, though the journal names no copy table.
func TestCopyRunsInStatus(t *testing.T) {
	t.Parallel()
	ctx := stacktest.Context(t)
	conn := testConn(t, stacktest.Database(t, "RAGMIGRATE_TARGET_DB"))
	require.NoError(t, journal.Migrate(ctx, conn))
	run, err := journal.StartRun(ctx, conn, Kind, "public.items", nil)
	require.NoError(t, err)
	require.NoError(t, AddParts(ctx, conn, []Part{{RunID: run.ID, Table: "public.items", Part: 1}, {RunID: run.ID, Table: "public.items", Part: 2}}))
	parts, err := Parts(ctx, conn, run.ID, "public.items")
	require.NoError(t, err)
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, MarkPartDone(ctx, tx, parts[1], 7, 700, 1))
	require.NoError(t, tx.Commit(ctx))

	runs, err := journal.Runs(ctx, conn, 5)
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.EqualValues(t, 7, runs[0].Rows)
	require.Equal(t, "1/2 parts", runs[0].Progress.Text)
	b, err := json.Marshal(runs[0])
	require.NoError(t, err)
	require.Contains(t, string(b), `"parts":2,"parts_done":1`)
}
