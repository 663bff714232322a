package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/journal"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// copyReport is the part of 'copy --json' the tests read.
type copyReport struct {
	RunID       int64   `json:"run_id"`
	Resumed     bool    `json:"resumed"`
	DataSeconds float64 `json:"data_seconds"`
	Tables      []struct {
		Rows                int64 `json:"rows"`
		RowsThisInvocation  int64 `json:"rows_this_invocation"`
		BytesThisInvocation int64 `json:"bytes_this_invocation"`
		SourceRows          int64 `json:"source_rows"`
		Parts               int   `json:"parts"`
		PartsDone           int   `json:"parts_done"`
		PartsSkipped        int   `json:"parts_skipped"`
		PartsRetried        int   `json:"parts_retried"`
		Created             bool
		Indexes             []struct {
			Name, Definition string
			Skipped          bool
		}
	} `json:"tables"`
}

// copyBundle is a source database seeded with items and an empty target database.
type copyBundle struct {
	src, dst string // database URLs
	env      []string
	rows     int
}

// setupCopy creates a source database with the app's items table holding rows rows (plus a few
// edge-case rows), its ANN index replaced by ann when not empty, and an empty target database
// prepared by prepareTarget (nil: the app's fresh v1 setup, an empty items with its indexes).
func setupCopy(t *testing.T, rows int, ann string, prepareTarget func(ctx context.Context, conn *pgx.Conn)) *copyBundle {
	t.Helper()
	ctx := stacktest.Context(t)
	b := &copyBundle{
		src: stacktest.Database(t, "RAGMIGRATE_SOURCE_DB"),
		dst: stacktest.Database(t, "RAGMIGRATE_TARGET_DB"),
		env: stackEnv(t), rows: rows + 3,
	}
	src, err := vectorstore.Connect(ctx, b.src, "test", vectorstore.Timeouts{})
	require.NoError(t, err)
	defer src.Close(ctx)
	require.NoError(t, vectorstore.SetupApp(ctx, src))
	if ann != "" {
		_, err := src.Exec(ctx, `DROP INDEX idx_items_embedding; `+ann)
		require.NoError(t, err)
	}
	_, err = vectorstore.CopyRows(ctx, src, testRows(rows))
	require.NoError(t, err)
	// Edge cases: NULL source and content, a quote in an id (part bounds are quoted literals), text
	// beyond the BMP.
	_, err = src.Exec(ctx, `INSERT INTO items VALUES
		('01ZZZZZZZZZZZZZZZZZZZZZZZ''', 'BOT0000000000000000000000A', NULL, NULL, array_fill(0.5, ARRAY[1024])::vector),
		('00000000000000000000000000', 'BOT0000000000000000000000B', 'émoji 🦜 テキスト', 's3://b/k', array_fill(-1, ARRAY[1024])::vector),
		('7ZZZZZZZZZZZZZZZZZZZZZZZZZ', 'BOT0000000000000000000000A', repeat('x', 100000), '', array_fill(1e-30, ARRAY[1024])::vector)`)
	require.NoError(t, err)

	dst, err := vectorstore.Connect(ctx, b.dst, "test", vectorstore.Timeouts{})
	require.NoError(t, err)
	defer dst.Close(ctx)
	if prepareTarget == nil {
		require.NoError(t, vectorstore.SetupApp(ctx, dst))
	} else {
		prepareTarget(ctx, dst)
	}
	return b
}

// testRows makes n deterministic rows spread over a few bots, with ~1 KB of text each.
func testRows(n int) []vectorstore.Row {
	rng := rand.New(rand.NewPCG(7, 11))
	chacha := rand.NewChaCha8([32]byte{7})
	bots := []string{"BOT0000000000000000000000A", "BOT0000000000000000000000B", "BOT0000000000000000000000C", "BOT0000000000000000000000D"}
	words := strings.Fields("the travel expense policy covers flights hotels meals and daily allowances 出張 日当 Reisekosten gastos de viaje")
	at := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	rows := make([]vectorstore.Row, n)
	for i := range rows {
		var sb strings.Builder
		for sb.Len() < 900+rng.IntN(300) {
			sb.WriteString(words[rng.IntN(len(words))])
			sb.WriteByte(' ')
		}
		emb := make([]float32, vectorstore.Dimensions)
		for k := range emb {
			emb[k] = rng.Float32()*2 - 1
		}
		rows[i] = vectorstore.Row{
			ID:        ulid.MustNew(ulid.Timestamp(at.Add(time.Duration(i)*time.Second)), chacha).String(),
			BotID:     bots[rng.IntN(len(bots))],
			Content:   sb.String(),
			Source:    fmt.Sprintf("s3://bucket/user/bot/documents/doc-%d.pdf", i%17),
			Embedding: emb,
		}
	}
	return rows
}

// args are the copy command's flags for this bundle.
func (b *copyBundle) args(extra ...string) []string {
	return append([]string{"copy", "--yes", "--json", "--source-db", b.src, "--target-db", b.dst}, extra...)
}

func (b *copyBundle) copy(t *testing.T, extra ...string) (result, copyReport) {
	t.Helper()
	r := ragmigrate(t, b.env, b.args(extra...)...)
	var rep copyReport
	if r.code == 0 {
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
	}
	return r, rep
}

// start runs copy in the background, for tests that kill it.
func (b *copyBundle) start(t *testing.T, extra ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	return startRagmigrate(t, b.env, b.args(extra...)...)
}

func connectTest(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(stacktest.Context(t), url)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// rowDigests lists every row as id and digests of content, source and the embedding's binary
// form (vector_send), in id order.
func rowDigests(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	rows, err := conn.Query(stacktest.Context(t), `SELECT id || ' ' || botid || ' ' || coalesce(md5(content), 'NULL') || ' ' ||
		coalesce(md5(source), 'NULL') || ' ' || md5(vector_send(embedding)) FROM items ORDER BY id`)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return out
}

func indexDefs(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	rows, err := conn.Query(stacktest.Context(t), `SELECT indexdef FROM pg_indexes WHERE tablename = 'items' ORDER BY indexname`)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return out
}

func queryInt(t *testing.T, conn *pgx.Conn, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	require.NoError(t, conn.QueryRow(stacktest.Context(t), sql, args...).Scan(&n))
	return n
}

// requireSameItems checks the bars of a finished copy: every row equal, no duplicate id, the same
// index definitions, the same rows per bot, the run done in the journal, no session left.
func (b *copyBundle) requireSameItems(t *testing.T) {
	t.Helper()
	ctx := stacktest.Context(t)
	src, dst := connectTest(t, b.src), connectTest(t, b.dst)
	want := rowDigests(t, src)
	require.Len(t, want, b.rows)
	got := rowDigests(t, dst)
	require.Equal(t, len(want), len(got))
	require.Equal(t, want, got)
	require.EqualValues(t, b.rows, queryInt(t, dst, `SELECT count(DISTINCT id) FROM items`))
	require.Equal(t, indexDefs(t, src), indexDefs(t, dst))
	require.EqualValues(t, 1, queryInt(t, dst, `SELECT count(*) FROM pg_constraint WHERE conrelid = 'items'::regclass AND contype = 'p'`))
	srcBots, err := vectorstore.RowsPerBot(ctx, src)
	require.NoError(t, err)
	dstBots, err := vectorstore.RowsPerBot(ctx, dst)
	require.NoError(t, err)
	require.Equal(t, srcBots, dstBots)
	var status string
	require.NoError(t, dst.QueryRow(ctx, `SELECT status FROM ragmigrate.runs ORDER BY id DESC LIMIT 1`).Scan(&status))
	require.Equal(t, "done", status)
	require.Zero(t, queryInt(t, dst, `SELECT count(*) FROM ragmigrate.copy_parts p JOIN ragmigrate.runs r ON r.id = p.run_id
		WHERE r.status = 'done' AND p.done_at IS NULL`))
	// Post-flight: no copy session and no advisory lock is left behind.
	require.Eventually(t, func() bool {
		return queryInt(t, dst, `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ragmigrate/copy' AND datname = current_database()`) == 0 &&
			queryInt(t, dst, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`) == 0
	}, 10*time.Second, 100*time.Millisecond)
}

// TestCopyRoundTrip copies into a fresh v1 target (an empty items with the app's indexes, built on
// no data) and checks every row, index and count; a second copy is refused until --empty-target
// (or its deprecated old name --truncate, which says the new one).
func TestCopyRoundTrip(t *testing.T) {
	t.Parallel()
	b := setupCopy(t, 2000, "", nil)
	r, rep := b.copy(t, "--part-size", "1MB", "--jobs", "2")
	require.Zero(t, r.code, r.stderr)
	require.Len(t, rep.Tables, 1)
	require.Greater(t, rep.Tables[0].Parts, 5, "parts are sized from heap + TOAST")
	require.EqualValues(t, b.rows, rep.Tables[0].Rows)
	require.Contains(t, r.stderr, "pgvector_source=0.8.0")
	require.NotContains(t, r.stdout+r.stderr, "ragmigrate-local-secret", "no password in output")
	b.requireSameItems(t)
	names := []string{}
	for _, ix := range rep.Tables[0].Indexes {
		names = append(names, ix.Name)
	}
	require.Equal(t, []string{"items_pkey", "idx_items_botid", "idx_items_embedding"}, names, "primary key first, the ANN index last")

	again := ragmigrate(t, b.env, b.args()...)
	require.Equal(t, exitFailure, again.code)
	require.Contains(t, again.stderr, "target table is not empty")
	require.Contains(t, again.stderr, "--empty-target to delete its rows first")

	r, rep = b.copy(t, "--empty-target", "--jobs", "1")
	require.Zero(t, r.code, r.stderr)
	require.Equal(t, 1, rep.Tables[0].Parts, "a table under --part-size is one part")
	require.NotContains(t, r.stderr, "deprecated")
	b.requireSameItems(t)

	r, _ = b.copy(t, "--truncate", "--jobs", "1")
	require.Zero(t, r.code, r.stderr)
	require.Contains(t, r.stderr, "Flag --truncate has been deprecated, use --empty-target")
	b.requireSameItems(t)

	r = ragmigrate(t, b.env, b.args("--resume", "--truncate", "--create-extension")...)
	require.Equal(t, exitUsage, r.code, r.stderr)
	require.Contains(t, r.stderr, "--resume and --empty-target contradict each other")
	require.Contains(t, r.stderr, "Flag --create-extension has been deprecated, use --create-missing")
}

// TestCopyCreatesTarget copies into a database with no items table and no extension, from a
// source whose ANN index is HNSW with non-default parameters and opclass: refused until
// --create-missing asks for both.
func TestCopyCreatesTarget(t *testing.T) {
	t.Parallel()
	b := setupCopy(t, 500, `CREATE INDEX idx_items_embedding ON items USING hnsw (embedding vector_cosine_ops) WITH (m = 8, ef_construction = 32)`,
		func(context.Context, *pgx.Conn) {})
	r, _ := b.copy(t)
	require.Equal(t, exitFailure, r.code)
	require.Contains(t, r.stderr, "pgvector is not installed")
	require.Contains(t, r.stderr, "--create-missing")

	r, rep := b.copy(t, "--create-missing", "--part-size", "1MB")
	require.Zero(t, r.code, r.stderr)
	require.True(t, rep.Tables[0].Created)
	b.requireSameItems(t)
	require.Contains(t, strings.Join(indexDefs(t, connectTest(t, b.dst)), "\n"), "hnsw (embedding vector_cosine_ops) WITH (m='8', ef_construction='32')")
}

// TestCopyRefuses checks that a copy that cannot be right is refused with a clear message and
// leaves the target untouched.
func TestCopyRefuses(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		prepare func(ctx context.Context, conn *pgx.Conn)
		want    string
	}{
		"DimensionMismatch": {func(ctx context.Context, conn *pgx.Conn) {
			_, err := conn.Exec(ctx, `CREATE EXTENSION vector; CREATE TABLE items (id char(26) PRIMARY KEY, botid char(26), content text, source text, embedding vector(1536))`)
			require.NoError(t, err)
		}, "column embedding is vector(1536), the source's is vector(1024)"},
		"NonEmptyTarget": {func(ctx context.Context, conn *pgx.Conn) {
			require.NoError(t, vectorstore.SetupApp(ctx, conn))
			_, err := conn.Exec(ctx, `INSERT INTO items VALUES ('X', 'Y', 'z', 's', array_fill(0, ARRAY[1024])::vector)`)
			require.NoError(t, err)
		}, "target table is not empty: pass --resume to continue an interrupted copy, or --empty-target"},
		"MissingPgvector": {func(ctx context.Context, conn *pgx.Conn) {
			_, err := conn.Exec(ctx, `CREATE TABLE keepme (x int)`)
			require.NoError(t, err)
		}, "pgvector is not installed (the cluster offers 0.8.0: run CREATE EXTENSION vector in it, or pass --create-missing)"},
		"MissingTable": {func(ctx context.Context, conn *pgx.Conn) {
			_, err := conn.Exec(ctx, `CREATE EXTENSION vector`)
			require.NoError(t, err)
		}, "target table public.items: target table does not exist (check --target-db, or pass --create-missing to create it with the source's columns)"},
		"ResumeWithoutJournal": {func(ctx context.Context, conn *pgx.Conn) {
			require.NoError(t, vectorstore.SetupApp(ctx, conn))
			_, err := conn.Exec(ctx, `INSERT INTO items VALUES ('X', 'Y', 'z', 's', array_fill(0, ARRAY[1024])::vector)`)
			require.NoError(t, err)
		}, "the journal has no interrupted copy of it to resume"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setupCopy(t, 20, "", tc.prepare)
			dst := connectTest(t, b.dst)
			before := targetState(t, dst)
			args := []string{}
			if name == "ResumeWithoutJournal" {
				args = append(args, "--resume")
			}
			r, _ := b.copy(t, args...)
			require.Equal(t, exitFailure, r.code, r.stderr)
			require.Contains(t, r.stderr, tc.want)
			require.Equal(t, before, targetState(t, dst), "the target is untouched")
		})
	}
}

// targetState summarises a target database's tables, indexes, extensions and rows.
func targetState(t *testing.T, conn *pgx.Conn) string {
	t.Helper()
	var s string
	require.NoError(t, conn.QueryRow(stacktest.Context(t), `SELECT
		coalesce((SELECT string_agg(n.nspname || '.' || c.relname || ':' || c.relkind::text, ',' ORDER BY 1) FROM pg_class c
			JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')), '') || ' ' ||
		coalesce((SELECT string_agg(extname, ',' ORDER BY 1) FROM pg_extension), '') || ' ' ||
		coalesce((SELECT string_agg(indexdef, ',' ORDER BY 1) FROM pg_indexes WHERE schemaname = 'public'), '') || ' ' ||
		CASE WHEN to_regclass('items') IS NULL THEN '-' ELSE (xpath('/row/c/text()', query_to_xml('SELECT count(*) AS c FROM items', false, true, '')))[1]::text END`).Scan(&s))
	return s
}

// TestCopyKilledInDataPhaseResumes kills the copy with SIGKILL once some parts are done, and
// checks that --resume finishes it with every row exactly once.
func TestCopyKilledInDataPhaseResumes(t *testing.T) {
	t.Parallel()
	b := setupCopy(t, 2000, "", nil)
	// --max-rate slows the copy to ~10 s, so the kill lands in the middle of the data phase.
	cmd, stderr := b.start(t, "--part-size", "1MB", "--max-rate", "1MB")
	dst := connectTest(t, b.dst)
	var done, total int64
	require.Eventually(t, func() bool {
		err := dst.QueryRow(t.Context(), `SELECT count(*) FILTER (WHERE done_at IS NOT NULL), count(*) FROM ragmigrate.copy_parts`).Scan(&done, &total)
		return err == nil && done >= 2
	}, 60*time.Second, 20*time.Millisecond, "no part was copied: %s", stderr)
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	cmd.Wait()
	require.NoError(t, dst.QueryRow(t.Context(), `SELECT count(*) FILTER (WHERE done_at IS NOT NULL), count(*) FROM ragmigrate.copy_parts`).Scan(&done, &total))
	require.Less(t, done, total, "the kill came too late: every part was already copied")
	partial := queryInt(t, dst, `SELECT count(*) FROM items`)
	require.Positive(t, partial)
	require.EqualValues(t, partial, queryInt(t, dst, `SELECT sum(rows) FROM ragmigrate.copy_parts WHERE done_at IS NOT NULL`),
		"the target holds exactly the rows of the parts the journal calls done")

	refused := ragmigrate(t, b.env, b.args()...)
	require.Equal(t, exitFailure, refused.code)
	require.Contains(t, refused.stderr, "--resume")

	r, rep := b.copy(t, "--resume")
	require.Zero(t, r.code, r.stderr)
	require.True(t, rep.Resumed)
	require.EqualValues(t, done, rep.Tables[0].PartsSkipped)
	require.EqualValues(t, int64(b.rows)-partial, rep.Tables[0].RowsThisInvocation, "only the unfinished parts are copied again")
	require.EqualValues(t, b.rows, rep.Tables[0].Rows, "the report counts the whole run, the parts copied before the kill included")
	require.EqualValues(t, b.rows, rep.Tables[0].SourceRows)
	b.requireSameItems(t)
}

// TestCopyKilledInIndexPhaseResumes kills the copy with SIGKILL while the HNSW index builds, and
// checks that --resume keeps the finished indexes and builds the rest.
func TestCopyKilledInIndexPhaseResumes(t *testing.T) {
	t.Parallel()
	b := setupCopy(t, 3000, `CREATE INDEX idx_items_embedding ON items USING hnsw (embedding vector_l2_ops) WITH (m = 16, ef_construction = 200)`, nil)
	cmd, stderr := b.start(t)
	dst := connectTest(t, b.dst)
	require.Eventually(t, func() bool {
		var building, built int64
		err := dst.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM pg_stat_progress_create_index WHERE datname = current_database()),
			(SELECT count(*) FROM pg_indexes WHERE tablename = 'items')`).Scan(&building, &built)
		return err == nil && building > 0 && built == 2 // the primary key and botid are done, HNSW is building
	}, 90*time.Second, 10*time.Millisecond, "the HNSW build was never seen: %s", stderr)
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	cmd.Wait()

	r, rep := b.copy(t, "--resume")
	require.Zero(t, r.code, r.stderr)
	require.True(t, rep.Resumed)
	require.Zero(t, rep.Tables[0].RowsThisInvocation, "the data phase was finished")
	require.Equal(t, rep.Tables[0].Parts, rep.Tables[0].PartsSkipped, "every part was copied before the resume")
	require.EqualValues(t, b.rows, rep.Tables[0].Rows, "the report counts the rows the killed invocation copied")
	skipped := map[string]bool{}
	for _, ix := range rep.Tables[0].Indexes {
		skipped[ix.Name] = ix.Skipped
	}
	require.Equal(t, map[string]bool{"items_pkey": true, "idx_items_botid": true, "idx_items_embedding": false}, skipped)
	b.requireSameItems(t)
}

// TestCopyRetriesTerminatedConnection terminates a source and a target COPY session mid-part and
// checks that the parts are retried, not lost.
func TestCopyRetriesTerminatedConnection(t *testing.T) {
	t.Parallel()
	// Parts must be much larger than the socket and pipe buffers, or a source backend sends its
	// whole part at once and sits idle while the rate-limited client drains it.
	b := setupCopy(t, 6000, "", nil)
	cmd, stderr := b.start(t, "--part-size", "8MB", "--max-rate", "1MB", "--log-format", "json")
	// Watch both sides at once and terminate the first COPY session seen on each: under load the
	// two may be seen in either order, and the data phase must not end before both happened.
	conns := map[string]*pgx.Conn{"source": connectTest(t, b.src), "target": connectTest(t, b.dst)}
	terminated := map[string]bool{}
	require.Eventually(t, func() bool {
		for side, conn := range conns {
			if terminated[side] {
				continue
			}
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			var n int64
			err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM (SELECT pid FROM pg_stat_activity
				WHERE application_name = 'ragmigrate/copy' AND datname = current_database() AND state = 'active' AND query LIKE 'COPY%' LIMIT 1) s`).Scan(&n)
			cancel()
			if err == nil && n == 1 {
				terminated[side] = true
			}
		}
		return len(terminated) == 2
	}, 60*time.Second, 20*time.Millisecond, "no COPY session to terminate on both sides: %v %s", terminated, stderr)
	require.NoError(t, cmd.Wait(), stderr.String())
	require.Contains(t, stderr.String(), "part failed; retrying on new connections")
	b.requireSameItems(t)
	dst := connectTest(t, b.dst)
	require.GreaterOrEqual(t, queryInt(t, dst, `SELECT count(*) FROM ragmigrate.copy_parts WHERE attempts > 1`), int64(1))
}

// TestCopyMaxRateIsTotal copies with four jobs under --max-rate: the cap holds for all of them
// together (four jobs each at the cap would read four times as fast). The upper bound is the
// limiter's guarantee, the lower one is wide: a busy machine may copy slower than any cap.
func TestCopyMaxRateIsTotal(t *testing.T) {
	t.Parallel()
	b := setupCopy(t, 2000, "", nil)
	const capMiB = 4
	r, rep := b.copy(t, "--jobs", "4", "--part-size", "1MB", "--max-rate", fmt.Sprintf("%dMB", capMiB))
	require.Zero(t, r.code, r.stderr)
	require.Greater(t, rep.Tables[0].Parts, 4)
	rate := float64(rep.Tables[0].BytesThisInvocation) / rep.DataSeconds / (1 << 20)
	t.Logf("%.2f MiB/s under --max-rate %dMB (%d bytes in %.2fs)", rate, capMiB, rep.Tables[0].BytesThisInvocation, rep.DataSeconds)
	require.Less(t, rate, 1.1*capMiB, "the cap is exceeded")
	require.Greater(t, rate, 0.5*capMiB, "the cap throttles far below itself")
	b.requireSameItems(t)
}

// TestCopyLockHeld checks that a second run on the same target exits with code 4.
func TestCopyLockHeld(t *testing.T) {
	t.Parallel()
	b := setupCopy(t, 10, "", nil)
	holder := connectTest(t, b.dst)
	_, err := holder.Exec(t.Context(), `SELECT pg_advisory_lock(x'72676d67'::int, 1)`)
	require.NoError(t, err)
	r := ragmigrate(t, b.env, b.args("--lock-wait", "1s")...)
	require.Equal(t, exitLockHeld, r.code, r.stderr)
	require.Contains(t, r.stderr, "another ragmigrate run holds the target's lock")
	// --lock-wait 0 tries once, as its help says, and does not wait the default 15 s.
	start := time.Now()
	r = ragmigrate(t, b.env, b.args("--lock-wait", "0")...)
	require.Equal(t, exitLockHeld, r.code, r.stderr)
	require.NotContains(t, r.stderr, "waiting for the target's lock")
	require.Less(t, time.Since(start), journal.DefaultLockWait, "one try, not the default wait")
}

// TestCopyInterruptedResumes sends SIGINT (Ctrl-C) during the data phase: the copy abandons its
// current parts cleanly, records the run as interrupted, exits 130, says how many parts it
// copied and how to continue (not "context canceled"), and --resume finishes it.
func TestCopyInterruptedResumes(t *testing.T) {
	t.Parallel()
	b := setupCopy(t, 1500, "", nil)
	stdout := &syncBuffer{}
	cmd, stderr := startRagmigrateOut(t, b.env, stdout, b.args("--part-size", "1MB", "--max-rate", "1MB")...)
	dst := connectTest(t, b.dst)
	require.Eventually(t, func() bool {
		var done int64
		err := dst.QueryRow(t.Context(), `SELECT count(*) FILTER (WHERE done_at IS NOT NULL) FROM ragmigrate.copy_parts`).Scan(&done)
		return err == nil && done >= 1
	}, 60*time.Second, 20*time.Millisecond, "no part was copied: %s", stderr)
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("copy did not stop within 20s of SIGINT: %s", stderr)
	}
	require.Equal(t, exitInterrupted, cmd.ProcessState.ExitCode(), stderr.String())
	var status string
	require.NoError(t, dst.QueryRow(t.Context(), `SELECT status FROM ragmigrate.runs ORDER BY id DESC LIMIT 1`).Scan(&status))
	require.Equal(t, "interrupted", status)
	require.EqualValues(t, queryInt(t, dst, `SELECT count(*) FROM items`),
		queryInt(t, dst, `SELECT coalesce(sum(rows), 0) FROM ragmigrate.copy_parts WHERE done_at IS NOT NULL`),
		"abandoned parts left no rows behind")
	runID := queryInt(t, dst, `SELECT max(id) FROM ragmigrate.runs`)
	done := queryInt(t, dst, `SELECT count(*) FROM ragmigrate.copy_parts WHERE done_at IS NOT NULL`)
	parts := queryInt(t, dst, `SELECT count(*) FROM ragmigrate.copy_parts`)
	require.Contains(t, stderr.String(), fmt.Sprintf("ragmigrate: interrupted: copy run %d stopped with %d of %d parts copied; 'ragmigrate copy --resume' continues it (the parts copied are kept)\n", runID, done, parts))
	require.NotContains(t, stderr.String(), "context canceled")
	require.Contains(t, stderr.String(), `msg="phase stopped" phase=data`, "the data phase is not said to be done")
	var rep copyReport
	require.NoError(t, json.Unmarshal([]byte(stdout.String()), &rep), stdout.String())
	require.Len(t, rep.Tables, 1)
	require.EqualValues(t, parts, rep.Tables[0].Parts)
	require.EqualValues(t, done, rep.Tables[0].PartsDone, "the report says how many parts the stopped run copied")

	kept := queryInt(t, dst, `SELECT count(*) FROM items`)

	// The text report, as an operator reads it: the whole run's rows, and what this invocation added.
	args := append([]string{"copy", "--yes", "--resume"}, b.args()[3:]...)
	r := ragmigrate(t, b.env, args...)
	require.Zero(t, r.code, r.stderr)
	require.Regexp(t, fmt.Sprintf(`public\.items → public\.items +%d `, b.rows), r.stdout)
	require.Contains(t, r.stdout, fmt.Sprintf("this invocation copied %d rows", int64(b.rows)-kept))
	require.Contains(t, r.stdout, fmt.Sprintf("%d rows in ", kept))
	b.requireSameItems(t)
}
