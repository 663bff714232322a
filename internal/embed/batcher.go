package embed

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Limiter is the rate budget: it paces provider requests. *ratelimit.Limiter,
// the in-process budget, implements it, one shared by every worker of a run; a
// budget shared between processes (workers of one run on several hosts) plugs
// in by implementing these three methods, without touching the Batcher.
type Limiter interface {
	// Wait blocks until one request carrying tokens estimated input tokens
	// may be sent, or ctx is done.
	Wait(ctx context.Context, tokens int) error
	// OnThrottle reports a throttled request; OnSuccess an accepted one.
	OnThrottle()
	OnSuccess()
}

// Options configure a Batcher. The zero value is usable.
type Options struct {
	// Limiter is shared by all workers; nil means no pacing.
	Limiter Limiter
	// Truncate overrides the provider's truncation for the character guard:
	// with NONE a text over the provider's MaxChars fails the call before
	// anything is sent, with END (START) its first (last) MaxChars code
	// points are sent. Empty follows the provider (Cohere's
	// CohereOptions.Truncate), or NONE.
	Truncate Truncate
	// MaxBatch caps texts per request below the provider's MaxBatch.
	MaxBatch int
	// MaxTokensPerRequest caps the estimated tokens of one request; 0 means
	// no cap. A single text over the cap is sent alone.
	MaxTokensPerRequest int
	// MaxAttempts per request, including the first. Default 10.
	MaxAttempts int
	// BackoffBase and BackoffMax bound the full-jitter exponential backoff
	// between attempts: attempt n sleeps uniformly in
	// [0, min(BackoffMax, BackoffBase·2^(n-1))). Defaults 250ms and 20s.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// RequestTimeout bounds one provider call; a call that runs out is
	// retried like any transient failure. Default DefaultRequestTimeout.
	RequestTimeout time.Duration
	// ProviderTimeout is how long the provider may go without accepting a
	// single request, while requests are being tried, before the Batcher
	// gives up for good with a *FatalError naming the endpoint: a provider
	// that answers nothing (or only errors worth retrying) stops the run
	// within this bound instead of retrying for ever. Default
	// DefaultProviderTimeout.
	ProviderTimeout time.Duration
	// Concurrency, when set, is the number of requests one EmbedAll call
	// keeps in flight, whatever the latency and the budget. The default, 0,
	// adapts the requests in flight over all calls to the latency: as many
	// as the Limiter's budget needs at the latency measured (rate ×
	// latency), or, with no budget known, as many as the provider accepts
	// without throttling (see window).
	Concurrency int
	// MaxRejected is how many texts one EmbedAll call may find rejected by
	// bisection, with none accepted, before it concludes the error is not
	// about the texts (a wrong model id answers ValidationException too) and
	// stops. Default 16.
	MaxRejected int
	// Logger receives retries and bisections at debug level: counts,
	// indexes and error codes, never text. Nil discards.
	Logger *slog.Logger
}

// The Options defaults for bounding waits.
const (
	DefaultRequestTimeout  = time.Minute
	DefaultProviderTimeout = 5 * time.Minute
)

// Stats count what a Batcher did.
type Stats struct {
	Requests  int64 // provider calls, whatever their outcome
	Texts     int64 // texts embedded
	Throttles int64 // throttled calls
	Retries   int64 // calls repeated after a retryable error
	// Tokens are the estimated input tokens (see EstimateTokens) of the
	// texts embedded, once each: what the provider bills. Requests that
	// were rejected, failed or timed out, and the attempts before a retry,
	// count nothing.
	Tokens int64
	// ReportedTokens are the input tokens the provider reported for the
	// accepted requests whose answer said (Bedrock's
	// X-Amzn-Bedrock-Input-Token-Count): what it bills, where Tokens is the
	// estimate. UnreportedTokens are the estimated tokens of the accepted
	// requests whose answer did not say. Billed is their sum.
	ReportedTokens   int64
	UnreportedTokens int64
	Truncated        int64 // texts cut to the provider's MaxChars before sending
	Rejected         int64 // texts the provider refused, isolated by bisection
}

// Billed is the input tokens the provider bills for the accepted requests:
// what it reported, and the estimate where it did not say.
func (s Stats) Billed() int64 { return s.ReportedTokens + s.UnreportedTokens }

// counter names one of the Stats counters.
type counter int

const (
	cRequests counter = iota
	cTexts
	cThrottles
	cRetries
	cTokens
	cTruncated
	cRejected
	cReported
	cUnreported
	nCounters
)

// counters are Stats updated concurrently.
type counters [nCounters]atomic.Int64

func (c *counters) snapshot() Stats {
	return Stats{
		Requests: c[cRequests].Load(), Texts: c[cTexts].Load(), Throttles: c[cThrottles].Load(),
		Retries: c[cRetries].Load(), Tokens: c[cTokens].Load(), Truncated: c[cTruncated].Load(),
		Rejected: c[cRejected].Load(), ReportedTokens: c[cReported].Load(), UnreportedTokens: c[cUnreported].Load(),
	}
}

// Batcher embeds any number of texts through a Provider: full batches, the
// character guard, the shared limiter, retries and bisection. It is safe for
// concurrent use; workers embedding different bots share one Batcher (or one
// Limiter) so that the run as a whole keeps to the budget.
type Batcher struct {
	p        Provider
	o        Options
	maxBatch int
	truncate Truncate
	total    counters
	win      *window          // requests in flight, when Options.Concurrency is 0
	now      func() time.Time // measures latency; a test's fake clock

	// life ends, with the *FatalError as its cause, when a fatal provider
	// condition stops the Batcher; every call in progress ends with it.
	life  context.Context
	kill  context.CancelCauseFunc
	fatal atomic.Pointer[FatalError]
	// failingSince is when the first attempt failing transiently since the
	// last accepted request began (Unix nanoseconds), 0 while requests
	// succeed: the start of a stall.
	failingSince  atomic.Int64
	lastFailure   atomic.Pointer[error] // the latest transient failure, named by a stall
	lastFailureAt atomic.Int64          // when it came (Unix nanoseconds)
	// throttled counts the throttles answered: a request the limiter let go
	// before one of them is held back at the wire (see withGate).
	throttled atomic.Int64
}

// NewBatcher returns a Batcher for p.
func NewBatcher(p Provider, o Options) *Batcher {
	o.MaxAttempts = cmp.Or(o.MaxAttempts, 10)
	o.BackoffBase = cmp.Or(o.BackoffBase, 250*time.Millisecond)
	o.BackoffMax = cmp.Or(o.BackoffMax, 20*time.Second)
	o.RequestTimeout = cmp.Or(o.RequestTimeout, DefaultRequestTimeout)
	o.ProviderTimeout = cmp.Or(o.ProviderTimeout, DefaultProviderTimeout)
	o.Concurrency = max(o.Concurrency, 0)
	o.MaxRejected = cmp.Or(o.MaxRejected, 16)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Batcher{p: p, o: o, maxBatch: max(p.MaxBatch(), 1), truncate: o.Truncate, win: newWindow(), now: time.Now}
	b.life, b.kill = context.WithCancelCause(context.Background())
	if o.MaxBatch > 0 {
		b.maxBatch = min(b.maxBatch, o.MaxBatch)
	}
	if b.truncate == "" {
		if t, ok := p.(truncator); ok {
			b.truncate = t.Truncation()
		}
	}
	b.truncate = cmp.Or(b.truncate, TruncateNone)
	return b
}

// Provider returns the provider the Batcher sends to.
func (b *Batcher) Provider() Provider { return b.p }

// Stats returns the counters over all EmbedAll calls so far, including the
// calls in progress, for progress output.
func (b *Batcher) Stats() Stats { return b.total.snapshot() }

// Err returns the *FatalError that stopped the Batcher, or nil while it
// works.
func (b *Batcher) Err() error {
	if fe := b.fatal.Load(); fe != nil {
		return fe
	}
	return nil
}

// stop makes fe the Batcher's final error, unless another one already is,
// ends every call in progress with it, and returns the final error.
func (b *Batcher) stop(fe *FatalError) error {
	if b.fatal.CompareAndSwap(nil, fe) {
		b.kill(fe)
	}
	return b.fatal.Load()
}

// call is the state of one EmbedAll call.
type call struct {
	texts  []string    // after truncation
	tokens []int       // estimated tokens per text
	out    [][]float32 // by text index
	stats  counters    // this call's
	total  *counters   // the Batcher's

	mu  sync.Mutex
	bad []BadText
}

// count adds n to a counter of the call and of the Batcher.
func (c *call) count(k counter, n int64) {
	c.stats[k].Add(n)
	c.total[k].Add(n)
}

// classified is the behaviour the Batcher asks of provider errors.
type classified interface {
	Retryable() bool
	Throttle() bool
	BadInput() bool
}

// EmbedAll embeds texts and returns their vectors in order, with the
// statistics of this call.
//
// Texts over the provider's character limit fail the call before anything
// is sent, with an *InputError naming every one of them, unless truncation
// is configured. Texts the provider rejects (ValidationException, or a
// ModelErrorException that persists) are isolated by bisecting their batch;
// the call then returns all the other vectors, nil in the rejected places,
// and an *InputError naming the rejected texts. Any other failure (retries
// exhausted, ctx done) stops the call and returns no vectors.
//
// A fatal provider condition (access denied, credentials or model rejected,
// no request accepted for ProviderTimeout) stops the Batcher: this call, the
// calls in progress and every later call return the same *FatalError, which
// wraps ErrProviderFatal, and no further request is sent.
func (b *Batcher) EmbedAll(ctx context.Context, texts []string) ([][]float32, Stats, error) {
	if err := b.Err(); err != nil {
		return nil, Stats{}, err
	}
	c := &call{texts: texts, tokens: make([]int, len(texts)), out: make([][]float32, len(texts)), total: &b.total}
	if err := b.guard(c); err != nil {
		return nil, c.stats.snapshot(), err
	}
	batches := b.pack(c)

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// A fatal error met by any call ends this one too, in-flight requests
	// and limiter waits included.
	stopWatch := context.AfterFunc(b.life, func() { cancel(context.Cause(b.life)) })
	defer stopWatch()
	jobs := make(chan []int)
	var wg sync.WaitGroup
	workers := len(batches) // the window bounds what is in flight
	if b.o.Concurrency > 0 {
		workers = min(b.o.Concurrency, len(batches))
	}
	for range workers {
		wg.Go(func() {
			for idx := range jobs {
				if err := b.embedBatch(ctx, c, idx); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for _, idx := range batches {
		select {
		case jobs <- idx:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()

	st := c.stats.snapshot()
	if err := context.Cause(ctx); err != nil {
		return nil, st, err
	}
	if len(c.bad) > 0 {
		slices.SortFunc(c.bad, func(x, y BadText) int { return x.Index - y.Index })
		return c.out, st, &InputError{Texts: c.bad}
	}
	return c.out, st, nil
}

// guard applies the character limit before anything is sent: cut the texts
// over it, or name them all in an *InputError.
func (b *Batcher) guard(c *call) error {
	limit := b.p.MaxChars()
	var bad []BadText
	cloned := false
	for i, t := range c.texts {
		if limit > 0 {
			if n := utf8.RuneCountInString(t); n > limit {
				if b.truncate == TruncateNone {
					bad = append(bad, BadText{Index: i, Prefix: prefix(t),
						Err: fmt.Errorf("%w: %d characters, %s allows %d (see --truncate)", ErrTooLong, n, b.p.Model(), limit)})
					continue
				}
				if !cloned {
					// Never write into the caller's slice.
					c.texts, cloned = slices.Clone(c.texts), true
				}
				c.texts[i] = cut(t, limit, b.truncate)
				c.count(cTruncated, 1)
			}
		}
		c.tokens[i] = EstimateTokens(c.texts[i])
	}
	if len(bad) > 0 {
		return &InputError{Texts: bad}
	}
	return nil
}

// tokens estimates the tokens text is sent as, after the guard's cut.
func (b *Batcher) tokens(text string) int {
	if limit := b.p.MaxChars(); limit > 0 && b.truncate != TruncateNone {
		text = cut(text, limit, b.truncate)
	}
	return EstimateTokens(text)
}

// pack groups the text indexes into batches of at most maxBatch texts and,
// when capped, MaxTokensPerRequest estimated tokens, in order.
func (b *Batcher) pack(c *call) [][]int {
	var batches [][]int
	var cur []int
	curTokens := 0
	for i := range c.texts {
		capped := b.o.MaxTokensPerRequest > 0 && len(cur) > 0 && curTokens+c.tokens[i] > b.o.MaxTokensPerRequest
		if len(cur) == b.maxBatch || capped {
			batches = append(batches, cur)
			cur, curTokens = nil, 0
		}
		cur = append(cur, i)
		curTokens += c.tokens[i]
	}
	if len(cur) > 0 {
		batches = append(batches, cur)
	}
	return batches
}

// embedBatch embeds the texts at idx, bisecting on bad input. It returns an
// error only for failures that must stop the call.
func (b *Batcher) embedBatch(ctx context.Context, c *call, idx []int) error {
	vecs, reported, err := b.send(ctx, c, idx)
	if err == nil {
		tokens := 0
		for k, i := range idx {
			c.out[i] = vecs[k]
			tokens += c.tokens[i]
		}
		c.count(cTexts, int64(len(idx)))
		// Counted once the texts have their vectors: the provider bills
		// accepted requests only.
		c.count(cTokens, int64(tokens))
		if reported >= 0 {
			c.count(cReported, int64(reported))
		} else {
			c.count(cUnreported, int64(tokens))
		}
		return nil
	}
	var ce classified
	if !errors.As(err, &ce) || !ce.BadInput() || ctx.Err() != nil {
		return err
	}
	if len(idx) > 1 {
		// Split and send both halves: the failed request embedded nothing,
		// so no text is embedded twice, and each half that succeeds is done.
		b.o.Logger.DebugContext(ctx, "embed batch rejected, bisecting",
			slog.String("model", b.p.Model()), slog.Int("first_index", idx[0]), slog.Int("texts", len(idx)))
		mid := len(idx) / 2
		if err := b.embedBatch(ctx, c, idx[:mid]); err != nil {
			return err
		}
		return b.embedBatch(ctx, c, idx[mid:])
	}
	i := idx[0]
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bad = append(c.bad, BadText{Index: i, Prefix: prefix(c.texts[i]), Err: err})
	c.count(cRejected, 1)
	// A systemic error (a wrong model id also answers ValidationException) rejects every text;
	// rejections beside accepted texts are about those texts, however many there are.
	if len(c.bad) > b.o.MaxRejected && c.stats[cTexts].Load() == 0 {
		return fmt.Errorf("more than %d texts rejected one by one and none accepted, so the error is probably not about the texts: %w",
			b.o.MaxRejected, err)
	}
	return nil
}

// send makes one request for the texts at idx, retrying retryable errors
// with full-jitter exponential backoff. Every attempt waits on the limiter
// and reports its outcome to it. It returns the vectors and the input tokens
// the provider reported for the accepted attempt, or -1.
func (b *Batcher) send(ctx context.Context, c *call, idx []int) ([][]float32, int, error) {
	texts := make([]string, len(idx))
	tokens := 0
	for k, i := range idx {
		texts[k] = c.texts[i]
		tokens += c.tokens[i]
	}
	heldBack := false
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			// Another batch failed the call, a fatal error stopped the
			// Batcher, or the caller gave up.
			return nil, -1, context.Cause(ctx)
		}
		if err := b.Err(); err != nil {
			return nil, -1, err
		}
		slot := outcome{estimated: tokens, reported: -1}
		if b.o.Concurrency == 0 {
			tk, err := b.win.acquire(ctx, b.o.Limiter, tokens)
			if err != nil {
				return nil, -1, context.Cause(ctx)
			}
			slot.ticket = tk
		}
		charged := tokens
		if b.o.Limiter != nil {
			// The estimate, corrected by what the provider has reported.
			charged = b.win.estimate(tokens)
			b.win.paced(1)
			err := b.o.Limiter.Wait(ctx, charged)
			b.win.paced(-1)
			if err != nil {
				b.releaseSlot(slot)
				if ctx.Err() != nil {
					return nil, -1, context.Cause(ctx)
				}
				return nil, -1, fmt.Errorf("wait for the rate limiter: %w", err)
			}
		}
		// The provider throttles every request that reaches it while its quota
		// is spent, and a throttle is answered at once: a request let go
		// before one came back, and not yet sent, would be throttled too (a
		// request is signed and written some milliseconds after the limiter
		// let it go). It goes back to the limiter instead, which knows the
		// throttle; once per request, so that throttles answered without end
		// cannot hold it for ever.
		gated := b.throttled.Load()
		start := time.Now()
		sent := b.now()
		timeout := b.o.RequestTimeout
		if since := b.failingSince.Load(); since != 0 &&
			start.Sub(time.Unix(0, b.lastFailureAt.Load())) > b.o.RequestTimeout+b.o.BackoffMax {
			// Nothing was tried for longer than a retry ever waits (the
			// calls gave up, and the next one comes later): that stall is
			// over, unobserved, and this attempt is the first of any next.
			b.failingSince.CompareAndSwap(since, 0)
		}
		if since := b.failingSince.Load(); since != 0 {
			// In a stall, no attempt outlasts it: the stall ends on time
			// even when every request hangs.
			left := time.Duration(since + int64(b.o.ProviderTimeout) - start.UnixNano())
			if left <= 0 {
				b.releaseSlot(slot)
				return nil, -1, b.stall()
			}
			timeout = min(timeout, left)
		}
		rctx, cancel := context.WithTimeout(ctx, timeout)
		if !heldBack {
			rctx = withGate(rctx, func() bool { return b.throttled.Load() == gated })
		}
		vecs, reported, err := b.embed(rctx, texts)
		if errors.Is(err, errHeldBack) {
			cancel()
			heldBack = true
			attempt--
			b.releaseSlot(slot)
			if u, ok := b.o.Limiter.(unsender); ok {
				u.Unsent(charged)
			}
			continue
		}
		slot.latency, slot.reported = b.now().Sub(sent), reported
		if err == nil && reported >= 0 {
			if ch, ok := b.o.Limiter.(sentCharger); ok {
				ch.ChargeSent(reported-charged, slot.latency)
			} else if ch, ok := b.o.Limiter.(charger); ok {
				ch.Charge(reported - charged)
			}
		}
		// cutShort: the attempt had only what was left of the stall window, and used it up. It
		// says nothing new about the provider, so it does not replace the failure a stall names.
		cutShort := false
		if err != nil && rctx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
			bound := "--request-timeout"
			if timeout < b.o.RequestTimeout {
				bound, cutShort = "what was left of --provider-timeout", true
			}
			err = fmt.Errorf("no answer within %s (%s): %w", timeout.Round(time.Millisecond), bound, err)
		}
		cancel()
		c.count(cRequests, 1)
		if err == nil {
			slot.accepted = true
			b.releaseSlot(slot)
			b.failingSince.Store(0)
			if b.o.Limiter != nil {
				b.o.Limiter.OnSuccess()
			}
			if err := b.check(vecs, len(texts)); err != nil {
				return nil, -1, fmt.Errorf("embed %d texts from #%d with %s: %w", len(idx), idx[0], b.p.Model(), err)
			}
			return vecs, reported, nil
		}
		var ce classified
		classifiedErr := errors.As(err, &ce)
		slot.throttled = classifiedErr && ce.Retryable() && ce.Throttle()
		// A refusal of the texts took a full round trip: while bisection isolates a bad text,
		// it is the window's only measure of the latency.
		slot.rejected = classifiedErr && ce.BadInput()
		b.releaseSlot(slot)
		if ctx.Err() != nil {
			return nil, -1, context.Cause(ctx)
		}

		if f, ok := ce.(interface{ Fatal() bool }); classifiedErr && ok && f.Fatal() {
			return nil, -1, b.stop(b.refusal(err))
		}
		retry := classifiedErr && ce.Retryable()
		if retry && ce.Throttle() {
			b.throttled.Add(1)
			c.count(cThrottles, 1)
			if b.o.Limiter != nil {
				b.o.Limiter.OnThrottle()
			}
		}
		if retry {
			// Only failures worth retrying make a stall; an answer about the
			// texts (bad input) shows the provider at work.
			if !cutShort || b.lastFailure.Load() == nil {
				b.lastFailure.Store(&err)
			}
			b.lastFailureAt.Store(time.Now().UnixNano())
			b.failingSince.CompareAndSwap(0, start.UnixNano())
			if since := b.failingSince.Load(); since != 0 && time.Since(time.Unix(0, since)) >= b.o.ProviderTimeout {
				return nil, -1, b.stall()
			}
		}
		if once, ok := ce.(interface{ retryOnce() bool }); retry && ok && once.retryOnce() && attempt >= 2 {
			retry = false
		}
		if !retry || attempt >= b.o.MaxAttempts {
			return nil, -1, fmt.Errorf("embed %d texts from #%d with %s (attempt %d): %w", len(idx), idx[0], b.p.Model(), attempt, err)
		}
		c.count(cRetries, 1)
		d := b.backoff(attempt)
		if since := b.failingSince.Load(); since != 0 {
			// Wake up in time to find the stall's end, not a backoff later.
			d = min(d, max(time.Until(time.Unix(0, since+int64(b.o.ProviderTimeout))), 0))
		}
		b.o.Logger.DebugContext(ctx, "embed retry",
			slog.String("model", b.p.Model()), slog.Int("first_index", idx[0]), slog.Int("texts", len(idx)),
			slog.Int("attempt", attempt), slog.Duration("backoff", d), slog.String("error", errorCode(err)))
		if err := sleep(ctx, d); err != nil {
			return nil, -1, context.Cause(ctx)
		}
	}
}

// embed makes one provider call, with the tokens the provider reported for
// it, or -1.
func (b *Batcher) embed(ctx context.Context, texts []string) ([][]float32, int, error) {
	if tc, ok := b.p.(tokenCounter); ok {
		return tc.EmbedCounted(ctx, texts)
	}
	vecs, err := b.p.Embed(ctx, texts)
	return vecs, -1, err
}

// releaseSlot gives a request's slot in the window back, when it took one.
func (b *Batcher) releaseSlot(o outcome) {
	if b.o.Concurrency == 0 {
		b.win.release(o)
		return
	}
	b.win.learn(o)
}

// MaxInFlight is the most requests the Batcher had in flight at once, over
// all calls, when it adapts them (Options.Concurrency 0).
func (b *Batcher) MaxInFlight() int { return b.win.maxInFlight() }

// refusal is the *FatalError for a provider error of the fatal class.
func (b *Batcher) refusal(err error) *FatalError {
	fe := &FatalError{Refusal: fmt.Sprintf("the provider refuses to embed with %s", b.p.Model()), Err: err}
	var pe *Error
	if errors.As(err, &pe) {
		fe.Refusal, fe.Hint = cmp.Or(pe.Refusal, fe.Refusal), pe.Hint
	}
	return fe
}

// stall stops the Batcher because no request has been accepted for
// ProviderTimeout, naming the latest failure.
func (b *Batcher) stall() error {
	where := b.p.Model()
	if e, ok := b.p.(interface{ Endpoint() string }); ok {
		where = fmt.Sprintf("%s at %s", b.p.Model(), e.Endpoint())
	}
	var last error
	if p := b.lastFailure.Load(); p != nil {
		last = *p
	}
	hint := "check that the endpoint is reachable and answering, and the network or proxy in between"
	if ce := classified(nil); errors.As(last, &ce) && ce.Throttle() {
		hint = "the provider throttled every request: lower --rpm and --tpm, or raise the account's quota"
	}
	return b.stop(&FatalError{
		Refusal: fmt.Sprintf("no embedding request to %s succeeded for %s (--provider-timeout)", where, b.o.ProviderTimeout),
		Hint:    hint,
		Err:     last,
	})
}

// check verifies that a provider answered with one vector of the right
// length per text.
func (b *Batcher) check(vecs [][]float32, n int) error {
	if len(vecs) != n {
		return fmt.Errorf("provider returned %d vectors for %d texts", len(vecs), n)
	}
	for k, v := range vecs {
		if len(v) != b.p.Dimensions() {
			return fmt.Errorf("vector %d has %d dimensions, want %d", k, len(v), b.p.Dimensions())
		}
	}
	return nil
}

// backoff is the full-jitter delay before attempt+1.
func (b *Batcher) backoff(attempt int) time.Duration {
	ceil := b.o.BackoffMax
	if shift := attempt - 1; shift < 30 {
		ceil = min(ceil, b.o.BackoffBase<<shift)
	}
	if ceil <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(ceil)))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errorCode is the provider's code for err, for logs.
func errorCode(err error) string {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return "unclassified"
}
