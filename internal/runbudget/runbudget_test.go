package runbudget

import (
	"context"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/stack"
	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/journal"
)

// testBundle is one run in a fresh target database; each worker joins it through a pool of its
// own, as workers on separate hosts do.
type testBundle struct {
	url   string
	runID int64
	admin *pgxpool.Pool
}

func setup(t testing.TB) testBundle {
	t.Helper()
	url := stacktest.Database(t, "RAGMIGRATE_TARGET_DB")
	ctx := stacktest.Context(t)
	admin, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	t.Cleanup(admin.Close)
	require.NoError(t, journal.Migrate(ctx, admin))
	run, err := journal.StartRun(ctx, admin, "reembed", "public.items", nil)
	require.NoError(t, err)
	return testBundle{url: url, runID: run.ID, admin: admin}
}

// worker opens the run's bucket on a pool of its own.
func (tb testBundle) worker(t testing.TB, cfg Config) *Bucket {
	t.Helper()
	ctx := stacktest.Context(t)
	pool, err := pgxpool.New(ctx, tb.url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	b, err := Open(ctx, pool, tb.runID, cfg)
	require.NoError(t, err)
	t.Cleanup(b.Close)
	return b
}

// admissions records the database's admission times of several buckets.
type admissions struct {
	mu  sync.Mutex
	ats []time.Time
}

func (a *admissions) hook(at time.Time, _ time.Duration) {
	a.mu.Lock()
	a.ats = append(a.ats, at)
	a.mu.Unlock()
}

func (a *admissions) sorted() []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.SortedFunc(slices.Values(a.ats), time.Time.Compare)
}

// runWorkers has each bucket's goroutines call Wait (then after, when set) until n requests
// were admitted over all of them.
func runWorkers(t *testing.T, buckets []*Bucket, perBucket, n, tokens int, after func(b *Bucket)) {
	t.Helper()
	ctx := stacktest.Context(t)
	var admitted atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, len(buckets)*perBucket)
	for _, b := range buckets {
		for range perBucket {
			wg.Go(func() {
				for admitted.Add(1) <= int64(n) {
					if err := b.Wait(ctx, tokens); err != nil {
						errs <- err
						return
					}
					if after != nil {
						after(b)
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// TestWorkersShareOneBudget: four workers, two requests in flight each, keep together to one
// budget of 600 requests a minute: no two admissions closer than a request's cost (so no window
// holds more than the budget), and together close to the budget.
func TestWorkersShareOneBudget(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	cfg := Config{RequestsPerMinute: 600}
	var rec admissions
	var buckets []*Bucket
	for range 4 {
		b := tb.worker(t, cfg)
		b.onAdmit = rec.hook
		buckets = append(buckets, b)
	}
	const n = 40
	runWorkers(t, buckets, 2, n, 100, nil)

	ats := rec.sorted()
	require.Len(t, ats, n)
	cost := time.Duration(span / 600 * float64(time.Second))
	for i := 1; i < len(ats); i++ {
		// timestamptz keeps microseconds.
		require.GreaterOrEqual(t, ats[i].Sub(ats[i-1]), cost-2*time.Microsecond, "admissions %d and %d", i-1, i)
	}
	perMinute := float64(len(ats)-1) / ats[len(ats)-1].Sub(ats[0]).Minutes()
	require.LessOrEqual(t, perMinute, 600.0)
	require.Greater(t, perMinute, 300.0, "the workers together use most of the budget")
}

// TestChargeSlowsEveryWorker: the estimate runs low (dense CJK text: 250 tokens estimated, the
// provider reports 1000); the corrections keep the workers together under the token budget,
// where the estimates alone would let them go four times as fast.
func TestChargeSlowsEveryWorker(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	const tpm, estimated, reported = 600_000, 250, 1000
	cfg := Config{TokensPerMinute: tpm}
	var rec admissions
	var buckets []*Bucket
	for range 3 {
		b := tb.worker(t, cfg)
		b.onAdmit = rec.hook
		buckets = append(buckets, b)
	}
	const n, inFlight = 40, 6
	runWorkers(t, buckets, inFlight/len(buckets), n, estimated, func(b *Bucket) { b.Charge(reported - estimated) })

	ats := rec.sorted()
	require.Len(t, ats, n)
	perSecond := float64(tpm-estimated) / span
	elapsed := ats[len(ats)-1].Sub(ats[0]).Seconds()
	// GCRA: the admissions after the first are at least the costs charged before them apart, the
	// corrections included; those of the requests still in flight at the end are not in yet.
	slack := float64(inFlight*reported + reported)
	require.LessOrEqual(t, float64(n*reported), perSecond*elapsed+slack,
		"%d requests of %d tokens in %.2fs at a budget of %d tokens a minute", n, reported, elapsed, tpm)
}

// TestUnsentGivesTheSlotBack: a request let go but not sent gives its slot back to the run: the
// next request, of any worker, goes at once instead of a request's cost later.
func TestUnsentGivesTheSlotBack(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	cfg := Config{RequestsPerMinute: 60}
	a, b := tb.worker(t, cfg), tb.worker(t, cfg)
	ctx := stacktest.Context(t)
	require.NoError(t, a.Wait(ctx, 10))
	b.Unsent(10)

	wait := probe(t, a)
	require.Less(t, wait, 500*time.Millisecond, "the slot given back is the next request's")
	// Without it, the next request waits for the one after it.
	require.Greater(t, probe(t, b), 500*time.Millisecond)
}

// probe reserves a slot on b and returns how long Wait was told to wait for it, giving the slot
// back at once (its ctx is cancelled before it sleeps).
func probe(t *testing.T, b *Bucket) time.Duration {
	t.Helper()
	ctx, cancel := context.WithCancel(stacktest.Context(t))
	defer cancel()
	var wait time.Duration
	b.onAdmit = func(_ time.Time, d time.Duration) { wait = d; cancel() }
	defer func() { b.onAdmit = nil }()
	err := b.Wait(ctx, 10)
	if wait > 0 {
		require.ErrorIs(t, err, context.Canceled)
	}
	return wait
}

// TestCancelledWaitGivesTheSlotBack: a worker whose wait ends before its turn gives the slot to
// the next caller, of any worker.
func TestCancelledWaitGivesTheSlotBack(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	cfg := Config{RequestsPerMinute: 60}
	cost := time.Duration(span / 60 * float64(time.Second))
	a, b := tb.worker(t, cfg), tb.worker(t, cfg)
	require.NoError(t, a.Wait(stacktest.Context(t), 10))
	first := probe(t, b) // reserves the second slot, and gives it back
	require.Greater(t, first, cost/2)
	again := probe(t, a)
	require.Less(t, again, cost+cost/2, "the second slot again, not the third")
}

// TestThrottleCutsEveryWorker: a throttle one worker reports cuts the rate every worker paces by
// (once per cooldown), and successes restore it.
func TestThrottleCutsEveryWorker(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := stacktest.Context(t)
	cfg := Config{RequestsPerMinute: 600, TokensPerMinute: 100_000}
	a, b := tb.worker(t, cfg), tb.worker(t, cfg)
	rpm, tpm := b.Budget()
	require.Equal(t, []float64{600, 100_000}, []float64{rpm, tpm})

	a.OnThrottle()
	require.NoError(t, b.Wait(ctx, 10))
	rpm, tpm = b.Budget()
	require.InDelta(t, 420, rpm, 1e-6)
	require.InDelta(t, 70_000, tpm, 1e-6)

	// Within the cooldown (the last cut made just now, by the database's clock), a throttle
	// only counts: the requests in flight at the first one report throttles too.
	_, err := tb.admin.Exec(ctx, `UPDATE ragmigrate.run_budgets SET last_cut = clock_timestamp() WHERE run_id = $1`, tb.runID)
	require.NoError(t, err)
	b.OnThrottle()
	rpm, _ = b.Budget()
	require.InDelta(t, 420, rpm, 1e-6)
	_, err = tb.admin.Exec(ctx, `UPDATE ragmigrate.run_budgets SET last_cut = clock_timestamp() - interval '1 minute' WHERE run_id = $1`, tb.runID)
	require.NoError(t, err)
	b.OnThrottle()
	rpm, _ = b.Budget()
	require.InDelta(t, 294, rpm, 1e-6)
	var throttles, cuts int
	require.NoError(t, tb.admin.QueryRow(ctx, `SELECT throttles, cuts FROM ragmigrate.run_budgets WHERE run_id = $1`, tb.runID).
		Scan(&throttles, &cuts))
	require.Equal(t, []int{3, 2}, []int{throttles, cuts})

	// Successes go with the next Wait: 0.49 + 26 × 0.02 is back to all of it.
	for range 26 {
		b.OnSuccess()
	}
	require.NoError(t, b.Wait(ctx, 10))
	rpm, _ = b.Budget()
	require.InDelta(t, 600, rpm, 1e-6)
	require.NoError(t, a.Wait(ctx, 10))
	rpm, _ = a.Budget()
	require.InDelta(t, 600, rpm, 1e-6)
}

// TestDiscoverIsShared: with no budget known, requests go at once; the first throttle any worker
// reports sets the run's budget to what the provider accepted over the minute before, which
// every worker paces by, holding back until the burst sent before it has left the minute; a
// later throttle measures again, lower.
func TestDiscoverIsShared(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	cfg := Config{Discover: true}
	a, b := tb.worker(t, cfg), tb.worker(t, cfg)
	for i := range 10 {
		w := a
		if i%2 == 1 {
			w = b
		}
		require.LessOrEqual(t, probe(t, w), time.Duration(0), "no budget yet: request %d goes at once", i)
		rpm, tpm := w.Budget()
		require.Zero(t, rpm+tpm)
	}
	b.OnThrottle() // the tenth was throttled: nine accepted, of 10 tokens each
	rpm, tpm := b.Budget()
	require.Equal(t, []float64{9, 90}, []float64{rpm, tpm})

	// The nine went within a moment: the next request waits for them to leave the minute.
	wait := probe(t, a)
	require.Greater(t, wait, 30*time.Second)
	rpm, tpm = a.Budget()
	require.Equal(t, []float64{9, 90}, []float64{rpm, tpm})

	a.OnThrottle() // another throttle: eight accepted
	rpm, tpm = a.Budget()
	require.Equal(t, []float64{8, 80}, []float64{rpm, tpm})
}

// TestOpenTakesTheRunsBudget: a worker must not pace by a budget of its own; the coordinator may
// replace the run's (Reset).
func TestOpenTakesTheRunsBudget(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := stacktest.Context(t)
	a := tb.worker(t, Config{RequestsPerMinute: 600})

	_, err := Open(ctx, tb.admin, tb.runID, Config{RequestsPerMinute: 1200})
	require.ErrorIs(t, err, ErrBudgetDiffers)
	require.ErrorContains(t, err, "the run has 600 requests and 0 tokens per minute")
	_, err = Open(ctx, tb.admin, tb.runID, Config{Discover: true})
	require.ErrorIs(t, err, ErrBudgetDiffers)

	_, err = Open(ctx, tb.admin, tb.runID, Config{RequestsPerMinute: 1200, Reset: true})
	require.NoError(t, err)
	require.NoError(t, a.Wait(ctx, 10))
	rpm, _ := a.Budget()
	require.Equal(t, 1200.0, rpm)

	_, err = Open(ctx, tb.admin, tb.runID+1000, Config{RequestsPerMinute: 600})
	require.ErrorContains(t, err, "the journal has no run")
}

// TestJoinTakesTheRunsBudget: a worker with no budget of its own paces by the run's.
func TestJoinTakesTheRunsBudget(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := stacktest.Context(t)
	_, err := Open(ctx, tb.admin, tb.runID, Config{Join: true})
	require.ErrorIs(t, err, ErrNoBudget)
	_, err = Open(ctx, tb.admin, tb.runID, Config{Join: true, RequestsPerMinute: 600})
	require.ErrorContains(t, err, "gives none of its own")

	tb.worker(t, Config{RequestsPerMinute: 60, TokensPerMinute: 6000})
	w := tb.worker(t, Config{Join: true})
	require.Equal(t, Config{RequestsPerMinute: 60, TokensPerMinute: 6000}, w.Config())
	rpm, tpm := w.Budget()
	require.Equal(t, []float64{60, 6000}, []float64{rpm, tpm})
	require.NoError(t, w.Wait(ctx, 10))
	require.Greater(t, probe(t, w), 500*time.Millisecond, "paced by the run's 60 a minute")
}

// TestWaitFailsWithoutTheDatabase: a worker that loses the database stops pacing with an error
// instead of hanging, or sending unpaced.
func TestWaitFailsWithoutTheDatabase(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	cfg := Config{RequestsPerMinute: 600}

	t.Run("ClosedPool", func(t *testing.T) {
		pool, err := pgxpool.New(stacktest.Context(t), tb.url)
		require.NoError(t, err)
		b, err := Open(stacktest.Context(t), pool, tb.runID, cfg)
		require.NoError(t, err)
		pool.Close()
		require.ErrorContains(t, b.Wait(stacktest.Context(t), 10), "budget: reserve a request's slot")
	})
	t.Run("TerminatedBackend", func(t *testing.T) {
		ctx := stacktest.Context(t)
		conn, err := pgx.Connect(ctx, tb.url)
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close(context.Background()) })
		b, err := Open(ctx, conn, tb.runID, cfg)
		require.NoError(t, err)
		_, err = tb.admin.Exec(ctx, `SELECT pg_terminate_backend($1)`, conn.PgConn().PID())
		require.NoError(t, err)
		require.ErrorContains(t, b.Wait(ctx, 10), "budget: reserve a request's slot")
	})
	t.Run("Unanswered", func(t *testing.T) {
		// The row is held by a session that never lets go: Wait gives up after Timeout.
		ctx := stacktest.Context(t)
		tx, err := tb.admin.Begin(ctx)
		require.NoError(t, err)
		t.Cleanup(func() { tx.Rollback(context.Background()) })
		_, err = tx.Exec(ctx, `SELECT 1 FROM ragmigrate.run_budgets WHERE run_id = $1 FOR UPDATE`, tb.runID)
		require.NoError(t, err)
		b := tb.worker(t, Config{RequestsPerMinute: 600, Timeout: 200 * time.Millisecond})
		err = b.Wait(ctx, 10)
		require.ErrorContains(t, err, "budget: reserve a request's slot")
		require.NoError(t, ctx.Err())
	})
}

// TestUnlimitedAsksNothing: without a budget, Wait has nothing to wait for and makes no call.
func TestUnlimitedAsksNothing(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	b := tb.worker(t, Config{})
	b.onAdmit = func(time.Time, time.Duration) { t.Error("an unlimited budget asked the database") }
	require.NoError(t, b.Wait(stacktest.Context(t), 10))
	rpm, tpm := b.Budget()
	require.Zero(t, rpm+tpm)
}

// TestUpgradeAddsTheBudget: a journal an older ragmigrate wrote gets the budget's tables.
func TestUpgradeAddsTheBudget(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := stacktest.Context(t)
	_, err := tb.admin.Exec(ctx, `DROP TABLE ragmigrate.run_budget_log, ragmigrate.run_budgets;
		UPDATE ragmigrate.schema_version SET fingerprint = 'older'`)
	require.NoError(t, err)
	require.NoError(t, journal.Upgrade(ctx, tb.admin))
	b := tb.worker(t, Config{RequestsPerMinute: 600})
	require.NoError(t, b.Wait(ctx, 10))
}

// BenchmarkWait measures Wait's round trip with a budget too large to wait on: Sequential is one
// worker's request after request, Parallel the callers of every worker contending for the run's
// row (its ns/op is the row's ceiling of admissions), and SelectOne a bare round trip to compare.
//
//	go test -run '^$' -bench Wait ./internal/runbudget/
//
// Seen on the shared two-core machine with the stack running: Sequential 0.66 ms, Parallel 0.41 ms
// (some 2,400 admissions a second for one run), SelectOne 0.19 ms; 3.2 ms for Sequential when
// every Wait flushed the WAL.
func BenchmarkWait(b *testing.B) {
	tb := setup(b)
	ctx := stacktest.Context(b)
	b.Run("Sequential", func(b *testing.B) {
		bucket := tb.worker(b, Config{RequestsPerMinute: 1_000_000_000})
		for b.Loop() {
			if err := bucket.Wait(ctx, 100); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		var buckets []*Bucket
		for range 4 {
			buckets = append(buckets, tb.worker(b, Config{RequestsPerMinute: 1_000_000_000}))
		}
		var next atomic.Int64
		b.SetParallelism(4) // 4 × GOMAXPROCS callers over the 4 workers
		b.RunParallel(func(pb *testing.PB) {
			bucket := buckets[next.Add(1)%int64(len(buckets))]
			for pb.Next() {
				if err := bucket.Wait(ctx, 100); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("SelectOne", func(b *testing.B) {
		for b.Loop() {
			if _, err := tb.admin.Exec(ctx, `SELECT 1`); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestAppRoleMigratesAgain: a journal handed over to the app's role (the stack's GrantAppRole,
// as a deployment has it: the role that runs ragmigrate owns the journal) migrates again under
// that role, CREATE OR REPLACE FUNCTION included, and paces.
func TestAppRoleMigratesAgain(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := stacktest.Context(t)
	conn, err := pgx.Connect(ctx, tb.url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	role, password := "budget_"+stacktest.Suffix(), "pw-"+stacktest.Suffix()
	require.NoError(t, stack.GrantAppRole(ctx, conn, role, password))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, err := pgx.Connect(ctx, tb.url)
		if err != nil {
			t.Errorf("drop role %s: %v", role, err)
			return
		}
		defer c.Close(ctx)
		for _, q := range []string{"DROP OWNED BY " + role, "DROP ROLE " + role} {
			if _, err := c.Exec(ctx, q); err != nil {
				t.Errorf("%s: %v", q, err)
			}
		}
	})
	u, err := url.Parse(tb.url)
	require.NoError(t, err)
	u.User = url.UserPassword(role, password)
	app := testBundle{url: u.String(), runID: tb.runID, admin: tb.admin}
	pool, err := pgxpool.New(ctx, app.url)
	require.NoError(t, err)
	defer pool.Close()
	require.NoError(t, journal.Migrate(ctx, pool))
	b := app.worker(t, Config{RequestsPerMinute: 600})
	require.NoError(t, b.Wait(ctx, 10))
}

// TestNextSaysTheRunsTurnAndReservesNothing: Next tells when the run's next request may go, as
// every worker has left the buckets, and reserves nothing: asked twice it says the same, and the
// next Wait gets that turn.
func TestNextSaysTheRunsTurnAndReservesNothing(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	cfg := Config{RequestsPerMinute: 60}
	a, b := tb.worker(t, cfg), tb.worker(t, cfg)
	ctx := stacktest.Context(t)
	require.WithinDuration(t, time.Now(), b.Next(0), 200*time.Millisecond, "nothing admitted yet: now")
	require.NoError(t, a.Wait(ctx, 10))
	first, second := b.Next(0), b.Next(0)
	require.WithinDuration(t, time.Now().Add(time.Second), first, 300*time.Millisecond, "a's request holds the run's next second")
	require.WithinDuration(t, first, second, 100*time.Millisecond, "Next reserved nothing")
	wait := probe(t, b)
	require.InDelta(t, time.Until(first).Seconds(), wait.Seconds(), 0.3, "the next Wait gets the turn Next said")
}
