package embed

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"
	"unicode/utf8"
)

// Coalescer lets many concurrent callers share requests. A bot's chunks are often far fewer than
// a request holds (Cohere takes 96 texts; a bot of a few documents has a dozen chunks), so each
// bot embedding on its own sends small requests and spends the request budget on them. The
// Coalescer queues the texts of every caller and sends them in full requests, a caller's texts
// split over as many requests as it takes, and gives each caller its own vectors back once all
// of them have come. A request goes out less than full only when no more texts come for a while
// (see partialAt).
//
// A text the model rejects fails only its own caller: the Batcher isolates rejected texts by
// bisection, and their indexes are mapped back. A caller with a text over the character limit
// (and no truncation) is sent alone, so its guard error cannot stop the others. Any other failure
// (access denied, retries exhausted) reaches every caller of that request.
type Coalescer struct {
	b      *Batcher
	linger time.Duration
	queue  chan *pendingCall
	now    func() time.Time
	// timer fires after d; stop stops it. A test's fake clock replaces it.
	timer func(d time.Duration) (fire <-chan time.Time, stop func() bool)
}

type pendingCall struct {
	ctx   context.Context
	texts []string
	done  chan coalesced

	mu    sync.Mutex
	vecs  [][]float32
	bad   []BadText
	stats Stats
	err   error
	left  int // texts whose request has not answered yet
}

// piece is the texts [off, off+n) of a caller, sent in one request.
type piece struct {
	p      *pendingCall
	off, n int
}

func (pc piece) texts() []string { return pc.p.texts[pc.off : pc.off+pc.n] }

type coalesced struct {
	vecs  [][]float32
	stats Stats
	err   error
}

// nexter is implemented by limiters that say when they would let a request
// go (*ratelimit.Limiter).
type nexter interface {
	Next(tokens int) time.Time
}

// NewCoalescer starts a Coalescer over b; it runs until ctx ends. linger is how long a request
// waits for more callers before it goes out less than full (default 200ms); under a request
// budget, longer (see partialAt).
func NewCoalescer(ctx context.Context, b *Batcher, linger time.Duration) *Coalescer {
	c := &Coalescer{b: b, linger: cmp.Or(linger, 200*time.Millisecond), queue: make(chan *pendingCall), now: time.Now,
		timer: func(d time.Duration) (<-chan time.Time, func() bool) {
			t := time.NewTimer(d)
			return t.C, t.Stop
		}}
	go c.run(ctx)
	return c
}

// EmbedAll embeds texts, sharing requests with concurrent callers. The returned Stats are this
// caller's share: its texts and tokens exactly, requests, throttles and retries in proportion to
// its texts in the requests it shared.
func (c *Coalescer) EmbedAll(ctx context.Context, texts []string) ([][]float32, Stats, error) {
	if len(texts) == 0 {
		return [][]float32{}, Stats{}, nil
	}
	p := &pendingCall{ctx: ctx, texts: texts, done: make(chan coalesced, 1), vecs: make([][]float32, len(texts)), left: len(texts)}
	select {
	case c.queue <- p:
	case <-ctx.Done():
		return nil, Stats{}, ctx.Err()
	}
	select {
	case r := <-p.done:
		return r.vecs, r.stats, r.err
	case <-ctx.Done():
		return nil, Stats{}, ctx.Err()
	}
}

func (c *Coalescer) run(ctx context.Context) {
	var (
		queued    []piece
		n         int       // texts queued
		oldest    time.Time // when the oldest queued text came
		notBefore time.Time // no partial request before then: requests wait for the budget
		fire      <-chan time.Time
		stop      = func() bool { return false }
	)
	defer func() { stop() }()
	for {
		// Full requests go at once: the window and the limiter pace them.
		for n >= c.b.maxBatch {
			var req []piece
			req, queued = take(queued, c.b.maxBatch)
			n -= c.b.maxBatch
			go c.send(ctx, req)
			if n > 0 {
				oldest = c.now() // the texts left have only just become the head of a request
			}
		}
		stop()
		fire = nil
		if n > 0 {
			fire, stop = c.timer(max(later(c.partialAt(oldest), notBefore).Sub(c.now()), 0))
		}
		select {
		case p := <-c.queue:
			if c.overLimit(p.texts) {
				go func() {
					vecs, st, err := c.b.EmbedAll(p.ctx, p.texts) // fails at the guard, sends nothing
					p.done <- coalesced{vecs, st, err}
				}()
				continue
			}
			if n == 0 {
				oldest = c.now()
			}
			queued = append(queued, piece{p: p, n: len(p.texts)})
			n += len(p.texts)
		case <-fire:
			at := c.partialAt(oldest) // before now: the limiter's Next is never before its own now
			now := c.now()
			if c.b.o.Concurrency == 0 && c.b.win.busy() {
				// Requests already wait for the budget: a request sent less than full now would
				// only queue behind them and spend a request of the budget on fewer texts.
				// Gather on while they wait.
				notBefore = now.Add(c.linger)
				continue
			}
			if now.Before(at) {
				continue // the budget's next request moved on meanwhile
			}
			go c.send(ctx, queued)
			queued, n = nil, 0
		case <-ctx.Done():
			return
		}
	}
}

// partialAt is when a request less than full, whose oldest text came at oldest, may go: after
// the linger, and under a request budget not before its oldest text has waited one request of
// the budget (60 s / requests per minute) and the limiter has a request free. Such a request
// spends a whole request of the budget on fewer texts (at 120 requests/min a request is worth
// 96 texts, half a second of the budget): held while the limiter could not let it go anyway, it
// takes the texts that come meanwhile, and held one request's time at most when it could (the
// budget's first request, a run's first bots still being read), it makes one request of what
// would have been two. A token budget spends the same on the texts whether they go in one
// request or two, and does not hold them.
func (c *Coalescer) partialAt(oldest time.Time) time.Time {
	at := oldest.Add(c.linger)
	if rpm, _ := budgetOf(c.b.o.Limiter); rpm > 0 {
		at = later(at, oldest.Add(time.Duration(float64(time.Minute)/rpm)))
		if nx, ok := c.b.o.Limiter.(nexter); ok {
			at = later(at, nx.Next(0))
		}
	}
	return at
}

// take removes the first n texts' pieces from queued, splitting a caller's texts where the n-th
// falls.
func take(queued []piece, n int) (req, rest []piece) {
	for n > 0 {
		pc := queued[0]
		if pc.n <= n {
			req = append(req, pc)
			queued = queued[1:]
			n -= pc.n
			continue
		}
		req = append(req, piece{p: pc.p, off: pc.off, n: n})
		queued[0] = piece{p: pc.p, off: pc.off + n, n: pc.n - n}
		n = 0
	}
	return req, slices.Clone(queued)
}

// send embeds the pieces of one request together.
func (c *Coalescer) send(ctx context.Context, req []piece) {
	live := req[:0:0]
	for _, pc := range req {
		if err := pc.p.ctx.Err(); err != nil {
			// The caller gave up before its texts went: they are not sent.
			pc.p.finish(pc, nil, Stats{}, err, nil)
			continue
		}
		live = append(live, pc)
	}
	if len(live) == 0 {
		return
	}
	var all []string
	for _, pc := range live {
		all = append(all, pc.texts()...)
	}
	vecs, st, err := c.b.EmbedAll(ctx, all)
	var ie *InputError
	if err != nil && !errors.As(err, &ie) {
		if len(live) > 1 && ctx.Err() == nil && !errors.Is(err, ErrProviderFatal) {
			// The shared request failed as a whole, which says nothing certain about any one
			// caller (retries exhausted on a request that mixed them). Each caller's texts are
			// tried on their own, so each gets its own verdict; a systemic failure (access
			// denied) then fails each of them quickly.
			for _, pc := range live {
				vecs, st, err := c.b.EmbedAll(pc.p.ctx, pc.texts())
				var ie *InputError
				if err != nil && !errors.As(err, &ie) {
					pc.p.finish(pc, nil, st, err, nil)
					continue
				}
				pc.p.finish(pc, vecs, st, nil, badOf(ie, 0, pc))
			}
			return
		}
		off := 0
		for _, pc := range live {
			pc.p.finish(pc, nil, c.share(st, pc.texts(), off, nil, len(all)), err, nil)
			off += pc.n
		}
		return
	}
	off := 0
	for _, pc := range live {
		mine := vecs[off : off+pc.n]
		pc.p.finish(pc, mine, c.share(st, pc.texts(), off, mine, len(all)), nil, badOf(ie, off, pc))
		off += pc.n
	}
}

// badOf is the rejected texts of ie that belong to pc, whose texts were at off in the request,
// with their caller's own indexes.
func badOf(ie *InputError, off int, pc piece) []BadText {
	if ie == nil {
		return nil
	}
	var mine []BadText
	for _, bt := range ie.Texts {
		if bt.Index >= off && bt.Index < off+pc.n {
			bt.Index += pc.off - off
			mine = append(mine, bt)
		}
	}
	return mine
}

// finish records the outcome of one piece of the caller's texts, and answers the caller once
// every piece has one: its vectors, or the first failure of a piece (no vectors then), or the
// texts rejected in all its pieces.
func (p *pendingCall) finish(pc piece, vecs [][]float32, st Stats, err error, bad []BadText) {
	p.mu.Lock()
	defer p.mu.Unlock()
	copy(p.vecs[pc.off:pc.off+pc.n], vecs)
	p.stats = addStats(p.stats, st)
	if err != nil && p.err == nil {
		p.err = err
	}
	p.bad = append(p.bad, bad...)
	p.left -= pc.n
	if p.left > 0 {
		return
	}
	switch {
	case p.err != nil:
		p.done <- coalesced{stats: p.stats, err: p.err}
	case len(p.bad) > 0:
		slices.SortFunc(p.bad, func(x, y BadText) int { return x.Index - y.Index })
		p.done <- coalesced{vecs: p.vecs, stats: p.stats, err: &InputError{Texts: p.bad}}
	default:
		p.done <- coalesced{vecs: p.vecs, stats: p.stats}
	}
}

func addStats(a, b Stats) Stats {
	return Stats{Requests: a.Requests + b.Requests, Texts: a.Texts + b.Texts, Throttles: a.Throttles + b.Throttles,
		Retries: a.Retries + b.Retries, Tokens: a.Tokens + b.Tokens, Truncated: a.Truncated + b.Truncated,
		Rejected: a.Rejected + b.Rejected, ReportedTokens: a.ReportedTokens + b.ReportedTokens,
		UnreportedTokens: a.UnreportedTokens + b.UnreportedTokens}
}

// overLimit reports whether texts hold one the Batcher's guard would refuse.
func (c *Coalescer) overLimit(texts []string) bool {
	limit := c.b.p.MaxChars()
	if limit <= 0 || c.b.truncate != TruncateNone {
		return false
	}
	for _, t := range texts {
		if utf8.RuneCountInString(t) > limit {
			return true
		}
	}
	return false
}

// share is one caller's part of a shared call's Stats, the caller's texts being
// all[off:off+len(texts)] of the call's total. With its vectors, its texts and
// tokens are exactly those of its texts that got one; without (the call failed,
// after some requests may have been accepted and billed), they are in
// proportion, like requests, throttles and retries. A proportion is the
// difference of the floors at the caller's two ends, so the callers' parts add
// up to the call's count: rounding each part on its own gave every caller of a
// request shared by three 0 requests, and the run's sum of its bots' parts (all
// that ragmigrate's workers report) fewer requests than were sent.
func (c *Coalescer) share(st Stats, texts []string, off int, vecs [][]float32, total int) Stats {
	total = max(total, 1)
	part := func(n int64) int64 {
		return n*int64(off+len(texts))/int64(total) - n*int64(off)/int64(total)
	}
	out := Stats{Requests: part(st.Requests), Texts: part(st.Texts), Throttles: part(st.Throttles),
		Retries: part(st.Retries), Tokens: part(st.Tokens), Truncated: part(st.Truncated), Rejected: part(st.Rejected),
		ReportedTokens: part(st.ReportedTokens), UnreportedTokens: part(st.UnreportedTokens)}
	if vecs == nil {
		return out
	}
	out.Texts, out.Tokens = 0, 0
	for i, t := range texts {
		if vecs[i] != nil {
			out.Texts++
			out.Tokens += int64(c.b.tokens(t))
		}
	}
	return out
}
