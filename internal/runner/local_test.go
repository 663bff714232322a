package runner_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/reembed/botjob"
	"github.com/ragmigrate/ragmigrate/internal/runner"
)

func jobs(n int) []botjob.Job {
	out := make([]botjob.Job, n)
	for i := range out {
		out[i] = botjob.Job{RunID: 1, BotID: string(rune('a' + i))}
	}
	return out
}

func TestLocalRunsEveryJobWithinItsConcurrency(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	seen := map[string]bool{}
	var running, most atomic.Int32
	err := runner.Local{Concurrency: 3}.Run(t.Context(), jobs(20), func(_ context.Context, j botjob.Job) error {
		n := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		mu.Lock()
		seen[j.BotID] = true
		mu.Unlock()
		return nil
	})
	require.NoError(t, err)
	require.Len(t, seen, 20)
	require.LessOrEqual(t, most.Load(), int32(3))
}

// TestLocalStopsAtTheFirstError: a job's error cancels the others' context and starts no more.
func TestLocalStopsAtTheFirstError(t *testing.T) {
	t.Parallel()
	stop := errors.New("provider refuses every call")
	var started atomic.Int32
	err := runner.Local{Concurrency: 1}.Run(t.Context(), jobs(10), func(ctx context.Context, j botjob.Job) error {
		started.Add(1)
		if j.BotID == "c" {
			return stop
		}
		return ctx.Err()
	})
	require.ErrorIs(t, err, stop)
	require.EqualValues(t, 3, started.Load(), "with one job at a time, none starts after the failing one")
}

func TestLocalStartsNothingOnceCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := runner.Local{}.Run(ctx, jobs(5), func(context.Context, botjob.Job) error {
		t.Error("a job started after the run was interrupted")
		return nil
	})
	require.ErrorIs(t, err, context.Canceled)
}
