package pgcopy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/ragmigrate/ragmigrate/internal/progress"
	"github.com/ragmigrate/ragmigrate/internal/ratelimit"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// pipeBuffer batches the source's one-message-per-row CopyData into large writes, so the pipe
// hands the target side 256 KiB at a time instead of one ~5 KB row.
const pipeBuffer = 256 << 10

// copyData copies every part not yet done, cfg.Jobs at a time, from one exported snapshot.
func copyData(ctx context.Context, cfg Config, jobs []*tableJob) (err error) {
	type work struct {
		job  *tableJob
		part Part
	}
	var todo []work
	var estBytes, rows int64
	var total, skipped int
	for _, j := range jobs {
		done := 0
		for _, p := range j.parts {
			total++
			if p.Done {
				done++
				continue
			}
			todo = append(todo, work{j, p})
		}
		skipped += done
		est := j.src.EstStreamBytes
		if n := len(j.parts); n > 0 {
			est = est * int64(n-done) / int64(n)
		}
		estBytes += est
		rows += j.src.Rows
		for _, p := range j.parts {
			if p.Done {
				rows -= p.Rows
			}
		}
	}
	phase := cfg.Progress.Start("data", progress.Bytes, estBytes)
	defer cfg.Progress.End(phase)
	defer func() {
		if err != nil {
			phase.Stop()
		}
	}()
	phase.SetParts(int64(len(todo)))
	phase.SetRows(max(rows, 0))
	if skipped > 0 {
		cfg.Logger.InfoContext(ctx, "resuming: parts already copied are skipped", slog.Int("parts_done", skipped), slog.Int("parts", total))
	}
	if len(todo) == 0 {
		return nil
	}

	cleanup := context.WithoutCancel(ctx)
	snapshot := cfg.Snapshot
	if snapshot == "" {
		var release func()
		var err error
		if snapshot, release, err = exportSnapshot(ctx, cfg); err != nil {
			return err
		}
		defer release()
	}

	limiter := newRateLimiter(cfg.MaxRate, ratelimit.SystemClock{})
	queue := make(chan work)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(queue)
		for _, w := range todo {
			select {
			case queue <- w:
			case <-gctx.Done():
				return nil
			}
		}
		return nil
	})
	for range min(cfg.Jobs, len(todo)) {
		g.Go(func() error {
			wk := &worker{cfg: cfg, snapshot: snapshot, phase: phase, limiter: limiter}
			defer wk.close(cleanup)
			for w := range queue {
				if err := wk.part(gctx, w.job, w.part); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// worker copies parts one after another on its own pair of connections, replacing a connection
// that breaks.
type worker struct {
	cfg      Config
	snapshot string
	phase    *progress.Phase
	limiter  *rateLimiter
	src, dst *pgx.Conn
}

func (w *worker) close(ctx context.Context) {
	closeConn(ctx, w.src)
	closeConn(ctx, w.dst)
}

// part copies one part, retrying on fresh connections when a connection is lost or terminated.
// A failed attempt leaves nothing behind: its target transaction rolls back.
func (w *worker) part(ctx context.Context, j *tableJob, p Part) error {
	log := w.cfg.Logger.With(slog.String("table", j.targetRaw), slog.Int("part", p.Part))
	for attempt := 1; ; attempt++ {
		start := time.Now()
		rows, bytes, err := w.attempt(ctx, j, p, attempt)
		if err == nil {
			j.mu.Lock()
			j.result.RowsThisInvocation += rows
			j.result.BytesThisInvocation += bytes
			j.mu.Unlock()
			w.phase.PartDone()
			log.DebugContext(ctx, "part copied", slog.Int64("rows", rows), slog.Int64("bytes", bytes), slog.Duration("elapsed", time.Since(start)))
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("copy part %d of %s: %w", p.Part, j.targetRaw, ctx.Err())
		}
		if !retryable(err) || attempt >= maxAttempts {
			return fmt.Errorf("copy part %d of %s (attempt %d): %w", p.Part, j.targetRaw, attempt, err)
		}
		if attempt == 1 {
			j.mu.Lock()
			j.result.PartsRetried++
			j.mu.Unlock()
		}
		log.WarnContext(ctx, "part failed; retrying on new connections", slog.Int("attempt", attempt), slog.String("error", err.Error()))
		w.close(context.WithoutCancel(ctx))
		w.src, w.dst = nil, nil
		select {
		case <-ctx.Done():
			return fmt.Errorf("copy part %d of %s: %w", p.Part, j.targetRaw, ctx.Err())
		case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
		}
	}
}

func (w *worker) connect(ctx context.Context) error {
	var err error
	if w.src == nil || w.src.IsClosed() {
		if w.src, err = connect(ctx, w.cfg.SourceURL, w.cfg.Timeouts, connWork); err != nil {
			return fmt.Errorf("source: %w", err)
		}
	}
	if w.dst == nil || w.dst.IsClosed() {
		if w.dst, err = connect(ctx, w.cfg.TargetURL, w.cfg.Timeouts, connWork); err != nil {
			return fmt.Errorf("target: %w", err)
		}
		// A part and its journal record commit together, so losing the last commits in a
		// server crash only means copying those parts again; no need to wait for the WAL flush.
		if _, err := w.dst.Exec(ctx, `SET synchronous_commit = off`); err != nil {
			return fmt.Errorf("target: %w", err)
		}
	}
	return nil
}

// attempt streams one part: COPY TO on the source, through a pipe, into COPY FROM on the target,
// then records the part done in the same target transaction.
func (w *worker) attempt(ctx context.Context, j *tableJob, p Part, attempt int) (rows, bytes int64, err error) {
	if err := w.connect(ctx); err != nil {
		return 0, 0, err
	}
	cleanup := context.WithoutCancel(ctx)
	srcTx, err := w.src.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, 0, fmt.Errorf("source: %w", err)
	}
	defer srcTx.Rollback(cleanup)
	if _, err := srcTx.Exec(ctx, `SET TRANSACTION SNAPSHOT `+vectorstore.QuoteLiteral(w.snapshot)); err != nil {
		return 0, 0, fmt.Errorf("source: import snapshot: %w", err)
	}
	dstTx, err := w.dst.Begin(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("target: %w", err)
	}
	defer dstTx.Rollback(cleanup)
	claimed, err := ClaimPart(ctx, dstTx, p)
	if err != nil {
		return 0, 0, fmt.Errorf("target: %w", err)
	}
	if !claimed {
		return 0, 0, nil // done by an earlier attempt whose commit reply was lost
	}

	pr, pw := io.Pipe()
	var out io.Writer = pw
	if w.limiter != nil {
		// Charged per buffered chunk; without a cap nothing stands between buffer and pipe.
		out = &limitedWriter{ctx: ctx, w: pw, limiter: w.limiter}
	}
	cw := &countingWriter{phase: w.phase}
	cw.w = bufio.NewWriterSize(out, pipeBuffer)
	var outErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		_, outErr = w.src.PgConn().CopyTo(ctx, cw, copyOutSQL(j.src, p))
		if outErr == nil {
			outErr = cw.flush()
		}
		pw.CloseWithError(outErr) // nil: the target sees EOF, the end of the stream
	})
	tag, inErr := w.dst.PgConn().CopyFrom(ctx, pr, copyInSQL(j.src, j.target))
	// Unblock the source side if the target stopped reading early.
	pr.CloseWithError(cmpErr(inErr, io.ErrClosedPipe))
	wg.Wait()
	counted := cw.bytes.Load()
	if outErr != nil || inErr != nil {
		w.phase.Add(-counted)
		w.phase.AddRows(-cw.rows.Load())
		// Each side's failure stops the other: a source failure reaches the target as a CopyFail,
		// a target failure reaches the source as a pipe error carrying the target's error.
		if outErr != nil && (inErr == nil || !errors.Is(outErr, inErr)) {
			return 0, 0, fmt.Errorf("source: read part: %w", outErr)
		}
		return 0, 0, fmt.Errorf("target: write part: %w", inErr)
	}
	rows = tag.RowsAffected()
	// The row count is exact only now; the live count counted CopyData messages.
	w.phase.AddRows(rows - cw.rows.Load())
	if err := MarkPartDone(ctx, dstTx, p, rows, counted, attempt); err != nil {
		return 0, 0, fmt.Errorf("target: %w", err)
	}
	// A part the target committed is counted as loaded, interrupt or not.
	if err := vectorstore.Commit(ctx, dstTx); err != nil {
		w.phase.Add(-counted)
		w.phase.AddRows(-rows)
		return 0, 0, fmt.Errorf("target: commit part: %w", err)
	}
	_ = srcTx.Commit(ctx) // read-only: nothing to keep
	return rows, counted, nil
}

func cmpErr(err, fallback error) error {
	if err != nil {
		return err
	}
	return fallback
}

// countingWriter counts what the source sends, for progress, and buffers it. The source writes
// one CopyData message (one row) per call.
type countingWriter struct {
	w     *bufio.Writer
	phase *progress.Phase
	bytes atomic.Int64
	rows  atomic.Int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.bytes.Add(int64(n))
	c.rows.Add(1)
	c.phase.Add(int64(n))
	c.phase.AddRows(1)
	return n, err
}

func (c *countingWriter) flush() error { return c.w.Flush() }

// rateLimiter is a token bucket over bytes, shared by all workers, so that the run as a whole
// reads at most rate bytes per second from the source. It is charged once per buffered chunk
// (pipeBuffer, 256 KiB), not per row, and sleeps only when the workers together are more than
// a burst ahead of the rate: a sleep of a few milliseconds is all the operating system times
// well. It keeps the theoretical arrival time of the next byte (GCRA), so a sleep that overshoots
// leaves its excess as credit for the next chunks instead of losing it: the previous limiter
// slept once per ~5 KB row in microsecond steps, lost every overshoot, and held 22 MB/s under a
// 200 MB cap.
type rateLimiter struct {
	rate  float64       // bytes per second
	burst time.Duration // how far the workers may run ahead of rate
	clock ratelimit.Clock
	mu    sync.Mutex
	tat   time.Time // when the bytes admitted so far are paid for at rate
}

// minBurstBytes lets a burst hold at least two chunks, so a worker's next chunk rarely waits
// behind its own.
const minBurstBytes = 2 * pipeBuffer

// newRateLimiter caps the bytes per second; nil (no cap) when rate is 0. The burst is 50 ms of
// the rate, enough to absorb a late wake-up on a busy machine, and at least minBurstBytes.
func newRateLimiter(rate int64, clock ratelimit.Clock) *rateLimiter {
	if rate <= 0 {
		return nil
	}
	r := float64(rate)
	return &rateLimiter{
		rate:  r,
		burst: max(50*time.Millisecond, time.Duration(minBurstBytes/r*float64(time.Second))),
		clock: clock,
	}
}

// wait admits n bytes, sleeping until the bucket has room for them or ctx ends.
func (l *rateLimiter) wait(ctx context.Context, n int) error {
	l.mu.Lock()
	now := l.clock.Now()
	if l.tat.Before(now) {
		l.tat = now // idle time earns no more credit than the burst
	}
	l.tat = l.tat.Add(time.Duration(float64(n) / l.rate * float64(time.Second)))
	at := l.tat.Add(-l.burst)
	l.mu.Unlock()
	if !at.After(now) {
		return nil
	}
	return l.clock.SleepUntil(ctx, at)
}

// limitedWriter charges what passes through it to a rateLimiter.
type limitedWriter struct {
	ctx     context.Context // the part's: a cancelled copy stops waiting
	w       io.Writer
	limiter *rateLimiter
}

func (l *limitedWriter) Write(b []byte) (int, error) {
	if err := l.limiter.wait(l.ctx, len(b)); err != nil {
		return 0, err
	}
	return l.w.Write(b)
}
