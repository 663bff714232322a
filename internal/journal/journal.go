// Package journal records migration runs in the target database's `ragmigrate` schema, so that an
// interrupted run can continue where it stopped, and keeps two runs from working on one target at
// the same time.
//
// # Overview
//
// The schema holds one row per run (ragmigrate.runs) and, for the copy strategy, one row per part
// of a table (ragmigrate.copy_parts). Later strategies add their own tables keyed by run_id (a
// re-embed job table joins runs the same way copy_parts does). The journal lives in the target
// because that is where the work becomes durable: a part's rows and the record that the part is
// done commit in one transaction, so a crash can never leave one without the other.
//
// Only one run may work on a target database at a time. Lock takes a session-level advisory lock
// on a dedicated connection; PostgreSQL releases it by itself when that session ends, including
// when the process is killed.
package journal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Schema is the schema the journal's tables live in, in the target database.
const Schema = "ragmigrate"

// ErrLockHeld is returned (wrapped) by Lock when another session holds the target's lock.
var ErrLockHeld = errors.New("another ragmigrate run holds the target's lock")

// ErrNoRun is returned by LatestRun when the journal has no matching run.
var ErrNoRun = errors.New("no run in the journal")

// Run states.
const (
	StatusRunning     = "running"
	StatusDone        = "done"
	StatusFailed      = "failed"
	StatusInterrupted = "interrupted"
	// StatusAbandoned marks an unfinished run that a later run replaced instead of resuming.
	StatusAbandoned = "abandoned"
)

// DB is what the journal needs: a connection or a transaction.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// schemaSQL creates the journal. Every statement is idempotent; Migrate runs it under the
// advisory lock, so two runs never race on CREATE ... IF NOT EXISTS.
const schemaSQL = `CREATE SCHEMA IF NOT EXISTS ragmigrate;
CREATE TABLE IF NOT EXISTS ragmigrate.runs (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind        text NOT NULL,             -- copy, reembed, replicate
	subject     text NOT NULL,             -- what the run works on, e.g. public.items; resume matches on it
	status      text NOT NULL DEFAULT 'running',
	phase       text NOT NULL DEFAULT '',  -- e.g. data, indexes, analyze
	params      jsonb NOT NULL DEFAULT '{}',
	error       text NOT NULL DEFAULT '',
	started_at  timestamptz NOT NULL DEFAULT now(),
	updated_at  timestamptz NOT NULL DEFAULT now(),
	finished_at timestamptz
);
CREATE INDEX IF NOT EXISTS runs_kind_subject ON ragmigrate.runs (kind, subject, id DESC);
CREATE TABLE IF NOT EXISTS ragmigrate.copy_parts (
	run_id      bigint NOT NULL REFERENCES ragmigrate.runs (id) ON DELETE CASCADE,
	table_name  text NOT NULL,             -- target table, schema-qualified
	part        int NOT NULL,
	lower_bound text,                      -- inclusive primary-key bound; NULL = unbounded
	upper_bound text,                      -- exclusive primary-key bound; NULL = unbounded
	est_bytes   bigint NOT NULL DEFAULT 0, -- share of the relation's bytes, TOAST included
	rows        bigint,                    -- set when done
	bytes       bigint,                    -- COPY stream bytes, set when done
	attempts    int NOT NULL DEFAULT 0,
	done_at     timestamptz,
	PRIMARY KEY (run_id, table_name, part)
);`

// Migrate creates the journal's schema and tables if they are missing.
func Migrate(ctx context.Context, db DB) error {
	if _, err := db.Exec(ctx, schemaSQL+"\n"+botJobsSQL); err != nil {
		return fmt.Errorf("create journal schema %s: %w", Schema, err)
	}
	return nil
}

// Run is one migration run.
type Run struct {
	ID        int64           `json:"id"`
	Kind      string          `json:"kind"`
	Subject   string          `json:"subject"`
	Status    string          `json:"status"`
	Phase     string          `json:"phase"`
	Params    json.RawMessage `json:"params"`
	StartedAt time.Time       `json:"started_at"`
}

// StartRun records a new run in the running state.
func StartRun(ctx context.Context, db DB, kind, subject string, params any) (*Run, error) {
	p, err := json.Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("start run: %w", err)
	}
	r := &Run{Kind: kind, Subject: subject, Status: StatusRunning, Params: p}
	err = db.QueryRow(ctx, `INSERT INTO ragmigrate.runs (kind, subject, params) VALUES ($1, $2, $3)
		RETURNING id, started_at`, kind, subject, p).Scan(&r.ID, &r.StartedAt)
	if err != nil {
		return nil, fmt.Errorf("start run: %w", err)
	}
	return r, nil
}

// LatestRun returns the newest run of kind on subject, or ErrNoRun.
func LatestRun(ctx context.Context, db DB, kind, subject string) (*Run, error) {
	r := &Run{}
	err := db.QueryRow(ctx, `SELECT id, kind, subject, status, phase, params, started_at FROM ragmigrate.runs
		WHERE kind = $1 AND subject = $2 ORDER BY id DESC LIMIT 1`, kind, subject).
		Scan(&r.ID, &r.Kind, &r.Subject, &r.Status, &r.Phase, &r.Params, &r.StartedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNoRun
	}
	if err != nil {
		return nil, fmt.Errorf("latest %s run on %s: %w", kind, subject, err)
	}
	return r, nil
}

// SetPhase records the phase a run has reached, and marks it running again (a resumed run).
func SetPhase(ctx context.Context, db DB, runID int64, phase string) error {
	_, err := db.Exec(ctx, `UPDATE ragmigrate.runs SET phase = $2, status = 'running', error = '', updated_at = now() WHERE id = $1`, runID, phase)
	if err != nil {
		return fmt.Errorf("run %d: set phase %s: %w", runID, phase, err)
	}
	return nil
}

// Finish records how a run ended; runErr is nil for StatusDone.
func Finish(ctx context.Context, db DB, runID int64, status string, runErr error) error {
	msg := ""
	if runErr != nil {
		msg = runErr.Error()
	}
	_, err := db.Exec(ctx, `UPDATE ragmigrate.runs SET status = $2, error = $3, updated_at = now(),
		finished_at = CASE WHEN $2 = 'done' THEN now() END WHERE id = $1`, runID, status, msg)
	if err != nil {
		return fmt.Errorf("run %d: record %s: %w", runID, status, err)
	}
	return nil
}

// Part is one primary-key range of a table in a copy run. A nil bound is unbounded.
type Part struct {
	RunID    int64   `json:"-"`
	Table    string  `json:"table"`
	Part     int     `json:"part"`
	Lower    *string `json:"lower,omitempty"`
	Upper    *string `json:"upper,omitempty"`
	EstBytes int64   `json:"est_bytes"`
	Rows     int64   `json:"rows"`
	Bytes    int64   `json:"bytes"`
	Done     bool    `json:"done"`
}

// AddParts records a run's parts for one table, not done.
func AddParts(ctx context.Context, db DB, parts []Part) error {
	for _, p := range parts {
		_, err := db.Exec(ctx, `INSERT INTO ragmigrate.copy_parts (run_id, table_name, part, lower_bound, upper_bound, est_bytes)
			VALUES ($1, $2, $3, $4, $5, $6)`, p.RunID, p.Table, p.Part, p.Lower, p.Upper, p.EstBytes)
		if err != nil {
			return fmt.Errorf("record part %d of %s: %w", p.Part, p.Table, err)
		}
	}
	return nil
}

// Parts lists a run's parts of table in order.
func Parts(ctx context.Context, db DB, runID int64, table string) ([]Part, error) {
	rows, err := db.Query(ctx, `SELECT run_id, table_name, part, lower_bound, upper_bound, est_bytes,
			coalesce(rows, 0), coalesce(bytes, 0), done_at IS NOT NULL
		FROM ragmigrate.copy_parts WHERE run_id = $1 AND table_name = $2 ORDER BY part`, runID, table)
	if err != nil {
		return nil, fmt.Errorf("parts of %s: %w", table, err)
	}
	parts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Part, error) {
		var p Part
		err := r.Scan(&p.RunID, &p.Table, &p.Part, &p.Lower, &p.Upper, &p.EstBytes, &p.Rows, &p.Bytes, &p.Done)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("parts of %s: %w", table, err)
	}
	return parts, nil
}

// ClaimPart locks a part's row inside tx, the transaction that will write the part's rows. It
// returns false if the part is already done: the caller must then roll back, so that each part's
// rows are written exactly once.
func ClaimPart(ctx context.Context, tx pgx.Tx, p Part) (bool, error) {
	var done bool
	err := tx.QueryRow(ctx, `SELECT done_at IS NOT NULL FROM ragmigrate.copy_parts
		WHERE run_id = $1 AND table_name = $2 AND part = $3 FOR UPDATE`,
		p.RunID, p.Table, p.Part).Scan(&done)
	if err != nil {
		return false, fmt.Errorf("claim part %d of %s: %w", p.Part, p.Table, err)
	}
	return !done, nil
}

// MarkPartDone records, inside the part's transaction, that its rows are written, and after how
// many attempts of this process (earlier processes' attempts left nothing behind).
func MarkPartDone(ctx context.Context, tx pgx.Tx, p Part, rows, bytes int64, attempts int) error {
	tag, err := tx.Exec(ctx, `UPDATE ragmigrate.copy_parts SET rows = $4, bytes = $5, attempts = $6, done_at = now()
		WHERE run_id = $1 AND table_name = $2 AND part = $3 AND done_at IS NULL`,
		p.RunID, p.Table, p.Part, rows, bytes, attempts)
	if err != nil {
		return fmt.Errorf("mark part %d of %s done: %w", p.Part, p.Table, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("mark part %d of %s done: the part is unknown or already done", p.Part, p.Table)
	}
	return nil
}
