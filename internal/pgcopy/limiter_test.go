package pgcopy

import (
	"bufio"
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/progress"
	"github.com/ragmigrate/ragmigrate/internal/ratelimit"
)

// fakeClock jumps to the wake-up time (plus oversleep, like a busy machine's late timers)
// instead of sleeping, so the limiter's pacing can be checked exactly.
type fakeClock struct {
	mu        sync.Mutex
	now       time.Time
	oversleep time.Duration
	sleeps    int
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) SleepUntil(ctx context.Context, t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps++
	if t = t.Add(c.oversleep); t.After(c.now) {
		c.now = t
	}
	return ctx.Err()
}

// TestRateLimiterFakeClock drives the limiter from several workers with a fake clock: the
// bytes admitted by the end match the rate to within the burst, however late the sleeps wake.
func TestRateLimiterFakeClock(t *testing.T) {
	t.Parallel()
	const (
		rate    = 200 << 20
		workers = 4
		chunks  = 200 // per worker, of pipeBuffer bytes: 200 MiB in all, one second at rate
	)
	for name, oversleep := range map[string]time.Duration{"Exact": 0, "LateWakeUps": 3 * time.Millisecond} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			clock := &fakeClock{now: epoch, oversleep: oversleep}
			l := newRateLimiter(rate, clock)
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					for range chunks {
						require.NoError(t, l.wait(t.Context(), pipeBuffer))
					}
				})
			}
			wg.Wait()
			total := float64(workers * chunks * pipeBuffer)
			ideal := time.Duration(total / rate * float64(time.Second))
			elapsed := clock.Now().Sub(epoch)
			// The last chunk is admitted once it is no more than a burst ahead of the rate; a
			// late wake-up only delays that last admission.
			require.GreaterOrEqual(t, elapsed, ideal-l.burst)
			require.LessOrEqual(t, elapsed, ideal+oversleep)
			require.InDelta(t, rate, total/elapsed.Seconds(), 0.1*rate, "achieved rate")
			require.Less(t, clock.sleeps, workers*chunks, "waits are coarse: not every chunk sleeps")
		})
	}
}

// TestRateLimiterWallClock pushes ~5 KB rows from two workers through the data path's writers
// (counting, 256 KiB buffer, rate cap) on the real clock. Under a 200 MiB/s cap they must get
// well above half of it: the per-row limiter this one replaced held ~22 MB/s. The lower bound is
// wide on purpose (a loaded machine is slow); the upper one is exact: the last chunk is admitted
// no earlier than the time all the bytes take at the rate, less the burst.
func TestRateLimiterWallClock(t *testing.T) {
	t.Parallel()
	const (
		rate    = 200 << 20
		workers = 2
		perRow  = 5200
		rows    = 8000 // per worker: ~83 MB in all, ~0.4 s at the cap
	)
	l := newRateLimiter(rate, ratelimit.SystemClock{})
	phase := progress.New(progress.Options{}).Start("data", progress.Bytes, 0)
	row := make([]byte, perRow)
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			cw := &countingWriter{phase: phase}
			cw.w = bufio.NewWriterSize(&limitedWriter{ctx: t.Context(), w: io.Discard, limiter: l}, pipeBuffer)
			for range rows {
				_, err := cw.Write(row)
				require.NoError(t, err)
			}
			require.NoError(t, cw.flush())
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	total := float64(workers * rows * perRow)
	got := total / elapsed.Seconds()
	t.Logf("%.0f MiB/s under a %d MiB/s cap (%s)", got/(1<<20), rate>>20, elapsed)
	require.Greater(t, got, 0.5*rate, "the cap throttles far below itself")
	floor := time.Duration(total/rate*float64(time.Second)) - l.burst
	require.GreaterOrEqual(t, elapsed, floor, "the cap is exceeded")
}

func TestRateLimiterUnsetAndCancel(t *testing.T) {
	t.Parallel()
	require.Nil(t, newRateLimiter(0, ratelimit.SystemClock{}), "no cap, no limiter in the path")

	// At 1 byte per second the second MiB waits for days: a cancelled copy must not.
	l := newRateLimiter(1, ratelimit.SystemClock{})
	require.NoError(t, l.wait(t.Context(), 1), "the burst admits the first chunk at once")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, l.wait(ctx, 1<<20), context.Canceled)
}
