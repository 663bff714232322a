// Package journal records migration runs in the target database's `ragmigrate` schema, so that an
// interrupted run can continue where it stopped, and keeps two runs from working on one target at
// the same time.
//
// # Overview
//
// The schema holds one row per run (ragmigrate.runs). Each strategy registers its own tables
// keyed by run_id (Register): the re-embed strategy's bot jobs (internal/reembed/botjob), the
// copy strategy's parts (internal/pgcopy), and how a run of its kind reports progress to
// 'ragmigrate status'; the journal names none of them. The journal lives in the target because
// that is where the work becomes durable: a unit of work's rows and the record that it is done
// commit in one transaction, so a crash can never leave one without the other.
//
// Every strategy goes through one lifecycle (Session): Begin takes the lock, Start or Resume
// opens the run and starts its heartbeat, Finish records how it ended, Close releases the lock.
//
// Only one run may work on a target database at a time. Lock takes a session-level advisory lock
// on a dedicated connection; PostgreSQL releases it by itself when that session ends, including
// when the process is killed.
package journal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
ALTER TABLE ragmigrate.runs ADD COLUMN IF NOT EXISTS heartbeat_at timestamptz;`

// Migrate creates the journal's schema and tables if they are missing.
func Migrate(ctx context.Context, db DB) error {
	if _, err := db.Exec(ctx, schemaSQL); err != nil {
		return fmt.Errorf("create journal schema %s: %w", Schema, err)
	}
	for _, st := range registered() {
		if st.Schema == "" {
			continue
		}
		if _, err := db.Exec(ctx, st.Schema); err != nil {
			return fmt.Errorf("create journal tables of %s runs: %w", st.Kind, err)
		}
	}
	_, err := db.Exec(ctx, `CREATE TABLE IF NOT EXISTS ragmigrate.schema_version (
			id int PRIMARY KEY DEFAULT 1 CHECK (id = 1), fingerprint text NOT NULL);
		INSERT INTO ragmigrate.schema_version (fingerprint) VALUES ('`+fingerprint()+`')
			ON CONFLICT (id) DO UPDATE SET fingerprint = excluded.fingerprint`)
	if err != nil {
		return fmt.Errorf("record the journal's schema version: %w", err)
	}
	return nil
}

// fingerprint identifies the journal's DDL as this build has it, every strategy's included.
func fingerprint() string {
	h := sha256.New()
	io.WriteString(h, schemaSQL)
	for _, st := range registered() {
		io.WriteString(h, "\x00"+st.Kind+"\x00"+st.Schema)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Upgrade brings a journal an older ragmigrate wrote up to this build's schema, so that a
// command that only reads it (status, verify) can: its changes only add tables and columns.
// A journal already current, or none at all, is left untouched (Upgrade writes nothing then,
// and takes no lock a running migration would wait on).
func Upgrade(ctx context.Context, db DB) error {
	var versioned bool
	if err := db.QueryRow(ctx, `SELECT to_regclass('ragmigrate.schema_version') IS NOT NULL`).Scan(&versioned); err != nil {
		return fmt.Errorf("look up the journal's schema version: %w", err)
	}
	if versioned {
		var current bool
		err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM ragmigrate.schema_version WHERE fingerprint = $1)`, fingerprint()).Scan(&current)
		if err != nil {
			return fmt.Errorf("look up the journal's schema version: %w", err)
		}
		if current {
			return nil
		}
	} else if ok, err := Exists(ctx, db); err != nil || !ok {
		return err
	}
	if err := Migrate(ctx, db); err != nil {
		return fmt.Errorf("bring the journal up to this version of ragmigrate: %w", err)
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
	if status == StatusInterrupted && msg == context.Canceled.Error() {
		// An interrupt and nothing more: the status says so, and "context canceled", which
		// 'status' showed as the run's error, only how.
		msg = ""
	}
	_, err := db.Exec(ctx, `UPDATE ragmigrate.runs SET status = $2, error = $3, updated_at = now(),
		finished_at = CASE WHEN $2 = 'done' THEN now() END WHERE id = $1`, runID, status, msg)
	if err != nil {
		return fmt.Errorf("run %d: record %s: %w", runID, status, err)
	}
	return nil
}
