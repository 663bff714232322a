// Package runbudget is a run's provider budget kept in the target database, so that every
// worker of the run, on any host (reembed --runner ecs --ecs-task worker), paces by one bucket:
// N workers together keep to the account's quota instead of each to all of it.
//
// # Overview
//
// The budget is one row of ragmigrate.run_budgets per run (see schemaSQL), holding the two
// buckets of ratelimit.Limiter in their virtual-scheduling form (GCRA): a theoretical arrival
// time per budget, requests and tokens per minute, that every admitted request pushes forward by
// its cost. Wait is one round trip: a function that locks the row, reserves the request's slot at
// the later of the two buckets' turns, and returns how long to wait for it, by the database's
// clock; the worker sleeps that long. Slots are reserved in the order the row lock is granted, so
// the workers of a run are served in turn and none spins.
//
// The semantics are ratelimit.Limiter's with SlidingMinute, which is what Bedrock's quotas
// need, adapted to the provider counting a request a little after Wait lets it go:
//
//   - A request costs (minute + skew) / budget, not minute / budget: requests let go at that
//     spacing reach the provider at most skew after their turn, and then no minute of the
//     provider's holds more than the budget (where an even pace at exactly the budget fits one
//     request more in a minute that has one at each end). At 120 a minute that paces 119.
//   - The token budget is paced one request, the largest seen, under the quota, for the same
//     reason: the last request of a minute counts in full.
//   - Charge (the tokens the provider reported beyond the estimate) moves the token bucket
//     later; a refund moves it earlier, never before now. Unsent gives the slot of a request let
//     go but not sent back, never before now; a waiter whose ctx ends gives its slot back.
//   - A throttle cuts the shared rate (AIMD: × decrease, at most once per cooldown) and every
//     success adds a share back; every worker paces by the cut from its next Wait on.
//
// The local limiter also keeps a minute's history with SlidingMinute and holds a request until
// the minute leaves room for it. Shared, that history would cost a write per request for every
// budget; the bucket keeps it only for Discover (below), where it is the measure. With known
// budgets the even pace with skew keeps every provider minute under the budget by itself, and a
// Charge moves the bucket before the worker's next request.
//
// # Discover
//
// With no budget known, requests go at once, and each is written to the run's history
// (ragmigrate.run_budget_log, the last minute of it). At the first throttle any worker reports,
// the run's budgets become what the provider accepted over the minute before (as
// ratelimit.Limiter does: a lower bound of a sliding-minute quota), and the buckets are set as if
// they had paced those requests, so that a burst sent before the throttle holds the next requests
// back until it leaves the minute. Every worker paces by the discovered budget from its next Wait
// on, and later throttles measure again, keeping the lower budget. Until the first throttle,
// Budget reports none, and the Batcher's congestion window bounds each worker's requests.
//
// # Costs and failures
//
// One round trip per request (Wait), one per throttle, one per request not sent; successes and
// charges are gathered in the process and sent with its next Wait (or Close). Every database call
// is bounded by Config.Timeout; a Wait that cannot reach the database returns the error, which the
// Batcher reports as the request's ("wait for the rate limiter: …") instead of sending unpaced.
package runbudget

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ragmigrate/ragmigrate/internal/journal"
)

// The pacing and adaptation settings, ratelimit.Limiter's defaults. They are the same for every
// worker of a run, so they are constants rather than per-process options.
const (
	// window is the provider's counting span: Bedrock's quotas are per minute.
	window = time.Minute
	// skew is how much later than Wait let it go a request reaches the provider (the body signed
	// and uploaded, a connection opened): 50 to 200 ms seen on a loaded two-core machine, as
	// ratelimit's skew. The pace spreads the budget over window + skew.
	skew = 500 * time.Millisecond
	// decrease multiplies the shared rate on a throttle, at most once per cooldown.
	decrease = 0.7
	cooldown = 2 * time.Second
	// increase is the share of the budget each success adds back, up to all of it.
	increase = 0.02
	// minFactor is the floor of the shared rate as a share of the budget.
	minFactor = 0.05
	// DefaultTimeout bounds each database call.
	DefaultTimeout = 10 * time.Second
)

// span is what a budget per minute is spread over, in seconds.
var span = (window + skew).Seconds()

// Config is the run's budget: what the coordinator resolved (--rpm/--tpm, Service Quotas) and
// recorded with the run.
type Config struct {
	// RequestsPerMinute and TokensPerMinute are the run's budgets; 0 means not set.
	RequestsPerMinute, TokensPerMinute int
	// Discover: neither budget is known; the pace is found from the provider's throttles.
	// It is ignored when a budget is set.
	Discover bool
	// Reset replaces the budget the run already has with this one (the coordinator starting or
	// resuming the run with new budgets); the buckets keep their place, so requests already
	// admitted still count. Workers leave it false: a budget that differs from the run's is then
	// an error, so that a worker started with other settings cannot pace by a budget of its own.
	Reset bool
	// Join takes the budget the run has, whatever it is, and the budgets above must be 0 (a worker
	// that has no budget of its own to check: the coordinator's is the run's). Open fails when the
	// run has none yet (ErrNoBudget).
	Join bool
	// Timeout bounds each database call. Default DefaultTimeout.
	Timeout time.Duration
	// Logger receives the database errors of the calls that cannot return one (OnThrottle,
	// Unsent, Close), at warn level. Nil discards.
	Logger *slog.Logger
}

// Validate reports budgets that make no sense.
func (c Config) Validate() error {
	if c.RequestsPerMinute < 0 || c.TokensPerMinute < 0 {
		return errors.New("requests and tokens per minute must not be negative")
	}
	if c.Timeout < 0 {
		return errors.New("timeout must not be negative")
	}
	if c.Join && (c.RequestsPerMinute != 0 || c.TokensPerMinute != 0 || c.Discover || c.Reset) {
		return errors.New("a worker that joins the run's budget gives none of its own")
	}
	return nil
}

// discover says whether the budget is to be discovered: asked for, and none given.
func (c Config) discover() bool {
	return c.Discover && c.RequestsPerMinute == 0 && c.TokensPerMinute == 0
}

func (c Config) String() string {
	if c.discover() {
		return "discovered from the provider's throttles"
	}
	if c.RequestsPerMinute == 0 && c.TokensPerMinute == 0 {
		return "unlimited"
	}
	return fmt.Sprintf("%d requests and %d tokens per minute (0: not set)", c.RequestsPerMinute, c.TokensPerMinute)
}

// ErrNoBudget is returned (wrapped) by Open with Config.Join when the run has no budget yet.
var ErrNoBudget = errors.New("the run has no budget yet")

// ErrBudgetDiffers is returned (wrapped) by Open when the run already has a budget other than the
// one given.
var ErrBudgetDiffers = errors.New("the run's budget differs")

// Bucket is the run's shared budget. It is safe for concurrent use.
type Bucket struct {
	db    journal.DB
	runID int64
	cfg   Config
	// paces is false for an unlimited budget: Wait has nothing to ask the database.
	paces bool

	// successes and charged are gathered since the last Wait, which sends them.
	successes atomic.Int64
	charged   atomic.Int64

	mu       sync.Mutex
	rpm, tpm float64 // the effective budgets as of the last answer from the database

	// onAdmit, when set (tests), sees each admission: its time and the wait the database
	// returned for it, before Wait sleeps.
	onAdmit func(at time.Time, wait time.Duration)
}

// Open joins run runID's budget in db (the target's journal), creating it with cfg when the run
// has none yet; a budget already there is the run's, and cfg must not differ from it (unless
// cfg.Reset; with cfg.Join, the run's budget is taken, whatever it is). A worker that paced by a
// budget of its own would let N workers together spend N budgets, so a difference is an error
// (ErrBudgetDiffers) rather than quietly one or the other: the operator sees the mistake.
//
// The journal must have been migrated by this version of ragmigrate (journal.Migrate, which the
// coordinator runs before it launches a worker). db is typically a pool: the bucket makes one
// call per request, concurrently from the Batcher's requests, and never holds a connection
// between calls. It must not be a transaction: the calls are concurrent, and Wait commits
// without waiting for the WAL to be flushed (see run_budget_wait), which would hold for the
// caller's whole transaction.
func Open(ctx context.Context, db journal.DB, runID int64, cfg Config) (*Bucket, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("run %d budget: %w", runID, err)
	}
	cfg.Timeout = cmp.Or(cfg.Timeout, DefaultTimeout)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	if cfg.Join {
		return join(ctx, db, runID, cfg)
	}
	b := &Bucket{db: db, runID: runID, cfg: cfg,
		paces: cfg.RequestsPerMinute > 0 || cfg.TokensPerMinute > 0 || cfg.discover()}
	upsert := `ON CONFLICT (run_id) DO NOTHING`
	if cfg.Reset {
		upsert = `ON CONFLICT (run_id) DO UPDATE SET config_rpm = excluded.config_rpm, config_tpm = excluded.config_tpm,
			config_discover = excluded.config_discover, rpm = excluded.rpm, tpm = excluded.tpm,
			discovered = false, factor = 1, last_cut = NULL, max_tokens = 0`
	}
	_, err := db.Exec(ctx, `INSERT INTO ragmigrate.run_budgets (run_id, config_rpm, config_tpm, config_discover, rpm, tpm)
		VALUES ($1, $2, $3, $4, $2, $3) `+upsert, runID, cfg.RequestsPerMinute, cfg.TokensPerMinute, cfg.discover())
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23503" { // foreign_key_violation
			return nil, fmt.Errorf("run %d budget: the journal has no run %d", runID, runID)
		}
		return nil, fmt.Errorf("run %d budget: %w", runID, err)
	}
	have, rpm, tpm, err := read(ctx, db, runID)
	if err != nil {
		return nil, fmt.Errorf("run %d budget: %w", runID, err)
	}
	if have.RequestsPerMinute != cfg.RequestsPerMinute || have.TokensPerMinute != cfg.TokensPerMinute || have.discover() != cfg.discover() {
		return nil, fmt.Errorf("run %d budget: %w: the run has %s, this worker was given %s", runID, ErrBudgetDiffers, have, cfg)
	}
	b.setBudget(rpm, tpm)
	return b, nil
}

// join opens the budget run runID has, for Config.Join.
func join(ctx context.Context, db journal.DB, runID int64, cfg Config) (*Bucket, error) {
	have, rpm, tpm, err := read(ctx, db, runID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("run %d budget: %w", runID, ErrNoBudget)
	}
	if err != nil {
		return nil, fmt.Errorf("run %d budget: %w", runID, err)
	}
	cfg.RequestsPerMinute, cfg.TokensPerMinute, cfg.Discover = have.RequestsPerMinute, have.TokensPerMinute, have.Discover
	b := &Bucket{db: db, runID: runID, cfg: cfg,
		paces: cfg.RequestsPerMinute > 0 || cfg.TokensPerMinute > 0 || cfg.discover()}
	b.setBudget(rpm, tpm)
	return b, nil
}

// read reads the budget run runID was opened with, and its effective budgets.
func read(ctx context.Context, db journal.DB, runID int64) (have Config, rpm, tpm float64, err error) {
	err = db.QueryRow(ctx, `SELECT config_rpm, config_tpm, config_discover, rpm * factor, tpm * factor
		FROM ragmigrate.run_budgets WHERE run_id = $1`, runID).
		Scan(&have.RequestsPerMinute, &have.TokensPerMinute, &have.Discover, &rpm, &tpm)
	return have, rpm, tpm, err
}

// Config returns the budget the bucket paces by: the run's, as it was opened (with Join, what it
// joined).
func (b *Bucket) Config() Config {
	return Config{RequestsPerMinute: b.cfg.RequestsPerMinute, TokensPerMinute: b.cfg.TokensPerMinute, Discover: b.cfg.Discover}
}

// Wait blocks until one request carrying tokens estimated input tokens may be sent, or until ctx
// is done. The slot is reserved in the database when Wait is called, so the callers of every
// worker are admitted in turn; a caller whose ctx ends first gives its slot back and gets ctx's
// error. A database that cannot be reached within Config.Timeout is an error.
func (b *Bucket) Wait(ctx context.Context, tokens int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !b.paces {
		return nil
	}
	tokens = max(tokens, 0)
	successes, charged := b.successes.Swap(0), b.charged.Swap(0)
	var (
		wait, reqCost, tokCost float64
		at                     time.Time
		logID                  *int64
		rpm, tpm               float64
	)
	qctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	err := b.db.QueryRow(qctx, `SELECT o_wait, o_at, o_req_cost, o_tok_cost, o_log, o_rpm, o_tpm
		FROM ragmigrate.run_budget_wait($1, $2, $3, $4, $5, $6)`,
		b.runID, tokens, clampInt32(successes), clampInt32(charged), span, increase).
		Scan(&wait, &at, &reqCost, &tokCost, &logID, &rpm, &tpm)
	cancel()
	if err != nil {
		// Not applied: the next call sends them.
		b.successes.Add(successes)
		b.charged.Add(charged)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("run %d budget: reserve a request's slot: %w", b.runID, err)
	}
	b.setBudget(rpm, tpm)
	d := time.Duration(wait * float64(time.Second))
	if b.onAdmit != nil {
		b.onAdmit(at, d)
	}
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		// Give the slot back so that the next caller, of any worker, can have it.
		b.call(context.WithoutCancel(ctx), "give back a slot", `SELECT ragmigrate.run_budget_release($1, $2, $3, $4, false)`,
			b.runID, reqCost, tokCost, logID)
		return ctx.Err()
	}
}

// OnThrottle reports a throttled request: the run's rate is cut for every worker, or, for a
// Discover budget, measured (see the package doc). It waits for the database, within
// Config.Timeout, so that the next request of this worker is paced by the cut.
func (b *Bucket) OnThrottle() {
	if !b.paces {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.Timeout)
	defer cancel()
	var rpm, tpm float64
	err := b.db.QueryRow(ctx, `SELECT o_rpm, o_tpm FROM ragmigrate.run_budget_throttle($1, $2, $3, $4, $5, $6)`,
		b.runID, span, window.Seconds(), decrease, minFactor, cooldown.Seconds()).Scan(&rpm, &tpm)
	if err != nil {
		b.cfg.Logger.Warn("run budget: record a throttle", slog.Int64("run", b.runID), slog.String("error", err.Error()))
		return
	}
	b.setBudget(rpm, tpm)
}

// OnSuccess reports an accepted request; it is sent with the next Wait.
func (b *Bucket) OnSuccess() { b.successes.Add(1) }

// Budget returns the effective budgets per minute (0 for not set, or not discovered yet), which
// the Batcher sizes its requests in flight by: the run's, as of this worker's last Wait or
// OnThrottle, without a round trip.
func (b *Bucket) Budget() (requestsPerMinute, tokensPerMinute float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rpm, b.tpm
}

func (b *Bucket) setBudget(rpm, tpm float64) {
	b.mu.Lock()
	b.rpm, b.tpm = rpm, tpm
	b.mu.Unlock()
}

// Charge corrects the bucket by the tokens the provider reported beyond (or short of) the
// estimate Wait was charged. It is sent with this worker's next Wait, which is paced by it (the
// Batcher's next request of this worker waits on Wait anyway); Close sends what is left.
func (b *Bucket) Charge(tokens int) {
	if tokens != 0 {
		b.charged.Add(int64(tokens))
	}
}

// Next is when a request of tokens tokens would start if Wait were called now, by the run's
// buckets as every worker has left them; it reserves nothing. The Batcher's Coalescer asks it
// whether the run's request budget has a request free, so that a request less than full is not
// closed while it could only wait. A database that does not answer within a second makes it
// say now: the hold is an optimisation, and Wait still paces.
func (b *Bucket) Next(tokens int) time.Time {
	now := time.Now()
	if !b.paces {
		return now
	}
	ctx, cancel := context.WithTimeout(context.Background(), min(b.cfg.Timeout, time.Second))
	defer cancel()
	var wait float64
	err := b.db.QueryRow(ctx, `SELECT greatest(0, extract(epoch FROM greatest(
			CASE WHEN rpm > 0 THEN req_tat END, CASE WHEN tpm > 0 AND $2 > 0 THEN tok_tat END) - clock_timestamp()))
		FROM ragmigrate.run_budgets WHERE run_id = $1`, b.runID, tokens).Scan(&wait)
	if err != nil {
		b.cfg.Logger.Warn("run budget: read when the next request may go", slog.Int64("run", b.runID), slog.String("error", err.Error()))
		return now
	}
	return now.Add(time.Duration(wait * float64(time.Second)))
}

// Unsent takes back a request Wait let go that was not sent: its slot goes back to the run (never
// before now), and a Discover budget forgets it.
func (b *Bucket) Unsent(tokens int) {
	if !b.paces {
		return
	}
	b.call(context.Background(), "take back a request not sent", `SELECT ragmigrate.run_budget_unsent($1, $2, $3, $4, $5)`,
		b.runID, max(tokens, 0), span, window.Seconds(), minFactor)
}

// Close sends the successes and charges gathered since the last Wait, so that the workers still
// running pace by them. The database is the caller's to close.
func (b *Bucket) Close() {
	if !b.paces {
		return
	}
	successes, charged := b.successes.Swap(0), b.charged.Swap(0)
	if successes == 0 && charged == 0 {
		return
	}
	// A request of no tokens costs nothing on the token bucket; its request slot is released at
	// once, leaving the gathered corrections applied.
	b.call(context.Background(), "record the last corrections", `WITH w AS (
			SELECT * FROM ragmigrate.run_budget_wait($1, 0, $2, $3, $4, $5))
		SELECT ragmigrate.run_budget_release($1, w.o_req_cost, w.o_tok_cost, w.o_log, false) FROM w`,
		b.runID, clampInt32(successes), clampInt32(charged), span, increase)
}

// call makes a database call whose error is the log's, bounded by Config.Timeout.
func (b *Bucket) call(ctx context.Context, what, sql string, args ...any) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	if _, err := b.db.Exec(ctx, sql, args...); err != nil {
		b.cfg.Logger.Warn("run budget: "+what, slog.Int64("run", b.runID), slog.String("error", err.Error()))
	}
}

func clampInt32(n int64) int64 { return min(max(n, math.MinInt32), math.MaxInt32) }
