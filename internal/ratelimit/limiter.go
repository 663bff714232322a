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
	// the minute before it (requests admitted by Wait, less those
	// throttled, and their tokens), which is the quota of a provider that
	// counts over a sliding minute, and the next request waits until the
	// oldest of them leaves that minute. From then on the limiter paces and
	// adapts as if the budgets had been given.
	Discover bool
	// SlidingMinute says the provider counts tokens over a sliding minute,
	// as Bedrock does: a minute can then hold a request at each of its ends,
	// so the token budget is paced one request (the largest seen) under the
	// quota, which keeps any minute within it.
	SlidingMinute bool
}

// window is the span Discover measures over: Bedrock's quotas are per minute.
const window = time.Minute

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

	// With Discover, until the budgets are known: the requests admitted in
	// the last window, and the throttles reported in it.
	admitted   []admission
	throttled  []time.Time
	discovered bool
	maxTokens  int // the largest request seen, for SlidingMinute
}

// admission is one request Wait let through.
type admission struct {
	at     time.Time
	tokens int
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
			now := l.clock.Now()
			l.admitted = append(expire(l.admitted, now), admission{at: now, tokens: tokens})
		}
		l.mu.Unlock()
		return nil
	}
	now := l.clock.Now()
	var reqCost, tokCost time.Duration
	wake := now
	if l.cfg.RequestsPerMinute > 0 {
		reqCost = l.cost(1, l.cfg.RequestsPerMinute)
		wake = later(wake, l.allowedAt(l.reqTAT, reqCost))
	}
	if l.cfg.TokensPerMinute > 0 && tokens > 0 {
		tpm := l.cfg.TokensPerMinute
		if l.cfg.SlidingMinute {
			l.maxTokens = max(l.maxTokens, tokens)
			tpm = max(tpm-l.maxTokens, tpm/2)
		}
		tokCost = l.cost(tokens, tpm)
		wake = later(wake, l.allowedAt(l.tokTAT, tokCost))
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
		l.mu.Unlock()
		return err
	}
	return nil
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
// rate is cut by Decrease unless it was already cut within Cooldown.
func (l *Limiter) OnThrottle() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.throttles++
	now := l.clock.Now()
	if l.cfg.Discover && l.cfg.RequestsPerMinute == 0 && l.cfg.TokensPerMinute == 0 {
		l.discover(now)
		return
	}
	if !l.lastCut.IsZero() && now.Sub(l.lastCut) < l.cfg.Cooldown {
		return
	}
	l.lastCut = now
	l.cuts++
	l.factor = max(l.cfg.MinFactor, l.factor*l.cfg.Decrease)
}

// discover sets the budgets to what the provider accepted over the last
// window, once it throttles. l.mu must be held.
func (l *Limiter) discover(now time.Time) {
	l.admitted = expire(l.admitted, now)
	cutoff := now.Add(-window)
	i := 0
	for i < len(l.throttled) && !l.throttled[i].After(cutoff) {
		i++
	}
	l.throttled = append(l.throttled[i:], now)
	accepted := len(l.admitted) - len(l.throttled)
	if accepted < 1 {
		// Nothing accepted to measure yet (the first requests were throttled):
		// the caller's backoff carries it until something is.
		return
	}
	tokens := 0
	for _, a := range l.admitted {
		tokens += a.tokens
	}
	// The throttled requests' tokens are not known one by one: take the
	// accepted share of them.
	tokens = tokens * accepted / len(l.admitted)
	l.cfg.RequestsPerMinute = accepted
	if tokens > 0 {
		l.cfg.TokensPerMinute = tokens
	}
	// The provider counts the minute's requests until they leave it: the
	// next is accepted once the oldest has.
	next := l.admitted[0].at.Add(window)
	l.reqTAT, l.tokTAT = next, next
	l.lastCut, l.discovered = now, true
	l.admitted, l.throttled = nil, nil
}

// expire drops the admissions older than the window before now.
func expire(a []admission, now time.Time) []admission {
	cutoff := now.Add(-window)
	i := 0
	for i < len(a) && !a[i].at.After(cutoff) {
		i++
	}
	return append(a[:0], a[i:]...)
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
	if l.cfg.TokensPerMinute == 0 || tokens == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if tokens < 0 {
		// A refund never moves the bucket before now: unused budget of the
		// past is gone.
		l.tokTAT = later(l.tokTAT.Add(-l.cost(-tokens, l.cfg.TokensPerMinute)), l.clock.Now())
		return
	}
	l.tokTAT = later(l.tokTAT, l.clock.Now()).Add(l.cost(tokens, l.cfg.TokensPerMinute))
}
