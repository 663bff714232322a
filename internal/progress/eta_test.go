package progress

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestETAFollowsTheRemainingWork is a re-embed's bar on a fake clock: ten bots without knowledge
// finish at once, then one bot a second. The ETA is unknown until the real work has a rate, then
// it is the remaining bots at one a second, counting down between completions. The average since
// the start read 3 s with 29 s left, and counted up between completions.
func TestETAFollowsTheRemainingWork(t *testing.T) {
	t.Parallel()
	clock := time.Unix(1_700_000_000, 0)
	p := New(Options{Now: func() time.Time { return clock }, Every: time.Hour})
	ph := p.Start("bots", Count, 40)
	clock = clock.Add(100 * time.Millisecond)
	ph.Add(10)
	clock = clock.Add(150 * time.Millisecond)
	require.Equal(t, time.Duration(-1), ph.read().eta, "no rate observed yet: no ETA, not 0 s")

	prev := time.Duration(1 << 62)
	for i := int64(1); i <= 29; i++ {
		clock = clock.Add(500 * time.Millisecond)
		mid := ph.read().eta
		if i == 1 {
			require.Equal(t, time.Duration(-1), mid, "still no rate observed")
		} else {
			require.Less(t, mid, prev, "between completions the ETA counts down (bot %d)", i)
		}
		clock = clock.Add(500 * time.Millisecond)
		ph.Add(1)
		s := ph.read()
		require.InDelta(t, float64(30-i), s.eta.Seconds(), 0.5, "bot %d: %d left at one a second", i, 30-i)
		if mid >= 0 {
			require.Less(t, s.eta, mid)
		}
		prev = s.eta
	}
	// The last bot takes far longer than the rest: once overdue the ETA is unknown, never 0 s
	// with work left.
	clock = clock.Add(700 * time.Millisecond)
	require.Equal(t, time.Duration(-1), ph.read().eta, "overdue")
	clock = clock.Add(20 * time.Second)
	require.Equal(t, time.Duration(-1), ph.read().eta, "still overdue")
	clock = clock.Add(20 * time.Second)
	ph.Add(1)
	require.Zero(t, ph.read().eta, "all done")
	p.Close()
}
