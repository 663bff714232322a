// Package progress shows the progress of long-running work: a live bar with rate and ETA when stderr
// is a terminal, and periodic structured log lines otherwise (CI, files, pipes), so the same code
// serves a person watching and a log collector.
//
// # Overview
//
// A Phase is one measurable stretch of work with a known total (bytes of a table, tuples of an
// index build). Workers call Add concurrently; a single goroutine renders. Counters are atomic, so
// reporting never slows the work it reports on.
package progress

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Progress.
type Options struct {
	// Out receives the live bar; it is only used when Terminal is true.
	Out io.Writer
	// Terminal selects the live bar; otherwise progress goes to Logger.
	Terminal bool
	Logger   *slog.Logger
	// Every is how often a log line is written without a terminal (default 10s); the bar redraws
	// every 250ms.
	Every time.Duration
	// Now is the clock (default time.Now); tests replace it.
	Now func() time.Time
}

// Progress renders the current phase.
type Progress struct {
	opts Options
	mu   sync.Mutex
	cur  *Phase
	stop chan struct{}
	done chan struct{}
}

// New starts a Progress; Close stops it.
func New(opts Options) *Progress {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Every <= 0 {
		opts.Every = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	p := &Progress{opts: opts, stop: make(chan struct{}), done: make(chan struct{})}
	go p.loop()
	return p
}

// Unit says how a phase's amounts print.
type Unit int

const (
	// Count prints plain numbers (tuples, blocks).
	Count Unit = iota
	// Bytes prints MB and MB/s.
	Bytes
)

// Phase is one stretch of work with a total. All methods are safe for concurrent use.
type Phase struct {
	Name  string
	Unit  Unit
	start time.Time
	now   func() time.Time

	// The ETA's evidence, kept by read (see eta).
	mu         sync.Mutex
	samples    []sample // readings since the first that saw work done, within rateWindow
	lastChange sample   // the reading at which done last changed

	total, done     atomic.Int64
	rows, rowsTotal atomic.Int64
	parts, partsTot atomic.Int64
	detail          atomic.Pointer[string]
	ended           atomic.Bool
	stopped         atomic.Bool
}

// Start makes name the current phase, ending the previous one.
func (p *Progress) Start(name string, unit Unit, total int64) *Phase {
	ph := &Phase{Name: name, Unit: unit, start: p.opts.Now(), now: p.opts.Now}
	ph.total.Store(total)
	p.mu.Lock()
	prev := p.cur
	p.cur = ph
	p.mu.Unlock()
	if prev != nil && !prev.ended.Load() {
		p.End(prev)
	}
	return ph
}

// Stop marks ph as ending short of its work (an interrupt, an error): its last log line says
// "phase stopped", not "phase done".
func (ph *Phase) Stop() { ph.stopped.Store(true) }

// Add counts n more units done (negative to take back a failed attempt).
func (ph *Phase) Add(n int64) { ph.done.Add(n) }

// Set replaces the amount done and the total (an index build reports absolute numbers).
func (ph *Phase) Set(done, total int64) {
	ph.done.Store(done)
	ph.total.Store(total)
}

// SetRows sets the expected number of rows, shown beside the main amount.
func (ph *Phase) SetRows(total int64) { ph.rowsTotal.Store(total) }

// AddRows counts rows done.
func (ph *Phase) AddRows(n int64) { ph.rows.Add(n) }

// SetParts sets the number of parts.
func (ph *Phase) SetParts(total int64) { ph.partsTot.Store(total) }

// PartDone counts one part done.
func (ph *Phase) PartDone() { ph.parts.Add(1) }

// SetDetail shows a short status, e.g. an index build's phase.
func (ph *Phase) SetDetail(s string) { ph.detail.Store(&s) }

// Elapsed is the time since the phase started.
func (ph *Phase) Elapsed() time.Duration { return ph.now().Sub(ph.start) }

// End finishes ph: the bar gets its final state on a line of its own, the log a final line.
func (p *Progress) End(ph *Phase) {
	if ph == nil || ph.ended.Swap(true) {
		return
	}
	if ph.Unit == Bytes && !ph.stopped.Load() {
		// A byte total is an estimate (a relation's size is not its COPY stream's): a phase
		// that finished moved exactly what it did.
		ph.total.Store(ph.done.Load())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.opts.Terminal {
		fmt.Fprintf(p.opts.Out, "\r\033[K%s\n", ph.line(true))
	} else {
		msg := "phase done"
		if ph.stopped.Load() {
			msg = "phase stopped"
		}
		p.opts.Logger.LogAttrs(context.Background(), slog.LevelInfo, msg, ph.attrs(true)...)
	}
	if p.cur == ph {
		p.cur = nil
	}
}

// Writer returns w wrapped so that lines written through it (log lines on the same terminal) clear
// the bar first instead of running into it; the bar redraws below them on its next tick. Without
// a terminal it returns w.
func (p *Progress) Writer(w io.Writer) io.Writer {
	if !p.opts.Terminal {
		return w
	}
	return writerFunc(func(b []byte) (int, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if _, err := io.WriteString(w, "\r\033[K"); err != nil {
			return 0, err
		}
		return w.Write(b)
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// Close ends the current phase and stops rendering.
func (p *Progress) Close() {
	p.mu.Lock()
	cur := p.cur
	p.mu.Unlock()
	p.End(cur)
	close(p.stop)
	<-p.done
}

func (p *Progress) loop() {
	defer close(p.done)
	every := p.opts.Every
	if p.opts.Terminal {
		every = 250 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		p.mu.Lock()
		if ph := p.cur; ph != nil && !ph.ended.Load() {
			if p.opts.Terminal {
				fmt.Fprintf(p.opts.Out, "\r\033[K%s", ph.line(false))
			} else {
				p.opts.Logger.LogAttrs(context.Background(), slog.LevelInfo, "progress", ph.attrs(false)...)
			}
		}
		p.mu.Unlock()
	}
}

// snapshot is a consistent-enough reading of a phase for one line.
type snapshot struct {
	done, total, rows, rowsTotal, parts, partsTotal int64
	elapsed                                         time.Duration
	detail                                          string
	eta                                             time.Duration // -1: unknown
}

// sample is the amount done at one reading.
type sample struct {
	at   time.Time
	done int64
}

// rateWindow is how far back the ETA's rate looks, so that it follows a rate that changes.
const rateWindow = 30 * time.Second

func (ph *Phase) read() snapshot {
	now := ph.now()
	s := snapshot{
		done: ph.done.Load(), total: ph.total.Load(), rows: ph.rows.Load(), rowsTotal: ph.rowsTotal.Load(),
		parts: ph.parts.Load(), partsTotal: ph.partsTot.Load(), elapsed: now.Sub(ph.start),
	}
	if d := ph.detail.Load(); d != nil {
		s.detail = *d
	}
	s.eta = ph.eta(now, s.done, s.total)
	return s
}

func (s snapshot) rate() float64 {
	return float64(s.done) / math.Max(s.elapsed.Seconds(), 1e-3)
}

// eta records this reading and estimates the time left: the remaining work at the rate observed
// since the first reading that saw work done (at most rateWindow back), up to the last change.
//
// The average since the start would be wrong twice over. Work done before any reading — bots
// without knowledge, or that fail before reading, all finish at once — says nothing about the
// rate of the rest, yet made it look instant: the ETA read 0 s and then counted up while the
// real work went on. And measured up to now rather than to the last change, the rate falls
// between completions, so the ETA rises between them; measured to the last change, it counts
// down with the clock. Should it run out while work remains, the rest is slower than anything
// observed (the last bots are the big ones), and there is no honest number: unknown, not 0 s.
// -1: unknown.
func (ph *Phase) eta(now time.Time, done, total int64) time.Duration {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	if len(ph.samples) == 0 && done <= 0 {
		return -1
	}
	cur := sample{at: now, done: done}
	if len(ph.samples) == 0 || done != ph.lastChange.done {
		ph.lastChange = cur
	}
	ph.samples = append(ph.samples, cur)
	for len(ph.samples) > 2 && !ph.samples[1].at.After(now.Add(-rateWindow)) {
		ph.samples = ph.samples[1:]
	}
	base, last := ph.samples[0], ph.lastChange
	switch {
	case total <= 0 || done > total:
		return -1
	case done == total:
		return 0
	case last.done <= base.done || !last.at.After(base.at):
		return -1
	}
	remaining, worked := float64(total-done), float64(last.done-base.done)
	eta := remaining/worked*last.at.Sub(base.at).Seconds() - now.Sub(last.at).Seconds()
	if eta < 0.5 { // it would print as 0 s with work left
		return -1
	}
	return time.Duration(eta * float64(time.Second))
}

const barWidth = 24

func (ph *Phase) line(final bool) string {
	s := ph.read()
	var b strings.Builder
	fmt.Fprintf(&b, "%-12s ", ph.Name)
	frac := 0.0
	if s.total > 0 {
		frac = math.Min(1, float64(s.done)/float64(s.total))
	}
	if final {
		frac = 1
	}
	fill := int(frac * barWidth)
	fmt.Fprintf(&b, "[%s%s] %3.0f%%", strings.Repeat("#", fill), strings.Repeat(".", barWidth-fill), frac*100)
	if s.rowsTotal > 0 || s.rows > 0 {
		fmt.Fprintf(&b, "  %d/%d rows", s.rows, s.rowsTotal)
	}
	switch ph.Unit {
	case Bytes:
		fmt.Fprintf(&b, "  %s/%s  %.1f MB/s", mb(s.done), mb(s.total), s.rate()/1e6)
	default:
		if s.total > 0 {
			fmt.Fprintf(&b, "  %d/%d", s.done, s.total)
		}
	}
	if s.partsTotal > 0 {
		fmt.Fprintf(&b, "  parts %d/%d", s.parts, s.partsTotal)
	}
	if s.detail != "" {
		fmt.Fprintf(&b, "  %s", s.detail)
	}
	if final {
		fmt.Fprintf(&b, "  in %s", s.elapsed.Round(100*time.Millisecond))
	} else if eta := s.eta; eta >= 0 {
		fmt.Fprintf(&b, "  ETA %s", eta.Round(time.Second))
	}
	return b.String()
}

func (ph *Phase) attrs(final bool) []slog.Attr {
	s := ph.read()
	a := []slog.Attr{slog.String("phase", ph.Name), slog.Int64("done", s.done), slog.Int64("total", s.total)}
	if s.rowsTotal > 0 || s.rows > 0 {
		a = append(a, slog.Int64("rows", s.rows), slog.Int64("rows_total", s.rowsTotal))
	}
	if ph.Unit == Bytes {
		a = append(a, slog.Float64("mb_per_s", math.Round(s.rate()/1e5)/10))
	}
	if s.partsTotal > 0 {
		a = append(a, slog.Int64("parts", s.parts), slog.Int64("parts_total", s.partsTotal))
	}
	if s.detail != "" {
		a = append(a, slog.String("detail", s.detail))
	}
	a = append(a, slog.Duration("elapsed", s.elapsed.Round(time.Millisecond)))
	if eta := s.eta; !final && eta >= 0 {
		a = append(a, slog.Duration("eta", eta.Round(time.Second)))
	}
	return a
}

func mb(n int64) string {
	return fmt.Sprintf("%.0f MB", float64(n)/1e6)
}

// Size formats a byte count for people, in binary units (1.5 MiB).
func Size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Plural formats n things for people, the noun agreeing with n: "1 bot", "0 bots", "12 bots".
// one and many are the noun's two forms, given whole as English plurals are not all an added s.
func Plural[N ~int | ~int32 | ~int64](n N, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
