package embed

import (
	"context"
	"math"
	"sync"
	"time"
)

// budgeted is implemented by limiters that know their budget
// (*ratelimit.Limiter): the effective requests and tokens per minute, 0 for a
// budget not set.
type budgeted interface {
	Budget() (requestsPerMinute, tokensPerMinute float64)
}

// charger is implemented by limiters whose token bucket can be corrected
// after the fact by the tokens the provider reported (*ratelimit.Limiter).
type charger interface {
	Charge(tokens int)
}

// sentCharger is implemented by limiters that keep a correction at the time
// its request was sent, ago before now (*ratelimit.Limiter): it then leaves
// the provider's minute with the request.
type sentCharger interface {
	ChargeSent(tokens int, ago time.Duration)
}

// unsender is implemented by limiters that take back a request they let go
// but that was not sent (*ratelimit.Limiter).
type unsender interface {
	Unsent(tokens int)
}

// tokenCounter is implemented by providers whose answers report the input
// tokens the request was billed (Bedrock's X-Amzn-Bedrock-Input-Token-Count);
// tokens is -1 when the answer did not say.
type tokenCounter interface {
	EmbedCounted(ctx context.Context, texts []string) (vecs [][]float32, tokens int, err error)
}

// window bounds the requests a Batcher has in flight, over all its EmbedAll
// calls. The rate budget says how many requests may start per minute; how
// many must be in flight to start that many is the rate times the latency
// (Little's law), and latency runs from tens of milliseconds to seconds, so
// the window follows it:
//
//   - with a known budget, the window is the budget's request rate (the
//     token budget's too, at the tokens requests carry) times the latency
//     measured, with headroom; the limiter paces, the window only keeps the
//     requests waiting on it few, so that a throttle's cut applies to the
//     next requests rather than to a queue reserved at the old pace;
//   - with none, it is found as TCP finds a congestion window: it starts at
//     one, grows by one per accepted request (doubling per round trip) until
//     the first throttle, then by one per round trip, and halves on a
//     throttle, once per round trip (the requests sent before the cut report
//     throttles too and are not counted again). As in TCP it grows only
//     while it is used to the full (RFC 7661): a window that chunks arriving
//     slowly never fill would otherwise grow without bound, and let the
//     requests of many bots go in one burst the moment they arrive; and the
//     requests are paced, one per round trip / window, so that a burst is
//     spread over the round trip. Both matter at the first throttle: every
//     request sent before its answer comes back is throttled too (seen: 23
//     requests in 50 ms, 10 of them throttled, at 800 ms per call).
type window struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced whenever a slot may have become free
	n       int           // requests in flight
	waiting int           // requests waiting for a slot
	pacing  int           // requests holding a slot, waiting for the limiter's go
	seq     uint64        // requests admitted so far

	// Known budget.
	latency    time.Duration // moving average of accepted requests' latency; 0 until one
	tokensReq  float64       // moving average of the tokens a request carries
	ratio      float64       // moving average of reported / estimated tokens, 1 until reported
	budgetSize int           // the window computed from the budget

	// No budget: congestion control.
	cwnd     float64
	ssthresh float64
	cutSeq   uint64    // requests admitted before the last cut: their throttles do not cut again
	filled   uint64    // times the window was used to the full
	nextSend time.Time // when the pace lets the next request go
	// Until the first throttle (see guard).
	throttled  bool          // a throttle has come back
	firstSend  time.Time     // when the first request went
	minLatency time.Duration // the fastest answer so far
	now        func() time.Time
	sleep      func(ctx context.Context, d time.Duration) error

	max int // the most requests in flight at once, for tests and stats
}

// The window's settings.
const (
	// windowHeadroom multiplies rate × latency: latency varies from one
	// request to the next, and a window of exactly the mean would leave the
	// budget unused whenever a slow request holds a slot.
	windowHeadroom = 1.5
	// startLatency is the latency assumed until a request has been
	// accepted: a first window of a second's worth of the budget.
	startLatency = time.Second
	// ewma is the weight of the newest sample in the moving averages.
	ewma = 0.2
	// maxGuard bounds the spacing of requests before the first throttle
	// (see guard), and guardSpan is how long it holds without a throttle.
	maxGuard  = 100 * time.Millisecond
	guardSpan = time.Minute
)

func newWindow() *window {
	return &window{changed: make(chan struct{}), cwnd: 1, ssthresh: math.Inf(1), ratio: 1, now: time.Now, sleep: sleep}
}

// size is the current bound on requests in flight. w.mu must be held.
func (w *window) size(lim Limiter) int {
	if rpm, tpm := budgetOf(lim); rpm > 0 || tpm > 0 {
		w.budgetSize = budgetWindow(rpm, tpm, w.tokensReq*w.ratio, w.latencyOr(startLatency))
		return w.budgetSize
	}
	return max(1, int(w.cwnd))
}

func (w *window) latencyOr(d time.Duration) time.Duration {
	if w.latency > 0 {
		return w.latency
	}
	return d
}

// budgetOf is lim's budget per minute, 0 and 0 when it has none or does not
// say.
func budgetOf(lim Limiter) (rpm, tpm float64) {
	if b, ok := lim.(budgeted); ok {
		return b.Budget()
	}
	return 0, 0
}

// budgetWindow is the requests in flight that use a budget of rpm requests
// and tpm tokens per minute (0: not set) at the given latency, with requests
// of tokensPerRequest tokens: rate × latency with headroom, plus one request
// waiting its turn at the limiter, and at least one.
func budgetWindow(rpm, tpm, tokensPerRequest float64, latency time.Duration) int {
	rate := math.Inf(1) // requests per second
	if rpm > 0 {
		rate = rpm / 60
	}
	if tpm > 0 {
		if tokensPerRequest <= 0 {
			// A token budget with no request's size known yet (see
			// acquire): nothing to divide by, and the request budget may
			// be far looser. One request measures it.
			return 1
		}
		rate = min(rate, tpm/60/tokensPerRequest)
	}
	return max(1, int(math.Ceil(rate*latency.Seconds()*windowHeadroom))+1)
}

// ticket is a request's place in the window.
type ticket struct {
	seq    uint64 // its sequence number
	filled uint64 // window.filled when it was admitted
}

// acquire waits for a slot for a request of tokens estimated tokens, or for
// ctx to end. Without a budget it then waits for the pace too.
func (w *window) acquire(ctx context.Context, lim Limiter, tokens int) (ticket, error) {
	w.mu.Lock()
	if w.tokensReq == 0 && tokens > 0 {
		// Until a request has been accepted, the first one's estimate is the size of a
		// request: a token budget's window opens at once, rather than one request's round
		// trip later (2 s of a 2 M tokens/min budget left unused at 2 s per call).
		w.tokensReq = float64(tokens)
	}
	w.mu.Unlock()
	for {
		w.mu.Lock()
		if size := w.size(lim); w.n < size {
			w.n++
			w.seq++
			w.max = max(w.max, w.n)
			tk := ticket{seq: w.seq, filled: w.filled}
			if w.n == size {
				w.filled++
			}
			var wait time.Duration
			if rpm, tpm := budgetOf(lim); rpm == 0 && tpm == 0 {
				now := w.now()
				if w.firstSend.IsZero() {
					w.firstSend = now
				}
				wait = w.nextSend.Sub(now)
				w.nextSend = later(w.nextSend, now).Add(max(w.latencyOr(startLatency)/time.Duration(size), w.guard(now)))
			}
			w.mu.Unlock()
			if wait > 0 {
				if err := w.sleep(ctx, wait); err != nil {
					w.mu.Lock()
					w.n--
					w.mu.Unlock()
					return ticket{}, context.Cause(ctx)
				}
			}
			return tk, nil
		}
		ch := w.changed
		w.waiting++
		w.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
		w.mu.Lock()
		w.waiting--
		w.mu.Unlock()
		if ctx.Err() != nil {
			return ticket{}, context.Cause(ctx)
		}
	}
}

// guard is the least time between two requests without a budget, before
// the first throttle. A per-minute quota is found by the throttle that
// says it is spent, and every request sent while that throttle comes back
// is throttled too: seen, 3 of 4 requests sent within 25 ms at 50 ms per
// call (the window had grown to 8), and 3 within 280 ms at 2 s per call,
// from a provider slow to answer on a loaded machine. A throttle is
// answered before the model runs, so it comes back no slower than the
// fastest answer: requests spaced by that, up to maxGuard, put at most
// about one on its way. It holds for guardSpan: a minute without a
// throttle shows a quota above what the guard lets go (600 requests/min
// at maxGuard), and the window alone paces from then on, as before. w.mu
// must be held.
func (w *window) guard(now time.Time) time.Duration {
	if w.throttled || now.Sub(w.firstSend) >= guardSpan {
		return 0
	}
	return min(w.minLatency, maxGuard)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// outcome is what became of one request, for the window.
type outcome struct {
	ticket
	accepted  bool
	throttled bool
	rejected  bool          // the provider refused the texts (bad input), after a full round trip
	latency   time.Duration // of an accepted or rejected request
	estimated int           // tokens estimated
	reported  int           // tokens the provider reported; -1 when it did not
}

// release frees the slot of a request and learns from its outcome.
func (w *window) release(o outcome) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n--
	w.learnLocked(o)
	switch {
	case o.accepted && w.filled == o.filled:
		// The window was not used to the full while the request was in
		// flight: the requests were limited by the chunks, not by it, and
		// it has shown nothing about a larger one.
	case o.accepted:
		if w.cwnd < w.ssthresh {
			w.cwnd++
		} else {
			w.cwnd += 1 / w.cwnd
		}
	case o.throttled && o.seq > w.cutSeq:
		w.throttled = true
		w.ssthresh = max(1, w.cwnd/2)
		w.cwnd = w.ssthresh
		w.cutSeq = w.seq
	}
	close(w.changed)
	w.changed = make(chan struct{})
}

// learn takes the latency and the tokens of a request that held no slot
// (Options.Concurrency set): the token estimate is corrected all the same.
func (w *window) learn(o outcome) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.learnLocked(o)
}

func (w *window) learnLocked(o outcome) {
	if o.rejected {
		// No vectors and no tokens to learn from, but a round trip: without it the pace would
		// stay at startLatency per request while bisection looks for a bad text.
		w.latency = average(w.latency, o.latency)
	}
	if !o.accepted {
		return
	}
	w.latency = average(w.latency, o.latency)
	if w.minLatency == 0 || o.latency < w.minLatency {
		w.minLatency = o.latency
	}
	if o.estimated > 0 {
		w.tokensReq = averageF(w.tokensReq, float64(o.estimated))
		if o.reported >= 0 {
			w.ratio = averageF(w.ratio, float64(o.reported)/float64(o.estimated))
		}
	}
}

// estimate is tokens corrected by what the provider has reported so far.
func (w *window) estimate(tokens int) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return int(math.Ceil(float64(tokens) * w.ratio))
}

// busy reports whether requests are waiting for a slot or for the
// limiter: one more request now would only queue behind them.
func (w *window) busy() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.waiting > 0 || w.pacing > 0
}

// paced counts a request in or out of its wait at the limiter.
func (w *window) paced(d int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pacing += d
}

// maxInFlight is the most requests that were in flight at once.
func (w *window) maxInFlight() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.max
}

func average(avg, sample time.Duration) time.Duration {
	if avg == 0 {
		return sample
	}
	return time.Duration(float64(avg)*(1-ewma) + float64(sample)*ewma)
}

func averageF(avg, sample float64) float64 {
	if avg == 0 {
		return sample
	}
	return avg*(1-ewma) + sample*ewma
}
