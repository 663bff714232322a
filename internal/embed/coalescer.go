package embed

import (
	"cmp"
	"context"
	"errors"
	"time"
	"unicode/utf8"
)

// Coalescer lets many concurrent callers share requests. A bot's chunks are often far fewer than
// a request holds (Cohere takes 96 texts; a bot of a few documents has a dozen chunks), so each
// bot embedding on its own sends small requests and spends the request budget on them. The
// Coalescer gathers the texts of callers arriving within Linger of each other until a request is
// full, embeds them together through the Batcher, and gives each caller its own vectors back.
//
// A text the model rejects fails only its own caller: the Batcher isolates rejected texts by
// bisection, and their indexes are mapped back. A caller with a text over the character limit
// (and no truncation) is sent alone, so its guard error cannot stop the others. Any other failure
// (access denied, retries exhausted) reaches every caller of that request.
type Coalescer struct {
	b      *Batcher
	linger time.Duration
	queue  chan *pendingCall
}

type pendingCall struct {
	ctx   context.Context
	texts []string
	done  chan coalesced
}

type coalesced struct {
	vecs  [][]float32
	stats Stats
	err   error
}

// NewCoalescer starts a Coalescer over b; it runs until ctx ends. linger is how long a request
// waits for more callers before it goes out less than full (default 200ms).
func NewCoalescer(ctx context.Context, b *Batcher, linger time.Duration) *Coalescer {
	c := &Coalescer{b: b, linger: cmp.Or(linger, 200*time.Millisecond), queue: make(chan *pendingCall)}
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
	p := &pendingCall{ctx: ctx, texts: texts, done: make(chan coalesced, 1)}
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
	for {
		var first *pendingCall
		select {
		case first = <-c.queue:
		case <-ctx.Done():
			return
		}
		group := []*pendingCall{first}
		n := len(first.texts)
		timer := time.NewTimer(c.linger)
	gather:
		for n%c.b.maxBatch != 0 {
			select {
			case p := <-c.queue:
				group = append(group, p)
				n += len(p.texts)
			case <-timer.C:
				if c.b.o.Concurrency == 0 && c.b.win.busy() {
					// Requests already wait for the budget: a request sent less than full
					// now would only queue behind them and spend a request of the budget
					// on fewer texts. Gather on while they wait.
					timer.Reset(c.linger)
					continue
				}
				break gather
			case <-ctx.Done():
				break gather
			}
		}
		timer.Stop()
		// Requests are paced by the shared limiter; the next group forms while this one is sent.
		go c.send(ctx, group)
	}
}

// send embeds a group of callers together.
func (c *Coalescer) send(ctx context.Context, group []*pendingCall) {
	var shared []*pendingCall
	for _, p := range group {
		if c.overLimit(p.texts) {
			vecs, st, err := c.b.EmbedAll(p.ctx, p.texts) // fails at the guard, sends nothing
			p.done <- coalesced{vecs, st, err}
			continue
		}
		shared = append(shared, p)
	}
	if len(shared) == 0 {
		return
	}
	var all []string
	for _, p := range shared {
		all = append(all, p.texts...)
	}
	vecs, st, err := c.b.EmbedAll(ctx, all)
	var ie *InputError
	if err != nil && !errors.As(err, &ie) {
		if len(shared) > 1 && ctx.Err() == nil && !errors.Is(err, ErrProviderFatal) {
			// The shared call failed as a whole, which says nothing certain about any one
			// caller (retries exhausted on a request that mixed them). Each caller is tried on
			// its own, so each gets its own verdict; a systemic failure (access denied) then
			// fails each of them quickly.
			for _, p := range shared {
				vecs, st, err := c.b.EmbedAll(p.ctx, p.texts)
				p.done <- coalesced{vecs, st, err}
			}
			return
		}
		off := 0
		for _, p := range shared {
			p.done <- coalesced{stats: c.share(st, p.texts, off, nil, len(all)), err: err}
			off += len(p.texts)
		}
		return
	}
	off := 0
	for _, p := range shared {
		mine := vecs[off : off+len(p.texts)]
		r := coalesced{vecs: mine, stats: c.share(st, p.texts, off, mine, len(all))}
		if ie != nil {
			var mine []BadText
			for _, bt := range ie.Texts {
				if bt.Index >= off && bt.Index < off+len(p.texts) {
					bt.Index -= off
					mine = append(mine, bt)
				}
			}
			if len(mine) > 0 {
				r.err = &InputError{Texts: mine}
			}
		}
		p.done <- r
		off += len(p.texts)
	}
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
