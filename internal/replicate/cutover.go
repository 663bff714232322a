package replicate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ragmigrate/ragmigrate/internal/journal"
	"github.com/ragmigrate/ragmigrate/internal/verify"
)

// ErrMismatch is returned (wrapped) when the verify checks at cutover find a difference; the
// replication is left running.
var ErrMismatch = errors.New("the target differs from the source")

// ErrWritesAfterCut is returned (wrapped) when the source's replicated tables took writes after
// the position cutover waited for: writes had not stopped. The replication is left running.
var ErrWritesAfterCut = errors.New("the source took writes after the confirmation that writes had stopped")

// ErrNotStreaming is returned (wrapped) when cutover is asked for a run that does not stream.
var ErrNotStreaming = errors.New("the replication run is not streaming")

// CutoverConfig is one cutover.
type CutoverConfig struct {
	Options
	// Timeout bounds the wait for the target to apply the source's current LSN.
	Timeout time.Duration
	// Queries is the number of bots sampled for search equivalence in the verify step.
	Queries int
}

// CutoverResult reports a cutover; it is the command's JSON output.
type CutoverResult struct {
	RunID int64 `json:"run_id"`
	// SourceLSN is the source's pg_current_wal_lsn() once writes had stopped; ConfirmedLSN the
	// slot's confirmed_flush_lsn that reached it.
	SourceLSN      string         `json:"source_lsn"`
	ConfirmedLSN   string         `json:"confirmed_lsn"`
	CaughtUp       bool           `json:"caught_up"` // ConfirmedLSN reached SourceLSN; else cutover stopped waiting (--timeout, an interrupt) after CatchUpSeconds
	CatchUpSeconds float64        `json:"catch_up_seconds"`
	VerifySeconds  float64        `json:"verify_seconds"`
	Verify         *verify.Report `json:"verify,omitempty"`
	Dropped        *Dropped       `json:"dropped,omitempty"`
	Sequences      []string       `json:"sequences_synced,omitempty"`
	// LastWriteLSN is the source's LSN of the last transaction that changed the replicated tables
	// after SourceLSN, when there was one: cutover refused.
	LastWriteLSN string `json:"last_write_lsn,omitempty"`
	// PauseSeconds is the pause writers had to take: from the confirmation that writes stopped
	// until the replication was gone and the target was ready to take writes.
	PauseSeconds float64 `json:"pause_seconds"`
}

// Cutover finishes a replication: writes have stopped (confirmed), the target catches up with
// the source's current LSN, the verify checks pass, and subscription, slot and publication are
// dropped.
func Cutover(ctx context.Context, cfg CutoverConfig) (*CutoverResult, error) {
	cfg.defaults()
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Minute
	}
	log := cfg.Logger
	cleanup := context.WithoutCancel(ctx)
	dst, err := connect(ctx, cfg.TargetURL, cfg.Timeouts)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	defer dst.Close(cleanup)
	run, err := latestRun(ctx, dst)
	if err != nil {
		return nil, err
	}
	if held, err := busy(ctx, dst); err != nil {
		return nil, err
	} else if held && run.Phase != PhaseStreaming {
		return nil, fmt.Errorf("replication run %d: %w: 'replicate start' is still in its %s phase (bulk load or index build); cut over once status says streaming", run.ID, ErrNotStreaming, run.Phase)
	}
	lockConn, err := cfg.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer lockConn.Close(cleanup) // releases the lock
	if run, err = latestRun(ctx, dst); err != nil {
		return nil, err
	}
	switch {
	case !journal.Unfinished(&run.Run):
		return nil, fmt.Errorf("replication run %d: %w: it is %s", run.ID, ErrNotStreaming, run.Status)
	case run.Phase != PhaseStreaming && run.Phase != PhaseCutover:
		return nil, fmt.Errorf("replication run %d: %w: its start did not finish (phase %s, %s): run 'replicate start' again, or 'replicate abort'", run.ID, ErrNotStreaming, run.Phase, run.Status)
	}
	src, err := connect(ctx, cfg.SourceURL, cfg.Timeouts)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	defer src.Close(cleanup)

	if err := cfg.Confirm(fmt.Sprintf("Have writes to the source stopped? Cutover waits until the target has applied the source's current position, verifies %s, then drops the subscription, slot and publication of run %d",
		strings.Join(run.Names.Tables, ", "), run.ID)); err != nil {
		return nil, err
	}
	pause := time.Now()
	res := &CutoverResult{RunID: run.ID}
	if err := journal.SetPhase(ctx, dst, run.ID, PhaseCutover); err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	// A cutover that stops before the drop leaves the run streaming, as it found it.
	back := func(err error) (*CutoverResult, error) {
		if perr := journal.SetPhase(cleanup, dst, run.ID, PhaseStreaming); perr != nil {
			err = errors.Join(err, perr)
		}
		return res, err
	}

	if err := src.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&res.SourceLSN); err != nil {
		return back(fmt.Errorf("source: read the current LSN: %w", err))
	}
	log.InfoContext(ctx, "waiting for the target to apply the source's current position", slog.String("lsn", res.SourceLSN), slog.Duration("timeout", cfg.Timeout))
	t := time.Now()
	confirmed, reached, err := waitApplied(ctx, src, run.Names.Slot, res.SourceLSN, cfg.Timeout)
	res.ConfirmedLSN, res.CaughtUp, res.CatchUpSeconds = confirmed, reached, time.Since(t).Seconds()
	if err != nil {
		return back(err)
	}
	if !reached {
		return back(fmt.Errorf("the target had not applied the source's LSN %s within %s (confirmed %s): writes may not have stopped, or the subscription is stuck; replication keeps running, see 'ragmigrate replicate status'",
			res.SourceLSN, cfg.Timeout, res.ConfirmedLSN))
	}
	log.InfoContext(ctx, "target caught up", slog.String("confirmed_lsn", res.ConfirmedLSN), slog.Duration("elapsed", time.Since(t).Round(time.Millisecond)))

	t = time.Now()
	var more []string
	for _, tb := range run.Names.Tables {
		if tb != "items" && tb != "public.items" {
			more = append(more, tb)
		}
	}
	rep, err := verify.Run(ctx, verify.Options{Source: src, Target: dst, Expect: verify.ExpectCopy, Queries: cfg.Queries, Tables: more, Logger: log})
	res.VerifySeconds = time.Since(t).Seconds()
	if err != nil {
		return back(fmt.Errorf("verify: %w", err))
	}
	res.Verify = rep
	// The confirmation that writes stopped is checked, not trusted: a writer still running would
	// lose every row it writes between the drop and the app's switch to the target. Also after a
	// failed verify, whose differences such writes would explain.
	if err := checkWritesAfterCut(ctx, src, dst, run, cfg.Timeout, res, log); err != nil {
		return back(err)
	}
	if !rep.OK {
		return back(fmt.Errorf("replication run %d: %w: replication keeps running; see the report, then cut over again or abort", run.ID, ErrMismatch))
	}
	if err := ctx.Err(); err != nil {
		return back(err)
	}

	seqs, err := syncSequences(ctx, src, dst, run.Names.Tables)
	if err != nil {
		return back(err)
	}
	res.Sequences = seqs
	d, err := dropAll(ctx, src, dst, run.Names, log)
	res.Dropped = &d
	if err != nil {
		return res, fmt.Errorf("drop the replication of run %d (run 'ragmigrate replicate abort' to finish): %w", run.ID, err)
	}
	if err := journal.Finish(ctx, dst, run.ID, journal.StatusDone, nil); err != nil {
		return res, err
	}
	res.PauseSeconds = time.Since(pause).Seconds()
	return res, nil
}

// waitApplied waits, at most timeout, until the slot's confirmed_flush_lsn reaches lsn: the
// target has applied every change the source committed up to it. reached is false when the
// timeout came first; confirmed is the slot's last confirmed_flush_lsn.
func waitApplied(ctx context.Context, src *pgx.Conn, slot, lsn string, timeout time.Duration) (confirmed string, reached bool, err error) {
	deadline := time.Now().Add(timeout)
	for {
		var c *string
		err := src.QueryRow(ctx, `SELECT confirmed_flush_lsn::text, coalesce(confirmed_flush_lsn >= $2::pg_lsn, false)
			FROM pg_replication_slots WHERE slot_name = $1`, slot, lsn).Scan(&c, &reached)
		if errors.Is(err, pgx.ErrNoRows) {
			return confirmed, false, fmt.Errorf("source: replication slot %s does not exist: the target cannot catch up; 'replicate abort', then start again", slot)
		}
		if err != nil {
			return confirmed, false, fmt.Errorf("source: read slot %s: %w", slot, err)
		}
		if c != nil {
			confirmed = *c
		}
		if reached || time.Now().After(deadline) {
			return confirmed, reached, nil
		}
		select {
		case <-ctx.Done():
			return confirmed, false, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// checkWritesAfterCut returns ErrWritesAfterCut (wrapped) when a transaction changed the
// replicated tables on the source after res.SourceLSN, the position cutover waited for.
//
// It reads the subscription's replication origin on the target: its remote_lsn is the source's
// end LSN of the last transaction the apply worker applied, and it moves only for transactions
// that changed a published table (the publication filters the rest out, and the apply worker
// records no progress for a transaction that applied nothing). So once the target has applied
// the source's position as of now, remote_lsn > SourceLSN says exactly that such a transaction
// committed after the cut. This is cheap (one wait, usually none, and one row) and exact, unlike
// the alternatives: the source's WAL position moves with every database of the cluster,
// pg_stat_user_tables' counters reach the shared statistics up to a second late, a second
// verify is as slow as the first and races with a writer as the first did, and the slot cannot
// be peeked while the subscription holds it. A write that commits between this check and the
// drop (milliseconds) is not seen.
func checkWritesAfterCut(ctx context.Context, src, dst *pgx.Conn, run *Run, timeout time.Duration, res *CutoverResult, log *slog.Logger) error {
	var now string
	if err := src.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&now); err != nil {
		return fmt.Errorf("source: read the current LSN: %w", err)
	}
	confirmed, reached, err := waitApplied(ctx, src, run.Names.Slot, now, timeout)
	if err != nil {
		return err
	}
	if !reached {
		return fmt.Errorf("the target had not applied the source's LSN %s within %s after the verify (confirmed %s): writes may not have stopped, or the subscription is stuck; replication keeps running, see 'ragmigrate replicate status'",
			now, timeout, confirmed)
	}
	var last *string
	var after bool
	err = dst.QueryRow(ctx, `SELECT s.remote_lsn::text, coalesce(s.remote_lsn > $2::pg_lsn, false)
		FROM pg_subscription sub JOIN pg_replication_origin o ON o.roname = 'pg_' || sub.oid
		JOIN pg_replication_origin_status s ON s.local_id = o.roident
		WHERE sub.subname = $1 AND sub.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())`,
		run.Names.Subscription, res.SourceLSN).Scan(&last, &after)
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil // the apply worker has applied no transaction yet
	case errors.As(err, &pgErr) && pgErr.Code == "42501":
		// A role short of a superuser cannot read the origins: say that the check was not made.
		log.WarnContext(ctx, "could not check that the source took no writes after the cut (reading pg_replication_origin_status needs a superuser)", slog.String("error", pgErr.Message))
		return nil
	case err != nil:
		return fmt.Errorf("target: read the replication origin of subscription %s: %w", run.Names.Subscription, err)
	}
	if !after {
		return nil
	}
	res.LastWriteLSN = *last
	return fmt.Errorf("replication run %d: %w: a transaction changed %s on the source at LSN %s, after the cut at %s; nothing was dropped and replication keeps running: stop the app's writers to the source, then run 'ragmigrate replicate cutover' again",
		run.ID, ErrWritesAfterCut, strings.Join(run.Names.Tables, ", "), *last, res.SourceLSN)
}

// syncSequences sets each sequence owned by a column of tables on the target to the source's
// value: logical replication does not carry sequences. The app's items has none.
func syncSequences(ctx context.Context, src, dst *pgx.Conn, tables []string) ([]string, error) {
	var out []string
	for _, t := range tables {
		rows, err := src.Query(ctx, `SELECT s.oid::regclass::text FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
			WHERE d.refobjid = to_regclass($1) AND d.deptype IN ('a', 'i')`, t)
		if err != nil {
			return nil, fmt.Errorf("source: sequences of %s: %w", t, err)
		}
		seqs, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, fmt.Errorf("source: sequences of %s: %w", t, err)
		}
		for _, s := range seqs {
			var last int64
			var called bool
			if err := src.QueryRow(ctx, `SELECT last_value, is_called FROM `+s).Scan(&last, &called); err != nil {
				return nil, fmt.Errorf("source: read sequence %s: %w", s, err)
			}
			if _, err := dst.Exec(ctx, `SELECT setval($1::regclass, $2, $3)`, s, last, called); err != nil {
				return nil, fmt.Errorf("target: set sequence %s: %w", s, err)
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// AbortResult reports an abort.
type AbortResult struct {
	RunID   int64   `json:"run_id"`
	Phase   string  `json:"phase"`
	Status  string  `json:"status"`
	Dropped Dropped `json:"dropped"`
}

// Abort removes every replication object the newest replication run named, on both sides,
// whatever state the run is in (also after a failed or killed start), and ends the run. It is
// idempotent. The rows loaded into the target stay.
func Abort(ctx context.Context, o Options) (*AbortResult, error) {
	o.defaults()
	cleanup := context.WithoutCancel(ctx)
	dst, err := connect(ctx, o.TargetURL, o.Timeouts)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	defer dst.Close(cleanup)
	lockConn, err := o.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer lockConn.Close(cleanup) // releases the lock
	run, err := latestRun(ctx, dst)
	if err != nil {
		return nil, err
	}
	src, err := connect(ctx, o.SourceURL, o.Timeouts)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	defer src.Close(cleanup)
	if err := o.Confirm(fmt.Sprintf("Drop the subscription, replication slot and publication %s of replication run %d (%s, phase %s)? The target's rows stay",
		run.Names.Slot, run.ID, run.Status, run.Phase)); err != nil {
		return nil, err
	}
	res := &AbortResult{RunID: run.ID, Phase: run.Phase, Status: run.Status}
	res.Dropped, err = dropAll(ctx, src, dst, run.Names, o.Logger)
	if err != nil {
		return res, err
	}
	if journal.Unfinished(&run.Run) {
		if err := journal.Finish(ctx, dst, run.ID, journal.StatusAbandoned, errors.New("aborted")); err != nil {
			return res, err
		}
		res.Status = journal.StatusAbandoned
	}
	return res, nil
}
