package embed_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/bedrocksim"
	"github.com/ragmigrate/ragmigrate/internal/embed"
	"github.com/ragmigrate/ragmigrate/internal/ratelimit"
)

// BenchmarkEmbedAllAgainstContractServer re-embeds b.N full Cohere batches
// (96 texts each) through four concurrent bots that share one Batcher and
// one limiter, against the contract server with 50 ms latency and a budget
// of 600 requests/min enforced on both sides. One op is one 96-text batch.
//
// Metrics:
//   - texts/s: chunks embedded per second of wall time;
//   - requests/chunk: 1/96 with full batches (the original sends 10 texts per
//     request: 0.1);
//   - budget_%: requests sent / requests the budget allowed over the run,
//     that is 1 + 10/s × elapsed (the limiter lets the first request go at
//     once); the goal is ≥ 90;
//   - throttles: ThrottlingExceptions the client saw.
//
// The budget paces the run at 10 requests/s, so use a fixed count for a
// stable figure: go test -run '^$' -bench EmbedAll -benchtime 300x
// ./internal/embed/ takes 30 s.
func BenchmarkEmbedAllAgainstContractServer(b *testing.B) {
	const (
		rpm      = 600
		batch    = 96
		maxBots  = 4
		latency  = 50 * time.Millisecond
		perRound = rpm / 60.0 // requests per second
	)
	tb := setup(b, bedrocksim.Knobs{Latency: latency, RequestsPerMinute: rpm})
	lim, err := ratelimit.New(ratelimit.Config{RequestsPerMinute: rpm})
	require.NoError(b, err)
	batcher := embed.NewBatcher(tb.cohere(embed.CohereOptions{}), embed.Options{Limiter: lim})

	// Whole 96-text blocks dealt round-robin to the bots, so that every
	// request can be full.
	bots := min(maxBots, b.N)
	work := make([][]string, bots)
	for blk := range b.N {
		work[blk%bots] = append(work[blk%bots], corpus(batch, fmt.Sprintf("bench%d", blk))...)
	}

	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, bots)
	for i := range bots {
		wg.Go(func() {
			_, _, errs[i] = batcher.EmbedAll(context.Background(), work[i])
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	for _, err := range errs {
		require.NoError(b, err)
	}

	st := batcher.Stats()
	texts := float64(b.N * batch)
	require.Equal(b, int64(texts), st.Texts)
	b.ReportMetric(texts/elapsed.Seconds(), "texts/s")
	b.ReportMetric(float64(st.Requests)/texts, "requests/chunk")
	b.ReportMetric(100*float64(st.Requests)/(1+perRound*elapsed.Seconds()), "budget_%")
	b.ReportMetric(float64(st.Throttles), "throttles")
}
