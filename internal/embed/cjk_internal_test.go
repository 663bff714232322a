package embed

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/ratelimit"
)

// jumpClock is a ratelimit.Clock that jumps to the wake-up time instead of
// sleeping: the run's minute passes without any wall-clock time.
type jumpClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *jumpClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *jumpClock) SleepUntil(ctx context.Context, t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
	return ctx.Err()
}

// quotaProvider is Bedrock with a tokens-per-minute quota counted over a
// sliding minute of the clock, whose tokenizer splits CJK text finer than
// EstimateTokens does (factor times its count), as a real subword tokenizer
// may; it reports what it counted unless silent.
type quotaProvider struct {
	Hash
	clock  *jumpClock
	quota  int
	factor float64 // reported / estimated for text with CJK
	silent bool

	mu       sync.Mutex
	accepted []struct {
		at     time.Time
		tokens int
	}
	throttled int
}

func (p *quotaProvider) counted(texts []string) int {
	n := 0
	for _, t := range texts {
		est := EstimateTokens(t)
		if strings.ContainsFunc(t, func(r rune) bool { return r >= 0x3040 }) {
			est = int(float64(est) * p.factor)
		}
		n += est
	}
	return n
}

func (p *quotaProvider) EmbedCounted(ctx context.Context, texts []string) ([][]float32, int, error) {
	tokens := p.counted(texts)
	now := p.clock.Now()
	p.mu.Lock()
	sum := 0
	for _, a := range p.accepted {
		if a.at.After(now.Add(-time.Minute)) {
			sum += a.tokens
		}
	}
	if sum+tokens > p.quota {
		p.throttled++
		p.mu.Unlock()
		return nil, -1, &Error{Code: "ThrottlingException", class: classThrottle}
	}
	p.accepted = append(p.accepted, struct {
		at     time.Time
		tokens int
	}{now, tokens})
	p.mu.Unlock()
	vecs, err := p.Hash.Embed(ctx, texts)
	if p.silent {
		return vecs, -1, err
	}
	return vecs, tokens, err
}

// TestDenseCJKIsNotThrottledWhereEnglishIsNot: the same run in English and
// in Japanese, against a 30,000 tokens/min quota given to the limiter, the
// provider counting Japanese 1.6 times EstimateTokens. The Japanese run is
// charged what the provider reports: the limiter's bucket and minute take
// the difference at once, and the next requests are estimated at the ratio
// seen, so neither run is throttled. The provider silent about its tokens,
// the same Japanese run is throttled: the test sees the difference. The
// clock is the limiter's fake one; no wall-clock time is involved.
func TestDenseCJKIsNotThrottledWhereEnglishIsNot(t *testing.T) {
	english := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 40) // ~400 tokens
	japanese := strings.Repeat("東京の天気は晴れです。", 36)                                  // ~400 estimated
	run := func(t *testing.T, text string, silent bool) (throttled int, elapsed time.Duration) {
		clock := &jumpClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		start := clock.Now()
		lim, err := ratelimit.New(ratelimit.Config{TokensPerMinute: 30_000, SlidingMinute: true, Clock: clock})
		require.NoError(t, err)
		p := &quotaProvider{Hash: Hash{dims: 4}, clock: clock, quota: 30_000, factor: 1.6, silent: silent}
		b := NewBatcher(p, Options{Limiter: lim, Concurrency: 1, MaxBatch: 5, BackoffBase: time.Millisecond, BackoffMax: time.Millisecond})
		texts := make([]string, 400) // 80 requests of 2,600 tokens in English, 3,168 in Japanese
		for i := range texts {
			texts[i] = text
		}
		_, _, err = b.EmbedAll(t.Context(), texts)
		require.NoError(t, err)
		return p.throttled, clock.Now().Sub(start)
	}
	require.Equal(t, [2]int{520, 396}, [2]int{EstimateTokens(english), EstimateTokens(japanese)})
	throttled, en := run(t, english, false)
	require.Zero(t, throttled, "English")
	throttled, ja := run(t, japanese, false)
	require.Zero(t, throttled, "Japanese, its tokens reported")
	// The Japanese run took the time of the tokens it was counted (633 a text against 520),
	// not of its estimate (396): paced by what the provider counts.
	require.InDelta(t, 633.0/520, ja.Seconds()/en.Seconds(), 0.08)
	throttled, _ = run(t, japanese, true)
	require.Positive(t, throttled, "Japanese with nothing reported is paced by the estimate and throttled")
}
