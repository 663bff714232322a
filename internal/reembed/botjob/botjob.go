// Package botjob is the re-embed strategy's part of the journal: one row per bot per run
// (ragmigrate.bot_jobs). It registers the table and the runs' progress with the journal.
package botjob

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ragmigrate/ragmigrate/internal/journal"
)

// schemaSQL is the re-embed strategy's table: one row per bot per run. A bot's rows in items and
// its row here turning 'done' commit in one transaction.
const schemaSQL = `CREATE TABLE IF NOT EXISTS ragmigrate.bot_jobs (
	run_id         bigint NOT NULL REFERENCES ragmigrate.runs (id) ON DELETE CASCADE,
	bot_id         text NOT NULL,
	user_id        text NOT NULL,
	status         text NOT NULL DEFAULT 'pending', -- pending, done, failed, skipped, left
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
);
ALTER TABLE ragmigrate.bot_jobs ADD COLUMN IF NOT EXISTS skipped_sources jsonb NOT NULL DEFAULT '[]';
-- chunks whose vector came from the old cluster (reembed --reuse-from), and their tokens: not spent
ALTER TABLE ragmigrate.bot_jobs ADD COLUMN IF NOT EXISTS reused bigint NOT NULL DEFAULT 0;
ALTER TABLE ragmigrate.bot_jobs ADD COLUMN IF NOT EXISTS reused_tokens bigint NOT NULL DEFAULT 0;
-- the ECS task last launched for the job (reembed --runner ecs), which a restarted run follows
-- before it launches another
ALTER TABLE ragmigrate.bot_jobs ADD COLUMN IF NOT EXISTS task text NOT NULL DEFAULT '';
-- the worker holding the job (reembed --ecs-task worker) and until when: a worker that dies is
-- replaced once its lease expires, and a worker whose lease was taken cannot commit
ALTER TABLE ragmigrate.bot_jobs ADD COLUMN IF NOT EXISTS lease_owner text NOT NULL DEFAULT '';
ALTER TABLE ragmigrate.bot_jobs ADD COLUMN IF NOT EXISTS lease_until timestamptz;
-- the worker tasks a run launched (reembed --ecs-task worker), which a restarted run follows
-- instead of launching more
CREATE TABLE IF NOT EXISTS ragmigrate.worker_tasks (
	run_id     bigint NOT NULL REFERENCES ragmigrate.runs (id) ON DELETE CASCADE,
	task_arn   text NOT NULL,
	started_at timestamptz NOT NULL DEFAULT now(),
	ended      text NOT NULL DEFAULT '',                -- how it ended, once seen stopped
	PRIMARY KEY (run_id, task_arn)
);`

// Kind is the journal's name for re-embed runs.
const Kind = "reembed"

func init() {
	journal.Register(journal.Strategy{Kind: Kind, Schema: schemaSQL, Progress: progress})
}

// Job states.
const (
	Pending = "pending"
	Done    = "done"
	Failed  = "failed"
	Skipped = "skipped"
	// Left is a bot the live app wrote while the job ran (a user's edit, its own embedding
	// task): nothing was written for it, and the app's state stands. (A bot deleted meanwhile is
	// Skipped.)
	Left = "left"
)

// Job is one bot's re-embed in a run.
type Job struct {
	RunID    int64  `json:"run_id"`
	BotID    string `json:"bot_id"`
	UserID   string `json:"user_id"`
	Status   string `json:"status"`
	Attempts int    `json:"attempts"`
	Chunks   int64  `json:"chunks"`
	// Reused are the chunks whose vector was taken from the old cluster (--reuse-from), and
	// ReusedTokens their tokens, which nothing was spent on; Embedded are the others
	// (Chunks − Reused), whose Tokens were spent.
	Reused       int64  `json:"reused"`
	ReusedTokens int64  `json:"reused_tokens"`
	Embedded     int64  `json:"embedded"`
	Requests     int64  `json:"requests"`
	Throttles    int64  `json:"throttles"`
	Tokens       int64  `json:"tokens"`
	ContentHash  string `json:"content_hash,omitempty"`
	Error        string `json:"error,omitempty"`
	// SkippedSources are the sources a bot was re-embedded without (--on-source-error
	// skip-source), each with its cause.
	SkippedSources []string   `json:"skipped_sources,omitempty"`
	StatusWritten  bool       `json:"status_written"`
	StartedAt      *time.Time `json:"started_at,omitempty"`
	FinishedAt     *time.Time `json:"finished_at,omitempty"`
	// Exec, when set, is the job's exec id instead of the run's: the ECS task id of a job run
	// under the app's task contract (ragmigrate worker). It is not kept in the journal.
	Exec string `json:"exec_id,omitempty"`
	// Task is the ECS task last launched for the job (reembed --runner ecs).
	Task string `json:"task,omitempty"`
	// Lease is the worker holding the job (ClaimNext), when one does: every write of a leased
	// job is fenced on it.
	Lease string `json:"-"`
}

// ExecID is the bot job's id as written to the bot's LastExecId (the app writes its ECS task id
// there; operators look a run up by it).
func (j Job) ExecID() string {
	if j.Exec != "" {
		return j.Exec
	}
	return fmt.Sprintf("ragmigrate-run%d-%s", j.RunID, j.BotID)
}

// Add records pending jobs; bots the run already has are left as they are.
func Add(ctx context.Context, db journal.DB, jobs []Job) error {
	for _, j := range jobs {
		_, err := db.Exec(ctx, `INSERT INTO ragmigrate.bot_jobs (run_id, bot_id, user_id) VALUES ($1, $2, $3)
			ON CONFLICT (run_id, bot_id) DO NOTHING`, j.RunID, j.BotID, j.UserID)
		if err != nil {
			return fmt.Errorf("record job of bot %s: %w", j.BotID, err)
		}
	}
	return nil
}

// List lists a run's jobs by bot id.
func List(ctx context.Context, db journal.DB, runID int64) ([]Job, error) {
	rows, err := db.Query(ctx, `SELECT run_id, bot_id, user_id, status, attempts, chunks, reused, reused_tokens, requests, throttles, tokens,
			content_hash, error, skipped_sources, status_written, started_at, finished_at, task
		FROM ragmigrate.bot_jobs WHERE run_id = $1 ORDER BY bot_id`, runID)
	if err != nil {
		return nil, fmt.Errorf("jobs of run %d: %w", runID, err)
	}
	jobs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Job, error) {
		var j Job
		err := r.Scan(&j.RunID, &j.BotID, &j.UserID, &j.Status, &j.Attempts, &j.Chunks, &j.Reused, &j.ReusedTokens, &j.Requests, &j.Throttles, &j.Tokens,
			&j.ContentHash, &j.Error, &j.SkippedSources, &j.StatusWritten, &j.StartedAt, &j.FinishedAt, &j.Task)
		j.Embedded = j.Chunks - j.Reused
		return j, err
	})
	if err != nil {
		return nil, fmt.Errorf("jobs of run %d: %w", runID, err)
	}
	return jobs, nil
}

// Start counts an attempt.
func Start(ctx context.Context, db journal.DB, j *Job) error {
	err := db.QueryRow(ctx, `UPDATE ragmigrate.bot_jobs SET attempts = attempts + 1, started_at = now(), status_written = false
		WHERE run_id = $1 AND bot_id = $2 RETURNING attempts`, j.RunID, j.BotID).Scan(&j.Attempts)
	if err != nil {
		return fmt.Errorf("start job of bot %s: %w", j.BotID, err)
	}
	return nil
}

// Launched records the ECS task now working on the job, and counts the attempt.
func Launched(ctx context.Context, db journal.DB, j *Job, task string) error {
	err := db.QueryRow(ctx, `UPDATE ragmigrate.bot_jobs SET attempts = attempts + 1, started_at = now(), status_written = false, task = $3
		WHERE run_id = $1 AND bot_id = $2 RETURNING attempts`, j.RunID, j.BotID, task).Scan(&j.Attempts)
	if err != nil {
		return fmt.Errorf("record task %s of bot %s: %w", task, j.BotID, err)
	}
	j.Task = task
	return nil
}

// Claim locks the job's row inside tx, the transaction that writes the bot's rows. It
// returns false when the job is already done: the caller then rolls back, so that a bot's rows
// are written once per run.
func Claim(ctx context.Context, tx pgx.Tx, runID int64, botID string) (bool, error) {
	var status string
	err := tx.QueryRow(ctx, `SELECT status FROM ragmigrate.bot_jobs WHERE run_id = $1 AND bot_id = $2 FOR UPDATE`, runID, botID).Scan(&status)
	if err != nil {
		return false, fmt.Errorf("claim job of bot %s: %w", botID, err)
	}
	return status != Done, nil
}

// Finish records a job's outcome (inside the bot's transaction when it is done).
func Finish(ctx context.Context, db journal.DB, j Job) error {
	skipped := j.SkippedSources
	if skipped == nil {
		skipped = []string{}
	}
	tag, err := db.Exec(ctx, `UPDATE ragmigrate.bot_jobs SET status = $3, chunks = $4, requests = $5, throttles = $6, tokens = $7,
			content_hash = $8, error = $9, skipped_sources = $10, status_written = $11, reused = $12, reused_tokens = $13, finished_at = now()
		WHERE run_id = $1 AND bot_id = $2`, j.RunID, j.BotID, j.Status, j.Chunks, j.Requests, j.Throttles, j.Tokens, j.ContentHash, j.Error,
		skipped, j.StatusWritten, j.Reused, j.ReusedTokens)
	if err != nil {
		return fmt.Errorf("finish job of bot %s: %w", j.BotID, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("finish job of bot %s: no such job in run %d", j.BotID, j.RunID)
	}
	return nil
}

// Reopen makes one finished job pending again.
func Reopen(ctx context.Context, db journal.DB, runID int64, botID string) error {
	_, err := db.Exec(ctx, `UPDATE ragmigrate.bot_jobs SET status = 'pending', error = '' WHERE run_id = $1 AND bot_id = $2`, runID, botID)
	if err != nil {
		return fmt.Errorf("reopen job of bot %s: %w", botID, err)
	}
	return nil
}

// FinishedBots returns the bots that have an outcome in any run of kind on subject, with the
// newest such outcome: what a later run need not do again.
func FinishedBots(ctx context.Context, db journal.DB, kind, subject string) (map[string]string, error) {
	rows, err := db.Query(ctx, `SELECT DISTINCT ON (j.bot_id) j.bot_id, j.status
		FROM ragmigrate.bot_jobs j JOIN ragmigrate.runs r ON r.id = j.run_id
		WHERE r.kind = $1 AND r.subject = $2 AND j.status <> 'pending'
		ORDER BY j.bot_id, j.run_id DESC`, kind, subject)
	if err != nil {
		return nil, fmt.Errorf("finished bots of %s: %w", subject, err)
	}
	out := map[string]string{}
	var id, status string
	_, err = pgx.ForEachRow(rows, []any{&id, &status}, func() error { out[id] = status; return nil })
	if err != nil {
		return nil, fmt.Errorf("finished bots of %s: %w", subject, err)
	}
	return out, nil
}

// DoneJob is a bot's newest finished re-embed job, when it is done.
type DoneJob struct {
	RunID  int64
	Chunks int64
}

// DoneChunks returns, for every bot whose newest finished re-embed job (in any run) is done,
// that job's run and chunk count; runID is the newest re-embed run. Both are zero when the
// journal has no re-embed run. (A later run may be scoped to a few bots: the others' rows are
// still those of the run that did them.)
func DoneChunks(ctx context.Context, db journal.DB) (runID int64, done map[string]DoneJob, err error) {
	var exists bool
	if err := db.QueryRow(ctx, `SELECT to_regclass('ragmigrate.bot_jobs') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return 0, nil, err
	}
	err = db.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM ragmigrate.runs WHERE kind = $1`, Kind).Scan(&runID)
	if err != nil || runID == 0 {
		return 0, nil, err
	}
	rows, err := db.Query(ctx, `SELECT bot_id, run_id, chunks FROM (
			SELECT DISTINCT ON (j.bot_id) j.bot_id, j.run_id, j.chunks, j.status
			FROM ragmigrate.bot_jobs j JOIN ragmigrate.runs r ON r.id = j.run_id
			WHERE r.kind = $1 AND j.status <> 'pending'
			ORDER BY j.bot_id, j.run_id DESC) newest
		WHERE status = 'done'`, Kind)
	if err != nil {
		return 0, nil, fmt.Errorf("chunks of re-embedded bots: %w", err)
	}
	done = map[string]DoneJob{}
	var id string
	var j DoneJob
	_, err = pgx.ForEachRow(rows, []any{&id, &j.RunID, &j.Chunks}, func() error { done[id] = j; return nil })
	if err != nil {
		return 0, nil, fmt.Errorf("chunks of re-embedded bots: %w", err)
	}
	return runID, done, nil
}

// progress is the status row of a re-embed run: its jobs by state, and the chunks of its done bots.
func progress(ctx context.Context, db journal.DB, runID int64) (journal.Progress, error) {
	var p journal.Progress
	rows, err := db.Query(ctx, `SELECT status, count(*), coalesce(sum(chunks) FILTER (WHERE status = 'done'), 0),
			coalesce(sum(reused) FILTER (WHERE status = 'done'), 0)
		FROM ragmigrate.bot_jobs WHERE run_id = $1 GROUP BY status ORDER BY status`, runID)
	if err != nil {
		return p, fmt.Errorf("jobs of run %d: %w", runID, err)
	}
	jobs := map[string]int{}
	var texts []string
	var st string
	var n int
	var chunks, reused, allReused int64
	_, err = pgx.ForEachRow(rows, []any{&st, &n, &chunks, &reused}, func() error {
		jobs[st] = n
		texts = append(texts, fmt.Sprintf("%s %d", st, n))
		p.Rows += chunks
		allReused += reused
		return nil
	})
	if err != nil {
		return p, fmt.Errorf("jobs of run %d: %w", runID, err)
	}
	if len(jobs) > 0 {
		p.Fields = map[string]any{"bot_jobs": jobs}
		p.Text = strings.Join(texts, " · ")
		if allReused > 0 {
			// Chunks whose vectors came from the old cluster (--reuse-from): the rest were embedded.
			p.Fields["reused_chunks"] = allReused
			p.Text += fmt.Sprintf(" · %d of %d chunks reused", allReused, p.Rows)
		}
	}
	return p, nil
}

// ErrLeaseLost is returned (wrapped) by the leased writes when the job's lease is no longer the
// writer's: it expired and another worker claimed the job, which now owns its outcome.
var ErrLeaseLost = errors.New("the job's lease was taken by another worker")

// ClaimNext leases one pending job of run runID to owner for lease, skipping jobs another
// worker holds (locked now, or leased and not expired): the job of a worker that died is
// claimed again once its lease has expired. Each claim counts an attempt (a worker may die
// before it does anything else). It returns nil when no job is left to claim.
func ClaimNext(ctx context.Context, db journal.DB, runID int64, owner string, lease time.Duration) (*Job, error) {
	var j Job
	err := db.QueryRow(ctx, `UPDATE ragmigrate.bot_jobs j SET lease_owner = $2, lease_until = now() + $3 * interval '1 microsecond',
			attempts = j.attempts + 1, started_at = now()
		FROM (SELECT run_id, bot_id FROM ragmigrate.bot_jobs
			WHERE run_id = $1 AND status = 'pending' AND (lease_owner = '' OR lease_until IS NULL OR lease_until < now())
			ORDER BY bot_id LIMIT 1 FOR UPDATE SKIP LOCKED) free
		WHERE j.run_id = free.run_id AND j.bot_id = free.bot_id
		RETURNING j.run_id, j.bot_id, j.user_id, j.status, j.attempts, j.task`, runID, owner, lease.Microseconds()).
		Scan(&j.RunID, &j.BotID, &j.UserID, &j.Status, &j.Attempts, &j.Task)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("claim a job of run %d: %w", runID, err)
	}
	j.Lease = owner
	return &j, nil
}

// Renew extends j's lease by lease from now, if it is still j.Lease's; ErrLeaseLost otherwise.
func Renew(ctx context.Context, db journal.DB, j Job, lease time.Duration) error {
	tag, err := db.Exec(ctx, `UPDATE ragmigrate.bot_jobs SET lease_until = now() + $4 * interval '1 microsecond'
		WHERE run_id = $1 AND bot_id = $2 AND lease_owner = $3 AND status = 'pending'`, j.RunID, j.BotID, j.Lease, lease.Microseconds())
	if err != nil {
		return fmt.Errorf("renew the lease of bot %s: %w", j.BotID, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("bot %s: %w", j.BotID, ErrLeaseLost)
	}
	return nil
}

// Release gives back owner's leases on run runID's jobs still pending, so that another worker
// takes them at once instead of after their expiry.
func Release(ctx context.Context, db journal.DB, runID int64, owner string) error {
	_, err := db.Exec(ctx, `UPDATE ragmigrate.bot_jobs SET lease_owner = '', lease_until = NULL
		WHERE run_id = $1 AND lease_owner = $2 AND status = 'pending'`, runID, owner)
	if err != nil {
		return fmt.Errorf("release the leases of run %d: %w", runID, err)
	}
	return nil
}

// StartLeased is Start for a leased job, whose claim counted the attempt: ErrLeaseLost when
// the lease is no longer j.Lease's.
func StartLeased(ctx context.Context, db journal.DB, j *Job) error {
	err := db.QueryRow(ctx, `UPDATE ragmigrate.bot_jobs SET status_written = false
		WHERE run_id = $1 AND bot_id = $2 AND lease_owner = $3 AND status = 'pending' RETURNING attempts`, j.RunID, j.BotID, j.Lease).Scan(&j.Attempts)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("start job of bot %s: %w", j.BotID, ErrLeaseLost)
	}
	if err != nil {
		return fmt.Errorf("start job of bot %s: %w", j.BotID, err)
	}
	return nil
}

// ClaimLeased is Claim for a job leased to owner, the fence of its commit: it locks the job's
// row inside tx and returns ErrLeaseLost when the lease is another worker's, so that the
// caller rolls back and a worker that lost its lease (paused, cut off) never writes over the
// newer worker's result. The row lock holds until tx ends: no other worker can claim the job
// in between (ClaimNext skips locked rows), whether the lease expired meanwhile or not.
func ClaimLeased(ctx context.Context, tx pgx.Tx, runID int64, botID, owner string) (bool, error) {
	var status, holder string
	err := tx.QueryRow(ctx, `SELECT status, lease_owner FROM ragmigrate.bot_jobs WHERE run_id = $1 AND bot_id = $2 FOR UPDATE`, runID, botID).Scan(&status, &holder)
	if err != nil {
		return false, fmt.Errorf("claim job of bot %s: %w", botID, err)
	}
	if holder != owner {
		return false, fmt.Errorf("claim job of bot %s: %w", botID, ErrLeaseLost)
	}
	return status != Done, nil
}

// FinishLeased is Finish for a leased job: it writes only while the lease is still j.Lease's
// and the job pending (inside the bot's transaction, ClaimLeased has checked both already).
func FinishLeased(ctx context.Context, db journal.DB, j Job) error {
	skipped := j.SkippedSources
	if skipped == nil {
		skipped = []string{}
	}
	tag, err := db.Exec(ctx, `UPDATE ragmigrate.bot_jobs SET status = $3, chunks = $4, requests = $5, throttles = $6, tokens = $7,
			content_hash = $8, error = $9, skipped_sources = $10, status_written = $11, reused = $12, reused_tokens = $13, finished_at = now()
		WHERE run_id = $1 AND bot_id = $2 AND lease_owner = $14 AND status = 'pending'`, j.RunID, j.BotID, j.Status, j.Chunks, j.Requests, j.Throttles, j.Tokens, j.ContentHash, j.Error,
		skipped, j.StatusWritten, j.Reused, j.ReusedTokens, j.Lease)
	if err != nil {
		return fmt.Errorf("finish job of bot %s: %w", j.BotID, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("finish job of bot %s: %w", j.BotID, ErrLeaseLost)
	}
	return nil
}

// RunParams returns run runID's kind, status and recorded params: what a worker rebuilds the
// run's jobs from; journal.ErrNoJournal when db has no journal, journal.ErrNoRun when it holds
// no run runID.
func RunParams(ctx context.Context, db journal.DB, runID int64) (kind, status string, params []byte, err error) {
	exists, err := journal.Exists(ctx, db)
	if err != nil {
		return "", "", nil, fmt.Errorf("run %d: %w", runID, err)
	}
	if !exists {
		return "", "", nil, fmt.Errorf("run %d: %w", runID, journal.ErrNoJournal)
	}
	err = db.QueryRow(ctx, `SELECT kind, status, params FROM ragmigrate.runs WHERE id = $1`, runID).Scan(&kind, &status, &params)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", nil, fmt.Errorf("run %d: %w", runID, journal.ErrNoRun)
	}
	if err != nil {
		return "", "", nil, fmt.Errorf("run %d: %w", runID, err)
	}
	return kind, status, params, nil
}

// CountPending counts run runID's jobs still pending, and those of them leased and not expired.
func CountPending(ctx context.Context, db journal.DB, runID int64) (pending, leased int, err error) {
	err = db.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE lease_owner <> '' AND lease_until >= now())
		FROM ragmigrate.bot_jobs WHERE run_id = $1 AND status = 'pending'`, runID).Scan(&pending, &leased)
	if err != nil {
		return 0, 0, fmt.Errorf("pending jobs of run %d: %w", runID, err)
	}
	return pending, leased, nil
}

// TaskStarted records a worker task launched for run runID.
func TaskStarted(ctx context.Context, db journal.DB, runID int64, arn string) error {
	_, err := db.Exec(ctx, `INSERT INTO ragmigrate.worker_tasks (run_id, task_arn) VALUES ($1, $2) ON CONFLICT DO NOTHING`, runID, arn)
	if err != nil {
		return fmt.Errorf("record worker task %s: %w", arn, err)
	}
	return nil
}

// TaskEnded records how a worker task of run runID ended.
func TaskEnded(ctx context.Context, db journal.DB, runID int64, arn, how string) error {
	_, err := db.Exec(ctx, `UPDATE ragmigrate.worker_tasks SET ended = $3 WHERE run_id = $1 AND task_arn = $2`, runID, arn, how)
	if err != nil {
		return fmt.Errorf("record the end of worker task %s: %w", arn, err)
	}
	return nil
}

// OpenTasks lists the worker tasks of run runID not yet seen ended, oldest first.
func OpenTasks(ctx context.Context, db journal.DB, runID int64) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT task_arn FROM ragmigrate.worker_tasks WHERE run_id = $1 AND ended = '' ORDER BY started_at, task_arn`, runID)
	if err != nil {
		return nil, fmt.Errorf("worker tasks of run %d: %w", runID, err)
	}
	arns, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("worker tasks of run %d: %w", runID, err)
	}
	return arns, nil
}
