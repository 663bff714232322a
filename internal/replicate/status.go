package replicate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Status is one look at a replication run, from both sides.
type Status struct {
	At     time.Time `json:"at"`
	RunID  int64     `json:"run_id"`
	Phase  string    `json:"phase"`
	Status string    `json:"status"`
	// Busy says a replicate command (a start loading, a cutover) works on the run now.
	Busy  bool   `json:"busy"`
	Names Names  `json:"names"`
	Slot  *Slot  `json:"slot,omitempty"`
	Sub   *Sub   `json:"subscription,omitempty"`
	Rows  []Rows `json:"tables"`
	// Warnings are conditions the operator must act on (WAL retention, apply errors, a stopped
	// worker).
	Warnings []string `json:"warnings,omitempty"`
}

// Slot is the run's replication slot on the source.
type Slot struct {
	Active            bool   `json:"active"`
	ConfirmedFlushLSN string `json:"confirmed_flush_lsn"`
	CurrentLSN        string `json:"source_current_lsn"`
	// LagBytes is pg_current_wal_lsn() − confirmed_flush_lsn: the WAL the target has not yet
	// confirmed.
	LagBytes int64 `json:"lag_bytes"`
	// RetainedBytes is pg_current_wal_lsn() − restart_lsn: the WAL the slot keeps on the
	// source's disk.
	RetainedBytes int64  `json:"retained_bytes"`
	WALStatus     string `json:"wal_status"`
	// SafeWALBytes is how much more WAL may be written before the slot is lost (NULL, -1 here,
	// when max_slot_wal_keep_size is unlimited: then the disk is the limit).
	SafeWALBytes int64 `json:"safe_wal_bytes"`
}

// Sub is the run's subscription on the target.
type Sub struct {
	Enabled      bool       `json:"enabled"`
	WorkerPID    int32      `json:"worker_pid,omitempty"`
	ReceivedLSN  string     `json:"received_lsn,omitempty"`
	LatestEndLSN string     `json:"latest_end_lsn,omitempty"`
	LastMessage  *time.Time `json:"last_msg_receipt_time,omitempty"`
	LatestEnd    *time.Time `json:"latest_end_time,omitempty"`
	// LagSeconds is how old the newest position the target reported is, while it is behind
	// (0 when caught up).
	LagSeconds  float64 `json:"lag_seconds"`
	ApplyErrors int64   `json:"apply_error_count"`
	SyncErrors  int64   `json:"sync_error_count"`
}

// Rows is one table on both sides.
type Rows struct {
	Table string `json:"table"`
	// State is pg_subscription_rel's: r ready, i init, d copying, f finished copy, s synced.
	State string `json:"state,omitempty"`
	// Source and Target are exact counts with StatusOptions.Exact, planner estimates otherwise.
	Source int64 `json:"source_rows"`
	Target int64 `json:"target_rows"`
	Exact  bool  `json:"exact"`
}

// StatusOptions select what status reads.
type StatusOptions struct {
	Options
	// Exact counts rows (count(*)) instead of reading the planner's estimate.
	Exact bool
	// WarnRetained is the WAL retention that raises a warning (default 10 GiB).
	WarnRetained int64
}

// StatusWatcher reads the newest replication run's status over two connections it keeps.
type StatusWatcher struct {
	o        StatusOptions
	src, dst *pgx.Conn
}

// NewStatusWatcher connects to both sides.
func NewStatusWatcher(ctx context.Context, o StatusOptions) (*StatusWatcher, error) {
	o.defaults()
	if o.WarnRetained == 0 {
		o.WarnRetained = 10 << 30
	}
	w := &StatusWatcher{o: o}
	var err error
	if w.dst, err = connect(ctx, o.TargetURL, o.Timeouts); err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	if w.src, err = connect(ctx, o.SourceURL, o.Timeouts); err != nil {
		w.dst.Close(ctx)
		return nil, fmt.Errorf("source: %w", err)
	}
	return w, nil
}

// Close closes the connections.
func (w *StatusWatcher) Close(ctx context.Context) {
	w.src.Close(ctx)
	w.dst.Close(ctx)
}

// Read takes one look.
func (w *StatusWatcher) Read(ctx context.Context) (*Status, error) {
	run, err := latestRun(ctx, w.dst)
	if err != nil {
		return nil, err
	}
	return readStatus(ctx, w.src, w.dst, run, w.o)
}

func readStatus(ctx context.Context, src, dst *pgx.Conn, run *Run, o StatusOptions) (*Status, error) {
	s := &Status{At: time.Now().UTC(), RunID: run.ID, Phase: run.Phase, Status: run.Status, Names: run.Names}
	var err error
	if s.Busy, err = busy(ctx, dst); err != nil {
		return nil, err
	}
	sl := &Slot{SafeWALBytes: -1}
	var safe *int64
	var confirmed *string
	err = src.QueryRow(ctx, `SELECT active, confirmed_flush_lsn::text, pg_current_wal_lsn()::text,
			coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn), 0)::bigint,
			coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::bigint, coalesce(wal_status, ''), safe_wal_size
		FROM pg_replication_slots WHERE slot_name = $1`, run.Names.Slot).
		Scan(&sl.Active, &confirmed, &sl.CurrentLSN, &sl.LagBytes, &sl.RetainedBytes, &sl.WALStatus, &safe)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		sl = nil
	case err != nil:
		return nil, fmt.Errorf("source: read slot %s: %w", run.Names.Slot, err)
	default:
		if confirmed != nil {
			sl.ConfirmedFlushLSN = *confirmed
		}
		if safe != nil {
			sl.SafeWALBytes = *safe
		}
	}
	s.Slot = sl

	sub := &Sub{}
	var pid *int32
	err = dst.QueryRow(ctx, `SELECT s.subenabled, st.pid, coalesce(st.received_lsn::text, ''), coalesce(st.latest_end_lsn::text, ''), st.last_msg_receipt_time, st.latest_end_time,
			coalesce(ss.apply_error_count, 0), coalesce(ss.sync_error_count, 0)
		FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid AND d.datname = current_database()
		LEFT JOIN pg_stat_subscription st ON st.subid = s.oid AND st.relid IS NULL
		LEFT JOIN pg_stat_subscription_stats ss ON ss.subid = s.oid
		WHERE s.subname = $1`, run.Names.Subscription).
		Scan(&sub.Enabled, &pid, &sub.ReceivedLSN, &sub.LatestEndLSN, &sub.LastMessage, &sub.LatestEnd, &sub.ApplyErrors, &sub.SyncErrors)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("target: read subscription %s: %w", run.Names.Subscription, err)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		sub = nil
	} else {
		if pid != nil {
			sub.WorkerPID = *pid
		}
		if sl != nil && sl.LagBytes > 0 && sub.LatestEnd != nil {
			sub.LagSeconds = time.Since(*sub.LatestEnd).Seconds()
		}
	}
	s.Sub = sub

	states := map[string]string{}
	if sub != nil {
		rows, err := dst.Query(ctx, `SELECT r.srrelid::regclass::text, r.srsubstate::text FROM pg_subscription_rel r
			JOIN pg_subscription s ON s.oid = r.srsubid WHERE s.subname = $1`, run.Names.Subscription)
		if err != nil {
			return nil, fmt.Errorf("target: read subscription tables: %w", err)
		}
		for rows.Next() {
			var t, st string
			if err := rows.Scan(&t, &st); err != nil {
				rows.Close()
				return nil, fmt.Errorf("target: read subscription tables: %w", err)
			}
			states[t] = st
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("target: read subscription tables: %w", err)
		}
	}
	for _, t := range run.Names.Tables {
		r, err := countBoth(ctx, src, dst, t, o.Exact)
		if err != nil {
			return nil, err
		}
		var q string
		if err := dst.QueryRow(ctx, `SELECT coalesce(to_regclass($1)::text, '')`, t).Scan(&q); err == nil {
			r.State = states[q]
		}
		s.Rows = append(s.Rows, r)
	}

	if run.Status == "running" || run.Status == "failed" || run.Status == "interrupted" {
		switch {
		case sl == nil && run.Phase != PhaseLoad:
			s.Warnings = append(s.Warnings, "the run's replication slot does not exist on the source: streaming cannot continue; 'replicate abort', then 'replicate start' again")
		case sl != nil && (sl.WALStatus == "lost" || sl.WALStatus == "unreserved"):
			s.Warnings = append(s.Warnings, fmt.Sprintf("the slot's WAL is %s: the source is removing WAL the target has not received; cut over or abort now", sl.WALStatus))
		case sl != nil && sl.RetainedBytes > o.WarnRetained:
			s.Warnings = append(s.Warnings, fmt.Sprintf("the slot retains %s of WAL on the source (over %s): the source's disk fills while the target lags or the subscription is stopped; cut over, or abort to release it",
				bytesText(sl.RetainedBytes), bytesText(o.WarnRetained)))
		}
		if sl != nil && !sl.Active && !s.Busy && run.Phase == PhaseStreaming {
			s.Warnings = append(s.Warnings, "no apply worker uses the slot: the target is not receiving changes (check the target's log and the subscription)")
		}
		if sub != nil && sub.ApplyErrors+sub.SyncErrors > 0 {
			s.Warnings = append(s.Warnings, fmt.Sprintf("the subscription reported %d apply errors (pg_stat_subscription_stats): see the target's log", sub.ApplyErrors+sub.SyncErrors))
		}
	}
	return s, nil
}

// countBoth reads table's rows on both sides: estimates, unless exact or one side has none, when
// both are counted (one side counted beside the other's estimate would show a gap that is not
// there).
func countBoth(ctx context.Context, src, dst *pgx.Conn, table string, exact bool) (Rows, error) {
	r := Rows{Table: table}
	var srcExact, dstExact bool
	var err error
	if r.Source, srcExact, err = countRows(ctx, src, table, exact); err != nil {
		return r, fmt.Errorf("source: %w", err)
	}
	if r.Target, dstExact, err = countRows(ctx, dst, table, exact || srcExact); err != nil {
		return r, fmt.Errorf("target: %w", err)
	}
	if dstExact && !srcExact {
		if r.Source, srcExact, err = countRows(ctx, src, table, true); err != nil {
			return r, fmt.Errorf("source: %w", err)
		}
	}
	r.Exact = srcExact && dstExact
	return r, nil
}

// countRows counts table's rows with exact, and otherwise reads the planner's estimate, unless
// the table has none; it says whether it counted. A missing table is -1.
func countRows(ctx context.Context, conn *pgx.Conn, table string, exact bool) (n int64, counted bool, err error) {
	if exact {
		err = conn.QueryRow(ctx, `SELECT CASE WHEN to_regclass($1) IS NULL THEN -1 ELSE
			(xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %s', to_regclass($1)), false, true, '')))[1]::text::bigint END`, table).Scan(&n)
		if err != nil {
			return 0, false, fmt.Errorf("count rows of %s: %w", table, err)
		}
		return n, true, nil
	}
	err = conn.QueryRow(ctx, `SELECT coalesce((SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass($1)), -2)`, table).Scan(&n)
	switch {
	case err != nil:
		return 0, false, fmt.Errorf("count rows of %s: %w", table, err)
	case n == -2:
		return -1, false, nil // no such table
	case n < 0:
		// Never vacuumed nor analyzed (a table just created or restored): no estimate exists,
		// and 0 would be untrue, so count.
		return countRows(ctx, conn, table, true)
	}
	return n, false, nil
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// WriteText prints s for a person.
func (s *Status) WriteText(w io.Writer) error {
	var b strings.Builder
	p := func(f string, a ...any) { fmt.Fprintf(&b, f+"\n", a...) }
	busy := ""
	if s.Busy {
		busy = " (a replicate command is working on it)"
	}
	p("replication run %d: %s, phase %s%s", s.RunID, s.Status, s.Phase, busy)
	p("  slot/publication/subscription: %s", s.Names.Slot)
	if s.Slot == nil {
		p("  slot: absent on the source")
	} else {
		p("  slot: active=%t, lag %s (confirmed %s, source at %s), WAL retained %s, wal_status %s",
			s.Slot.Active, bytesText(s.Slot.LagBytes), s.Slot.ConfirmedFlushLSN, s.Slot.CurrentLSN, bytesText(s.Slot.RetainedBytes), s.Slot.WALStatus)
	}
	if s.Sub == nil {
		p("  subscription: absent on the target")
	} else {
		worker := "no apply worker"
		if s.Sub.WorkerPID != 0 {
			worker = fmt.Sprintf("apply worker pid %d", s.Sub.WorkerPID)
		}
		last := "never"
		if s.Sub.LastMessage != nil {
			last = fmt.Sprintf("%.1fs ago", time.Since(*s.Sub.LastMessage).Seconds())
		}
		lag := fmt.Sprintf("%.1fs", s.Sub.LagSeconds)
		if s.Sub.WorkerPID == 0 && (s.Slot == nil || s.Slot.LagBytes > 0) {
			// No worker reports a position: the target is behind by an unknown time, not 0s.
			lag = "unknown"
		}
		p("  subscription: enabled=%t, %s, lag %s, last message %s, apply errors %d", s.Sub.Enabled, worker, lag, last, s.Sub.ApplyErrors+s.Sub.SyncErrors)
	}
	kind := "estimated"
	if len(s.Rows) > 0 && !slices.ContainsFunc(s.Rows, func(r Rows) bool { return !r.Exact }) {
		kind = "exact"
	}
	p("  %-24s %-6s %14s %14s", "TABLE", "STATE", "SOURCE ROWS", "TARGET ROWS")
	for _, r := range s.Rows {
		p("  %-24s %-6s %14d %14d", r.Table, stateText(r.State), r.Source, r.Target)
	}
	p("  (row counts %s)", kind)
	for _, wn := range s.Warnings {
		p("  WARNING: %s", wn)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func stateText(s string) string {
	switch s {
	case "r":
		return "ready"
	case "":
		return "-"
	case "i":
		return "init"
	case "d":
		return "copy"
	case "f", "s":
		return "sync"
	}
	return s
}
