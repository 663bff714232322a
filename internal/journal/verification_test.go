package journal_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/journal"
)

// TestLatestVerification: the newest verify of a source decides, per source; a target without a
// journal has none.
func TestLatestVerification(t *testing.T) {
	t.Parallel()
	ctx := stacktest.Context(t)
	conn := connect(t, stacktest.Database(t, "RAGMIGRATE_TARGET_DB"))
	a, b := journal.SourceKey("h", 5432, "a"), journal.SourceKey("h", 5432, "b")
	require.Equal(t, "h:5432/a", a)

	_, err := journal.LatestVerification(ctx, conn, a)
	require.ErrorIs(t, err, journal.ErrNoVerification)

	require.NoError(t, journal.RecordVerification(ctx, conn, journal.Verification{Source: a, OK: true, Summary: "no differences"}))
	require.NoError(t, journal.RecordVerification(ctx, conn, journal.Verification{Source: b, OK: true}))
	require.NoError(t, journal.RecordVerification(ctx, conn, journal.Verification{Source: a, OK: false, Summary: "differences found"}))

	v, err := journal.LatestVerification(ctx, conn, a)
	require.NoError(t, err)
	require.False(t, v.OK)
	require.Equal(t, "differences found", v.Summary)
	v, err = journal.LatestVerification(ctx, conn, b)
	require.NoError(t, err)
	require.True(t, v.OK)
	_, err = journal.LatestVerification(ctx, conn, journal.SourceKey("h", 5432, "c"))
	require.ErrorIs(t, err, journal.ErrNoVerification)
}
