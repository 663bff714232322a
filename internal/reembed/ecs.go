package reembed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/progress"
	"github.com/ragmigrate/ragmigrate/internal/reembed/botjob"
	"github.com/ragmigrate/ragmigrate/internal/runner"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// TaskJudge settles the jobs of a run whose bots are re-embedded by the app's own embedding
// task (runner.ECSApp, reembed --runner ecs --ecs-task app): the task writes the bot's rows and
// SyncStatus with its task id in LastExecId; the judge reads them, checks the rows and records
// the job in the journal.
type TaskJudge struct {
	// Job holds the bots' table, the target and the journal (its Embedder is not used).
	Job *Job
	// Dimensions is the run's vector size, which every row must have.
	Dimensions int
}

var _ runner.Judge = TaskJudge{}

// Launched records an attempt of j by task taskID, and the task, which a restarted run
// follows before it launches another.
func (tj TaskJudge) Launched(ctx context.Context, j *botjob.Job, taskID string) error {
	j.Exec = taskID
	return botjob.Launched(ctx, tj.Job.Target, j, taskID)
}

// Settle judges a task's end by what it left: the bot SUCCEEDED under the task's id with sound
// rows (done), or FAILED under it (failed: the app's verdict on the bot, which another try
// would repeat); anything else (killed, timed out, never started, rows missing) is an attempt
// without an outcome, retried while retries remain, and then recorded as failed, the bot's
// SyncStatus FAILED with why if the task had claimed it.
func (tj TaskJudge) Settle(ctx context.Context, j botjob.Job, end runner.TaskEnd, last bool) (runner.Verdict, error) {
	jb := tj.Job
	out := Outcome{Job: j}
	out.Exec = end.TaskID
	b, err := jb.Bots.Get(ctx, j.UserID, j.BotID)
	var de *botstore.DecodeError
	switch {
	case errors.Is(err, botstore.ErrBotGone):
		return runner.Finished, jb.leave(ctx, &out, botjob.Skipped, "the bot was deleted")
	case errors.As(err, &de):
		return runner.Finished, jb.leave(ctx, &out, botjob.Skipped, "the bot's item can no longer be read: "+de.Reason)
	case err != nil:
		return runner.Finished, err
	}
	out.Title = b.Title
	mine := b.LastExecID == end.TaskID
	var problem string
	switch {
	case mine && b.SyncStatus == botstore.StatusSucceeded:
		rows, err := vectorstore.CheckBotRows(ctx, jb.Target, b.ID)
		if err != nil {
			return runner.Finished, err
		}
		switch {
		case rows.Rows == 0 && b.SyncStatusReason != botstore.ReasonNoContents && !b.Knowledge.Empty():
			problem = "the bot has knowledge but no rows in the target"
		case rows.NullVectors > 0:
			problem = fmt.Sprintf("%d of the bot's %s no vector", rows.NullVectors, progress.Plural(rows.Rows, "row has", "rows have"))
		case rows.Rows > 0 && (rows.MinDims != tj.Dimensions || rows.MaxDims != tj.Dimensions):
			problem = fmt.Sprintf("the bot's vectors have %d to %d dimensions, not the run's %d", rows.MinDims, rows.MaxDims, tj.Dimensions)
		}
		if problem == "" {
			out.Status, out.Chunks, out.StatusWritten = botjob.Done, rows.Rows, true
			if err := jb.journal().Finish(ctx, jb.Target, out.Job); err != nil {
				return runner.Finished, err
			}
			jb.count(&out)
			return runner.Finished, nil
		}
		problem = fmt.Sprintf("%s said SUCCEEDED, but %s", end.TaskID, problem)
	case mine && b.SyncStatus == botstore.StatusFailed:
		out.Status, out.Error, out.StatusWritten = botjob.Failed, b.SyncStatusReason, true
		if err := jb.journal().Finish(ctx, jb.Target, out.Job); err != nil {
			return runner.Finished, err
		}
		jb.count(&out)
		return runner.Finished, nil
	default:
		problem = end.String() + " without the bot reaching SUCCEEDED"
	}
	jb.Logger.WarnContext(ctx, "bot's task ended without an outcome", slog.String("bot_id", b.ID), slog.String("problem", problem), slog.Bool("last_try", last))
	if !last {
		return runner.Retry, nil
	}
	out.Status, out.Error = botjob.Failed, problem
	if mine {
		// The task claimed the bot and left it RUNNING (or SUCCEEDED over bad rows): say why.
		err := jb.Bots.UpdateStatus(ctx, b, botstore.StatusFailed, problem, end.TaskID)
		switch {
		case err == nil:
			out.StatusWritten = true
		case errors.Is(err, botstore.ErrBotChanged) || errors.Is(err, botstore.ErrBotGone):
			return runner.Finished, jb.statusRefused(ctx, &out, err)
		default:
			return runner.Finished, err
		}
	}
	if err := jb.journal().Finish(ctx, jb.Target, out.Job); err != nil {
		return runner.Finished, err
	}
	jb.count(&out)
	return runner.Finished, nil
}
