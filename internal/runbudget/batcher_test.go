package runbudget

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/embed"
)

// The Batcher's seam: Limiter, and the optional methods it looks for (its budgeted, charger and
// unsender interfaces).
var (
	_ embed.Limiter = (*Bucket)(nil)
	_ interface {
		Budget() (requestsPerMinute, tokensPerMinute float64)
		Charge(tokens int)
		Unsent(tokens int)
	} = (*Bucket)(nil)
)

// TestBatchersShareTheBudget: three workers' Batchers, each with the run's bucket on its own
// pool, embed with full batches and together keep to the run's budget.
func TestBatchersShareTheBudget(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	const workers, texts, batch, rpm = 3, 100, 10, 600
	hash, err := embed.NewHash(8)
	require.NoError(t, err)
	var rec admissions
	batchers := make([]*embed.Batcher, workers)
	for i := range batchers {
		b := tb.worker(t, Config{RequestsPerMinute: rpm})
		b.onAdmit = rec.hook
		batchers[i] = embed.NewBatcher(hash, embed.Options{Limiter: b, MaxBatch: batch})
	}
	ctx := stacktest.Context(t)
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for i, bt := range batchers {
		in := make([]string, texts)
		for j := range in {
			in[j] = fmt.Sprintf("worker %d text %d", i, j)
		}
		wg.Go(func() {
			_, _, errs[i] = bt.EmbedAll(ctx, in)
		})
	}
	wg.Wait()
	for i, bt := range batchers {
		require.NoError(t, errs[i])
		require.Equal(t, int64(texts/batch), bt.Stats().Requests, "worker %d sends full batches", i)
	}
	ats := rec.sorted()
	require.Len(t, ats, workers*texts/batch)
	cost := time.Duration(span / rpm * float64(time.Second))
	for i := 1; i < len(ats); i++ {
		require.GreaterOrEqual(t, ats[i].Sub(ats[i-1]), cost-2*time.Microsecond, "admissions %d and %d", i-1, i)
	}
}

// TestBatcherStopsWithoutTheDatabase: a worker whose database is gone fails its embedding with
// the cause named, instead of hanging or sending unpaced.
func TestBatcherStopsWithoutTheDatabase(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := stacktest.Context(t)
	pool, err := pgxpool.New(ctx, tb.url)
	require.NoError(t, err)
	b, err := Open(ctx, pool, tb.runID, Config{RequestsPerMinute: 600})
	require.NoError(t, err)
	pool.Close()
	hash, err := embed.NewHash(8)
	require.NoError(t, err)
	_, st, err := embed.NewBatcher(hash, embed.Options{Limiter: b}).EmbedAll(ctx, []string{"a", "b"})
	require.ErrorContains(t, err, "wait for the rate limiter: run")
	require.ErrorContains(t, err, "budget: reserve a request's slot")
	require.Zero(t, st.Requests, "nothing sent unpaced")
	require.NoError(t, ctx.Err())
}
