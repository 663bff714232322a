package replicate

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

func TestSubscriptionConninfo(t *testing.T) {
	// No t.Parallel: an operator's PGPASSWORD would fill in the password the URL lacks.
	t.Setenv("PGPASSWORD", "")
	for name, tc := range map[string]struct {
		url, want, password string
	}{
		"URL": {"postgres://app:p%27w%5Cd@db.example:5433/old?sslmode=require&pool_max_conns=4",
			`host='db.example' port='5433' user='app' dbname='old' password='p\'w\\d' sslmode='require' application_name='ragmigrate/subscription'`, `p'w\d`},
		"KeyValue": {"host=10.0.0.5 user=postgres dbname=postgres password=secret sslmode=verify-full",
			`host='10.0.0.5' port='5432' user='postgres' dbname='postgres' password='secret' sslmode='verify-full' application_name='ragmigrate/subscription'`, "secret"},
		"NoPassword": {"postgres://app@db/old",
			`host='db' port='5432' user='app' dbname='old' application_name='ragmigrate/subscription'`, ""},
	} {
		t.Run(name, func(t *testing.T) {
			info, pw, err := subscriptionConninfo(tc.url)
			require.NoError(t, err)
			require.Equal(t, tc.want, info, "pgx-only parameters (pool_max_conns) are not passed to libpq")
			require.Equal(t, tc.password, pw)
		})
	}
	_, _, err := subscriptionConninfo("postgres://app:hunter2@db:notaport/x")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "hunter2", "a parse error does not quote the password")
}

func TestRedact(t *testing.T) {
	t.Parallel()
	err := redact(errors.New(`create subscription: could not connect: password=s3cret rejected`), "s3cret")
	require.Equal(t, "create subscription: could not connect: password=******** rejected", err.Error())
	orig := errors.New("no secret here")
	require.Same(t, orig, redact(orig, "s3cret"))
	require.NoError(t, redact(nil, "x"))
}

// TestPreflightSaysHowToFix runs the preflight against a database of the stack's target
// cluster as if it were the source: that cluster runs wal_level=replica, and its table has no
// primary key, so both checks fail, each naming its fix.
func TestPreflightSaysHowToFix(t *testing.T) {
	t.Parallel()
	ctx := stacktest.Context(t)
	url := stacktest.Database(t, "RAGMIGRATE_TARGET_DB")
	conn, err := vectorstore.Connect(ctx, url, "test", vectorstore.Timeouts{})
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `CREATE EXTENSION vector; CREATE TABLE nokey (x int); CREATE TABLE keyed (id int PRIMARY KEY); CREATE TABLE full_ident (x int); ALTER TABLE full_ident REPLICA IDENTITY FULL`)
	require.NoError(t, err)
	pf, err := CheckAll(ctx, conn, (*pgx.Conn)(nil), []string{"nokey", "keyed", "full_ident", "missing"}, false)
	require.NoError(t, err)
	require.False(t, pf.Ready)
	failed := pf.Failed()
	require.Contains(t, failed, "source wal_level: wal_level=replica (fix: set wal_level = logical and restart PostgreSQL)")
	require.Contains(t, failed, "source table nokey: no primary key and no replica identity")
	require.Contains(t, failed, "ALTER TABLE nokey REPLICA IDENTITY FULL")
	require.Contains(t, failed, "source table missing: does not exist")
	require.NotContains(t, failed, "keyed")
	require.NotContains(t, failed, "full_ident")
	require.Equal(t, 3, strings.Count(failed, "(fix:"), failed)
}

// TestPreflightCheckKinds pins the two kinds of check the preflight builds from its readings: a
// fix is given only when a check fails, and one failure makes the preflight not ready.
func TestPreflightCheckKinds(t *testing.T) {
	t.Parallel()
	p := &Preflight{Ready: true}
	p.free("source", "WAL senders", "max_wal_senders", 10, 9, "raise it")
	p.privilege("target", "subscription privilege", true, "may subscribe", "lacks superuser", "connect as the master user")
	require.True(t, p.Ready)
	require.Equal(t, []Check{
		{Side: "source", Name: "WAL senders", OK: true, Detail: "9 of max_wal_senders=10 in use; the run needs 1"},
		{Side: "target", Name: "subscription privilege", OK: true, Detail: "may subscribe"},
	}, p.Checks)

	p = &Preflight{Ready: true}
	p.free("source", "WAL senders", "max_wal_senders", 10, 10, "raise it")
	p.privilege("target", "subscription privilege", false, "may subscribe", "lacks superuser", "connect as the master user")
	require.False(t, p.Ready)
	require.Equal(t, []Check{
		{Side: "source", Name: "WAL senders", Detail: "10 of max_wal_senders=10 in use; the run needs 1", Fix: "raise it"},
		{Side: "target", Name: "subscription privilege", Detail: "lacks superuser", Fix: "connect as the master user"},
	}, p.Checks)
}

// TestCountRowsEstimate: status's estimate is the planner's, except for a table never analyzed
// (just created or loaded), which has none and is counted rather than shown as 0 rows.
func TestCountRowsEstimate(t *testing.T) {
	t.Parallel()
	ctx := stacktest.Context(t)
	url := stacktest.Database(t, "RAGMIGRATE_TARGET_DB")
	conn, err := vectorstore.Connect(ctx, url, "test", vectorstore.Timeouts{})
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `CREATE TABLE fresh WITH (autovacuum_enabled = false) AS SELECT g AS id FROM generate_series(1, 137) g`)
	require.NoError(t, err)
	n, counted, err := countRows(ctx, conn, "fresh", false)
	require.NoError(t, err)
	require.EqualValues(t, 137, n, "a table never analyzed is counted")
	require.True(t, counted)
	_, err = conn.Exec(ctx, `INSERT INTO fresh SELECT g FROM generate_series(1, 63) g; ANALYZE fresh; DELETE FROM fresh WHERE id > 100`)
	require.NoError(t, err)
	n, counted, err = countRows(ctx, conn, "fresh", false)
	require.NoError(t, err)
	require.EqualValues(t, 200, n, "an analyzed table's estimate is reltuples, not a count")
	require.False(t, counted)
	n, _, err = countRows(ctx, conn, "missing", false)
	require.NoError(t, err)
	require.EqualValues(t, -1, n)
}

// TestStatusTextLagWithoutWorker: with no apply worker (a disabled subscription) while the slot
// has WAL the target has not confirmed, the text says the lag in time is unknown; it said
// "lag 0.0s" next to the slot's lag in bytes.
func TestStatusTextLagWithoutWorker(t *testing.T) {
	t.Parallel()
	s := &Status{RunID: 3, Status: "running", Phase: PhaseStreaming, Names: Names{Slot: "ragmigrate_r3_abcdef"},
		Slot: &Slot{LagBytes: 58368, ConfirmedFlushLSN: "8/FF8648A8", CurrentLSN: "8/FF872C90", WALStatus: "reserved"},
		Sub:  &Sub{Enabled: false}}
	var b strings.Builder
	require.NoError(t, s.WriteText(&b))
	require.Contains(t, b.String(), "  subscription: enabled=false, no apply worker, lag unknown, last message never, apply errors 0\n")

	// A worker that has caught up reports its lag.
	s.Slot.LagBytes = 0
	s.Sub = &Sub{Enabled: true, WorkerPID: 42}
	b.Reset()
	require.NoError(t, s.WriteText(&b))
	require.Contains(t, b.String(), "  subscription: enabled=true, apply worker pid 42, lag 0.0s, last message never, apply errors 0\n")
}

// TestCountBothSides: one side without an estimate (never analyzed) has both sides counted, so
// that a stale estimate on the other side does not show a gap.
func TestCountBothSides(t *testing.T) {
	t.Parallel()
	ctx := stacktest.Context(t)
	connect := func(env string) *pgx.Conn {
		conn, err := vectorstore.Connect(ctx, stacktest.Database(t, env), "test", vectorstore.Timeouts{})
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close(context.Background()) })
		return conn
	}
	src, dst := connect("RAGMIGRATE_SOURCE_DB"), connect("RAGMIGRATE_TARGET_DB")
	_, err := src.Exec(ctx, `CREATE TABLE items WITH (autovacuum_enabled = false) AS SELECT g AS id FROM generate_series(1, 300) g`)
	require.NoError(t, err)
	// The target's estimate dates from its load: rows arrived since.
	_, err = dst.Exec(ctx, `CREATE TABLE items WITH (autovacuum_enabled = false) AS SELECT g AS id FROM generate_series(1, 200) g; ANALYZE items; INSERT INTO items SELECT g FROM generate_series(201, 300) g`)
	require.NoError(t, err)
	for _, order := range []struct{ a, b *pgx.Conn }{{src, dst}, {dst, src}} {
		r, err := countBoth(ctx, order.a, order.b, "items", false)
		require.NoError(t, err)
		require.Equal(t, Rows{Table: "items", Source: 300, Target: 300, Exact: true}, r)
	}
}
