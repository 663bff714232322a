package embed

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeTimers is the Coalescer's clock, moved by the test. Each timer set is
// announced on armed with its delay, so that the test knows what the
// Coalescer waits for before it moves the clock.
type fakeTimers struct {
	mu     sync.Mutex
	t      time.Time
	timers []*fakeTimer
	armed  chan time.Duration
}

type fakeTimer struct {
	at      time.Time
	c       chan time.Time
	stopped bool
}

func newFakeTimers() *fakeTimers {
	return &fakeTimers{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), armed: make(chan time.Duration, 100)}
}

func (f *fakeTimers) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeTimers) timer(d time.Duration) (<-chan time.Time, func() bool) {
	f.mu.Lock()
	ft := &fakeTimer{at: f.t.Add(d), c: make(chan time.Time, 1)}
	f.timers = append(f.timers, ft)
	f.mu.Unlock()
	f.armed <- d
	return ft.c, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		ft.stopped = true
		return true
	}
}

func (f *fakeTimers) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
	live := f.timers[:0]
	for _, ft := range f.timers {
		switch {
		case ft.stopped:
		case !ft.at.After(f.t):
			ft.c <- f.t
		default:
			live = append(live, ft)
		}
	}
	f.timers = live
}

// waitArmed is the delay of the next timer the Coalescer sets.
func (f *fakeTimers) waitArmed(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-f.armed:
		return d
	case <-t.Context().Done():
		t.Fatal("no timer set")
		return 0
	}
}

// nextLimiter is a request budget whose next free request the test sets.
type nextLimiter struct {
	budgetLimiter
	mu   sync.Mutex
	next time.Time
}

func (l *nextLimiter) Next(int) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next
}

// coalescerOn is a Coalescer over a recording provider, on the test's clock.
func coalescerOn(t *testing.T, lim Limiter, clock *fakeTimers) (*Coalescer, *recordingProvider) {
	p := &recordingProvider{Hash: Hash{dims: 4}}
	c := &Coalescer{b: NewBatcher(p, Options{Limiter: lim}), linger: 200 * time.Millisecond, queue: make(chan *pendingCall),
		now: clock.now, timer: clock.timer}
	go c.run(t.Context())
	return c, p
}

// embedAsync embeds n texts in the background; the returned function waits
// for the answer.
func embedAsync(t *testing.T, c *Coalescer, n int) func() [][]float32 {
	type result struct {
		vecs [][]float32
		err  error
	}
	done := make(chan result, 1)
	go func() {
		vecs, _, err := c.EmbedAll(t.Context(), make([]string, n))
		done <- result{vecs, err}
	}()
	return func() [][]float32 {
		r := <-done
		require.NoError(t, r.err)
		require.Len(t, r.vecs, n)
		return r.vecs
	}
}

// TestCoalescerSplitsCallersIntoFullRequests: a caller's texts are split
// over full requests with the next callers' texts, and what is left of a
// request once a full one has gone waits its own linger. Before, callers
// were gathered whole until their texts made whole requests or the linger
// of the first ran out: with bots coming every 150 ms, 60 + 60 texts went as
// 96 + 24 at the first bot's linger, and the next bot's 72 after it.
func TestCoalescerSplitsCallersIntoFullRequests(t *testing.T) {
	clock := newFakeTimers()
	c, p := coalescerOn(t, nil, clock)
	a := embedAsync(t, c, 60)
	require.Equal(t, 200*time.Millisecond, clock.waitArmed(t), "a linger")
	clock.advance(150 * time.Millisecond)
	b := embedAsync(t, c, 60)
	require.Equal(t, 200*time.Millisecond, clock.waitArmed(t), "96 went; the 24 left wait a linger of their own")
	clock.advance(100 * time.Millisecond) // past the first bot's linger
	cc := embedAsync(t, c, 72)
	a()
	b()
	cc()
	require.Equal(t, []int{96, 96}, p.sizes)
}

// TestCoalescerHoldsAPartialRequestForTheRequestBudget: under a budget of
// 120 requests/min a request less than full waits for one request of the
// budget (500 ms) rather than a linger (200 ms), and for the limiter's next
// free request: it spends a whole request of the budget, and the texts that
// come meanwhile fill it. A token budget does not hold it: the tokens are
// the same in one request or two.
func TestCoalescerHoldsAPartialRequestForTheRequestBudget(t *testing.T) {
	clock := newFakeTimers()
	lim := &nextLimiter{budgetLimiter: budgetLimiter{rpm: 120}, next: clock.now()}
	c, p := coalescerOn(t, lim, clock)
	a := embedAsync(t, c, 11) // the first bot read
	require.Equal(t, 500*time.Millisecond, clock.waitArmed(t), "held one request of the budget")
	clock.advance(200 * time.Millisecond) // a linger: before, the 11 texts went alone here
	b := embedAsync(t, c, 85)             // the next bots
	a()
	b()
	require.Equal(t, []int{96}, p.sizes)

	t.Run("NextFree", func(t *testing.T) {
		clock := newFakeTimers()
		lim := &nextLimiter{budgetLimiter: budgetLimiter{rpm: 120}, next: clock.now().Add(time.Second)}
		c, p := coalescerOn(t, lim, clock)
		a := embedAsync(t, c, 11)
		require.Equal(t, time.Second, clock.waitArmed(t), "held until the limiter has a request free")
		clock.advance(time.Second)
		a()
		require.Equal(t, []int{11}, p.sizes, "then it goes, less than full")
	})
	t.Run("LimiterMovesOn", func(t *testing.T) {
		// The limiter's next free request moved on while the timer ran: the request waits
		// for it; a limiter whose Next is its own now (a free request) lets it go.
		clock := newFakeTimers()
		lim := &nextLimiter{budgetLimiter: budgetLimiter{rpm: 120}, next: clock.now()}
		c, p := coalescerOn(t, lim, clock)
		a := embedAsync(t, c, 11)
		require.Equal(t, 500*time.Millisecond, clock.waitArmed(t))
		lim.mu.Lock()
		lim.next = clock.now().Add(time.Second)
		lim.mu.Unlock()
		clock.advance(500 * time.Millisecond)
		require.Equal(t, 500*time.Millisecond, clock.waitArmed(t), "set again for the limiter's free request")
		clock.advance(500 * time.Millisecond)
		a()
		require.Equal(t, []int{11}, p.sizes)
	})
	t.Run("TokenBudget", func(t *testing.T) {
		clock := newFakeTimers()
		c, p := coalescerOn(t, budgetLimiter{tpm: 2_000_000}, clock)
		a := embedAsync(t, c, 11)
		require.Equal(t, 200*time.Millisecond, clock.waitArmed(t), "a linger")
		clock.advance(200 * time.Millisecond)
		a()
		require.Equal(t, []int{11}, p.sizes)
	})
}

// TestCoalescerStatsAndRejectionsPerCaller: a caller split over requests
// gets its own texts' counts and its own indexes of the texts rejected.
func TestCoalescerStatsAndRejectionsPerCaller(t *testing.T) {
	clock := newFakeTimers()
	p := &poisonProvider{Hash: Hash{dims: 4}, poison: "POISON"}
	c := &Coalescer{b: NewBatcher(p, Options{}), linger: 200 * time.Millisecond, queue: make(chan *pendingCall),
		now: clock.now, timer: clock.timer}
	go c.run(t.Context())
	texts := make([]string, 150)
	texts[120] = "POISON"
	type result struct {
		vecs [][]float32
		st   Stats
		err  error
	}
	done := make(chan result, 1)
	go func() {
		vecs, st, err := c.EmbedAll(t.Context(), texts)
		done <- result{vecs, st, err}
	}()
	clock.waitArmed(t)
	b := embedAsync(t, c, 42)
	r := <-done
	b()
	var ie *InputError
	require.ErrorAs(t, r.err, &ie)
	require.Len(t, ie.Texts, 1)
	require.Equal(t, 120, ie.Texts[0].Index, "the caller's own index, in its second request")
	require.Len(t, r.vecs, 150)
	require.Nil(t, r.vecs[120])
	require.NotNil(t, r.vecs[149])
	require.EqualValues(t, 149, r.st.Texts)
}

// poisonProvider rejects a request holding its poison text.
type poisonProvider struct {
	Hash
	poison string
}

func (p *poisonProvider) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	for _, t := range texts {
		if t == p.poison {
			return nil, &Error{Code: "ValidationException", class: classBadInput, Err: errors.New("a bad text")}
		}
	}
	return p.Hash.Embed(ctx, texts)
}
