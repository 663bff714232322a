package embed_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/bedrocksim"
	"github.com/ragmigrate/ragmigrate/internal/embed"
)

// TestCoalescerFillsRequestsAcrossCallers: 16 bots of 12 chunks each, embedding at once, share
// full requests (192 texts = 2 requests of 96) instead of sending 16 small ones, and every bot
// gets exactly its own vectors.
func TestCoalescerFillsRequestsAcrossCallers(t *testing.T) {
	t.Parallel()
	b := setup(t, bedrocksim.Knobs{})
	batcher := embed.NewBatcher(b.cohere(embed.CohereOptions{}), fast(embed.Options{}))
	co := embed.NewCoalescer(t.Context(), batcher, time.Second)
	var wg sync.WaitGroup
	for bot := range 16 {
		wg.Go(func() {
			texts := corpus(12, fmt.Sprintf("bot %d", bot))
			vecs, st, err := co.EmbedAll(t.Context(), texts)
			require.NoError(t, err)
			requireVectors(t, bedrocksim.ModelCohereMultilingual, texts, vecs)
			require.EqualValues(t, 12, st.Texts)
		})
	}
	wg.Wait()
	s := b.sim.Stats()
	require.GreaterOrEqual(t, s.Texts, int64(192))
	require.EqualValues(t, 2+batcher.Stats().Retries, s.Requests, "full 96-text requests shared by the bots")
}

// TestCoalescerKeepsFailuresToTheirCaller: one caller's rejected chunk and another caller's
// over-long chunk fail those callers only.
func TestCoalescerKeepsFailuresToTheirCaller(t *testing.T) {
	t.Parallel()
	b := setup(t, bedrocksim.Knobs{FailOnText: "POISON"})
	batcher := embed.NewBatcher(b.cohere(embed.CohereOptions{}), fast(embed.Options{}))
	co := embed.NewCoalescer(t.Context(), batcher, 300*time.Millisecond)
	inputs := map[string][]string{
		"good":   corpus(30, "good"),
		"poison": append(corpus(10, "p"), "a POISON chunk", "after"),
		"long":   append(corpus(5, "l"), strings.Repeat("x", 2049)),
	}
	type res struct {
		vecs [][]float32
		err  error
	}
	out := map[string]res{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, texts := range inputs {
		wg.Go(func() {
			vecs, _, err := co.EmbedAll(t.Context(), texts)
			mu.Lock()
			out[name] = res{vecs, err}
			mu.Unlock()
		})
	}
	wg.Wait()
	require.NoError(t, out["good"].err)
	requireVectors(t, bedrocksim.ModelCohereMultilingual, inputs["good"], out["good"].vecs)

	var ie *embed.InputError
	require.ErrorAs(t, out["poison"].err, &ie)
	require.Len(t, ie.Texts, 1)
	require.Equal(t, 10, ie.Texts[0].Index, "the index is the caller's own")
	requireVectors(t, bedrocksim.ModelCohereMultilingual, inputs["poison"], out["poison"].vecs, 10)

	require.ErrorIs(t, out["long"].err, embed.ErrTooLong)
}

func TestCoalescerHonoursCancellation(t *testing.T) {
	t.Parallel()
	b := setup(t, bedrocksim.Knobs{Latency: time.Second})
	co := embed.NewCoalescer(t.Context(), embed.NewBatcher(b.cohere(embed.CohereOptions{}), fast(embed.Options{})), 10*time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, _, err := co.EmbedAll(ctx, corpus(3, "c"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

// TestCoalescerSharesAddUpToTheRequests: the callers' shares of shared requests add up to the
// requests sent, since ragmigrate's workers report a run's requests as the sum of its bots'
// shares (8 bots of 12 texts share a request: each rounded its 1/8 to 0, and the run said 0).
func TestCoalescerSharesAddUpToTheRequests(t *testing.T) {
	t.Parallel()
	b := setup(t, bedrocksim.Knobs{})
	batcher := embed.NewBatcher(b.cohere(embed.CohereOptions{}), fast(embed.Options{}))
	co := embed.NewCoalescer(t.Context(), batcher, time.Second)
	var (
		mu       sync.Mutex
		requests int64
		wg       sync.WaitGroup
	)
	for bot := range 16 {
		wg.Go(func() {
			_, st, err := co.EmbedAll(t.Context(), corpus(12, fmt.Sprintf("bot %d", bot)))
			require.NoError(t, err)
			mu.Lock()
			requests += st.Requests
			mu.Unlock()
		})
	}
	wg.Wait()
	all := batcher.Stats()
	require.Positive(t, all.Requests)
	require.Equal(t, all.Requests, requests, "the callers' shares of the requests sent")
}
