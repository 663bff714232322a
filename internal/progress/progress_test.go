package progress_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/progress"
)

// syncBuffer is a bytes.Buffer safe for the renderer and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestBarOnTerminal(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	p := progress.New(progress.Options{Out: &out, Terminal: true})
	ph := p.Start("data", progress.Bytes, 100e6)
	ph.SetRows(1000)
	ph.SetParts(4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			ph.Add(10e6)
			ph.AddRows(100)
			ph.PartDone()
		})
	}
	wg.Wait()
	// An ETA needs a rate, observed between two readings of the bar.
	require.Eventually(t, func() bool { return strings.Contains(out.String(), " 40%") }, 5*time.Second, 10*time.Millisecond)
	ph.Add(1e6)
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "ETA") }, 5*time.Second, 50*time.Millisecond)
	live := out.String()
	require.Contains(t, live, "\r\033[K")
	require.Contains(t, live, " 40%")
	require.Contains(t, live, "400/1000 rows")
	require.Contains(t, live, "40 MB/100 MB")
	require.Contains(t, live, "MB/s")
	require.Contains(t, live, "parts 4/4")
	p.End(ph)
	ix := p.Start("index", progress.Count, 0)
	ix.Set(50, 200)
	ix.SetDetail("idx: loading tuples")
	p.Close()
	final := out.String()
	require.Contains(t, final, "100%")
	require.Contains(t, final, "idx: loading tuples")
	require.True(t, strings.HasSuffix(final, "\n"), "the bar ends its line")
}

func TestWriterClearsTheBar(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	p := progress.New(progress.Options{Out: &out, Terminal: true})
	_, err := p.Writer(&out).Write([]byte("level=INFO msg=x\n"))
	require.NoError(t, err)
	p.Close()
	require.Equal(t, "\r\033[Klevel=INFO msg=x\n", out.String())
	var plain bytes.Buffer
	q := progress.New(progress.Options{})
	require.Equal(t, &plain, q.Writer(&plain), "no terminal: unchanged")
	q.Close()
}

func TestLogLinesWithoutTerminal(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	p := progress.New(progress.Options{Logger: logger, Every: 20 * time.Millisecond})
	ph := p.Start("data", progress.Bytes, 10e6)
	ph.Add(5e6)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "msg=progress") }, 5*time.Second, 10*time.Millisecond)
	p.Close()
	s := logs.String()
	require.Contains(t, s, "phase=data")
	require.Contains(t, s, "mb_per_s=")
	require.Contains(t, s, "msg=\"phase done\"")
	require.NotContains(t, s, "\r", "no terminal control characters in logs")
}

// TestStoppedPhase: a phase its caller marks stopped (an interrupt) does not end with "phase
// done".
func TestStoppedPhase(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	p := progress.New(progress.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ph := p.Start("bots", progress.Count, 16)
	ph.Add(6)
	ph.Stop()
	p.Close()
	require.Contains(t, logs.String(), `msg="phase stopped" phase=bots done=6 total=16`)
	require.NotContains(t, logs.String(), "phase done")
}

// TestFinishedBytesPhaseTotal: a byte phase's total is an estimate; once the phase is done its
// last line says what it moved, not done above (or below) the estimate.
func TestFinishedBytesPhaseTotal(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	p := progress.New(progress.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ph := p.Start("data", progress.Bytes, 727870)
	ph.Add(732744)
	p.End(ph)
	bots := p.Start("bots", progress.Count, 16)
	bots.Add(15)
	p.Close()
	require.Contains(t, logs.String(), `msg="phase done" phase=data done=732744 total=732744`)
	require.Contains(t, logs.String(), `msg="phase done" phase=bots done=15 total=16`, "a count's total is exact: not rewritten")
}

func TestPlural(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want string
	}{{0, "0 bots"}, {1, "1 bot"}, {2, "2 bots"}, {-1, "-1 bots"}} {
		require.Equal(t, c.want, progress.Plural(c.n, "bot", "bots"))
	}
}
