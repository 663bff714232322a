package ratelimit

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeClock jumps to the wake-up time instead of sleeping, so pacing can be
// asserted exactly. With block set, SleepUntil waits for ctx instead.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	block bool
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newFakeClock() *fakeClock { return &fakeClock{now: epoch} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) SleepUntil(ctx context.Context, t time.Time) error {
	c.mu.Lock()
	block := c.block
	if !block && t.After(c.now) {
		c.now = t
	}
	c.mu.Unlock()
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	return ctx.Err()
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) elapsed() time.Duration { return c.Now().Sub(epoch) }

type testBundle struct {
	clock *fakeClock
	lim   *Limiter
}

func setup(t *testing.T, cfg Config) *testBundle {
	t.Helper()
	clock := newFakeClock()
	cfg.Clock = clock
	lim, err := New(cfg)
	require.NoError(t, err)
	return &testBundle{clock: clock, lim: lim}
}

// waitN calls Wait n times and returns the clock's time after each call.
func (b *testBundle) waitN(t *testing.T, n, tokens int) []time.Duration {
	t.Helper()
	at := make([]time.Duration, n)
	for i := range n {
		require.NoError(t, b.lim.Wait(context.Background(), tokens))
		at[i] = b.clock.elapsed()
	}
	return at
}

// maxInWindow is the most events in any half-open window (t-w, t] ending at
// an event, the way a sliding-window quota counts them.
func maxInWindow(at []time.Duration, w time.Duration) int {
	best, lo := 0, 0
	for hi := range at {
		for at[lo] <= at[hi]-w {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]Config{
		"NegativeRequests": {RequestsPerMinute: -1},
		"NegativeTokens":   {TokensPerMinute: -1},
		"NegativeBurst":    {Burst: -time.Second},
		"DecreaseOne":      {Decrease: 1},
		"IncreaseAboveOne": {Increase: 1.5},
		"MinFactorAbove":   {MinFactor: 2},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := New(cfg)
			require.Error(t, err)
		})
	}
	_, err := New(Config{RequestsPerMinute: 600, TokensPerMinute: 100_000})
	require.NoError(t, err)
}

func TestUnlimitedNeverWaits(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	at := b.waitN(t, 1000, 10_000)
	require.Equal(t, time.Duration(0), at[len(at)-1])
	b.lim.OnThrottle() // nothing to cut, but harmless
	require.Equal(t, time.Duration(0), b.waitN(t, 1, 1)[0])
}

func TestRequestsPerMinutePacing(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{RequestsPerMinute: 600})
	at := b.waitN(t, 1500, 0)
	// One every 100 ms, the first at once.
	for i, d := range at {
		require.Equal(t, time.Duration(i)*100*time.Millisecond, d, "request %d", i)
	}
	require.LessOrEqual(t, maxInWindow(at, time.Minute), 600)
	require.Equal(t, 600, maxInWindow(at, time.Minute), "the budget is used in full")
}

func TestTokensPerMinutePacing(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{TokensPerMinute: 6000})
	at := b.waitN(t, 4, 1000) // 1000 tokens = 10 s of budget each
	require.Equal(t, []time.Duration{0, 10 * time.Second, 20 * time.Second, 30 * time.Second}, at)

	// A request larger than the burst starts once the bucket is full and
	// leaves it in debt instead of waiting forever.
	b.clock.advance(time.Hour)
	start := b.clock.elapsed()
	at = b.waitN(t, 2, 12_000) // two minutes of budget each
	require.Equal(t, []time.Duration{start, start + 2*time.Minute}, at)
}

func TestBothBudgetsTheSlowerWins(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{RequestsPerMinute: 600, TokensPerMinute: 60_000})
	// 100 ms per request, 2000 tokens = 2 s per request: tokens bind.
	at := b.waitN(t, 3, 2000)
	require.Equal(t, []time.Duration{0, 2 * time.Second, 4 * time.Second}, at)
	// Small requests: the request budget binds again, counted from the
	// last charged instant (4 s), not from where the token bucket is.
	at = b.waitN(t, 3, 1)
	require.Equal(t, 6*time.Second, at[0], "token bucket still owes 2 s for the last big request")
	require.Equal(t, 6*time.Second+100*time.Millisecond, at[1])
	require.Equal(t, 6*time.Second+200*time.Millisecond, at[2])
}

func TestBurst(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{RequestsPerMinute: 600, Burst: time.Second})
	at := b.waitN(t, 12, 0)
	for i := range 10 {
		require.Equal(t, time.Duration(0), at[i], "request %d is within the burst", i)
	}
	require.Equal(t, 100*time.Millisecond, at[10])
	require.Equal(t, 200*time.Millisecond, at[11])

	// An idle minute refills the burst, not a minute's worth of requests.
	b.clock.advance(time.Minute)
	start := b.clock.elapsed()
	at = b.waitN(t, 11, 0)
	require.Equal(t, start, at[9])
	require.Equal(t, start+100*time.Millisecond, at[10])
}

func TestConcurrentWaitersShareTheBudget(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{RequestsPerMinute: 600})
	const workers, each = 50, 10
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				require.NoError(t, b.lim.Wait(context.Background(), 0))
			}
		})
	}
	wg.Wait()
	// Every reservation got its own 100 ms slot: the clock ends on the last.
	require.Equal(t, (workers*each-1)*100*time.Millisecond, b.clock.elapsed())
}

func TestAIMD(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{RequestsPerMinute: 600, TokensPerMinute: 60_000, Cooldown: time.Second, Increase: 0.1, MinFactor: 0.2})
	require.InDelta(t, 1, b.lim.Rate().Factor, 1e-9)

	b.lim.OnThrottle()
	r := b.lim.Rate()
	require.InDelta(t, 0.7, r.Factor, 1e-9)
	require.InDelta(t, 420, r.RequestsPerMinute, 1e-6)
	require.InDelta(t, 42_000, r.TokensPerMinute, 1e-6)

	// Throttles from requests already in flight do not cut again.
	b.lim.OnThrottle()
	b.lim.OnThrottle()
	require.InDelta(t, 0.7, b.lim.Rate().Factor, 1e-9)

	// The effective rate paces: 100 ms / 0.7 apart.
	b.clock.advance(time.Minute)
	at := b.waitN(t, 2, 0)
	require.InDelta(t, float64(100*time.Millisecond)/0.7, float64(at[1]-at[0]), float64(time.Microsecond))

	b.clock.advance(time.Second)
	b.lim.OnThrottle()
	require.InDelta(t, 0.49, b.lim.Rate().Factor, 1e-9)
	for range 10 {
		b.clock.advance(time.Second)
		b.lim.OnThrottle()
	}
	require.InDelta(t, 0.2, b.lim.Rate().Factor, 1e-9, "floored at MinFactor")

	for range 3 {
		b.lim.OnSuccess()
	}
	require.InDelta(t, 0.5, b.lim.Rate().Factor, 1e-9, "additive increase")
	for range 20 {
		b.lim.OnSuccess()
	}
	r = b.lim.Rate()
	require.InDelta(t, 1, r.Factor, 1e-9, "capped at the configured rate")
	require.EqualValues(t, 14, r.Throttles)
	require.EqualValues(t, 12, r.Cuts)
}

func TestCancelledWaitGivesItsSlotBack(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{RequestsPerMinute: 60})
	require.NoError(t, b.lim.Wait(context.Background(), 0)) // takes the slot at 0

	b.clock.mu.Lock()
	b.clock.block = true
	b.clock.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.lim.Wait(ctx, 0) }() // would get the slot at 1 s
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)

	b.clock.mu.Lock()
	b.clock.block = false
	b.clock.mu.Unlock()
	at := b.waitN(t, 1, 0)
	require.Equal(t, time.Second, at[0], "the cancelled caller's slot is reused")

	// An already cancelled ctx is refused at once and reserves nothing.
	require.ErrorIs(t, b.lim.Wait(ctx, 0), context.Canceled)
	require.Equal(t, 2*time.Second, b.waitN(t, 1, 0)[0])
}

func TestSystemClockPaces(t *testing.T) {
	t.Parallel()
	lim, err := New(Config{RequestsPerMinute: 6000}) // one per 10 ms
	require.NoError(t, err)
	start := time.Now()
	for range 6 {
		require.NoError(t, lim.Wait(context.Background(), 0))
	}
	// Only a lower bound: a slow machine may take longer, never shorter.
	require.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	slow, err := New(Config{RequestsPerMinute: 1})
	require.NoError(t, err)
	require.NoError(t, slow.Wait(ctx, 0))
	require.ErrorIs(t, slow.Wait(ctx, 0), context.DeadlineExceeded)
}

// TestChargeCorrectsTheTokenBucket: a request whose provider reports more
// tokens than its Wait was charged delays the next one by the difference,
// and a refund brings it forward, never before now.
func TestChargeCorrectsTheTokenBucket(t *testing.T) {
	b := setup(t, Config{TokensPerMinute: 6000}) // 100 tokens a second
	require.Equal(t, []time.Duration{0, time.Second}, b.waitN(t, 2, 100))
	// The second request turned out to be 300 tokens, not 100.
	b.lim.Charge(200)
	require.Equal(t, []time.Duration{4 * time.Second}, b.waitN(t, 1, 100))
	b.lim.Charge(-50)
	require.Equal(t, []time.Duration{4*time.Second + 500*time.Millisecond}, b.waitN(t, 1, 100))
	// A refund larger than the debt leaves the bucket at now.
	b.lim.Charge(-100_000)
	require.Equal(t, []time.Duration{4*time.Second + 500*time.Millisecond}, b.waitN(t, 1, 100))

	t.Run("NoTokenBudget", func(t *testing.T) {
		b := setup(t, Config{RequestsPerMinute: 60})
		b.lim.Charge(1_000_000)
		require.Equal(t, []time.Duration{0, time.Second}, b.waitN(t, 2, 100))
	})
}

// TestBudgetFollowsCuts: the budgets the Batcher sizes its window by are the
// effective ones.
func TestBudgetFollowsCuts(t *testing.T) {
	b := setup(t, Config{RequestsPerMinute: 100, TokensPerMinute: 1000, Decrease: 0.5})
	rpm, tpm := b.lim.Budget()
	require.Equal(t, [2]float64{100, 1000}, [2]float64{rpm, tpm})
	b.lim.OnThrottle()
	rpm, tpm = b.lim.Budget()
	require.Equal(t, [2]float64{50, 500}, [2]float64{rpm, tpm})
}

// TestDiscoverLearnsTheQuotaAtTheFirstThrottle: with no budget, requests go
// at once until the provider throttles; the budgets then become what it
// accepted over the minute before, and the next request waits until the
// oldest of those leaves the minute, as a sliding-minute quota frees it.
func TestDiscoverLearnsTheQuotaAtTheFirstThrottle(t *testing.T) {
	b := setup(t, Config{Discover: true})
	for range 10 {
		require.NoError(t, b.lim.Wait(context.Background(), 100))
		b.lim.OnSuccess()
		b.clock.advance(time.Second)
	}
	rpm, tpm := b.lim.Budget()
	require.Zero(t, rpm+tpm, "nothing known before a throttle")
	// The 11th and 12th, at 10 s, go at once and are both throttled: neither counts.
	require.NoError(t, b.lim.Wait(context.Background(), 100))
	require.NoError(t, b.lim.Wait(context.Background(), 100))
	require.Equal(t, 10*time.Second, b.clock.elapsed())
	b.lim.OnThrottle()
	b.lim.OnThrottle()
	rpm, tpm = b.lim.Budget()
	require.Equal(t, [2]float64{10, 1000}, [2]float64{rpm, tpm})
	require.True(t, b.lim.Rate().Discovered)
	// The first accepted request (at 0 s) leaves the minute at 60 s (and the skew); then one
	// per 6 s, the pace of both 10 requests/min and 1000 tokens/min at 100 tokens.
	require.Equal(t, []time.Duration{60*time.Second + skew, 66*time.Second + skew, 72*time.Second + skew}, b.waitN(t, 3, 100))

	t.Run("WithoutDiscover", func(t *testing.T) {
		b := setup(t, Config{})
		require.NoError(t, b.lim.Wait(context.Background(), 100))
		b.lim.OnThrottle()
		rpm, tpm := b.lim.Budget()
		require.Zero(t, rpm+tpm)
		require.Equal(t, []time.Duration{0, 0}, b.waitN(t, 2, 100))
	})
}

// TestSlidingMinuteKeepsARequestUnderTheQuota: a provider counting tokens
// over a sliding minute sees the request that opens a minute and the one
// that closes it; pacing one request under the quota keeps every minute
// within it.
func TestSlidingMinuteKeepsARequestUnderTheQuota(t *testing.T) {
	b := setup(t, Config{TokensPerMinute: 6000, SlidingMinute: true})
	// 1000-token requests against 6000 - 1000 tokens/min: one every 12 s, not 10 s.
	at := b.waitN(t, 7, 1000)
	require.Equal(t, 72*time.Second, at[6])
	require.LessOrEqual(t, maxInWindow(at, time.Minute)*1000, 6000)

	t.Run("Plain", func(t *testing.T) {
		b := setup(t, Config{TokensPerMinute: 6000})
		at := b.waitN(t, 7, 1000)
		require.Equal(t, 60*time.Second, at[6])
		require.Equal(t, 7000, maxInWindow(at, time.Minute+time.Nanosecond)*1000, "a minute closed at both ends holds 7")
	})
}

// slidingProvider is a provider with a tokens-per-minute quota counted as
// Bedrock counts it: a request that would take the tokens accepted over
// the sliding minute before it over the quota is throttled and counts
// nothing.
type slidingProvider struct {
	quota    int
	accepted []admission
}

func (p *slidingProvider) admit(at time.Time, tokens int) bool {
	sum := 0
	for _, a := range p.accepted {
		if a.at.After(at.Add(-time.Minute)) {
			sum += a.tokens
		}
	}
	if sum+tokens > p.quota {
		return false
	}
	p.accepted = append(p.accepted, admission{at: at, tokens: tokens})
	return true
}

// TestDiscoverKeepsToTheMinuteAfterABurst: before the first throttle the
// requests go as fast as they come: one, then two, four and six every two
// seconds (slow start up to what the requests in flight allow), until the
// first throttle, which must be the only one. Pacing evenly from when the
// oldest request leaves the minute (the rule before this test) was
// throttled again a minute later, when the burst's first seconds had left
// the minute but its later ones had not; the history holds each next
// request until the burst leaves room for it. The provider sees each
// request 40 ms after Wait let it go.
func TestDiscoverKeepsToTheMinuteAfterABurst(t *testing.T) {
	const quota, size, sendDelay = 100_000, 3000, 40 * time.Millisecond
	b := setup(t, Config{Discover: true, SlidingMinute: true})
	p := &slidingProvider{quota: quota}
	throttles, sent, tokensDone := 0, 0, 0
	send := func() {
		t.Helper()
		require.NoError(t, b.lim.Wait(context.Background(), size))
		sent++
		if p.admit(b.clock.Now().Add(sendDelay), size) {
			tokensDone += size
			b.lim.OnSuccess()
			return
		}
		throttles++
		b.lim.OnThrottle()
	}
	for round := 0; throttles == 0; round++ {
		for range min(1<<round, 6) {
			if send(); throttles > 0 {
				break
			}
		}
		b.clock.advance(2 * time.Second)
	}
	require.True(t, b.lim.Rate().Discovered)
	_, tpm := b.lim.Budget()
	require.LessOrEqual(t, tpm, float64(quota), "the budget found is what the provider accepted")
	for tokensDone < 4*quota {
		send()
	}
	require.Equal(t, 1, throttles, "throttled again after the first (%d requests)", sent)
	// Four minutes of quota in at most 1.15 times four minutes: the burst spent a minute's
	// quota in fifteen seconds, which the rest of that minute then waits out, and the pace
	// after it is even, one request under the quota.
	require.Less(t, b.clock.elapsed(), 4*time.Minute*115/100)
}

// TestDiscoverCountsTheReportedTokens: the budget found is what the provider
// counted, the estimates corrected by Charge both ways; estimates that run
// high (the provider cuts long texts to its window) would find a budget
// above the quota, and be throttled again.
func TestDiscoverCountsTheReportedTokens(t *testing.T) {
	b := setup(t, Config{Discover: true, SlidingMinute: true})
	p := &slidingProvider{quota: 10_000}
	for i := 0; ; i++ {
		require.NoError(t, b.lim.Wait(context.Background(), 1100))
		if !p.admit(b.clock.Now(), 1000) {
			b.lim.OnThrottle()
			break
		}
		b.lim.Charge(-100) // the provider reported 1000
		b.lim.OnSuccess()
		b.clock.advance(time.Second)
	}
	rpm, tpm := b.lim.Budget()
	require.Equal(t, [2]float64{10, 10_000}, [2]float64{rpm, tpm})
}

// TestUnsentIsNotCounted: a request Wait let go but that was never sent (held
// back at the wire after a throttle) leaves the minute's history, and the
// budget found at the throttle.
func TestUnsentIsNotCounted(t *testing.T) {
	b := setup(t, Config{Discover: true, SlidingMinute: true})
	for range 5 {
		require.NoError(t, b.lim.Wait(context.Background(), 100))
	}
	b.lim.OnThrottle() // the fifth
	rpm, tpm := b.lim.Budget()
	require.Equal(t, [2]float64{4, 400}, [2]float64{rpm, tpm})
	b.lim.Unsent(100) // the fourth was held back
	rpm, tpm = b.lim.Budget()
	require.Equal(t, [2]float64{3, 300}, [2]float64{rpm, tpm})
}

// TestRefundsKeptWithTheirRequestCount: estimates that the provider counts
// 10 % higher and 10 % lower by turns (a request's estimate corrected by the
// average reported) keep to the pace of the quota, one request under it,
// and are never throttled. With Charge, whose refunds cannot count in the
// minute's history (their request is not known), the history holds the
// surcharges alone, 5 % more than the provider counted, and from the second
// minute on it holds requests back: ChargeSent keeps each correction at its
// request's time, and the refunds count.
func TestRefundsKeptWithTheirRequestCount(t *testing.T) {
	const quota, estimate, requests = 10_000, 1000, 60
	run := func(charge func(l *Limiter, tokens int)) (time.Duration, int) {
		b := setup(t, Config{TokensPerMinute: quota, SlidingMinute: true})
		p := &slidingProvider{quota: quota}
		throttles := 0
		for i := range requests {
			require.NoError(t, b.lim.Wait(context.Background(), estimate))
			reported := estimate + 100
			if i%2 == 1 {
				reported = estimate - 100
			}
			if !p.admit(b.clock.Now(), reported) {
				throttles++
				continue
			}
			charge(b.lim, reported-estimate)
		}
		return b.clock.elapsed(), throttles
	}
	sent, throttles := run(func(l *Limiter, tokens int) { l.ChargeSent(tokens, 0) })
	require.Zero(t, throttles)
	// 60 requests of 1000 tokens at 9000 tokens/min (the quota less one request): 59 × 6.67 s,
	// and the last surcharge's 0.6 s.
	require.Equal(t, 393933*time.Millisecond, sent.Round(time.Millisecond))
	charged, throttles := run(func(l *Limiter, tokens int) { l.Charge(tokens) })
	require.Zero(t, throttles)
	// 399.4 s: the history, not the pace, held some requests back.
	require.Greater(t, charged, sent+5*time.Second, "with Charge the surcharges alone fill the history")
}

// TestNextReservesNothing: Next says when Wait would let a request go, and
// reserves nothing: the Coalescer asks it before it closes a request less
// than full.
func TestNextReservesNothing(t *testing.T) {
	b := setup(t, Config{RequestsPerMinute: 120, SlidingMinute: true})
	require.Equal(t, epoch, b.lim.Next(0), "a request free now")
	require.NoError(t, b.lim.Wait(context.Background(), 0))
	require.Equal(t, epoch.Add(500*time.Millisecond), b.lim.Next(0))
	require.Equal(t, epoch.Add(500*time.Millisecond), b.lim.Next(0), "asking again moves nothing")
	require.Equal(t, []time.Duration{500 * time.Millisecond}, b.waitN(t, 1, 0))

	unlimited := setup(t, Config{})
	require.Equal(t, epoch, unlimited.lim.Next(1000))
}
