package embed_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/bedrocksim"
	"github.com/ragmigrate/ragmigrate/internal/embed"
	"github.com/ragmigrate/ragmigrate/internal/ratelimit"
)

// testBundle is the contract server behind real HTTP and the real SDK
// client built the way production builds it.
type testBundle struct {
	sim    *bedrocksim.Server
	client *bedrockruntime.Client
}

func setup(t testing.TB, k bedrocksim.Knobs) *testBundle {
	t.Helper()
	require.NoError(t, k.Validate())
	sim := bedrocksim.New(k, nil)
	hs := httptest.NewServer(sim)
	t.Cleanup(hs.Close)
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEMBEDTEST", "secret", ""),
	}
	client := embed.NewBedrockClient(cfg, func(o *bedrockruntime.Options) { o.BaseEndpoint = aws.String(hs.URL) })
	return &testBundle{sim: sim, client: client}
}

func (b *testBundle) cohere(o embed.CohereOptions) *embed.BedrockCohere {
	return embed.NewBedrockCohere(b.client, o)
}

// fast are Batcher options that keep retry sleeps to milliseconds.
func fast(o embed.Options) embed.Options {
	o.BackoffBase = time.Millisecond
	o.BackoffMax = 5 * time.Millisecond
	return o
}

// corpus returns n distinct chunk-like texts, well within Cohere's limits.
func corpus(n int, tag string) []string {
	words := strings.Fields("the quick brown fox jumps over the lazy dog while a migration moves vectors between clusters and nobody notices")
	texts := make([]string, n)
	for i := range texts {
		var sb strings.Builder
		fmt.Fprintf(&sb, "%s chunk %d:", tag, i)
		for j := range 40 + i%30 {
			sb.WriteString(" ")
			sb.WriteString(words[(i*7+j*3)%len(words)])
		}
		texts[i] = sb.String()
	}
	return texts
}

// requireVectors asserts each vector is the contract server's vector for the
// text at the same index, so that order and content are both checked.
func requireVectors(t *testing.T, model string, texts []string, vecs [][]float32, skip ...int) {
	t.Helper()
	require.Len(t, vecs, len(texts))
	for i, text := range texts {
		if slices.Contains(skip, i) {
			require.Nil(t, vecs[i], "text %d", i)
			continue
		}
		// slices.Equal keeps a failure's output to one line.
		require.True(t, slices.Equal(bedrocksim.Vector(model, text, len(vecs[i])), vecs[i]),
			"text %d: not the contract server's vector for this text", i)
	}
}

func TestCohereFullBatches(t *testing.T) {
	t.Parallel()
	b := setup(t, bedrocksim.Knobs{})
	batcher := embed.NewBatcher(b.cohere(embed.CohereOptions{}), embed.Options{})
	texts := corpus(250, "full")

	vecs, st, err := batcher.EmbedAll(context.Background(), texts)
	require.NoError(t, err)
	requireVectors(t, bedrocksim.ModelCohereMultilingual, texts, vecs)
	require.Len(t, vecs[0], 1024)

	sim := b.sim.Stats()
	requireSent(t, st, 3, "96 + 96 + 58")
	require.Equal(t, st.Requests, sim.Requests, "every attempt reached the server")
	require.GreaterOrEqual(t, sim.Texts, int64(250))
	require.EqualValues(t, 250, st.Texts)
	var tokens int64
	for _, text := range texts {
		tokens += int64(embed.EstimateTokens(text))
	}
	if st.Retries == 0 {
		require.Equal(t, tokens, st.Tokens)
	} else {
		require.Greater(t, st.Tokens, tokens, "a repeated request's tokens count again: Bedrock charges them")
	}
	require.Equal(t, st, batcher.Stats())

	// An empty call sends nothing.
	vecs, empty, err := batcher.EmbedAll(context.Background(), nil)
	require.NoError(t, err)
	require.Empty(t, vecs)
	require.Zero(t, empty.Requests)
	require.Equal(t, st.Requests, b.sim.Stats().Requests)
}

// requireSent checks how many distinct requests a call made. Now and then, on a loaded machine
// and loopback, the SDK's transport loses a 200 answer: its write loop closes the connection
// while the answer is being read ("use of closed network connection", aws-sdk-go-v2 issues
// #1825 and #2737; the SDK's own retryer retries net.ErrClosed since). The Batcher retries it
// too, so a lost answer costs one repeated request, counted in Retries, and nothing else.
func requireSent(t *testing.T, st embed.Stats, distinct int64, msgAndArgs ...any) {
	t.Helper()
	require.EqualValues(t, distinct, st.Requests-st.Retries, msgAndArgs...)
	require.Zero(t, st.Throttles)
}

func TestCohereMaxBatchAndTokenCap(t *testing.T) {
	t.Parallel()
	b := setup(t, bedrocksim.Knobs{})
	texts := make([]string, 100)
	for i := range texts {
		texts[i] = fmt.Sprintf("captext%033d", i) // one word of 40 characters = 10 estimated tokens
		require.Equal(t, 10, embed.EstimateTokens(texts[i]))
	}

	_, first, err := embed.NewBatcher(b.cohere(embed.CohereOptions{}), embed.Options{MaxBatch: 10}).
		EmbedAll(context.Background(), texts)
	require.NoError(t, err)
	requireSent(t, first, 10, "the original application's 10 per call")

	vecs, st, err := embed.NewBatcher(b.cohere(embed.CohereOptions{}), embed.Options{MaxTokensPerRequest: 55}).
		EmbedAll(context.Background(), texts)
	require.NoError(t, err)
	requireVectors(t, bedrocksim.ModelCohereMultilingual, texts, vecs)
	requireSent(t, st, 20, "5 texts of 10 tokens fit under 55")
	require.EqualValues(t, 1000+50*st.Retries, st.Tokens, "every request held 50 tokens")
	require.Equal(t, first.Requests+st.Requests, b.sim.Stats().Requests)

	// A single text over the cap still goes, alone.
	_, st, err = embed.NewBatcher(b.cohere(embed.CohereOptions{}), embed.Options{MaxTokensPerRequest: 5}).
		EmbedAll(context.Background(), texts[:3])
	require.NoError(t, err)
	requireSent(t, st, 3)
}

func TestCohereResponseShapes(t *testing.T) {
	t.Parallel()
	b := setup(t, bedrocksim.Knobs{})
	texts := []string{"hello", "こんにちは世界", "a third text"}
	for name, byType := range map[string]bool{"EmbeddingsFloats": false, "EmbeddingsByType": true} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := b.cohere(embed.CohereOptions{ByType: byType, Model: bedrocksim.ModelCohereEnglish})
			require.Equal(t, bedrocksim.ModelCohereEnglish, p.Model())
			vecs, err := p.Embed(context.Background(), texts)
			require.NoError(t, err)
			requireVectors(t, bedrocksim.ModelCohereEnglish, texts, vecs)
		})
	}
}

func TestTitanOnePerCall(t *testing.T) {
	t.Parallel()
	b := setup(t, bedrocksim.Knobs{})
	p, err := embed.NewBedrockTitan(b.client, embed.TitanOptions{Dimensions: 512})
	require.NoError(t, err)
	require.Equal(t, 1, p.MaxBatch())
	texts := corpus(7, "titan")

	vecs, st, err := embed.NewBatcher(p, embed.Options{Concurrency: 3}).EmbedAll(context.Background(), texts)
	require.NoError(t, err)
	requireVectors(t, bedrocksim.ModelTitanV2, texts, vecs)
	require.Len(t, vecs[0], 512)
	requireSent(t, st, 7)
	sim := b.sim.Stats()
	require.Equal(t, st.Requests, sim.ByModel[bedrocksim.ModelTitanV2].Requests)
	require.Equal(t, st.Requests, sim.Texts, "one text per request")

	_, err = embed.NewBedrockTitan(b.client, embed.TitanOptions{Dimensions: 768})
	require.Error(t, err)
}

func TestCharacterGuard(t *testing.T) {
	t.Parallel()
	// 9 characters and 2 estimated tokens per word: 2049 characters stay
	// under the model's 512 tokens, so only the character limit is at stake.
	long := strings.Repeat("abcdefgh ", 228)[:2049]
	require.Equal(t, 2049, utf8.RuneCountInString(long))

	t.Run("RejectedBeforeSending", func(t *testing.T) {
		t.Parallel()
		b := setup(t, bedrocksim.Knobs{})
		texts := corpus(5, "guard")
		texts[3] = long
		vecs, st, err := embed.NewBatcher(b.cohere(embed.CohereOptions{}), embed.Options{}).EmbedAll(context.Background(), texts)
		require.Nil(t, vecs)
		require.ErrorIs(t, err, embed.ErrTooLong)
		var ie *embed.InputError
		require.ErrorAs(t, err, &ie)
		require.Len(t, ie.Texts, 1)
		require.Equal(t, 3, ie.Texts[0].Index)
		require.Equal(t, long[:80]+"…", ie.Texts[0].Prefix)
		require.Contains(t, err.Error(), "#3")
		require.Zero(t, st.Requests)
		require.Zero(t, b.sim.Stats().Requests, "nothing may be sent")
	})
	t.Run("TruncatedWithEnd", func(t *testing.T) {
		t.Parallel()
		b := setup(t, bedrocksim.Knobs{})
		texts := []string{"short", long}
		p := b.cohere(embed.CohereOptions{Truncate: embed.TruncateEnd})
		vecs, st, err := embed.NewBatcher(p, embed.Options{}).EmbedAll(context.Background(), texts)
		require.NoError(t, err)
		require.EqualValues(t, 1, st.Truncated)
		require.Equal(t, 2049, utf8.RuneCountInString(texts[1]), "the caller's slice is left alone")
		requireVectors(t, bedrocksim.ModelCohereMultilingual, []string{"short", long[:2048]}, vecs)
		require.EqualValues(t, 1, b.sim.Stats().Succeeded)
	})
	t.Run("TruncatedWithStartOverride", func(t *testing.T) {
		t.Parallel()
		b := setup(t, bedrocksim.Knobs{})
		// The provider says NONE; the Batcher's own setting wins.
		vecs, _, err := embed.NewBatcher(b.cohere(embed.CohereOptions{}), embed.Options{Truncate: embed.TruncateStart}).
			EmbedAll(context.Background(), []string{"x" + long})
		require.NoError(t, err)
		requireVectors(t, bedrocksim.ModelCohereMultilingual, []string{long[1:]}, vecs)
	})
}

func TestValidationBisectsToThePoisonText(t *testing.T) {
	t.Parallel()
	for name, poison := range map[string][]int{
		"One":            {137},
		"TwoInOneBatch":  {100, 150},
		"FirstAndLast":   {0, 249},
		"AloneInASingle": {},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, bedrocksim.Knobs{FailOnText: "POISON"})
			texts := corpus(250, "bisect")
			for _, i := range poison {
				texts[i] = "POISON " + texts[i]
			}
			vecs, st, err := embed.NewBatcher(b.cohere(embed.CohereOptions{}), embed.Options{}).
				EmbedAll(context.Background(), texts)
			sim := b.sim.Stats()
			if len(poison) == 0 {
				require.NoError(t, err)
				require.EqualValues(t, 3, sim.Requests)
				return
			}
			var ie *embed.InputError
			require.ErrorAs(t, err, &ie)
			require.Len(t, ie.Texts, len(poison))
			for k, i := range poison {
				require.Equal(t, i, ie.Texts[k].Index)
				require.True(t, strings.HasPrefix(ie.Texts[k].Prefix, "POISON bisect chunk"), ie.Texts[k].Prefix)
				require.LessOrEqual(t, utf8.RuneCountInString(ie.Texts[k].Prefix), 81)
				require.Contains(t, err.Error(), fmt.Sprintf("#%d", i))
			}
			require.Contains(t, err.Error(), "ValidationException")
			requireVectors(t, bedrocksim.ModelCohereMultilingual, texts, vecs, poison...)

			// Every good text embedded exactly once, in few requests. The server may count a
			// batch twice: on a loaded machine a response occasionally breaks off mid-body on
			// loopback, and the Batcher rightly sends that batch again.
			require.GreaterOrEqual(t, sim.Texts, int64(250-len(poison)))
			require.EqualValues(t, 250-len(poison), st.Texts)
			require.EqualValues(t, len(poison), st.Rejected)
			require.LessOrEqual(t, sim.Requests, int64(3+2*7*len(poison)), "bisection costs about 2·log2(96) requests per poison text")
			require.Equal(t, sim.Requests, st.Requests)
		})
	}
}

func TestSystemicValidationErrorStopsBisecting(t *testing.T) {
	t.Parallel()
	// A ValidationException for every text, which the model id does not explain.
	b := setup(t, bedrocksim.Knobs{FailOnText: "systemic"})
	p := b.cohere(embed.CohereOptions{})
	vecs, st, err := embed.NewBatcher(p, embed.Options{MaxRejected: 3}).EmbedAll(context.Background(), corpus(200, "systemic"))
	require.Error(t, err)
	require.Nil(t, vecs)
	require.NotErrorAs(t, err, new(*embed.InputError))
	require.NotErrorIs(t, err, embed.ErrProviderFatal)
	require.Contains(t, err.Error(), "not about the texts")
	// Bisecting all 200 texts would take at least one request per text; stopping at the fourth
	// rejection takes a few paths of ⌈log2 96⌉ = 7 splits, 11 to 21 requests as the three
	// batches' bisections interleave (measured).
	t.Logf("%d requests", b.sim.Stats().Requests)
	require.Less(t, b.sim.Stats().Requests, int64(40))
	require.EqualValues(t, 4, st.Rejected)
}

func TestErrorClassesAgainstTheContractServer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		errType                      string
		retryable, throttle, badIput bool
	}{
		{"ThrottlingException", true, true, false},
		{"ModelTimeoutException", true, false, false},
		{"ServiceUnavailableException", true, false, false},
		{"InternalServerException", true, false, false},
		{"ModelNotReadyException", true, false, false},
		{"ModelErrorException", true, false, true},
		{"ValidationException", false, false, true},
		{"AccessDeniedException", false, false, false},
		{"ResourceNotFoundException", false, false, false},
		{"ServiceQuotaExceededException", false, false, false},
		{"UnrecognizedClientException", false, false, false},
		{"ExpiredTokenException", false, false, false},
	} {
		t.Run(tc.errType, func(t *testing.T) {
			t.Parallel()
			b := setup(t, bedrocksim.Knobs{FailRate: 1, FailError: tc.errType})
			_, err := b.cohere(embed.CohereOptions{}).Embed(context.Background(), []string{"x"})
			var pe *embed.Error
			require.ErrorAs(t, err, &pe)
			require.Equal(t, tc.errType, pe.Code)
			require.NotEmpty(t, pe.Message)
			require.Equal(t, tc.retryable, pe.Retryable(), "retryable")
			require.Equal(t, tc.throttle, pe.Throttle(), "throttle")
			require.Equal(t, tc.badIput, pe.BadInput(), "bad input")
			require.EqualValues(t, 1, b.sim.Stats().Requests, "the SDK must not retry underneath")
		})
	}
}

func TestRetries(t *testing.T) {
	t.Parallel()
	t.Run("TransientErrorsAreRetried", func(t *testing.T) {
		t.Parallel()
		b := setup(t, bedrocksim.Knobs{FailRate: 0.3, FailError: "ServiceUnavailableException", Seed: 7})
		texts := corpus(200, "transient")
		vecs, st, err := embed.NewBatcher(b.cohere(embed.CohereOptions{}), fast(embed.Options{MaxBatch: 20})).EmbedAll(context.Background(), texts)
		require.NoError(t, err)
		requireVectors(t, bedrocksim.ModelCohereMultilingual, texts, vecs)
		sim := b.sim.Stats()
		require.Positive(t, st.Retries)
		// Every injected error was retried; a response broken off mid-body (seen on loaded
		// machines) is retried as well, so the client may count more retries than the server.
		require.GreaterOrEqual(t, st.Retries, sim.Errors["ServiceUnavailableException"])
		require.Equal(t, 10+st.Retries, st.Requests)
		require.Zero(t, st.Throttles)
	})
	t.Run("FatalErrorsAreNot", func(t *testing.T) {
		t.Parallel()
		b := setup(t, bedrocksim.Knobs{FailRate: 1, FailError: "AccessDeniedException"})
		vecs, st, err := embed.NewBatcher(b.cohere(embed.CohereOptions{}), fast(embed.Options{Concurrency: 2})).
			EmbedAll(context.Background(), corpus(960, "fatal"))
		require.Nil(t, vecs)
		require.ErrorContains(t, err, "AccessDeniedException")
		require.NotErrorAs(t, err, new(*embed.InputError))
		require.Zero(t, st.Retries)
		require.LessOrEqual(t, b.sim.Stats().Requests, int64(2), "the first failure stops the call")
	})
	t.Run("AttemptsAreBounded", func(t *testing.T) {
		t.Parallel()
		b := setup(t, bedrocksim.Knobs{ThrottleRate: 1})
		_, st, err := embed.NewBatcher(b.cohere(embed.CohereOptions{}), fast(embed.Options{MaxAttempts: 4})).
			EmbedAll(context.Background(), corpus(3, "bounded"))
		require.ErrorContains(t, err, "attempt 4")
		require.ErrorContains(t, err, "ThrottlingException")
		require.EqualValues(t, 4, st.Requests)
		require.EqualValues(t, 4, st.Throttles)
		require.EqualValues(t, 3, st.Retries)
		require.EqualValues(t, 4, b.sim.Stats().Requests)
	})
	t.Run("ModelErrorIsRetriedOnceThenBisected", func(t *testing.T) {
		t.Parallel()
		b := setup(t, bedrocksim.Knobs{FailRate: 1, FailError: "ModelErrorException"})
		vecs, st, err := embed.NewBatcher(b.cohere(embed.CohereOptions{}), fast(embed.Options{})).
			EmbedAll(context.Background(), corpus(4, "modelerror"))
		var ie *embed.InputError
		require.ErrorAs(t, err, &ie)
		require.Len(t, ie.Texts, 4)
		require.Len(t, vecs, 4)
		// Bisection of 4 texts visits 7 batches, each tried twice.
		require.EqualValues(t, 14, st.Requests)
		require.EqualValues(t, 14, b.sim.Stats().Requests)
	})
	t.Run("CancelStopsPromptly", func(t *testing.T) {
		t.Parallel()
		b := setup(t, bedrocksim.Knobs{Latency: 10 * time.Second})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, _, err := embed.NewBatcher(b.cohere(embed.CohereOptions{}), embed.Options{}).EmbedAll(ctx, corpus(10, "cancel"))
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Less(t, time.Since(start), 5*time.Second)
	})
}

// spyLimiter counts what the Batcher reports to the shared limiter and
// records, on the limiter's clock, when each request was let through.
type spyLimiter struct {
	lim   *ratelimit.Limiter
	clock ratelimit.Clock

	mu        sync.Mutex
	admitted  []time.Time
	throttles int
	successes int
}

func (s *spyLimiter) Wait(ctx context.Context, tokens int) error {
	err := s.lim.Wait(ctx, tokens)
	s.mu.Lock()
	s.admitted = append(s.admitted, s.clock.Now())
	s.mu.Unlock()
	return err
}

func (s *spyLimiter) OnThrottle() {
	s.mu.Lock()
	s.throttles++
	s.mu.Unlock()
	s.lim.OnThrottle()
}

func (s *spyLimiter) OnSuccess() {
	s.mu.Lock()
	s.successes++
	s.mu.Unlock()
	s.lim.OnSuccess()
}

func TestThrottlingCompletesEveryBot(t *testing.T) {
	t.Parallel()
	b := setup(t, bedrocksim.Knobs{ThrottleRate: 0.2, Seed: 42})
	lim, err := ratelimit.New(ratelimit.Config{RequestsPerMinute: 60_000, Cooldown: 10 * time.Millisecond})
	require.NoError(t, err)
	spy := &spyLimiter{lim: lim, clock: ratelimit.SystemClock{}}
	// Small batches: many requests (and throttles) for few vectors to compute.
	batcher := embed.NewBatcher(b.cohere(embed.CohereOptions{}), fast(embed.Options{Limiter: spy, Concurrency: 2, MaxBatch: 8}))

	// Eight bots at once, one shared Batcher and limiter, as reembed runs them.
	const bots = 8
	var wg sync.WaitGroup
	errs := make([]error, bots)
	for bot := range bots {
		wg.Go(func() {
			texts := corpus(100+bot*7, fmt.Sprintf("bot%d", bot))
			vecs, _, err := batcher.EmbedAll(context.Background(), texts)
			if err == nil && len(vecs) != len(texts) {
				err = fmt.Errorf("bot %d: %d vectors for %d texts", bot, len(vecs), len(texts))
			}
			for i, v := range vecs {
				if err == nil && len(v) != 1024 {
					err = fmt.Errorf("bot %d: text %d has no vector", bot, i)
				}
			}
			errs[bot] = err
		})
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...), "zero failed bots")

	st, sim := batcher.Stats(), b.sim.Stats()
	require.Positive(t, sim.Throttled)
	require.Equal(t, sim.Throttled, st.Throttles, "every throttle is seen (no SDK retries underneath)")
	require.EqualValues(t, st.Throttles, spy.throttles, "and reported to the limiter")
	require.EqualValues(t, st.Throttles, lim.Rate().Throttles)
	require.Positive(t, lim.Rate().Cuts)
	require.Equal(t, sim.Succeeded, int64(spy.successes))
	require.GreaterOrEqual(t, sim.Texts, st.Texts) // a re-sent batch counts twice on the server
	require.Equal(t, sim.Requests, st.Requests)
	require.Equal(t, st.Throttles, st.Retries)
}

func TestOneBotsFailureDoesNotStopTheOthers(t *testing.T) {
	t.Parallel()
	b := setup(t, bedrocksim.Knobs{FailOnText: "POISON"})
	batcher := embed.NewBatcher(b.cohere(embed.CohereOptions{}), embed.Options{MaxBatch: 16})
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for bot := range 4 {
		wg.Go(func() {
			texts := corpus(100, fmt.Sprintf("bot%d", bot))
			if bot == 2 {
				texts[5] = "POISON"
			}
			_, _, errs[bot] = batcher.EmbedAll(context.Background(), texts)
		})
	}
	wg.Wait()
	for bot, err := range errs {
		if bot == 2 {
			require.ErrorAs(t, err, new(*embed.InputError))
			continue
		}
		require.NoError(t, err, "bot %d", bot)
	}
	require.EqualValues(t, 4*100-1, batcher.Stats().Texts)
	require.GreaterOrEqual(t, b.sim.Stats().Texts, int64(4*100-1)) // a re-sent batch counts twice
}

func TestLimiterKeepsTheBudget(t *testing.T) {
	t.Parallel()
	t.Run("FakeClock", func(t *testing.T) {
		t.Parallel()
		// The contract server enforces 600/min over a real sliding minute;
		// the limiter paces on a fake clock that jumps to each wake-up, so
		// the pacing is checked exactly and the test takes no time.
		b := setup(t, bedrocksim.Knobs{RequestsPerMinute: 600})
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		clock := &jumpClock{now: start}
		lim, err := ratelimit.New(ratelimit.Config{RequestsPerMinute: 600, Clock: clock})
		require.NoError(t, err)
		spy := &spyLimiter{lim: lim, clock: clock}
		batcher := embed.NewBatcher(b.cohere(embed.CohereOptions{}), embed.Options{Limiter: spy, Concurrency: 4, MaxBatch: 4})

		var wg sync.WaitGroup
		for bot := range 3 {
			wg.Go(func() {
				_, _, err := batcher.EmbedAll(context.Background(), corpus(4*20, fmt.Sprintf("budget%d", bot)))
				require.NoError(t, err)
			})
		}
		wg.Wait()
		require.Len(t, spy.admitted, 60)
		// The clock ends on the last reservation's slot.
		require.Equal(t, 59*100*time.Millisecond, clock.Now().Sub(start), "one request per 100 ms, no gaps and no bursts")
		require.Zero(t, b.sim.Stats().Throttled)
	})
	t.Run("RealClock", func(t *testing.T) {
		t.Parallel()
		b := setup(t, bedrocksim.Knobs{})
		lim, err := ratelimit.New(ratelimit.Config{RequestsPerMinute: 1200}) // 50 ms apart
		require.NoError(t, err)
		batcher := embed.NewBatcher(b.cohere(embed.CohereOptions{}), embed.Options{Limiter: lim, Concurrency: 4, MaxBatch: 4})
		start := time.Now()
		_, st, err := batcher.EmbedAll(context.Background(), corpus(4*11, "real"))
		require.NoError(t, err)
		requireSent(t, st, 11)
		// A lower bound only: never faster than the budget, however fast the
		// machine; slow machines only make it longer.
		require.GreaterOrEqual(t, time.Since(start), 500*time.Millisecond)
	})
}

// jumpClock is a fake ratelimit.Clock whose sleeps jump to the wake-up time.
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
	if t.After(c.now) {
		c.now = t
	}
	c.mu.Unlock()
	return ctx.Err()
}
