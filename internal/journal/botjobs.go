package journal

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// botJobsSQL is the re-embed strategy's table: one row per bot per run. A bot's rows in items and
// its row here turning 'done' commit in one transaction.
const botJobsSQL = `CREATE TABLE IF NOT EXISTS ragmigrate.bot_jobs (
	run_id         bigint NOT NULL REFERENCES ragmigrate.runs (id) ON DELETE CASCADE,
	bot_id         text NOT NULL,
	user_id        text NOT NULL,
	status         text NOT NULL DEFAULT 'pending', -- pending, done, failed, skipped
	attempts       int NOT NULL DEFAULT 0,
	chunks         bigint NOT NULL DEFAULT 0,
	requests       bigint NOT NULL DEFAULT 0,
	throttles      bigint NOT NULL DEFAULT 0,
	tokens         bigint NOT NULL DEFAULT 0,
	content_hash   text NOT NULL DEFAULT '',        -- sha256 over the chunks' sources and texts
	error          text NOT NULL DEFAULT '',
	status_written boolean NOT NULL DEFAULT false,  -- the bot's SyncStatus reflects this job
	started_at     timestamptz,
	finished_at    timestamptz,
	PRIMARY KEY (run_id, bot_id)
);`

// Bot job states.
const (
	JobPending = "pending"
	JobDone    = "done"
	JobFailed  = "failed"
	JobSkipped = "skipped"
)

// BotJob is one bot's re-embed in a run.
type BotJob struct {
	RunID         int64      `json:"run_id"`
	BotID         string     `json:"bot_id"`
	UserID        string     `json:"user_id"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	Chunks        int64      `json:"chunks"`
	Requests      int64      `json:"requests"`
	Throttles     int64      `json:"throttles"`
	Tokens        int64      `json:"tokens"`
	ContentHash   string     `json:"content_hash,omitempty"`
	Error         string     `json:"error,omitempty"`
	StatusWritten bool       `json:"status_written"`
	StartedAt     *time.Time `json:"started_at,omitempty"`
	FinishedAt    *time.Time `json:"finished_at,omitempty"`
}

// ExecID is the bot job's id as written to the bot's LastExecId (the app writes its ECS task id
// there; operators look a run up by it).
func (j BotJob) ExecID() string { return fmt.Sprintf("ragmigrate-run%d-%s", j.RunID, j.BotID) }

// AddBotJobs records pending jobs; bots the run already has are left as they are.
func AddBotJobs(ctx context.Context, db DB, jobs []BotJob) error {
	for _, j := range jobs {
		_, err := db.Exec(ctx, `INSERT INTO ragmigrate.bot_jobs (run_id, bot_id, user_id) VALUES ($1, $2, $3)
			ON CONFLICT (run_id, bot_id) DO NOTHING`, j.RunID, j.BotID, j.UserID)
		if err != nil {
			return fmt.Errorf("record job of bot %s: %w", j.BotID, err)
		}
	}
	return nil
}

// BotJobs lists a run's jobs by bot id.
func BotJobs(ctx context.Context, db DB, runID int64) ([]BotJob, error) {
	rows, err := db.Query(ctx, `SELECT run_id, bot_id, user_id, status, attempts, chunks, requests, throttles, tokens,
			content_hash, error, status_written, started_at, finished_at
		FROM ragmigrate.bot_jobs WHERE run_id = $1 ORDER BY bot_id`, runID)
	if err != nil {
		return nil, fmt.Errorf("jobs of run %d: %w", runID, err)
	}
	jobs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (BotJob, error) {
		var j BotJob
		err := r.Scan(&j.RunID, &j.BotID, &j.UserID, &j.Status, &j.Attempts, &j.Chunks, &j.Requests, &j.Throttles, &j.Tokens,
			&j.ContentHash, &j.Error, &j.StatusWritten, &j.StartedAt, &j.FinishedAt)
		return j, err
	})
	if err != nil {
		return nil, fmt.Errorf("jobs of run %d: %w", runID, err)
	}
	return jobs, nil
}

// StartBotJob counts an attempt.
func StartBotJob(ctx context.Context, db DB, j *BotJob) error {
	err := db.QueryRow(ctx, `UPDATE ragmigrate.bot_jobs SET attempts = attempts + 1, started_at = now(), status_written = false
		WHERE run_id = $1 AND bot_id = $2 RETURNING attempts`, j.RunID, j.BotID).Scan(&j.Attempts)
	if err != nil {
		return fmt.Errorf("start job of bot %s: %w", j.BotID, err)
	}
	return nil
}

// ClaimBotJob locks the job's row inside tx, the transaction that writes the bot's rows. It
// returns false when the job is already done: the caller then rolls back, so that a bot's rows
// are written once per run.
func ClaimBotJob(ctx context.Context, tx pgx.Tx, runID int64, botID string) (bool, error) {
	var status string
	err := tx.QueryRow(ctx, `SELECT status FROM ragmigrate.bot_jobs WHERE run_id = $1 AND bot_id = $2 FOR UPDATE`, runID, botID).Scan(&status)
	if err != nil {
		return false, fmt.Errorf("claim job of bot %s: %w", botID, err)
	}
	return status != JobDone, nil
}

// FinishBotJob records a job's outcome (inside the bot's transaction when it is done).
func FinishBotJob(ctx context.Context, db DB, j BotJob) error {
	tag, err := db.Exec(ctx, `UPDATE ragmigrate.bot_jobs SET status = $3, chunks = $4, requests = $5, throttles = $6, tokens = $7,
			content_hash = $8, error = $9, finished_at = now()
		WHERE run_id = $1 AND bot_id = $2`, j.RunID, j.BotID, j.Status, j.Chunks, j.Requests, j.Throttles, j.Tokens, j.ContentHash, j.Error)
	if err != nil {
		return fmt.Errorf("finish job of bot %s: %w", j.BotID, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("finish job of bot %s: no such job in run %d", j.BotID, j.RunID)
	}
	return nil
}

// MarkStatusWritten records that the bot's SyncStatus now reflects the job's outcome.
func MarkStatusWritten(ctx context.Context, db DB, runID int64, botID string) error {
	_, err := db.Exec(ctx, `UPDATE ragmigrate.bot_jobs SET status_written = true WHERE run_id = $1 AND bot_id = $2`, runID, botID)
	if err != nil {
		return fmt.Errorf("job of bot %s: %w", botID, err)
	}
	return nil
}

// DoneChunks returns, for the newest re-embed run, the chunk count of every bot it finished, or
// nil when the journal has no re-embed run.
func DoneChunks(ctx context.Context, db DB) (runID int64, chunks map[string]int64, err error) {
	var exists bool
	if err := db.QueryRow(ctx, `SELECT to_regclass('ragmigrate.bot_jobs') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return 0, nil, err
	}
	err = db.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM ragmigrate.runs WHERE kind = 'reembed'`).Scan(&runID)
	if err != nil || runID == 0 {
		return 0, nil, err
	}
	rows, err := db.Query(ctx, `SELECT bot_id, chunks FROM ragmigrate.bot_jobs WHERE run_id = $1 AND status = 'done'`, runID)
	if err != nil {
		return 0, nil, fmt.Errorf("chunks of run %d: %w", runID, err)
	}
	chunks = map[string]int64{}
	var id string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&id, &n}, func() error { chunks[id] = n; return nil })
	if err != nil {
		return 0, nil, fmt.Errorf("chunks of run %d: %w", runID, err)
	}
	return runID, chunks, nil
}
