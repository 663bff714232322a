package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
)

// replicateBundle is a copy bundle (a seeded source, a fresh v1 target) with the replicate
// commands' arguments, whose replication objects are dropped when the test ends: a leaked slot
// holds the shared source cluster's WAL, and max_replication_slots is shared by every test.
type replicateBundle struct {
	*copyBundle
	srcName, dstName string // database names
}

func setupReplicate(t *testing.T, rows int) *replicateBundle {
	t.Helper()
	b := &replicateBundle{copyBundle: setupCopy(t, rows, "", nil)}
	b.srcName, b.dstName = dbName(t, b.src), dbName(t, b.dst)
	// Registered after the databases' cleanups, so it runs before them: a database with a slot
	// or a subscription cannot be dropped.
	t.Cleanup(func() { dropReplication(t, b) })
	return b
}

func dbName(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return strings.TrimPrefix(u.Path, "/")
}

// dropReplication removes whatever replication objects the test's databases hold, and fails the
// test if there were any left: every path of the commands must leave none.
func dropReplication(t *testing.T, b *replicateBundle) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var leaked []string
	if dst, err := pgx.Connect(ctx, b.dst); err == nil {
		rows, _ := dst.Query(ctx, `SELECT subname FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid WHERE d.datname = current_database()`)
		subs, _ := pgx.CollectRows(rows, pgx.RowTo[string])
		for _, s := range subs {
			leaked = append(leaked, "subscription "+s)
			dst.Exec(ctx, `ALTER SUBSCRIPTION `+s+` DISABLE`)
			dst.Exec(ctx, `ALTER SUBSCRIPTION `+s+` SET (slot_name = NONE)`)
			dst.Exec(ctx, `DROP SUBSCRIPTION `+s)
		}
		dst.Close(ctx)
	}
	if src, err := pgx.Connect(ctx, b.src); err == nil {
		for range 100 {
			rows, _ := src.Query(ctx, `SELECT slot_name, active, coalesce(active_pid, 0) FROM pg_replication_slots WHERE database = current_database()`)
			type slot struct {
				name   string
				active bool
				pid    int32
			}
			slots, _ := pgx.CollectRows(rows, func(r pgx.CollectableRow) (slot, error) {
				var s slot
				err := r.Scan(&s.name, &s.active, &s.pid)
				return s, err
			})
			if len(slots) == 0 {
				break
			}
			for _, s := range slots {
				if !slices.Contains(leaked, "slot "+s.name) {
					leaked = append(leaked, "slot "+s.name)
				}
				if s.active {
					src.Exec(ctx, `SELECT pg_terminate_backend($1)`, s.pid)
				} else {
					src.Exec(ctx, `SELECT pg_drop_replication_slot($1)`, s.name)
				}
			}
			time.Sleep(100 * time.Millisecond) // cleanup only: waiting for a terminated walsender to exit
		}
		rows, _ := src.Query(ctx, `SELECT pubname FROM pg_publication`)
		pubs, _ := pgx.CollectRows(rows, pgx.RowTo[string])
		for _, p := range pubs {
			leaked = append(leaked, "publication "+p)
			src.Exec(ctx, `DROP PUBLICATION `+p)
		}
		src.Close(ctx)
	}
	if len(leaked) > 0 && !t.Failed() {
		t.Errorf("replication objects left behind: %v", leaked)
	}
}

func (b *replicateBundle) args(cmd string, extra ...string) []string {
	return append([]string{"replicate", cmd, "--yes", "--source-db", b.src, "--target-db", b.dst}, extra...)
}

// replicationObjects counts the replication objects on both sides of the bundle's databases.
func (b *replicateBundle) replicationObjects(t *testing.T) (slots, pubs, subs int64) {
	t.Helper()
	src, dst := connectTest(t, b.src), connectTest(t, b.dst)
	slots = queryInt(t, src, `SELECT count(*) FROM pg_replication_slots WHERE database = current_database()`)
	pubs = queryInt(t, src, `SELECT count(*) FROM pg_publication`)
	subs = queryInt(t, dst, `SELECT count(*) FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid WHERE d.datname = current_database()`)
	return
}

// writer changes the source's items the ways the app and its users do: inserts, content-only
// and source-only updates (whose TOASTed embedding travels as "unchanged"), embedding-only
// updates, deletes. Each change commits on its own.
type writer struct {
	ops  atomic.Int64
	stop chan struct{}
	done chan error
	once sync.Once
	err  error
}

func startWriter(t *testing.T, srcURL string) *writer {
	t.Helper()
	conn := connectTest(t, srcURL)
	w := &writer{stop: make(chan struct{}), done: make(chan error, 1)}
	rng := rand.New(rand.NewPCG(3, 5))
	go func() {
		w.done <- func() error {
			for i := 0; ; i++ {
				select {
				case <-w.stop:
					return nil
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				var err error
				pick, key := `(SELECT id FROM items ORDER BY md5(id || $1) LIMIT 1)`, fmt.Sprint(i)
				switch i % 5 {
				case 0:
					_, err = conn.Exec(ctx, `INSERT INTO items VALUES ($1, 'BOTWRITER00000000000000000', $2, 's3://w/doc', $3::vector)`,
						fmt.Sprintf("W%025d", i), fmt.Sprintf("written %d", i), vectorText(rng))
				case 1:
					_, err = conn.Exec(ctx, `UPDATE items SET content = coalesce(content, '') || ' edited' WHERE id = `+pick, key)
				case 2:
					_, err = conn.Exec(ctx, `UPDATE items SET embedding = $2::vector WHERE id = `+pick, key, vectorText(rng))
				case 3:
					_, err = conn.Exec(ctx, `UPDATE items SET source = 's3://w/moved-`+fmt.Sprint(i)+`' WHERE id = `+pick, key)
				case 4:
					_, err = conn.Exec(ctx, `DELETE FROM items WHERE id = `+pick, key)
				}
				cancel()
				if err != nil {
					return fmt.Errorf("writer op %d: %w", i, err)
				}
				w.ops.Add(1)
			}
		}()
	}()
	t.Cleanup(func() { w.halt() })
	return w
}

// halt stops the writer and returns its error.
func (w *writer) halt() error {
	w.once.Do(func() {
		close(w.stop)
		w.err = <-w.done
	})
	return w.err
}

// waitOps waits until the writer has made n more changes, so a phase provably ran with writes.
func (w *writer) waitOps(t *testing.T, n int64) {
	t.Helper()
	target := w.ops.Load() + n
	var failed error
	require.Eventually(t, func() bool {
		select {
		case failed = <-w.done:
			w.done <- failed
			return true
		default:
		}
		return w.ops.Load() >= target
	}, time.Minute, 10*time.Millisecond, "the writer stalled")
	require.NoError(t, failed)
}

func vectorText(rng *rand.Rand) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := range 1024 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%.4f", rng.Float32()*2-1)
	}
	b.WriteByte(']')
	return b.String()
}

// startReport is the part of 'replicate start --json' the tests read.
type startReport struct {
	RunID         int64  `json:"run_id"`
	Replaced      int64  `json:"replaced_run_id"`
	Slot          string `json:"slot"`
	ConsistentLSN string `json:"consistent_lsn"`
	Load          struct {
		Tables []struct {
			Rows int64 `json:"rows"`
		} `json:"tables"`
	} `json:"load"`
	ReplacedDrop *struct{ Slot, Publication string } `json:"replaced_objects"`
}

// cutoverReport is the part of 'replicate cutover --json' the tests read.
type cutoverReport struct {
	SourceLSN, ConfirmedLSN string
	PauseSeconds            float64 `json:"pause_seconds"`
	Verify                  struct{ OK bool }
	Dropped                 struct{ Subscription, Slot, Publication string }
}

// requireCaughtUp waits until the target applied everything the source committed so far.
func (b *replicateBundle) requireCaughtUp(t *testing.T, slot string) {
	t.Helper()
	src := connectTest(t, b.src)
	var lsn string
	require.NoError(t, src.QueryRow(t.Context(), `SELECT pg_current_wal_lsn()::text`).Scan(&lsn))
	require.Eventually(t, func() bool {
		var ok bool
		err := src.QueryRow(t.Context(), `SELECT confirmed_flush_lsn >= $2::pg_lsn FROM pg_replication_slots WHERE slot_name = $1`, slot, lsn).Scan(&ok)
		return err == nil && ok
	}, time.Minute, 10*time.Millisecond, "the target never applied %s", lsn)
}

// TestReplicateWithWriter replicates while a writer inserts, updates (content-only,
// source-only and embedding-only) and deletes rows during the bulk load and during streaming;
// after cutover the target equals the source row for row and nothing of the replication remains.
// It also proves that an update that does not touch the TOASTed embedding keeps the target's
// vector right, and reads status.
func TestReplicateWithWriter(t *testing.T) {
	t.Parallel()
	b := setupReplicate(t, 2000)
	src, dst := connectTest(t, b.src), connectTest(t, b.dst)
	// The embedding is stored out of line: storage external, over 4 KB (the TOAST threshold is
	// about 2 KB), and the table's TOAST relation holds the vectors.
	var storage string
	require.NoError(t, src.QueryRow(t.Context(), `SELECT attstorage::text FROM pg_attribute WHERE attrelid = 'items'::regclass AND attname = 'embedding'`).Scan(&storage))
	require.Equal(t, "e", storage)
	require.Greater(t, queryInt(t, src, `SELECT min(pg_column_size(embedding)) FROM items`), int64(4000))
	require.Positive(t, queryInt(t, src, `SELECT pg_relation_size(reltoastrelid) FROM pg_class WHERE oid = 'items'::regclass`))

	w := startWriter(t, b.src)
	// --max-rate stretches the load over seconds, so the writer's changes land during it.
	cmd, stderr := startRagmigrate(t, b.env, b.args("start", "--json", "--part-size", "1MB", "--max-rate", "2MB", "--log-format", "json")...)
	require.Eventually(t, func() bool {
		var done int64
		err := dst.QueryRow(t.Context(), `SELECT count(*) FILTER (WHERE done_at IS NOT NULL) FROM ragmigrate.copy_parts`).Scan(&done)
		return err == nil && done >= 1
	}, time.Minute, 20*time.Millisecond, "the load never started: %s", stderr)
	w.waitOps(t, 20) // writes during the load, after the slot's snapshot
	require.NoError(t, cmd.Wait(), stderr.String())
	require.NotContains(t, stderr.String(), "ragmigrate-local-secret", "no password in the logs")
	var slot string
	require.NoError(t, dst.QueryRow(t.Context(), `SELECT params->>'slot' FROM ragmigrate.runs WHERE kind = 'replicate'`).Scan(&slot))
	require.Regexp(t, `^ragmigrate_r\d+_[0-9a-f]{6}$`, slot)

	w.waitOps(t, 20) // writes while streaming

	// TOAST: a content-only and a source-only update arrive without the embedding; the target
	// keeps the vector it has. An embedding-only update arrives with it.
	id := "00000000000000000000000000"
	_, err := src.Exec(t.Context(), `UPDATE items SET content = 'content only, vector untouched' WHERE id = $1`, id)
	require.NoError(t, err)
	_, err = src.Exec(t.Context(), `UPDATE items SET source = 's3://b/source-only' WHERE id = $1`, id)
	require.NoError(t, err)
	b.requireCaughtUp(t, slot)
	row := `SELECT content || ' ' || source || ' ' || md5(vector_send(embedding)) FROM items WHERE id = $1`
	var want, got string
	require.NoError(t, src.QueryRow(t.Context(), row, id).Scan(&want))
	require.NoError(t, dst.QueryRow(t.Context(), row, id).Scan(&got))
	require.Equal(t, want, got, "the target keeps the right vector after a content-only update")
	require.Contains(t, got, "content only, vector untouched s3://b/source-only")
	_, err = src.Exec(t.Context(), `UPDATE items SET embedding = array_fill(0.25, ARRAY[1024])::vector WHERE id = $1`, id)
	require.NoError(t, err)
	b.requireCaughtUp(t, slot)
	require.NoError(t, src.QueryRow(t.Context(), row, id).Scan(&want))
	require.NoError(t, dst.QueryRow(t.Context(), row, id).Scan(&got))
	require.Equal(t, want, got, "an embedding-only update arrives")

	// Status while streaming.
	r := ragmigrate(t, b.env, "replicate", "status", "--json", "--exact", "--source-db", b.src, "--target-db", b.dst)
	require.Zero(t, r.code, r.stderr)
	var st struct {
		Phase string
		Slot  struct {
			Active   bool
			LagBytes int64 `json:"lag_bytes"`
		}
		Subscription struct {
			WorkerPID int32 `json:"worker_pid"`
		}
		Tables []struct {
			Table  string
			State  string
			Source int64 `json:"source_rows"`
			Target int64 `json:"target_rows"`
		}
		Warnings []string
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &st), r.stdout)
	require.Equal(t, "streaming", st.Phase)
	require.True(t, st.Slot.Active)
	require.NotZero(t, st.Subscription.WorkerPID)
	require.Len(t, st.Tables, 1)
	require.Equal(t, "r", st.Tables[0].State)
	require.Positive(t, st.Tables[0].Source)
	require.Empty(t, st.Warnings)
	r = ragmigrate(t, b.env, "replicate", "status", "--source-db", b.src, "--target-db", b.dst)
	require.Zero(t, r.code, r.stderr)
	require.Contains(t, r.stdout, "slot: active=true")
	require.NotContains(t, r.stdout, "WARNING")
	// A stopped subscription: the slot retains the WAL written since, and status warns.
	_, err = dst.Exec(t.Context(), `ALTER SUBSCRIPTION `+slot+` DISABLE`)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return queryInt(t, src, `SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active`, slot) == 1
	}, time.Minute, 20*time.Millisecond)
	// 2000 vectors of 4 KB, stored uncompressed (pgvector's storage is external): over 8 MB of WAL.
	_, err = src.Exec(t.Context(), `CREATE TABLE filler AS SELECT g, array_fill(g, ARRAY[1024])::vector AS v FROM generate_series(1, 2000) g`)
	require.NoError(t, err)
	r = ragmigrate(t, b.env, "replicate", "status", "--source-db", b.src, "--target-db", b.dst, "--warn-retained", "4MB")
	require.Zero(t, r.code, r.stderr)
	require.Contains(t, r.stdout, "slot: active=false")
	require.Contains(t, r.stdout, "WARNING: the slot retains")
	require.Contains(t, r.stdout, "WARNING: no apply worker uses the slot")
	require.NotContains(t, r.stdout+r.stderr, "ragmigrate-local-secret")
	_, err = dst.Exec(t.Context(), `ALTER SUBSCRIPTION `+slot+` ENABLE`)
	require.NoError(t, err)

	// Refused while streaming: dropping the journal, which names the slot, and a second start.
	r = ragmigrate(t, b.env, "cleanup", "--yes", "--target-db", b.dst)
	require.Equal(t, exitFailure, r.code, r.stderr)
	require.Contains(t, r.stderr, "is not finished: run 'ragmigrate replicate cutover' or 'replicate abort' first")
	r = ragmigrate(t, b.env, b.args("start")...)
	require.Equal(t, exitFailure, r.code, r.stderr)
	require.Contains(t, r.stderr, "is already streaming")

	w.waitOps(t, 10)
	require.NoError(t, w.halt())
	r = ragmigrate(t, b.env, b.args("cutover", "--json")...)
	require.Zero(t, r.code, r.stderr)
	var co cutoverReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &co), r.stdout)
	require.True(t, co.Verify.OK)
	require.Equal(t, "dropped", co.Dropped.Subscription)
	require.Equal(t, "dropped", co.Dropped.Publication)
	require.Positive(t, co.PauseSeconds)
	require.NotContains(t, r.stdout+r.stderr, "ragmigrate-local-secret")

	require.Equal(t, rowDigests(t, src), rowDigests(t, dst), "the target equals the source row for row")
	require.Positive(t, queryInt(t, dst, `SELECT count(*) FROM items WHERE id LIKE 'W%'`), "the writer's inserts arrived")
	require.Equal(t, indexDefs(t, src), indexDefs(t, dst))
	slots, pubs, subs := b.replicationObjects(t)
	require.Zero(t, slots+pubs+subs, "no slot, publication or subscription remains")

	r = ragmigrate(t, b.env, b.args("cutover")...)
	require.Equal(t, exitFailure, r.code, r.stderr)
	require.Contains(t, r.stderr, "the replication run is not streaming: it is done")
}

// TestReplicateKilledStartRestarts kills start with SIGKILL during its load, with a writer
// running: start again cleans up the killed run's slot and partial load and completes without
// duplicates or gaps.
func TestReplicateKilledStartRestarts(t *testing.T) {
	t.Parallel()
	b := setupReplicate(t, 2000)
	src, dst := connectTest(t, b.src), connectTest(t, b.dst)
	w := startWriter(t, b.src)
	cmd, stderr := startRagmigrate(t, b.env, b.args("start", "--part-size", "1MB", "--max-rate", "1MB")...)
	require.Eventually(t, func() bool {
		var done int64
		err := dst.QueryRow(t.Context(), `SELECT count(*) FILTER (WHERE done_at IS NOT NULL) FROM ragmigrate.copy_parts`).Scan(&done)
		return err == nil && done >= 2
	}, time.Minute, 20*time.Millisecond, "no part was loaded: %s", stderr)
	// Cutover is refused while the load runs.
	r := ragmigrate(t, b.env, b.args("cutover")...)
	require.Equal(t, exitFailure, r.code, r.stderr)
	require.Contains(t, r.stderr, "'replicate start' is still in its load phase")
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	cmd.Wait()
	var killedSlot, phase string
	require.NoError(t, dst.QueryRow(t.Context(), `SELECT params->>'slot', phase FROM ragmigrate.runs WHERE kind = 'replicate'`).Scan(&killedSlot, &phase))
	require.Equal(t, "load", phase, "the start was still loading when cutover was refused and when it was killed")
	require.EqualValues(t, 1, queryInt(t, src, `SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1`, killedSlot), "the killed start left its slot")
	require.Positive(t, queryInt(t, dst, `SELECT count(*) FROM items`), "and a partial load")
	w.waitOps(t, 10)

	r = ragmigrate(t, b.env, b.args("start", "--json")...)
	require.Zero(t, r.code, r.stderr)
	var rep startReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
	require.Positive(t, rep.Replaced)
	require.NotNil(t, rep.ReplacedDrop)
	require.Equal(t, "dropped", rep.ReplacedDrop.Slot)
	require.NotEqual(t, killedSlot, rep.Slot)
	require.Zero(t, queryInt(t, src, `SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1`, killedSlot))
	w.waitOps(t, 10)
	require.NoError(t, w.halt())

	r = ragmigrate(t, b.env, b.args("cutover", "--json")...)
	require.Zero(t, r.code, r.stderr+r.stdout)
	require.Equal(t, rowDigests(t, src), rowDigests(t, dst), "no duplicate, no gap")
	slots, pubs, subs := b.replicationObjects(t)
	require.Zero(t, slots+pubs+subs)
}

// TestReplicateAbort fails a start after its slot exists (the target cannot reach the
// publisher, so the subscription cannot be created): the start removes what it created, and
// never prints the publisher's password; then a start killed during its load is aborted:
// nothing is left, and abort again finds nothing.
func TestReplicateAbort(t *testing.T) {
	t.Parallel()
	b := setupReplicate(t, 300)
	dst := connectTest(t, b.dst)

	r := ragmigrate(t, b.env, "replicate", "cutover", "--yes", "--source-db", b.src, "--target-db", b.dst)
	require.Equal(t, exitFailure, r.code)
	require.Contains(t, r.stderr, "no replication run in the target's journal")

	password := "sekrit-" + stacktest.Suffix()
	unreachable := "postgres://postgres:" + password + "@127.0.0.1:1/" + b.srcName + "?sslmode=disable&connect_timeout=5"
	r = ragmigrate(t, b.env, b.args("start", "--publisher-url", unreachable)...)
	require.Equal(t, exitFailure, r.code, r.stderr)
	require.Contains(t, r.stderr, "create subscription")
	require.Contains(t, r.stderr, "could not check the publisher URL's credentials from here", "a publisher ragmigrate cannot reach is not a reason to stop")
	require.NotContains(t, r.stdout+r.stderr, password)
	// Nor in the target server's log, which logs a failing statement's text by default (the
	// local stack writes it next to the data directory).
	var dataDir string
	require.NoError(t, dst.QueryRow(t.Context(), `SHOW data_directory`).Scan(&dataDir))
	serverLog, err := os.ReadFile(dataDir + ".log")
	require.NoError(t, err)
	// (Not require.Contains: a failure would print the whole shared server log.)
	require.True(t, strings.Contains(string(serverLog), "could not connect to the publisher"), "the failure is in the target server's log")
	require.False(t, strings.Contains(string(serverLog), password), "the target server's log holds the publisher's password")
	require.Contains(t, r.stdout, "removed again: subscription absent, slot dropped, publication dropped")
	slots, pubs, subs := b.replicationObjects(t)
	require.Zero(t, slots+pubs+subs, "a failed start leaves nothing behind")
	var params string
	require.NoError(t, dst.QueryRow(t.Context(), `SELECT params::text FROM ragmigrate.runs WHERE kind = 'replicate'`).Scan(&params))
	require.NotContains(t, params, "sekrit")

	r = ragmigrate(t, b.env, b.args("abort")...)
	require.Zero(t, r.code, r.stderr)
	require.Contains(t, r.stdout, "subscription absent, slot absent, publication absent")

	// A publisher that accepts and never answers: PostgreSQL's walreceiver ignores
	// connect_timeout, so the subscription's creation is bounded by --db-connect-timeout
	// (2 × 1s + 10s), and the start still removes what it created.
	silent := "postgres://postgres:" + password + "@" + stacktest.SilentListener(t) + "/" + b.srcName + "?sslmode=disable"
	r = ragmigrate(t, b.env, append(b.args("start", "--empty-target", "--publisher-url", silent), "--db-connect-timeout", "1s")...)
	require.Equal(t, exitFailure, r.code, r.stderr)
	require.Contains(t, r.stderr, "the target did not reach the publisher at 127.0.0.1:")
	require.Contains(t, r.stderr, "within 12s")
	require.NotContains(t, r.stdout+r.stderr, password)
	slots, pubs, subs = b.replicationObjects(t)
	require.Zero(t, slots+pubs+subs, "a start bounded by the silent publisher leaves nothing behind")
	r = ragmigrate(t, b.env, b.args("abort")...)
	require.Zero(t, r.code, r.stderr)

	// Ctrl-C during the load: the start stops, removes what it created and exits 130; it says
	// how many of the planned parts it loaded, and how to start again.
	// The load is this start's copy run: an earlier start's may still say running.
	before := queryInt(t, dst, `SELECT coalesce(max(id), 0) FROM ragmigrate.runs WHERE kind = 'copy'`)
	stdout := &syncBuffer{}
	cmd, stderr := startRagmigrateOut(t, b.env, stdout, b.args("start", "--empty-target", "--part-size", "1MB", "--max-rate", "256kB")...)
	require.Eventually(t, func() bool {
		var n int64
		err := dst.QueryRow(t.Context(), `SELECT count(*) FROM ragmigrate.runs WHERE kind = 'copy' AND status = 'running' AND id > $1`, before).Scan(&n)
		return err == nil && n == 1
	}, time.Minute, 20*time.Millisecond, "the load never started: %s", stderr)
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(time.Minute):
		t.Fatalf("start did not stop within a minute of SIGINT: %s", stderr)
	}
	require.Equal(t, exitInterrupted, cmd.ProcessState.ExitCode(), stderr.String())
	slots, pubs, subs = b.replicationObjects(t)
	require.Zero(t, slots+pubs+subs, "an interrupted start leaves nothing behind: %s", stderr)
	interruptedRun := queryInt(t, dst, `SELECT max(id) FROM ragmigrate.runs WHERE kind = 'replicate'`)
	load := queryInt(t, dst, `SELECT max(id) FROM ragmigrate.runs WHERE kind = 'copy'`)
	done := queryInt(t, dst, `SELECT count(*) FROM ragmigrate.copy_parts WHERE run_id = $1 AND done_at IS NOT NULL`, load)
	parts := queryInt(t, dst, `SELECT count(*) FROM ragmigrate.copy_parts WHERE run_id = $1`, load)
	require.Regexp(t, fmt.Sprintf(`  loaded public\.items before it stopped: \d+ rows, %d of %d parts\n`, done, parts), stdout.String())
	require.Contains(t, stderr.String(), fmt.Sprintf("ragmigrate: interrupted: replication run %d did not start (what it removed again is listed on stdout): ", interruptedRun))
	require.Contains(t, stderr.String(), "to start over\n")
	require.NotContains(t, stderr.String(), "context canceled")
	r = ragmigrate(t, b.env, "status", "--target-db", b.dst)
	require.Zero(t, r.code, r.stderr)
	require.Regexp(t, `replicate +items +interrupted +load +slot ragmigrate_r\d+_[0-9a-f]{6}`, r.stdout)

	// Ctrl-C during the load, as JSON: the times reported are those the load ran before it
	// stopped, not zero (the text said "load 0.0s" after its data phase had taken seconds).
	before = queryInt(t, dst, `SELECT coalesce(max(id), 0) FROM ragmigrate.runs WHERE kind = 'copy'`)
	stdout = &syncBuffer{}
	cmd, stderr = startRagmigrateOut(t, b.env, stdout, append(b.args("start", "--empty-target", "--part-size", "1MB", "--max-rate", "256kB"), "--json")...)
	require.Eventually(t, func() bool {
		var n int64
		err := dst.QueryRow(t.Context(), `SELECT count(*) FROM ragmigrate.runs WHERE kind = 'copy' AND status = 'running' AND id > $1`, before).Scan(&n)
		return err == nil && n == 1
	}, time.Minute, 20*time.Millisecond, "the load never started: %s", stderr)
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	exited = make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(time.Minute):
		t.Fatalf("start did not stop within a minute of SIGINT: %s", stderr)
	}
	require.Equal(t, exitInterrupted, cmd.ProcessState.ExitCode(), stderr.String())
	var stopped struct {
		Load struct {
			DataSeconds float64 `json:"data_seconds"`
		} `json:"load"`
		LoadSeconds  float64 `json:"load_seconds"`
		TotalSeconds float64 `json:"total_seconds"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout.String()), &stopped), stdout.String())
	require.Positive(t, stopped.Load.DataSeconds, "the data phase ran until the interrupt: %s", stdout)
	require.GreaterOrEqual(t, stopped.LoadSeconds, stopped.Load.DataSeconds, "the load includes its data phase: %s", stdout)
	require.GreaterOrEqual(t, stopped.TotalSeconds, stopped.LoadSeconds, stdout.String())
	slots, pubs, subs = b.replicationObjects(t)
	require.Zero(t, slots+pubs+subs, "an interrupted start leaves nothing behind: %s", stderr)

	// kill -9 during the load: abort removes what the killed start left.
	last := queryInt(t, dst, `SELECT max(id) FROM ragmigrate.runs`)
	cmd, stderr = startRagmigrate(t, b.env, b.args("start", "--empty-target", "--part-size", "1MB", "--max-rate", "256kB")...)
	require.Eventually(t, func() bool {
		var n int64
		err := dst.QueryRow(t.Context(), `SELECT count(*) FROM ragmigrate.runs WHERE kind = 'copy' AND status = 'running' AND id > $1`, last).Scan(&n)
		return err == nil && n == 1
	}, time.Minute, 20*time.Millisecond, "the load never started: %s", stderr)
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	cmd.Wait()
	slots, _, _ = b.replicationObjects(t)
	require.EqualValues(t, 1, slots)
	var replaced string
	require.NoError(t, dst.QueryRow(t.Context(), `SELECT error FROM ragmigrate.runs WHERE id = $1`, interruptedRun).Scan(&replaced))
	require.Equal(t, "interrupted; replaced by a new start", replaced, "the interrupted start is not said to have been killed")

	r = ragmigrate(t, b.env, b.args("abort")...)
	require.Zero(t, r.code, r.stderr)
	require.Contains(t, r.stdout, "slot dropped, publication dropped")
	slots, pubs, subs = b.replicationObjects(t)
	require.Zero(t, slots+pubs+subs, "abort leaves nothing behind")
	r = ragmigrate(t, b.env, b.args("abort")...)
	require.Zero(t, r.code, r.stderr)
	require.Contains(t, r.stdout, "slot absent, publication absent")

	// Preflight: a table without a primary key is refused with the fix.
	_, err = connectTest(t, b.src).Exec(t.Context(), `CREATE TABLE nokey (x int); INSERT INTO nokey VALUES (1)`)
	require.NoError(t, err)
	r = ragmigrate(t, b.env, b.args("start", "--tables", "items,nokey", "--create-missing")...)
	require.Equal(t, exitFailure, r.code, r.stderr)
	require.Contains(t, r.stderr, "source table nokey: no primary key and no replica identity")
	require.Contains(t, r.stderr, "REPLICA IDENTITY FULL")
}

// TestReplicateCutoverRefusesWhileWritten runs cutover --yes while a writer still changes the
// source: the confirmation is false, and cutover finds it out before it drops anything. It exits
// 6 and leaves the replication running; once the writer stops, cutover succeeds and the target
// equals the source. (Before the check, cutover dropped the replication and said the target
// equaled the source, and the writes after the cut never reached it.)
func TestReplicateCutoverRefusesWhileWritten(t *testing.T) {
	t.Parallel()
	b := setupReplicate(t, 300)
	src, dst := connectTest(t, b.src), connectTest(t, b.dst)
	r := ragmigrate(t, b.env, b.args("start")...)
	require.Zero(t, r.code, r.stderr)

	w := startWriter(t, b.src)
	w.waitOps(t, 10)
	before := w.ops.Load()
	r = ragmigrate(t, b.env, b.args("cutover")...)
	require.Greater(t, w.ops.Load(), before, "the writer wrote during the cutover")
	require.Equal(t, exitWritesAfterCut, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stderr, "the source took writes after the confirmation that writes had stopped")
	require.Contains(t, r.stderr, "nothing was dropped and replication keeps running: stop the app's writers to the source, then run 'ragmigrate replicate cutover' again")
	require.Contains(t, r.stdout, "then the source took writes after the cut")
	require.NotContains(t, r.stdout, "cut over:")
	slots, pubs, subs := b.replicationObjects(t)
	require.Equal(t, []int64{1, 1, 1}, []int64{slots, pubs, subs}, "the replication still runs")
	var phase, status string
	require.NoError(t, dst.QueryRow(t.Context(), `SELECT phase, status FROM ragmigrate.runs WHERE kind = 'replicate'`).Scan(&phase, &status))
	require.Equal(t, "streaming running", phase+" "+status)

	w.waitOps(t, 10) // the writes after the refusal arrive too
	require.NoError(t, w.halt())
	r = ragmigrate(t, b.env, b.args("cutover", "--json")...)
	require.Zero(t, r.code, r.stderr)
	var co cutoverReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &co), r.stdout)
	require.True(t, co.Verify.OK)
	require.Equal(t, "dropped", co.Dropped.Subscription)
	require.Equal(t, rowDigests(t, src), rowDigests(t, dst), "the target equals the source row for row")
	slots, pubs, subs = b.replicationObjects(t)
	require.Zero(t, slots+pubs+subs)
}

// TestReplicateStartWrongPublisherPassword: a --publisher-url whose password the source refuses
// stops the start before it creates anything, not at the subscription after the whole load. It
// names the URL's user and host, never the password. (Before the check, the start loaded the
// table, then failed at CREATE SUBSCRIPTION.)
func TestReplicateStartWrongPublisherPassword(t *testing.T) {
	t.Parallel()
	b := setupReplicate(t, 100)
	dst := connectTest(t, b.dst)
	u, err := url.Parse(b.src)
	require.NoError(t, err)
	password := "wrong-" + stacktest.Suffix()
	u.User = url.UserPassword(u.User.Username(), password)
	r := ragmigrate(t, b.env, b.args("start", "--publisher-url", u.String())...)
	require.Equal(t, exitFailure, r.code, r.stderr)
	require.Contains(t, r.stderr, fmt.Sprintf("publisher URL (user %s at %s): the source refused its login (password authentication failed", u.User.Username(), u.Host))
	require.Contains(t, r.stderr, "SQLSTATE 28P01")
	require.NotContains(t, r.stdout+r.stderr, password)
	require.Zero(t, queryInt(t, dst, `SELECT CASE WHEN to_regclass('ragmigrate.runs') IS NULL THEN 0 ELSE
		(xpath('/row/c/text()', query_to_xml('SELECT count(*) AS c FROM ragmigrate.runs', false, true, '')))[1]::text::bigint END`),
		"no run (replicate or copy) in the target's journal")
	slots, pubs, subs := b.replicationObjects(t)
	require.Zero(t, slots+pubs+subs, "no slot, publication or subscription")

	// The right password, a database the source does not have: the same, before anything.
	missing, err := url.Parse(b.src)
	require.NoError(t, err)
	missing.Path = "/no_such_db_" + stacktest.Suffix()
	r = ragmigrate(t, b.env, b.args("start", "--publisher-url", missing.String())...)
	require.Equal(t, exitFailure, r.code, r.stderr)
	require.Contains(t, r.stderr, "the source has no database "+strings.TrimPrefix(missing.Path, "/"))
	slots, pubs, subs = b.replicationObjects(t)
	require.Zero(t, slots+pubs+subs, "no slot, publication or subscription")
}
