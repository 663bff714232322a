package embed

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestBudgetWindow: the requests in flight that a budget needs are rate ×
// latency with headroom, plus one waiting at the limiter; the token budget
// counts at the size of the requests.
func TestBudgetWindow(t *testing.T) {
	for _, c := range []struct {
		rpm, tpm, tokensPerRequest float64
		latency                    time.Duration
		want                       int
	}{
		{rpm: 120, latency: 50 * time.Millisecond, want: 2},                           // 2/s × 0.05 s × 1.5 = 0.15 → 1, +1
		{rpm: 120, latency: 800 * time.Millisecond, want: 4},                          // 2.4 → 3, +1
		{rpm: 120, latency: 2 * time.Second, want: 7},                                 // 6, +1
		{rpm: 120, latency: 3 * time.Second, want: 10},                                // 9, +1
		{tpm: 2_000_000, tokensPerRequest: 20_000, latency: 2 * time.Second, want: 6}, // 1.67/s × 2 s × 1.5 = 5, +1
		{rpm: 120, tpm: 2_000_000, tokensPerRequest: 20_000, latency: 2 * time.Second, want: 6},
		{rpm: 6000, tpm: 2_000_000, tokensPerRequest: 20_000, latency: 2 * time.Second, want: 6}, // tokens bind
		{tpm: 2_000_000, latency: 2 * time.Second, want: 1},                                      // nothing sent yet
	} {
		t.Run(fmt.Sprintf("%v/%v/%v", c.rpm, c.tpm, c.latency), func(t *testing.T) {
			require.Equal(t, c.want, budgetWindow(c.rpm, c.tpm, c.tokensPerRequest, c.latency))
		})
	}
}

// TestWindowWithoutBudget: with no budget known, the window starts at one,
// doubles per round trip until a throttle, halves on it once per round trip
// (the throttles of requests sent before the cut do not cut again), then
// grows by one per round trip.
func TestWindowWithoutBudget(t *testing.T) {
	w := newWindow()
	w.sleep = func(context.Context, time.Duration) error { return nil } // the pace is TestWindowPaces's
	ctx := t.Context()
	var lim Limiter // none
	round := func(ok bool) []ticket {
		n := w.size(lim)
		tks := make([]ticket, n)
		for i := range n {
			tk, err := w.acquire(ctx, lim, 0)
			require.NoError(t, err)
			tks[i] = tk
		}
		for _, tk := range tks {
			w.release(outcome{ticket: tk, accepted: ok, throttled: !ok, latency: time.Second})
		}
		return tks
	}
	var sizes []int
	for range 4 {
		round(true)
		sizes = append(sizes, w.size(lim))
	}
	require.Equal(t, []int{2, 4, 8, 16}, sizes, "slow start doubles per round trip")
	round(false) // 16 throttles in one round trip: one cut
	require.Equal(t, 8, w.size(lim))
	sizes = nil
	for range 3 {
		round(true)
		sizes = append(sizes, w.size(lim))
	}
	// 1/cwnd per answer adds a little under one per round trip (8 + 1/8 + 1/8.125 + …).
	require.Equal(t, []int{8, 9, 10}, sizes, "after a throttle, about one more per round trip")
	require.Equal(t, 16, w.maxInFlight())
}

// TestWindowGrowsOnlyWhenFull: requests that come one at a time (the
// chunks, not the window, limit them) do not grow the window, so that it
// cannot let a burst go when many come at once; a window used to the full
// grows.
func TestWindowGrowsOnlyWhenFull(t *testing.T) {
	w := newWindow()
	w.sleep = func(context.Context, time.Duration) error { return nil }
	var lim Limiter
	one := func() {
		tk, err := w.acquire(t.Context(), lim, 0)
		require.NoError(t, err)
		w.release(outcome{ticket: tk, accepted: true, latency: time.Second})
	}
	one() // fills the window of one
	require.Equal(t, 2, w.size(lim))
	for range 20 {
		one() // one of two: not full
	}
	require.Equal(t, 2, w.size(lim), "20 requests one at a time grew the window")
	a, err := w.acquire(t.Context(), lim, 0)
	require.NoError(t, err)
	b, err := w.acquire(t.Context(), lim, 0) // full
	require.NoError(t, err)
	w.release(outcome{ticket: a, accepted: true, latency: time.Second})
	w.release(outcome{ticket: b, accepted: true, latency: time.Second})
	require.Equal(t, 4, w.size(lim))
}

// TestWindowPaces: without a budget, the requests a window lets go at once
// are spread over the round trip, one per latency / window, rather than
// sent in one burst; with a budget the limiter paces, and the window does
// not. The clock is the test's.
func TestWindowPaces(t *testing.T) {
	clock := &fakeNow{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	w := newWindow()
	w.now = clock.now
	var waits []time.Duration
	w.sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	var lim Limiter
	// Two round trips of 800 ms, each filling the window: a window of four.
	for range 2 {
		var tks []ticket
		for range w.size(lim) {
			tk, err := w.acquire(t.Context(), lim, 0)
			require.NoError(t, err)
			tks = append(tks, tk)
		}
		clock.advance(time.Minute) // the pace of this round trip is over
		for _, tk := range tks {
			w.release(outcome{ticket: tk, accepted: true, latency: 800 * time.Millisecond})
		}
	}
	require.Equal(t, 4, w.size(lim))
	waits = nil
	for range 4 {
		_, err := w.acquire(t.Context(), lim, 0)
		require.NoError(t, err)
	}
	require.Equal(t, []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 600 * time.Millisecond}, waits,
		"the first goes at once, then one per 800 ms / 4")

	t.Run("Budget", func(t *testing.T) {
		w := newWindow()
		w.now = clock.now
		w.sleep = func(context.Context, time.Duration) error { t.Fatal("the window paced under a budget"); return nil }
		lim := budgetLimiter{rpm: 6000}
		for range w.size(lim) {
			_, err := w.acquire(t.Context(), lim, 0)
			require.NoError(t, err)
		}
	})
}

// budgetLimiter is a Limiter with a known budget that never makes anyone
// wait: the window alone is under test.
type budgetLimiter struct{ rpm, tpm float64 }

func (budgetLimiter) Wait(context.Context, int) error { return nil }
func (budgetLimiter) OnThrottle()                     {}
func (budgetLimiter) OnSuccess()                      {}
func (l budgetLimiter) Budget() (rpm, tpm float64)    { return l.rpm, l.tpm }

// heldProvider holds every call until the test releases it, and counts the
// calls in progress.
type heldProvider struct {
	Hash
	arrived chan chan struct{}

	mu          sync.Mutex
	inFlight    int
	maxInFlight int
}

func (p *heldProvider) MaxBatch() int { return 1 }

func (p *heldProvider) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	p.mu.Lock()
	p.inFlight++
	p.maxInFlight = max(p.maxInFlight, p.inFlight)
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.inFlight--
		p.mu.Unlock()
	}()
	release := make(chan struct{})
	select {
	case p.arrived <- release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case <-release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return p.Hash.Embed(ctx, texts)
}

// fakeNow is a clock the test moves by hand.
type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeNow) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeNow) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestInFlightFollowsLatency: with a budget of 120 requests/min, the
// requests in flight are those Little's law asks for at the latency
// measured: 2 s answers let 7 go at once (2/s × 2 s, with headroom and one
// waiting), 50 ms answers 2. Latency is measured on a fake clock and every
// answer is released by the test, so no timing is involved: a window too
// small would leave a round short (the test would hang until its deadline),
// one too large shows in the provider's count of calls in progress.
func TestInFlightFollowsLatency(t *testing.T) {
	// Texts of 1000 estimated tokens each, one per request: 60,000 tokens/min is a request a second.
	text := strings.Repeat("abcd ", 1000)
	require.Equal(t, 1000, EstimateTokens(text))
	for _, c := range []struct {
		lim     budgetLimiter
		latency time.Duration
		first   int // in flight before any answer
		want    int // in flight once the latency is measured
	}{
		// Until a request has been answered the latency is taken to be a second: 2/s × 1 s ×
		// 1.5 = 3, +1.
		{budgetLimiter{rpm: 120}, 2 * time.Second, 4, 7},
		{budgetLimiter{rpm: 120}, 800 * time.Millisecond, 4, 4},
		{budgetLimiter{rpm: 120}, 50 * time.Millisecond, 4, 2},
		// A token budget needs a request's size: the first request's estimate gives it, so
		// the window opens before any answer (1/s × 1 s × 1.5 = 2, +1), not one round trip
		// later.
		{budgetLimiter{tpm: 60_000}, 2 * time.Second, 3, 4}, // 1/s × 2 s × 1.5 = 3, +1
		{budgetLimiter{tpm: 60_000}, 50 * time.Millisecond, 3, 2},
		{budgetLimiter{rpm: 6000, tpm: 60_000}, 2 * time.Second, 3, 4}, // the tighter budget rules
	} {
		t.Run(fmt.Sprintf("%v/%v/%v", c.lim.rpm, c.lim.tpm, c.latency), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // a deadlock guard, not a measurement
			defer cancel()
			p := &heldProvider{Hash: Hash{dims: 4}, arrived: make(chan chan struct{})}
			b := NewBatcher(p, Options{Limiter: c.lim})
			clock := &fakeNow{t: time.Unix(0, 0)}
			b.now = clock.now
			const texts = 60
			done := make(chan error, 1)
			go func() {
				in := make([]string, texts)
				for i := range in {
					in[i] = text
				}
				_, _, err := b.EmbedAll(ctx, in)
				done <- err
			}()
			started, rounds := 0, 0
			want := c.first
			for started < texts {
				n := min(want, texts-started)
				gates := make([]chan struct{}, n)
				for i := range gates {
					select {
					case gates[i] = <-p.arrived:
					case <-ctx.Done():
						t.Fatalf("round %d: %d of %d requests in flight", rounds, i, n)
					}
				}
				started += n
				rounds++
				if rounds == 1 {
					p.mu.Lock()
					p.maxInFlight = 0 // the rounds to come are at the latency measured
					p.mu.Unlock()
				}
				clock.advance(c.latency)
				for _, g := range gates {
					close(g)
				}
				want = c.want
			}
			require.NoError(t, <-done)
			require.Equal(t, c.want, p.maxInFlight)
		})
	}
}

// countingProvider reports twice the tokens EstimateTokens gives, as a
// tokenizer that splits finer would.
type countingProvider struct{ Hash }

func (p *countingProvider) EmbedCounted(ctx context.Context, texts []string) ([][]float32, int, error) {
	vecs, err := p.Hash.Embed(ctx, texts)
	n := 0
	for _, t := range texts {
		n += 2 * EstimateTokens(t)
	}
	return vecs, n, err
}

// chargeLimiter records what it is charged.
type chargeLimiter struct {
	budgetLimiter
	mu      sync.Mutex
	waits   []int
	charges []int
}

func (l *chargeLimiter) Wait(_ context.Context, tokens int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.waits = append(l.waits, tokens)
	return nil
}

func (l *chargeLimiter) Charge(tokens int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.charges = append(l.charges, tokens)
}

// TestReportedTokensCorrectTheBudget: the tokens the provider reports charge
// the limiter the difference at once, and raise the estimate of the next
// requests, so that text the estimator undercounts (dense CJK, a finer
// tokenizer) is not throttled where the estimate alone would be.
func TestReportedTokensCorrectTheBudget(t *testing.T) {
	lim := &chargeLimiter{budgetLimiter: budgetLimiter{tpm: 1_000_000}}
	b := NewBatcher(&countingProvider{Hash: Hash{dims: 4}}, Options{Limiter: lim, Concurrency: 1, MaxBatch: 1})
	_, _, err := b.EmbedAll(t.Context(), []string{"abcd abcd", "abcd abcd", "abcd abcd"}) // 2 tokens each, reported 4
	require.NoError(t, err)
	// The first request is charged the estimate, then the 2 missing; the next ones are charged
	// more each time (the moving average of reported / estimated: 1.2, then 1.36), and the rest.
	require.Equal(t, []int{2, 3, 3}, lim.waits)
	require.Equal(t, []int{2, 1, 1}, lim.charges)
}

// recordingProvider records the size of every request.
type recordingProvider struct {
	Hash
	mu    sync.Mutex
	sizes []int
}

func (p *recordingProvider) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	p.mu.Lock()
	p.sizes = append(p.sizes, len(texts))
	p.mu.Unlock()
	return p.Hash.Embed(ctx, texts)
}

// TestCoalescerWaitsForAFullRequestWhileTheBudgetBinds: while requests wait
// for the window or the limiter, a request less than full keeps gathering
// past its linger, since it could only queue behind them; the next caller's
// chunks fill it, and the budget pays for one request instead of two.
func TestCoalescerWaitsForAFullRequestWhileTheBudgetBinds(t *testing.T) {
	p := &recordingProvider{Hash: Hash{dims: 4}}
	b := NewBatcher(p, Options{})
	b.win.paced(1) // a request waits at the limiter
	c := NewCoalescer(t.Context(), b, time.Millisecond)
	text := func(n int) []string { return make([]string, n) }
	var wg sync.WaitGroup
	var errA error
	wg.Go(func() { _, _, errA = c.EmbedAll(t.Context(), text(50)) })
	// Not synchronisation: the gap, twenty lingers long, is what is tested; without the rule the
	// 50 texts would go out alone in it.
	time.Sleep(20 * time.Millisecond)
	_, _, err := c.EmbedAll(t.Context(), text(46))
	require.NoError(t, err)
	wg.Wait()
	require.NoError(t, errA)
	require.Equal(t, []int{96}, p.sizes)

	t.Run("IdleBudget", func(t *testing.T) {
		// Nothing waits: a partial request goes at its linger, as before.
		p := &recordingProvider{Hash: Hash{dims: 4}}
		c := NewCoalescer(t.Context(), NewBatcher(p, Options{}), time.Millisecond)
		_, _, err := c.EmbedAll(t.Context(), text(50))
		require.NoError(t, err)
		require.Equal(t, []int{50}, p.sizes)
	})
}

// TestRejectedRequestsMeasureTheRoundTrip: a refusal of the texts (bisection's answers) is a
// round trip like an acceptance, so the no-budget pace follows it instead of staying at
// startLatency per request.
func TestRejectedRequestsMeasureTheRoundTrip(t *testing.T) {
	w := newWindow()
	require.Equal(t, startLatency, w.latencyOr(startLatency))
	w.release(outcome{rejected: true, latency: 20 * time.Millisecond})
	require.Equal(t, 20*time.Millisecond, w.latencyOr(startLatency))
	w.release(outcome{throttled: true, latency: time.Millisecond})
	require.Equal(t, 20*time.Millisecond, w.latencyOr(startLatency), "a throttle answers at once: no round trip to learn")
}

// TestWindowGuardsTheFirstThrottle: with no budget known, until the first
// throttle the requests are spaced by the fastest answer seen (50 ms
// here), not by the round trip over the window (50 ms / 8): every request
// sent while the first throttle comes back is throttled too, and a
// throttle comes back no slower than the fastest answer. After a throttle,
// or a minute without one, the window alone paces. The clock is the
// test's.
func TestWindowGuardsTheFirstThrottle(t *testing.T) {
	const latency = 50 * time.Millisecond
	var lim Limiter // none
	grown := func(t *testing.T) (*window, *fakeNow, *[]time.Duration) {
		clock := &fakeNow{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		w := newWindow()
		w.now = clock.now
		waits := new([]time.Duration)
		w.sleep = func(_ context.Context, d time.Duration) error { *waits = append(*waits, d); return nil }
		// Three round trips used to the full: a window of eight.
		for range 3 {
			var tks []ticket
			for range w.size(lim) {
				tk, err := w.acquire(t.Context(), lim, 0)
				require.NoError(t, err)
				tks = append(tks, tk)
			}
			clock.advance(time.Second) // the pace of this round trip is over
			for _, tk := range tks {
				w.release(outcome{ticket: tk, accepted: true, latency: latency})
			}
		}
		require.Equal(t, 8, w.size(lim))
		*waits = nil
		return w, clock, waits
	}
	four := func(t *testing.T, w *window) {
		for range 4 {
			_, err := w.acquire(t.Context(), lim, 0)
			require.NoError(t, err)
		}
	}
	w, clock, waits := grown(t)
	four(t, w)
	require.Equal(t, []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 150 * time.Millisecond}, *waits,
		"one per fastest answer, not one per 6.25 ms")

	t.Run("AfterAThrottle", func(t *testing.T) {
		w, clock, waits := grown(t)
		tk, err := w.acquire(t.Context(), lim, 0)
		require.NoError(t, err)
		clock.advance(time.Second)
		w.release(outcome{ticket: tk, throttled: true})
		*waits = nil
		four(t, w) // the window is 4 now, and paces one per 50 ms / 4
		require.Equal(t, []time.Duration{12500 * time.Microsecond, 25 * time.Millisecond, 37500 * time.Microsecond}, *waits)
	})
	t.Run("AfterAMinute", func(t *testing.T) {
		clock.advance(time.Minute)
		*waits = nil
		four(t, w)
		require.Equal(t, []time.Duration{6250 * time.Microsecond, 12500 * time.Microsecond, 18750 * time.Microsecond}, *waits)
	})
}
