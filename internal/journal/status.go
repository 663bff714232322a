package journal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// RunSummary is one run with its progress, for 'ragmigrate status'.
type RunSummary struct {
	Run
	Error       string     `json:"error,omitempty"`
	UpdatedAt   time.Time  `json:"updated_at"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
	HeartbeatAt *time.Time `json:"heartbeat_at,omitempty"`
	// Live is a run recorded as running whose process beat within StaleAfter. A running run
	// that is not live has no process working on it (it was killed, or its last invocation
	// ended with jobs outside its scope still pending): the next run of its kind resumes it.
	Live bool `json:"live"`
	// Rows written so far (chunks for re-embed), and the progress its strategy reports.
	Rows     int64    `json:"rows"`
	Progress Progress `json:"-"`
}

// MarshalJSON adds the strategy's progress fields (bot_jobs, parts, …) to the run's object.
func (s RunSummary) MarshalJSON() ([]byte, error) {
	type plain RunSummary // without this method
	b, err := json.Marshal(plain(s))
	if err != nil || len(s.Progress.Fields) == 0 {
		return b, err
	}
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range s.Progress.Fields {
		if _, taken := m[k]; taken {
			return nil, fmt.Errorf("run %d: progress field %q shadows a run field", s.ID, k)
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		m[k] = raw
	}
	return json.Marshal(m)
}

// ErrNoJournal is returned when the target has no ragmigrate schema.
var ErrNoJournal = errors.New("no ragmigrate journal in this database")

// Exists tells whether the database holds a journal (the schema ragmigrate).
func Exists(ctx context.Context, db DB) (bool, error) {
	var exists bool
	if err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'ragmigrate')`).Scan(&exists); err != nil {
		return false, fmt.Errorf("look up the journal: %w", err)
	}
	return exists, nil
}

// Runs lists the newest runs first, at most limit of them.
func Runs(ctx context.Context, db DB, limit int) ([]RunSummary, error) {
	var exists bool
	if err := db.QueryRow(ctx, `SELECT to_regclass('ragmigrate.runs') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, fmt.Errorf("look up the journal: %w", err)
	}
	if !exists {
		return nil, ErrNoJournal
	}
	rows, err := db.Query(ctx, `SELECT r.id, r.kind, r.subject, r.status, r.phase, r.params, r.started_at, r.error, r.updated_at, r.finished_at,
			r.heartbeat_at, r.status = 'running' AND coalesce(r.heartbeat_at > now() - $2 * interval '1 second', false)
		FROM ragmigrate.runs r ORDER BY r.id DESC LIMIT $1`, limit, StaleAfter.Seconds())
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (RunSummary, error) {
		var s RunSummary
		err := r.Scan(&s.ID, &s.Kind, &s.Subject, &s.Status, &s.Phase, &s.Params, &s.StartedAt, &s.Error, &s.UpdatedAt, &s.FinishedAt,
			&s.HeartbeatAt, &s.Live)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	for i := range out {
		st, ok := strategy(out[i].Kind)
		if !ok || st.Progress == nil {
			continue // a kind this binary does not know: the run's own row is all there is
		}
		p, err := st.Progress(ctx, db, out[i].ID)
		if err != nil {
			return nil, fmt.Errorf("progress of %s run %d: %w", out[i].Kind, out[i].ID, err)
		}
		out[i].Progress, out[i].Rows = p, p.Rows
	}
	return out, nil
}

// Drop removes the journal schema and everything in it.
func Drop(ctx context.Context, db DB) error {
	if _, err := db.Exec(ctx, `DROP SCHEMA IF EXISTS ragmigrate CASCADE`); err != nil {
		return fmt.Errorf("drop journal: %w", err)
	}
	return nil
}

// NewestRun returns the journal's newest run of any kind: what last filled the target. It returns
// ErrNoJournal when the target has no journal and ErrNoRun when the journal holds no run.
func NewestRun(ctx context.Context, db DB) (*Run, error) {
	var exists bool
	if err := db.QueryRow(ctx, `SELECT to_regclass('ragmigrate.runs') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, fmt.Errorf("look up the journal: %w", err)
	}
	if !exists {
		return nil, ErrNoJournal
	}
	r := &Run{}
	err := db.QueryRow(ctx, `SELECT id, kind, subject, status, phase, params, started_at FROM ragmigrate.runs ORDER BY id DESC LIMIT 1`).
		Scan(&r.ID, &r.Kind, &r.Subject, &r.Status, &r.Phase, &r.Params, &r.StartedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNoRun
	}
	if err != nil {
		return nil, fmt.Errorf("newest run: %w", err)
	}
	return r, nil
}
