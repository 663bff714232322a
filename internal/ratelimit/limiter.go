// Package ratelimit paces requests to the embedding provider. One [Limiter]
// is shared by every worker of a run, so that the run as a whole keeps to
// the account's requests-per-minute and tokens-per-minute quotas however many
// bots are embedded at once.
//
// # Overview
//
// Each budget is a token bucket in its virtual-scheduling form (GCRA): the
// bucket is a "theoretical arrival time" that every admitted request pushes
// forward by its cost, and a request may start once that time is less than
// [Config.Burst] ahead of the clock. Requests are therefore spread evenly
// over the minute instead of being let through in a burst at the start of a
// fixed window, which is what Bedrock's sliding per-minute quotas need.
// Waiters reserve their slot when they call [Limiter.Wait], so concurrent
// workers are served in order and never spin.
//
// The limiter is adaptive (AIMD): [Limiter.OnThrottle] multiplies the
// effective rate by [Config.Decrease] (at most once per [Config.Cooldown],
// because the requests already in flight when the first throttle arrives
// will report throttles too), and every [Limiter.OnSuccess] adds
// [Config.Increase] of the configured rate back, up to the configured
// ceiling. With no budget at all the limiter admits everything at once and
// has nothing to adapt; the caller's retries with backoff then carry any
// throttling alone.
package ratelimit

import (
	"cmp"
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"time"
)

// Config sets the budgets and the adaptation. The zero value is an unlimited
// limiter.
type Config struct {
	// RequestsPerMinute is the request budget; 0 means unlimited.
	RequestsPerMinute int
	// TokensPerMinute is the budget of (estimated) input tokens; 0 means
	// unlimited.
	TokensPerMinute int
	// Burst is how far ahead of the steady pace the budgets may run, as a
	// duration of budget. 0 paces every request (a burst of one request);
	// a second at 600 requests/min lets ten go at once after an idle spell.
	// Keep it small: a provider with a sliding one-minute quota will throttle
	// a client that runs ahead by more than the quota's slack.
	Burst time.Duration
	// Decrease multiplies the effective rate on a throttle. Default 0.7.
	Decrease float64
	// Increase is the share of the configured rate added back on each
	// success. Default 0.02 (fifty successes from zero to the ceiling).
	Increase float64
	// MinFactor is the floor of the effective rate as a share of the
	// configured rate. Default 0.05.
	MinFactor float64
	// Cooldown is the shortest time between two cuts. Default 2s.
	Cooldown time.Duration
	// Clock is the time source. Default SystemClock.
	Clock Clock
	// Discover, with neither budget set, learns them from the provider: at
	// the first throttle the budgets become what the provider accepted over
	// the minute before it (requests admitted by Wait, less the throttled
	// one, and their tokens), which is a lower bound of the quota of a
	// provider that counts over a sliding minute (all of it was accepted,
	// and one more request was not). From then on the limiter paces as if
	// the budgets had been given, and each later throttle measures the
	// minute again, keeping the lower of the two, instead of cutting the
	// rate by Decrease: the measure is the provider's own answer, where a
	// cut is a guess. The minute's history is kept (see SlidingMinute), so
	// that the requests sent in a burst before the first throttle hold the
	// next ones back until they leave the minute.
	Discover bool
	// SlidingMinute says the provider counts over a sliding minute, as
	// Bedrock does. A minute can then hold a request at each of its ends,
	// so the token budget is paced one request (the largest seen) under the
	// quota; and every request Wait admits is kept for a minute, a request
	// waiting until the ones of the minute before leave room for it, which
	// is the provider's own rule: the even pace alone does not keep to it
	// when the minute before was uneven (a burst before the first throttle
	// with Discover, requests charged more after the fact by Charge).
	SlidingMinute bool
}

// window is the span Discover measures over: Bedrock's quotas are per minute.
const window = time.Minute

// skew is how much longer than the window a request stays in the minute's
// history: the provider counts a request from when it reaches it, a little
// after Wait let it go (the body signed and uploaded, a connection opened),
// so it also leaves the provider's minute a little later. Seen: 50 to 200
// ms on a loaded two-core machine; the margin costs at most one such delay
// per minute of the budget.
const skew = 500 * time.Millisecond

// Validate reports budgets or factors that make no sense.
func (c Config) Validate() error {
	var errs []error
	if c.RequestsPerMinute < 0 || c.TokensPerMinute < 0 {
		errs = append(errs, errors.New("requests and tokens per minute must not be negative"))
	}
	if c.Burst < 0 || c.Cooldown < 0 {
		errs = append(errs, errors.New("burst and cooldown must not be negative"))
	}
	if c.Decrease < 0 || c.Decrease >= 1 {
		errs = append(errs, errors.New("decrease must be in (0, 1), or 0 for the default"))
	}
	if c.Increase < 0 || c.Increase > 1 {
		errs = append(errs, errors.New("increase must be in (0, 1], or 0 for the default"))
	}
	if c.MinFactor < 0 || c.MinFactor > 1 {
		errs = append(errs, errors.New("min factor must be in (0, 1], or 0 for the default"))
	}
	return errors.Join(errs...)
}

// Limiter is the shared, adaptive limiter. It is safe for concurrent use.
type Limiter struct {
	cfg   Config
	clock Clock

	mu        sync.Mutex
	factor    float64   // effective rate / configured rate, in [MinFactor, 1]
	lastCut   time.Time // when factor was last cut
	reqTAT    time.Time // theoretical arrival time of the request bucket
	tokTAT    time.Time // ... and of the token bucket
	throttles int64
	cuts      int64

	// history is what the provider counts in its minute, oldest first, with
	// SlidingMinute or Discover: the requests Wait let through (or will, at
	// their reserved time), less those throttled, and the tokens Charge
	// added after the fact.
	history    []admission
	discovered bool
	maxTokens  int // the largest request seen, for SlidingMinute
}

// admission is one request Wait let through, or a correction of tokens.
type admission struct {
	at       time.Time
	tokens   int
	requests int // 1 for a request, 0 for a correction by Charge or ChargeSent
	// own says a correction is kept at its request's own time (ChargeSent), so that it
	// leaves the minute with the request: a refund then counts too.
	own bool
}

// counted is what a counts in the minute's history: a refund by Charge,
// whose request is not known, counts nothing (see roomAt).
func (a admission) counted() int {
	if a.requests == 0 && !a.own {
		return max(a.tokens, 0)
	}
	return a.tokens
}

// New returns a limiter for cfg, with defaults filled in.
func New(cfg Config) (*Limiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Decrease = cmp.Or(cfg.Decrease, 0.7)
	cfg.Increase = cmp.Or(cfg.Increase, 0.02)
	cfg.MinFactor = cmp.Or(cfg.MinFactor, 0.05)
	cfg.Cooldown = cmp.Or(cfg.Cooldown, 2*time.Second)
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	return &Limiter{cfg: cfg, clock: cfg.Clock, factor: 1}, nil
}

// Wait blocks until one request carrying tokens estimated input tokens may
// be sent, or until ctx is done. The slot is reserved when Wait is called,
// so concurrent callers are admitted in call order; a caller whose ctx ends
// first gives its slot back and gets ctx's error.
func (l *Limiter) Wait(ctx context.Context, tokens int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tokens = max(tokens, 0)
	l.mu.Lock()
	if l.cfg.RequestsPerMinute == 0 && l.cfg.TokensPerMinute == 0 {
		if l.cfg.Discover {
			l.record(admission{at: l.clock.Now(), tokens: tokens, requests: 1})
		}
		l.mu.Unlock()
		return nil
	}
	now := l.clock.Now()
	if l.cfg.SlidingMinute {
		l.maxTokens = max(l.maxTokens, tokens)
	}
	wake, reqCost, tokCost := l.schedule(now, tokens)
	var mine admission
	if l.keepsHistory() {
		mine = admission{at: wake, tokens: tokens, requests: 1}
		l.record(mine)
	}
	// Both buckets are charged as of the same instant, the one the request
	// will actually start at; charging each as of its own earliest time
	// would let the later-bound budget run ahead in real time.
	if reqCost > 0 {
		l.reqTAT = later(l.reqTAT, wake).Add(reqCost)
	}
	if tokCost > 0 {
		l.tokTAT = later(l.tokTAT, wake).Add(tokCost)
	}
	l.mu.Unlock()

	if !wake.After(now) {
		return nil
	}
	if err := l.clock.SleepUntil(ctx, wake); err != nil {
		// Give the slot back so that the next caller can have it.
		l.mu.Lock()
		l.reqTAT = l.reqTAT.Add(-reqCost)
		l.tokTAT = l.tokTAT.Add(-tokCost)
		if i := slices.Index(l.history, mine); mine.requests > 0 && i >= 0 {
			l.history = slices.Delete(l.history, i, i+1)
		}
		l.mu.Unlock()
		return err
	}
	return nil
}

// schedule is when a request of tokens asked for at now may start, and what
// it costs each bucket; it changes nothing. l.mu must be held.
func (l *Limiter) schedule(now time.Time, tokens int) (wake time.Time, reqCost, tokCost time.Duration) {
	wake = now
	if l.cfg.RequestsPerMinute > 0 {
		reqCost = l.cost(1, l.cfg.RequestsPerMinute)
		wake = later(wake, l.allowedAt(l.reqTAT, reqCost))
	}
	if l.cfg.TokensPerMinute > 0 && tokens > 0 {
		tpm := l.cfg.TokensPerMinute
		if l.cfg.SlidingMinute {
			tpm = max(tpm-max(l.maxTokens, tokens), tpm/2)
		}
		tokCost = l.cost(tokens, tpm)
		wake = later(wake, l.allowedAt(l.tokTAT, tokCost))
	}
	if l.keepsHistory() {
		wake = l.roomAt(wake, tokens)
	}
	return wake, reqCost, tokCost
}

// Next is when a request of tokens would start if Wait were called now; it
// reserves nothing. The Batcher's Coalescer asks it whether the request
// budget has a request free, so that a request less than full, which spends
// a whole request of the budget, is not closed while it could only wait.
func (l *Limiter) Next(tokens int) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	if l.cfg.RequestsPerMinute == 0 && l.cfg.TokensPerMinute == 0 {
		return now
	}
	wake, _, _ := l.schedule(now, max(tokens, 0))
	return wake
}

// keepsHistory says whether the limiter keeps the minute's history.
func (l *Limiter) keepsHistory() bool { return l.cfg.SlidingMinute || l.cfg.Discover }

// record adds a to the history, in time order, and forgets what has left
// the minute. l.mu must be held.
func (l *Limiter) record(a admission) {
	cutoff := l.clock.Now().Add(-window - skew)
	i := 0
	for i < len(l.history) && !l.history[i].at.After(cutoff) {
		i++
	}
	l.history = append(l.history[:0], l.history[i:]...)
	at, _ := slices.BinarySearchFunc(l.history, a.at, func(e admission, t time.Time) int {
		if e.at.After(t) {
			return 1
		}
		return -1 // after the equal ones: time order, then arrival order
	})
	l.history = slices.Insert(l.history, at, a)
}

// roomAt is the first time from t on when a request of tokens fits in the
// minute's history under the effective budgets: the requests and tokens it
// holds then (those reserved for later included, since they will count in
// the same minute) leave room for it. Refunds by Charge are left out: which
// request a refund belongs to, and so when it leaves the provider's minute,
// is not known, and taking it off a later one would count too little once
// the request it belongs to has left. Refunds by ChargeSent are kept at
// their request's time, and count. l.mu must be held.
func (l *Limiter) roomAt(t time.Time, tokens int) time.Time {
	rpm := float64(l.cfg.RequestsPerMinute) * l.factor
	tpm := float64(l.cfg.TokensPerMinute) * l.factor
	// A request larger than the whole budget goes once the minute is empty,
	// else it would never go.
	need := float64(tokens)
	if tpm > 0 {
		need = min(need, tpm)
	}
	reqs, toks := 0, 0
	for _, a := range l.history {
		reqs += a.requests
		toks += a.counted()
	}
	span := window + skew
	for _, a := range l.history {
		// a is the oldest still counted at t unless it has left by then.
		if !a.at.Add(span).After(t) {
			reqs -= a.requests
			toks -= a.counted()
			continue
		}
		if (rpm == 0 || float64(reqs+1) <= rpm) && (tpm == 0 || float64(toks)+need <= tpm) {
			return t
		}
		// Not yet: the next chance is when a leaves the minute.
		t = a.at.Add(span)
		reqs -= a.requests
		toks -= a.counted()
	}
	return t
}

// cost is the time n units take at the effective share of perMinute.
// l.mu must be held.
func (l *Limiter) cost(n, perMinute int) time.Duration {
	return time.Duration(float64(n) * float64(time.Minute) / (float64(perMinute) * l.factor))
}

// allowedAt is when a request of the given cost may start on a bucket whose
// theoretical arrival time is tat. A request costing more than the burst
// (a large batch against a small token budget) may start once the bucket is
// full and leaves it in debt; refusing it would stall it forever.
func (l *Limiter) allowedAt(tat time.Time, cost time.Duration) time.Time {
	if cost <= l.cfg.Burst {
		return tat.Add(cost - l.cfg.Burst)
	}
	return tat
}

// OnThrottle reports that the provider throttled a request. The effective
// rate is cut by Decrease unless it was already cut within Cooldown; with
// Discover, the budgets are measured instead (see Config.Discover).
func (l *Limiter) OnThrottle() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.throttles++
	now := l.clock.Now()
	l.forgetThrottled(now)
	if l.cfg.Discover && l.cfg.RequestsPerMinute == 0 && l.cfg.TokensPerMinute == 0 {
		l.discover(now)
		return
	}
	if l.discovered {
		l.measure(now)
		return
	}
	if !l.lastCut.IsZero() && now.Sub(l.lastCut) < l.cfg.Cooldown {
		return
	}
	l.lastCut = now
	l.cuts++
	l.factor = max(l.cfg.MinFactor, l.factor*l.cfg.Decrease)
}

// forgetThrottled takes the throttled request out of the history: the
// provider did not count it. Which request it was is not said; a throttle
// is answered at once, so it is the newest one sent (or one as large, among
// the requests in flight). l.mu must be held.
func (l *Limiter) forgetThrottled(now time.Time) {
	for i := len(l.history) - 1; i >= 0; i-- {
		if a := l.history[i]; a.requests > 0 && !a.at.After(now) {
			l.history = slices.Delete(l.history, i, i+1)
			return
		}
	}
}

// Unsent reports that a request of tokens Wait let go was not sent after
// all (held back before it reached the provider, which throttled another
// one meanwhile): the provider did not count it, so neither does the
// history, nor a budget discovered since.
func (l *Limiter) Unsent(tokens int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	at := -1
	for i := len(l.history) - 1; i >= 0; i-- {
		if a := l.history[i]; a.requests > 0 && !a.at.After(now) {
			if at < 0 || a.tokens == tokens {
				at = i
			}
			if a.tokens == tokens {
				break
			}
		}
	}
	if at >= 0 {
		l.history = slices.Delete(l.history, at, at+1)
	}
	if l.discovered {
		l.measure(now)
	}
}

// accepted is what the history holds over the window before now: what the
// provider has accepted, or will (the requests in flight), in its minute.
// Refunds count here: the tokens are then those the provider reported, but
// for a refund of a request that has already left the minute, which makes
// the measure lower, never higher. l.mu must be held.
func (l *Limiter) accepted(now time.Time) (requests, tokens int) {
	cutoff := now.Add(-window)
	for _, a := range l.history {
		if a.at.After(cutoff) && !a.at.After(now) {
			requests += a.requests
			tokens += a.tokens
		}
	}
	return requests, tokens
}

// discover sets the budgets to what the provider accepted over the last
// window, once it throttles. The requests sent before it stay in the
// history: the next request waits until they leave room for it. l.mu must
// be held.
func (l *Limiter) discover(now time.Time) {
	requests, tokens := l.accepted(now)
	if requests < 1 {
		// Nothing accepted to measure yet (the first requests were throttled):
		// the caller's backoff carries it until something is.
		return
	}
	l.cfg.RequestsPerMinute = requests
	if tokens > 0 {
		l.cfg.TokensPerMinute = tokens
	}
	l.reqTAT, l.tokTAT = now, now
	l.lastCut, l.discovered = now, true
}

// measure lowers the discovered budgets to what the provider accepted over
// the last window, at a throttle after the first: the quota is below what
// was measured then (a request sent in the same moment, reported since,
// was counted as accepted). It never raises them, nor lowers them under
// MinFactor of the first measure. l.mu must be held.
func (l *Limiter) measure(now time.Time) {
	requests, tokens := l.accepted(now)
	lowered := false
	lower := func(budget *int, measured int) {
		floor := int(math.Ceil(float64(*budget) * l.cfg.MinFactor))
		if measured > 0 && measured < *budget {
			*budget = max(measured, floor, 1)
			lowered = true
		}
	}
	lower(&l.cfg.RequestsPerMinute, requests)
	if l.cfg.TokensPerMinute > 0 {
		lower(&l.cfg.TokensPerMinute, tokens)
	}
	if lowered {
		l.cuts++
		l.lastCut = now
	}
}

// OnSuccess reports a request the provider accepted. The effective rate
// grows by Increase of the configured rate, up to the configured rate.
func (l *Limiter) OnSuccess() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.factor = min(1, l.factor+l.cfg.Increase)
}

// Rate is a snapshot of the limiter for progress output.
type Rate struct {
	// RequestsPerMinute and TokensPerMinute are the effective budgets; 0
	// means unlimited.
	RequestsPerMinute float64
	TokensPerMinute   float64
	// Factor is the effective share of the configured budgets, 1 when no
	// throttle has been seen or the limiter has recovered.
	Factor float64
	// Throttles counts OnThrottle calls; Cuts counts those that cut the rate.
	Throttles int64
	Cuts      int64
	// Discovered says the budgets were learnt from the provider (Discover).
	Discovered bool
}

// Rate returns the current effective rate.
func (l *Limiter) Rate() Rate {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Rate{
		RequestsPerMinute: float64(l.cfg.RequestsPerMinute) * l.factor,
		TokensPerMinute:   float64(l.cfg.TokensPerMinute) * l.factor,
		Factor:            l.factor,
		Throttles:         l.throttles,
		Cuts:              l.cuts,
		Discovered:        l.discovered,
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Budget returns the effective budgets per minute, 0 for a budget not set:
// what the Batcher sizes its requests in flight by (Little's law: in flight
// = rate × latency). It follows the throttle cuts.
func (l *Limiter) Budget() (requestsPerMinute, tokensPerMinute float64) {
	r := l.Rate()
	return r.RequestsPerMinute, r.TokensPerMinute
}

// Charge corrects the token bucket by tokens, positive or negative: the
// difference between the input tokens the provider reported for a request
// and those its Wait was charged. An estimate that runs low (dense CJK
// text, a tokenizer that splits finer than the estimator) then slows the
// pace at once, before the provider throttles it.
func (l *Limiter) Charge(tokens int) {
	if tokens == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.keepsHistory() && (l.cfg.Discover || l.cfg.TokensPerMinute > 0) {
		// The tokens the provider counted beyond the charge (or short of it),
		// from now: later than it counted them, so they leave the history
		// later than they leave its minute, never earlier (see roomAt for
		// refunds).
		l.record(admission{at: l.clock.Now(), tokens: tokens})
	}
	l.chargeBucket(tokens)
}

// ChargeSent is Charge for a request whose answer came ago after it was
// sent. The correction is kept in the minute's history at the request's
// own time, as the provider counts it, and so leaves the minute with the
// request: a refund then counts as well as a surcharge. With Charge a
// refund cannot (see roomAt), and estimates that run high by turns (a
// request's estimate is corrected by the average the provider reported,
// so some run high, some low) fill the history with the surcharges alone:
// the minute's history then held a few % more than the provider counted,
// and from the second minute on the history, not the pace, held the
// requests back (a 2 M tokens/min run at 1.88 M).
func (l *Limiter) ChargeSent(tokens int, ago time.Duration) {
	if tokens == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.keepsHistory() && (l.cfg.Discover || l.cfg.TokensPerMinute > 0) {
		// When the request was sent, which is when Wait let it go or a little later: the
		// correction leaves the history with the request or a little after it.
		l.record(admission{at: l.clock.Now().Add(-max(ago, 0)), tokens: tokens, own: true})
	}
	l.chargeBucket(tokens)
}

// chargeBucket corrects the token bucket by tokens. l.mu must be held.
func (l *Limiter) chargeBucket(tokens int) {
	if l.cfg.TokensPerMinute == 0 {
		return
	}
	if tokens < 0 {
		// A refund never moves the bucket before now: unused budget of the
		// past is gone.
		l.tokTAT = later(l.tokTAT.Add(-l.cost(-tokens, l.cfg.TokensPerMinute)), l.clock.Now())
		return
	}
	l.tokTAT = later(l.tokTAT, l.clock.Now()).Add(l.cost(tokens, l.cfg.TokensPerMinute))
}
