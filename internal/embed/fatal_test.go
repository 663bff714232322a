package embed_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/bedrocksim"
	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/embed"
)

// TestFatalProviderErrorsStopTheBatcher: a provider that denies access, rejects the credentials
// or the model stops the Batcher at the first answer: the call and every later call return the
// same *FatalError, naming the model and what to fix, and no further request is sent.
func TestFatalProviderErrorsStopTheBatcher(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		knobs bedrocksim.Knobs
		model string
		want  []string
	}{
		{"AccessDenied", bedrocksim.Knobs{FailRate: 1, FailError: "AccessDeniedException"}, "",
			[]string{"bedrock in us-east-1 denies InvokeModel on cohere.embed-multilingual-v3", "AccessDeniedException", "bedrock:InvokeModel", "Model access"}},
		{"UnrecognizedClient", bedrocksim.Knobs{FailRate: 1, FailError: "UnrecognizedClientException"}, "",
			[]string{"rejects the AWS credentials", "UnrecognizedClientException", "security token"}},
		{"ExpiredToken", bedrocksim.Knobs{FailRate: 1, FailError: "ExpiredTokenException"}, "",
			[]string{"rejects the AWS credentials", "renew expired"}},
		{"ResourceNotFound", bedrocksim.Knobs{FailRate: 1, FailError: "ResourceNotFoundException"}, "",
			[]string{"has no model cohere.embed-multilingual-v3", "--model"}},
		{"InvalidModelID", bedrocksim.Knobs{}, "cohere.embed-nonexistent-v3",
			[]string{"rejects the model cohere.embed-nonexistent-v3", "model identifier is invalid", "--model"}},
		{"Quota", bedrocksim.Knobs{FailRate: 1, FailError: "ServiceQuotaExceededException"}, "",
			[]string{"quota"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tc.knobs)
			const concurrency = 4
			batcher := embed.NewBatcher(b.cohere(embed.CohereOptions{Model: tc.model}), fast(embed.Options{Concurrency: concurrency}))
			vecs, st, err := batcher.EmbedAll(context.Background(), corpus(96*8, "fatal"))
			require.Nil(t, vecs)
			require.ErrorIs(t, err, embed.ErrProviderFatal)
			var fe *embed.FatalError
			require.ErrorAs(t, err, &fe)
			for _, want := range tc.want {
				require.Contains(t, err.Error(), want)
			}
			sent := b.sim.Stats().Requests
			require.LessOrEqual(t, sent, int64(concurrency), "at most the requests already in flight")
			require.Zero(t, st.Texts)
			require.Zero(t, st.Tokens, "nothing accepted, nothing billed")
			require.Zero(t, st.Retries)

			// Later calls fail at once with the same error, sending nothing. (A request of the
			// first call, cancelled in flight, may reach the server after it returned: the
			// server's count stays within the first call's requests in flight.)
			_, later, again := batcher.EmbedAll(context.Background(), corpus(3, "later"))
			require.Same(t, error(fe), again)
			require.Zero(t, later.Requests)
			require.LessOrEqual(t, b.sim.Stats().Requests, int64(concurrency))
			require.Same(t, error(fe), batcher.Err())
		})
	}
}

// TestFatalErrorReachesEveryCoalescedCaller: callers sharing requests through a Coalescer all get
// the fatal error, and it is not retried caller by caller.
func TestFatalErrorReachesEveryCoalescedCaller(t *testing.T) {
	t.Parallel()
	b := setup(t, bedrocksim.Knobs{FailRate: 1, FailError: "AccessDeniedException"})
	batcher := embed.NewBatcher(b.cohere(embed.CohereOptions{}), fast(embed.Options{}))
	co := embed.NewCoalescer(t.Context(), batcher, 50*time.Millisecond)
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			_, st, err := co.EmbedAll(t.Context(), corpus(10, "caller"))
			require.ErrorIs(t, err, embed.ErrProviderFatal)
			require.Zero(t, st.Tokens)
		})
	}
	wg.Wait()
	require.LessOrEqual(t, b.sim.Stats().Requests, int64(2), "one request per group already formed, no per-caller retries")
}

// TestSilentProviderStopsWithinProviderTimeout: requests to an endpoint that never answers each
// time out and are retried; once none has succeeded for ProviderTimeout, the Batcher fails for
// good, naming the endpoint and the time waited, and concurrent callers get the same error.
func TestSilentProviderStopsWithinProviderTimeout(t *testing.T) {
	t.Parallel()
	url := "http://" + stacktest.SilentListener(t)
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDEMBEDTEST", "secret", "")}
	client := embed.NewBedrockClient(cfg, func(o *bedrockruntime.Options) { o.BaseEndpoint = aws.String(url) })
	batcher := embed.NewBatcher(embed.NewBedrockCohere(client, embed.CohereOptions{}),
		embed.Options{RequestTimeout: 100 * time.Millisecond, ProviderTimeout: 700 * time.Millisecond, MaxAttempts: 1000, Concurrency: 2,
			BackoffBase: time.Millisecond, BackoffMax: time.Second})
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			_, _, errs[i] = batcher.EmbedAll(t.Context(), corpus(200, "silent"))
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.ErrorIs(t, err, embed.ErrProviderFatal)
		require.Same(t, batcher.Err(), err)
	}
	msg := errs[0].Error()
	require.Contains(t, msg, "no embedding request to cohere.embed-multilingual-v3 at "+url+" succeeded for 700ms")
	require.Contains(t, msg, "--provider-timeout")
	require.Regexp(t, `no answer within \d+ms \((--request-timeout|what was left of --provider-timeout)\)`, msg, "the last failure is named")
	require.Zero(t, batcher.Stats().Tokens)
}

// flakyOpenAI answers 503 to the first fail requests, then vectors; it counts requests.
type flakyOpenAI struct {
	fail     int64
	status   int
	requests atomic.Int64
}

func (f *flakyOpenAI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := f.requests.Add(1)
	var req struct {
		Input []string `json:"input"`
	}
	_ = json.NewDecoder(r.Body).Decode(&req)
	if n <= f.fail {
		w.WriteHeader(f.status)
		_, _ = w.Write([]byte(`{"error":{"message":"injected"}}`))
		return
	}
	type datum struct {
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	}
	out := struct {
		Data []datum `json:"data"`
	}{}
	for i := range req.Input {
		out.Data = append(out.Data, datum{i, []float32{1, 0, 0}})
	}
	_ = json.NewEncoder(w).Encode(out)
}

func TestOpenAIDeniedIsFatal(t *testing.T) {
	t.Parallel()
	srv := &flakyOpenAI{fail: 1 << 30, status: http.StatusUnauthorized}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	p, err := embed.NewOpenAI(embed.OpenAIOptions{BaseURL: hs.URL, Model: "m", Dimensions: 3})
	require.NoError(t, err)
	_, _, err = embed.NewBatcher(p, fast(embed.Options{})).EmbedAll(t.Context(), corpus(10, "openai"))
	require.ErrorIs(t, err, embed.ErrProviderFatal)
	require.Contains(t, err.Error(), hs.URL+"/embeddings denies embeddings with m")
	require.Contains(t, err.Error(), "OPENAI_API_KEY")
	require.EqualValues(t, 1, srv.requests.Load())
}

// TestStallEndsWithASuccess: transient failures that stop before ProviderTimeout are retried as
// before and the Batcher goes on working.
func TestStallEndsWithASuccess(t *testing.T) {
	t.Parallel()
	srv := &flakyOpenAI{fail: 3, status: http.StatusServiceUnavailable}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	p, err := embed.NewOpenAI(embed.OpenAIOptions{BaseURL: hs.URL, Model: "m", Dimensions: 3})
	require.NoError(t, err)
	batcher := embed.NewBatcher(p, fast(embed.Options{ProviderTimeout: time.Hour}))
	vecs, st, err := batcher.EmbedAll(t.Context(), corpus(5, "flaky"))
	require.NoError(t, err)
	require.Len(t, vecs, 5)
	require.EqualValues(t, 3, st.Retries)
	require.NoError(t, batcher.Err())
}

// TestTokensCountOnlyAcceptedTexts: cost is the tokens of the texts that got vectors, counted
// once: a rejected text, throttled attempts and a call that fails count nothing.
func TestTokensCountOnlyAcceptedTexts(t *testing.T) {
	t.Parallel()
	tokensOf := func(texts []string) (n int64) {
		for _, s := range texts {
			n += int64(embed.EstimateTokens(s))
		}
		return n
	}
	t.Run("RejectedText", func(t *testing.T) {
		t.Parallel()
		b := setup(t, bedrocksim.Knobs{FailOnText: "POISON"})
		texts := corpus(40, "cost")
		texts[17] += " POISON"
		batcher := embed.NewBatcher(b.cohere(embed.CohereOptions{}), fast(embed.Options{}))
		vecs, st, err := batcher.EmbedAll(t.Context(), texts)
		require.ErrorAs(t, err, new(*embed.InputError))
		require.Nil(t, vecs[17])
		accepted := append(append([]string{}, texts[:17]...), texts[18:]...)
		require.Equal(t, tokensOf(accepted), st.Tokens)
		require.Equal(t, tokensOf(accepted), batcher.Stats().Tokens)
		require.EqualValues(t, 39, st.Texts)
		require.Greater(t, st.Requests, int64(1), "bisection sent more requests than one")
	})
	t.Run("Throttled", func(t *testing.T) {
		t.Parallel()
		b := setup(t, bedrocksim.Knobs{ThrottleRate: 0.5, Seed: 3})
		texts := corpus(300, "throttled")
		batcher := embed.NewBatcher(b.cohere(embed.CohereOptions{}), fast(embed.Options{MaxAttempts: 50}))
		_, st, err := batcher.EmbedAll(t.Context(), texts)
		require.NoError(t, err)
		require.Positive(t, st.Throttles)
		require.Equal(t, tokensOf(texts), st.Tokens, "throttled attempts are not billed")
	})
	t.Run("FailedCall", func(t *testing.T) {
		t.Parallel()
		b := setup(t, bedrocksim.Knobs{FailRate: 1, FailError: "InternalServerException"})
		batcher := embed.NewBatcher(b.cohere(embed.CohereOptions{}), fast(embed.Options{MaxAttempts: 3}))
		_, st, err := batcher.EmbedAll(t.Context(), corpus(10, "failed"))
		require.Error(t, err)
		require.EqualValues(t, 3, st.Requests)
		require.Zero(t, st.Tokens)
	})
	t.Run("CoalescedShares", func(t *testing.T) {
		t.Parallel()
		b := setup(t, bedrocksim.Knobs{FailOnText: "POISON"})
		batcher := embed.NewBatcher(b.cohere(embed.CohereOptions{}), fast(embed.Options{}))
		co := embed.NewCoalescer(t.Context(), batcher, time.Second)
		clean, poisoned := corpus(8, "clean"), corpus(8, "poisoned")
		poisoned[3] += " POISON"
		var wg sync.WaitGroup
		var stClean, stPoisoned embed.Stats
		wg.Go(func() { _, stClean, _ = co.EmbedAll(t.Context(), clean) })
		wg.Go(func() { _, stPoisoned, _ = co.EmbedAll(t.Context(), poisoned) })
		wg.Wait()
		require.Equal(t, tokensOf(clean), stClean.Tokens)
		require.EqualValues(t, 8, stClean.Texts)
		require.Equal(t, tokensOf(poisoned)-int64(embed.EstimateTokens(poisoned[3])), stPoisoned.Tokens)
		require.EqualValues(t, 7, stPoisoned.Texts)
		require.Equal(t, stClean.Tokens+stPoisoned.Tokens, batcher.Stats().Tokens)
	})
}

// TestThrottledStallSaysSo: a provider that throttles every request for ProviderTimeout stops the
// Batcher too, and the hint is about the budget, not the network.
func TestThrottledStallSaysSo(t *testing.T) {
	t.Parallel()
	b := setup(t, bedrocksim.Knobs{ThrottleRate: 1})
	batcher := embed.NewBatcher(b.cohere(embed.CohereOptions{}),
		embed.Options{ProviderTimeout: 300 * time.Millisecond, MaxAttempts: 1000, BackoffBase: time.Millisecond, BackoffMax: 20 * time.Millisecond})
	_, st, err := batcher.EmbedAll(t.Context(), corpus(10, "throttled"))
	require.ErrorIs(t, err, embed.ErrProviderFatal)
	require.ErrorContains(t, err, "succeeded for 300ms (--provider-timeout): ThrottlingException")
	require.ErrorContains(t, err, "lower --rpm and --tpm")
	require.Positive(t, st.Throttles)
	require.Zero(t, st.Tokens)
}
