package reembed

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/journal"
	"github.com/ragmigrate/ragmigrate/internal/progress"
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
	Progress *progress.Progress
}

// Result is what a run did.
type Result struct {
	RunID       int64 `json:"run_id"`
	Resumed     bool  `json:"resumed"`
	NothingToDo bool  `json:"nothing_to_do"`
	// Outcomes are this invocation's jobs; Run is every job of the run as the journal ends it
	// (a resumed run's earlier invocations included).
	Outcomes  []Outcome              `json:"-"`
	Run       []Outcome              `json:"bots"`
	Note      string                 `json:"note,omitempty"`
	Malformed []botstore.DecodeError `json:"malformed,omitempty"`
	Elapsed   time.Duration          `json:"elapsed_ns"`
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

	run, todo, err := c.pickRun(ctx, res, bots)
	if err != nil || res.NothingToDo {
		return res, err
	}
	res.RunID = run.ID
	c.Logger.InfoContext(ctx, "re-embed run", slog.Int64("run_id", run.ID), slog.Bool("resumed", res.Resumed),
		slog.Int("to_do", len(todo)), slog.Int("malformed", len(res.Malformed)))

	var phase *progress.Phase
	if c.Progress != nil {
		phase = c.Progress.Start("bots", progress.Count, int64(len(todo)))
		defer c.Progress.End(phase)
	}
	outcomes := make([]Outcome, len(todo))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.Concurrency)
	for i, j := range todo {
		if gctx.Err() != nil {
			break
		}
		b := bots[j.BotID]
		if b == nil {
			// A failed bot retried after it was deleted: the job finds it gone.
			b = &botstore.Bot{UserID: j.UserID, ID: j.BotID}
		}
		g.Go(func() error {
			out, err := c.Job.Run(gctx, b, j)
			outcomes[i] = out
			if phase != nil {
				phase.Add(1)
				phase.SetDetail(fmt.Sprintf("%d chunks · %d requests · %d throttles · %d failed · %d left to the app",
					c.Counters.Chunks.Load(), c.Counters.Requests.Load(), c.Counters.Throttles.Load(), c.Counters.BotsFailed.Load(), c.Counters.BotsLeft.Load()))
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
	var finishErr error
	switch {
	case ctx.Err() != nil:
		finishErr = journal.Finish(fctx, c.Target, run.ID, journal.StatusInterrupted, ctx.Err())
		runErr = fmt.Errorf("reembed run %d interrupted; run again to continue: %w", run.ID, ctx.Err())
	case runErr != nil:
		finishErr = journal.Finish(fctx, c.Target, run.ID, journal.StatusFailed, runErr)
		runErr = fmt.Errorf("reembed run %d: %w", run.ID, runErr)
	}
	// The report covers the whole run, also what earlier invocations of a resumed run did.
	all, err := journal.BotJobs(fctx, c.Target, run.ID)
	if err != nil {
		return res, errors.Join(runErr, finishErr, err)
	}
	res.Run = make([]Outcome, 0, len(all))
	pending := false
	for _, j := range all {
		title := ""
		if b := bots[j.BotID]; b != nil {
			title = b.Title
		}
		res.Run = append(res.Run, Outcome{BotJob: j, Title: title})
		pending = pending || j.Status == journal.JobPending
	}
	if runErr == nil && !pending {
		finishErr = journal.Finish(fctx, c.Target, run.ID, journal.StatusDone, nil)
	}
	return res, errors.Join(runErr, finishErr)
}

// pickRun chooses the run and its jobs to do: the failed bots of the latest run
// (--retry-failed), a new run over every bot in scope (--fresh, or the first run), or else the
// unfinished run resumed — or, when the latest run is finished, a new run over only the bots no
// run has finished yet (created since, or left to the app and never taken by it).
func (c *Config) pickRun(ctx context.Context, res *Result, bots map[string]*botstore.Bot) (*journal.Run, []journal.BotJob, error) {
	latest, err := journal.LatestRun(ctx, c.Target, Kind, c.Table)
	switch {
	case errors.Is(err, journal.ErrNoRun):
		latest = nil
	case err != nil:
		return nil, nil, fmt.Errorf("reembed: %w", err)
	}
	unfinished := latest != nil && latest.Status != journal.StatusDone && latest.Status != journal.StatusAbandoned

	if c.RetryFailed {
		if latest == nil {
			res.NothingToDo, res.Note = true, "no re-embed run in the journal to retry"
			return nil, nil, nil
		}
		jobs, err := journal.BotJobs(ctx, c.Target, latest.ID)
		if err != nil {
			return nil, nil, fmt.Errorf("reembed: %w", err)
		}
		var todo []journal.BotJob
		for _, j := range jobs {
			if j.Status == journal.JobFailed && inScope(*c, j.UserID, j.BotID) {
				if err := journal.ReopenBotJob(ctx, c.Target, j.RunID, j.BotID); err != nil {
					return nil, nil, fmt.Errorf("reembed: %w", err)
				}
				j.Status, j.Error = journal.JobPending, ""
				todo = append(todo, j)
			}
		}
		res.RunID = latest.ID
		if len(todo) == 0 {
			res.NothingToDo, res.Note = true, fmt.Sprintf("run %d has no failed bots to retry", latest.ID)
			return latest, nil, nil
		}
		c.Logger.InfoContext(ctx, "retrying failed bots", slog.Int64("run_id", latest.ID), slog.Int("bots", len(todo)))
		res.Resumed = true
		return latest, todo, journal.SetPhase(ctx, c.Target, latest.ID, "bots")
	}

	if c.Fresh || latest == nil {
		if unfinished {
			if err := journal.Finish(ctx, c.Target, latest.ID, journal.StatusAbandoned, errors.New("replaced by a fresh run")); err != nil {
				return nil, nil, err
			}
		}
		return c.startRun(ctx, bots, slices.Sorted(maps.Keys(bots)))
	}

	// Bots some run already finished are not done again, whichever run it was (a run scoped
	// with --bot finishes only its bots).
	finished, err := journal.FinishedBots(ctx, c.Target, Kind, c.Table)
	if err != nil {
		return nil, nil, fmt.Errorf("reembed: %w", err)
	}
	var need []string
	for _, id := range slices.Sorted(maps.Keys(bots)) {
		switch finished[id] {
		case "":
			need = append(need, id)
		case journal.JobLeft:
			// Left to the app: if its own embedding task never took the bot (the LastExecId is
			// still one of ours) and the bot is not queued for it, nobody embedded its sources.
			if b := bots[id]; strings.HasPrefix(b.LastExecID, "ragmigrate-") && b.SyncStatus != botstore.StatusQueued {
				need = append(need, id)
			}
		}
	}
	if !unfinished {
		res.RunID = latest.ID
		if len(need) == 0 {
			res.NothingToDo = true
			return latest, nil, nil
		}
		c.Logger.InfoContext(ctx, "bots no run has finished; starting a run for them", slog.Int("bots", len(need)), slog.Int64("last_run_id", latest.ID))
		return c.startRun(ctx, bots, need)
	}

	res.Resumed = true
	if err := journal.SetPhase(ctx, c.Target, latest.ID, "bots"); err != nil {
		return nil, nil, err
	}
	jobs, err := journal.BotJobs(ctx, c.Target, latest.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("reembed: %w", err)
	}
	inRun := map[string]journal.BotJob{}
	for _, j := range jobs {
		inRun[j.BotID] = j
	}
	var add []journal.BotJob
	for _, id := range need {
		j, ok := inRun[id]
		switch {
		case !ok:
			add = append(add, journal.BotJob{RunID: latest.ID, BotID: id, UserID: bots[id].UserID})
		case j.Status == journal.JobLeft:
			if err := journal.ReopenBotJob(ctx, c.Target, latest.ID, id); err != nil {
				return nil, nil, fmt.Errorf("reembed: %w", err)
			}
		}
	}
	if err := journal.AddBotJobs(ctx, c.Target, add); err != nil {
		return nil, nil, fmt.Errorf("reembed: %w", err)
	}
	if jobs, err = journal.BotJobs(ctx, c.Target, latest.ID); err != nil {
		return nil, nil, fmt.Errorf("reembed: %w", err)
	}
	var todo []journal.BotJob
	for _, j := range jobs {
		_, ok := bots[j.BotID]
		switch {
		case j.Status != journal.JobPending:
		case ok:
			todo = append(todo, j)
		case len(c.BotIDs) == 0 && len(c.UserIDs) == 0:
			// Pending, in scope, and no longer in the table: deleted since the run began.
			j.Status, j.Error = journal.JobSkipped, "the bot was deleted"
			if err := journal.FinishBotJob(ctx, c.Target, j); err != nil {
				return nil, nil, err
			}
		}
	}
	return latest, todo, nil
}

// startRun records a new run with a job for each of ids.
func (c *Config) startRun(ctx context.Context, bots map[string]*botstore.Bot, ids []string) (*journal.Run, []journal.BotJob, error) {
	run, err := journal.StartRun(ctx, c.Target, Kind, c.Table, c.Params)
	if err != nil {
		return nil, nil, fmt.Errorf("reembed: %w", err)
	}
	jobs := make([]journal.BotJob, len(ids))
	for i, id := range ids {
		jobs[i] = journal.BotJob{RunID: run.ID, BotID: id, UserID: bots[id].UserID, Status: journal.JobPending}
	}
	if err := journal.AddBotJobs(ctx, c.Target, jobs); err != nil {
		return nil, nil, fmt.Errorf("reembed: %w", err)
	}
	return run, jobs, journal.SetPhase(ctx, c.Target, run.ID, "bots")
}

func inScope(c Config, user, bot string) bool {
	return (len(c.BotIDs) == 0 || slices.Contains(c.BotIDs, bot)) &&
		(len(c.UserIDs) == 0 || slices.Contains(c.UserIDs, user))
}
