package runbudget

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
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

// BenchmarkWorkersAgainstTheQuota runs three workers, each a Batcher with the run's bucket on a
// pool of its own, against the Bedrock contract server enforcing a quota of 120 requests over a
// sliding minute, the budget the run was given. Every worker sends full 96-text batches. One op is
// the whole run (150 requests, over a minute: use -benchtime 1x).
//
// Metrics: throttles the provider answered (the goal is 0: together under the quota); floor_x,
// the wall time over the quota's floor for the requests (requests / 120 a minute; the bar is
// ≤ 1.3); requests/chunk (1/96 with full batches).
//
//	go test -run '^$' -bench WorkersAgainstTheQuota -benchtime 1x ./internal/runbudget/
//
// Seen: 150 requests in 75.5 s, 0 throttles, 1.007 × the floor, 1/96 requests per chunk.
func BenchmarkWorkersAgainstTheQuota(b *testing.B) {
	const (
		workers   = 3
		perWorker = 50 // requests
		batch     = 96
		quota     = 120
	)
	tb := setup(b)
	sim := bedrocksim.New(bedrocksim.Knobs{Latency: 50 * time.Millisecond, RequestsPerMinute: quota}, nil)
	hs := httptest.NewServer(sim)
	b.Cleanup(hs.Close)
	client := embed.NewBedrockClient(aws.Config{Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDBUDGETTEST", "secret", "")},
		func(o *bedrockruntime.Options) { o.BaseEndpoint = aws.String(hs.URL) })
	ctx := stacktest.Context(b)
	for b.Loop() {
		batchers := make([]*embed.Batcher, workers)
		for i := range batchers {
			bucket := tb.worker(b, Config{RequestsPerMinute: quota})
			batchers[i] = embed.NewBatcher(embed.NewBedrockCohere(client, embed.CohereOptions{}), embed.Options{Limiter: bucket})
		}
		start := time.Now()
		var wg sync.WaitGroup
		errs := make([]error, workers)
		for i, bt := range batchers {
			texts := make([]string, perWorker*batch)
			for j := range texts {
				texts[j] = fmt.Sprintf("worker %d chunk %d: %s", i, j, strings.Repeat("the quick brown fox ", 10))
			}
			wg.Go(func() { _, _, errs[i] = bt.EmbedAll(ctx, texts) })
		}
		wg.Wait()
		elapsed := time.Since(start)
		var requests int64
		for i, bt := range batchers {
			require.NoError(b, errs[i])
			requests += bt.Stats().Requests
		}
		st := sim.Stats()
		floor := time.Duration(float64(st.Succeeded) / quota * float64(time.Minute))
		b.ReportMetric(float64(st.Throttled), "throttles")
		b.ReportMetric(elapsed.Seconds()/floor.Seconds(), "floor_x")
		b.ReportMetric(float64(requests)/float64(workers*perWorker*batch), "requests/chunk")
		b.ReportMetric(elapsed.Seconds(), "s")
	}
}
