package journal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// RunSummary is one run with its progress, for 'ragmigrate status'.
type RunSummary struct {
	Run
	Error      string         `json:"error,omitempty"`
	UpdatedAt  time.Time      `json:"updated_at"`
	FinishedAt *time.Time     `json:"finished_at,omitempty"`
	Jobs       map[string]int `json:"bot_jobs,omitempty"` // re-embed: bots by job status
	Parts      int            `json:"parts,omitempty"`    // copy: parts in all
	PartsDone  int            `json:"parts_done,omitempty"`
	Rows       int64          `json:"rows"` // rows written so far (chunks for re-embed)
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
			(SELECT count(*) FROM ragmigrate.copy_parts p WHERE p.run_id = r.id),
			(SELECT count(*) FROM ragmigrate.copy_parts p WHERE p.run_id = r.id AND p.done_at IS NOT NULL),
			coalesce((SELECT sum(rows) FROM ragmigrate.copy_parts p WHERE p.run_id = r.id), 0) +
			coalesce((SELECT sum(chunks) FROM ragmigrate.bot_jobs j WHERE j.run_id = r.id AND j.status = 'done'), 0)
		FROM ragmigrate.runs r ORDER BY r.id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (RunSummary, error) {
		var s RunSummary
		err := r.Scan(&s.ID, &s.Kind, &s.Subject, &s.Status, &s.Phase, &s.Params, &s.StartedAt, &s.Error, &s.UpdatedAt, &s.FinishedAt,
			&s.Parts, &s.PartsDone, &s.Rows)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	for i := range out {
		jr, err := db.Query(ctx, `SELECT status, count(*) FROM ragmigrate.bot_jobs WHERE run_id = $1 GROUP BY status`, out[i].ID)
		if err != nil {
			return nil, fmt.Errorf("jobs of run %d: %w", out[i].ID, err)
		}
		var st string
		var n int
		_, err = pgx.ForEachRow(jr, []any{&st, &n}, func() error {
			if out[i].Jobs == nil {
				out[i].Jobs = map[string]int{}
			}
			out[i].Jobs[st] = n
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("jobs of run %d: %w", out[i].ID, err)
		}
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
