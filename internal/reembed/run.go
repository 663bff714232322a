package reembed

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/journal"
	"github.com/ragmigrate/ragmigrate/internal/report"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// Kind is the journal's name for re-embed runs.
const Kind = "reembed"

// Config is one re-embed invocation.
type Config struct {
	Job
	// Table is the bots' table: the journal's subject, so runs on one deployment resume each other.
	Table       string
	Concurrency int // bots at once; default 4
	BotIDs      []string
	UserIDs     []string
	// Fresh abandons an unfinished run and starts a new one.
	Fresh bool
	// RetryFailed runs the latest run's failed bots again.
	RetryFailed bool
	// Dimensions of the model's vectors, checked against items.embedding.
	Dimensions int
	// CreateMissing creates the vector extension and items (the app's DDL) when the target
	// lacks them; without it a target without them is an error (vectorstore.ErrSetupMissing).
	CreateMissing bool
	// Params are recorded with a new run (model, budgets), for status output.
	Params   any
	LockWait time.Duration
	Progress *report.Progress
}

// Result is what a run did.
type Result struct {
	RunID       int64                  `json:"run_id"`
	Resumed     bool                   `json:"resumed"`
	NothingToDo bool                   `json:"nothing_to_do"`
	Outcomes    []Outcome              `json:"bots"`
	Malformed   []botstore.DecodeError `json:"malformed,omitempty"`
	Elapsed     time.Duration          `json:"elapsed_ns"`
}

// Run re-embeds every bot in scope that the current run has not finished.
func Run(ctx context.Context, c Config) (*Result, error) {
	start := time.Now()
	c.Concurrency = cmp.Or(c.Concurrency, 4)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Counters == nil {
		c.Counters = &Counters{}
	}
	lockConn, err := c.Target.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("reembed: target: %w", err)
	}
	defer lockConn.Release()
	lock, err := journal.Acquire(ctx, lockConn.Conn(), c.LockWait)
	if err != nil {
		return nil, fmt.Errorf("reembed: %w", err)
	}
	defer lock.Release(context.WithoutCancel(ctx))
	if err := journal.Migrate(ctx, c.Target); err != nil {
		return nil, fmt.Errorf("reembed: %w", err)
	}
	if err := vectorstore.EnsureItems(ctx, lockConn.Conn(), c.Dimensions, c.CreateMissing); err != nil {
		return nil, fmt.Errorf("reembed: target: %w", err)
	}
	// Connections opened before the vector extension existed know no codec for it, and would
	// send vectors in text form inside binary COPY. Replace them.
	c.Target.Reset()

	res := &Result{}
	bots := map[string]*botstore.Bot{}
	err = c.Bots.ScanBots(ctx, func(b *botstore.Bot) error {
		if inScope(c, b.UserID, b.ID) {
			bots[b.ID] = b
		}
		return nil
	}, func(de *botstore.DecodeError) error {
		res.Malformed = append(res.Malformed, *de)
		c.Logger.WarnContext(ctx, "bot item skipped: the app cannot read it either", slog.String("pk", de.PK), slog.String("sk", de.SK), slog.String("reason", de.Reason))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reembed: %w", err)
	}

	run, err := c.pickRun(ctx, res, bots)
	if err != nil || res.NothingToDo {
		return res, err
	}
	res.RunID = run.ID
	var jobs []journal.BotJob
	for _, id := range slices.Sorted(maps.Keys(bots)) {
		jobs = append(jobs, journal.BotJob{RunID: run.ID, BotID: id, UserID: bots[id].UserID})
	}
	if err := journal.AddBotJobs(ctx, c.Target, jobs); err != nil {
		return nil, fmt.Errorf("reembed: %w", err)
	}
	if jobs, err = journal.BotJobs(ctx, c.Target, run.ID); err != nil {
		return nil, fmt.Errorf("reembed: %w", err)
	}

	var todo []journal.BotJob
	for _, j := range jobs {
		b, ok := bots[j.BotID]
		switch {
		case j.Status == journal.JobPending && ok:
			todo = append(todo, j)
		case j.Status == journal.JobPending && len(c.BotIDs) == 0 && len(c.UserIDs) == 0:
			// Pending, in scope, and no longer in the table: deleted since the run began.
			j.Status, j.Error = journal.JobSkipped, "the bot was deleted"
			if err := journal.FinishBotJob(ctx, c.Target, j); err != nil {
				return nil, err
			}
		case ok && !j.StatusWritten && (j.Status == journal.JobDone || j.Status == journal.JobFailed):
			// The rows (or the failure) are recorded but the bot's status was not written: the
			// process died between the two. Write it now.
			if err := c.rewriteStatus(ctx, b, j); err != nil {
				return nil, err
			}
		}
	}
	c.Logger.InfoContext(ctx, "re-embed run", slog.Int64("run_id", run.ID), slog.Bool("resumed", res.Resumed),
		slog.Int("bots", len(jobs)), slog.Int("to_do", len(todo)), slog.Int("malformed", len(res.Malformed)))

	var phase *report.Phase
	if c.Progress != nil {
		phase = c.Progress.Start("bots", report.Count, int64(len(todo)))
		defer c.Progress.End(phase)
	}
	outcomes := make([]Outcome, len(todo))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.Concurrency)
	for i, j := range todo {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			out, err := c.Job.Run(gctx, bots[j.BotID], j)
			outcomes[i] = out
			if phase != nil {
				phase.Add(1)
				phase.SetDetail(fmt.Sprintf("%d chunks · %d requests · %d throttles · %d failed",
					c.Counters.Chunks.Load(), c.Counters.Requests.Load(), c.Counters.Throttles.Load(), c.Counters.BotsFailed.Load()))
			}
			return err
		})
	}
	runErr := g.Wait()
	for _, o := range outcomes {
		if o.BotID != "" {
			res.Outcomes = append(res.Outcomes, o)
		}
	}
	res.Elapsed = time.Since(start)
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	switch {
	case ctx.Err() != nil:
		journal.Finish(fctx, c.Target, run.ID, journal.StatusInterrupted, ctx.Err())
		return res, fmt.Errorf("reembed run %d interrupted; run again to continue: %w", run.ID, ctx.Err())
	case runErr != nil:
		journal.Finish(fctx, c.Target, run.ID, journal.StatusFailed, runErr)
		return res, fmt.Errorf("reembed run %d: %w", run.ID, runErr)
	}
	remaining, err := journal.BotJobs(fctx, c.Target, run.ID)
	if err != nil {
		return res, err
	}
	if !slices.ContainsFunc(remaining, func(j journal.BotJob) bool { return j.Status == journal.JobPending }) {
		if err := journal.Finish(fctx, c.Target, run.ID, journal.StatusDone, nil); err != nil {
			return res, err
		}
	}
	return res, nil
}

// pickRun resumes the newest unfinished run, reruns failures, or starts a new run.
func (c *Config) pickRun(ctx context.Context, res *Result, bots map[string]*botstore.Bot) (*journal.Run, error) {
	latest, err := journal.LatestRun(ctx, c.Target, Kind, c.Table)
	switch {
	case errors.Is(err, journal.ErrNoRun):
		latest = nil
	case err != nil:
		return nil, fmt.Errorf("reembed: %w", err)
	}
	unfinished := latest != nil && latest.Status != journal.StatusDone && latest.Status != journal.StatusAbandoned
	switch {
	case c.Fresh && unfinished:
		if err := journal.Finish(ctx, c.Target, latest.ID, journal.StatusAbandoned, errors.New("replaced by a fresh run")); err != nil {
			return nil, err
		}
	case c.RetryFailed && latest != nil:
		tag, err := c.Target.Exec(ctx, `UPDATE ragmigrate.bot_jobs SET status = 'pending', error = '' WHERE run_id = $1 AND status = 'failed'`, latest.ID)
		if err != nil {
			return nil, fmt.Errorf("reembed: retry failed bots of run %d: %w", latest.ID, err)
		}
		c.Logger.InfoContext(ctx, "retrying failed bots", slog.Int64("run_id", latest.ID), slog.Int64("bots", tag.RowsAffected()))
		res.Resumed = true
		return latest, journal.SetPhase(ctx, c.Target, latest.ID, "bots")
	case unfinished:
		res.Resumed = true
		return latest, journal.SetPhase(ctx, c.Target, latest.ID, "bots")
	case latest != nil && !c.Fresh:
		// Finished; but bots created since then still need their vectors.
		jobs, err := journal.BotJobs(ctx, c.Target, latest.ID)
		if err != nil {
			return nil, fmt.Errorf("reembed: %w", err)
		}
		have := map[string]bool{}
		for _, j := range jobs {
			have[j.BotID] = true
		}
		for id := range bots {
			if !have[id] {
				c.Logger.InfoContext(ctx, "bots added since the last run; continuing it", slog.Int64("run_id", latest.ID))
				res.Resumed = true
				return latest, journal.SetPhase(ctx, c.Target, latest.ID, "bots")
			}
		}
		res.RunID = latest.ID
		res.NothingToDo = true
		return latest, nil
	}
	run, err := journal.StartRun(ctx, c.Target, Kind, c.Table, c.Params)
	if err != nil {
		return nil, fmt.Errorf("reembed: %w", err)
	}
	return run, journal.SetPhase(ctx, c.Target, run.ID, "bots")
}

// rewriteStatus writes the SyncStatus a finished job implies.
func (c *Config) rewriteStatus(ctx context.Context, b *botstore.Bot, j journal.BotJob) error {
	out := &Outcome{BotJob: j, Title: b.Title}
	status, reason := botstore.StatusSucceeded, botstore.ReasonSucceeded
	switch {
	case j.Status == journal.JobFailed:
		status, reason = botstore.StatusFailed, j.Error
	case b.Knowledge.Empty():
		reason = botstore.ReasonNoContents
	}
	return c.Job.setStatus(ctx, out, status, reason, j.ExecID())
}

func inScope(c Config, user, bot string) bool {
	return (len(c.BotIDs) == 0 || slices.Contains(c.BotIDs, bot)) &&
		(len(c.UserIDs) == 0 || slices.Contains(c.UserIDs, user))
}
