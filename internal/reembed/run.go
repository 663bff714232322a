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

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/journal"
	"github.com/ragmigrate/ragmigrate/internal/progress"
	"github.com/ragmigrate/ragmigrate/internal/reembed/botjob"
	"github.com/ragmigrate/ragmigrate/internal/runner"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// Kind is the journal's name for re-embed runs.
const Kind = botjob.Kind

// Runner runs a run's claimed jobs somewhere: runner.Local in this process, or workers
// elsewhere that rebuild each job from the journal. do runs one job in this process; it returns
// an error only for what stops the whole run.
type Runner interface {
	Run(ctx context.Context, jobs []botjob.Job, do func(context.Context, botjob.Job) error) error
}

// Observed is a Runner whose jobs run in other processes (runner.ECSWorkers): Run gives it a
// function to call with each job it sees finished in the journal, for progress.
type Observed interface {
	Observe(func(botjob.Job))
}

// Settled is a Runner whose jobs are recorded and counted by a judge of their tasks (the app's
// task per bot): it calls the function given to OnSettled as each job gets its outcome, for
// progress.
type Settled interface {
	OnSettled(func())
}

// Config is one re-embed invocation.
type Config struct {
	Job
	// Table is the bots' table: the journal's subject, so runs on one deployment resume each other.
	Table       string
	Concurrency int // bots at once in the default runner; default 4
	// Runner runs the jobs; default runner.Local{Concurrency}.
	Runner  Runner
	BotIDs  []string
	UserIDs []string
	// Fresh abandons an unfinished run and starts a new one.
	Fresh bool
	// RetryFailed runs the latest run's failed bots again.
	RetryFailed bool
	// Dimensions of the model's vectors, checked against items.embedding.
	Dimensions int
	// CreateMissing creates the vector extension and items (the app's DDL) when the target
	// lacks them; without it a target without them is an error (vectorstore.ErrSetupMissing).
	CreateMissing bool
	// Params describe the jobs; they are recorded with a new run. A resumed run goes on with
	// its recorded params (see resumeParams): Explicit tells which flags the operator set.
	Params   Params
	Explicit func(flag string) bool
	// ReuseFrom, if set, is an old cluster whose vectors the run reuses once Reuse.Check has
	// passed on the bots to do; if it refuses, the run embeds every chunk.
	ReuseFrom *Reuse
	// LockWait is how long to wait for another run's lock; default journal.DefaultLockWait.
	LockWait time.Duration
	Progress *progress.Progress
}

// Result is what a run did.
type Result struct {
	RunID       int64 `json:"run_id"`
	Resumed     bool  `json:"resumed"`
	NothingToDo bool  `json:"nothing_to_do"`
	// Run is every job of the run as the journal ends it (a resumed run's earlier invocations
	// included).
	Run       []Outcome              `json:"bots"`
	Note      string                 `json:"note,omitempty"`
	Malformed []botstore.DecodeError `json:"malformed,omitempty"`
	Elapsed   time.Duration          `json:"elapsed_ns"`
	// Reuse is what this invocation's reuse check found (nil without ReuseFrom).
	Reuse *ReuseReport `json:"reuse,omitempty"`
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
	sess, err := journal.Begin(ctx, lockConn.Conn(), c.Target, journal.Options{LockWait: c.LockWait, Logger: c.Logger})
	if err != nil {
		return nil, fmt.Errorf("reembed: %w", err)
	}
	defer sess.Close(ctx)
	if err := sess.Migrate(ctx); err != nil {
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

	run, todo, err := c.pickRun(ctx, sess, res, bots)
	if err != nil || res.NothingToDo {
		return res, err
	}
	res.RunID = run.ID
	c.Logger.InfoContext(ctx, "re-embed run", slog.Int64("run_id", run.ID), slog.Bool("resumed", res.Resumed),
		slog.Int("to_do", len(todo)), slog.Int("malformed", len(res.Malformed)))

	c.Job.Use(c.Params)
	// A check that cannot be made (the old cluster unreadable, the provider refusing every call)
	// stops the run before any bot, which stays pending for the next invocation.
	var runErr error
	if c.ReuseFrom != nil {
		runErr = c.checkReuse(ctx, res, todo, bots)
	}

	var phase *progress.Phase
	if c.Progress != nil {
		phase = c.Progress.Start("bots", progress.Count, int64(len(todo)))
		defer c.Progress.End(phase)
	}
	// tick counts a job with an outcome in the progress, chunks its detail's start; requests
	// are left out of it where nothing counts them (the app's tasks).
	tick := func(chunks string, requests bool) {
		if phase == nil {
			return
		}
		phase.Add(1)
		if requests {
			chunks += " · " + progress.Plural(c.Counters.Requests.Load(), "request", "requests") + " · " +
				progress.Plural(c.Counters.Throttles.Load(), "throttle", "throttles")
		}
		phase.SetDetail(fmt.Sprintf("%s · %d failed · %d left to the app", chunks, c.Counters.BotsFailed.Load(), c.Counters.BotsLeft.Load()))
	}
	rn := c.Runner
	if rn == nil {
		rn = runner.Local{Concurrency: c.Concurrency}
	}
	do := func(ctx context.Context, j botjob.Job) error {
		b := bots[j.BotID]
		if b == nil {
			// A failed bot retried after it was deleted: the job finds it gone.
			b = &botstore.Bot{UserID: j.UserID, ID: j.BotID}
		}
		_, err := c.Job.Run(ctx, b, j)
		// A job cut short by an interrupt is not done; the phase then ends short of its total.
		if err == nil || ctx.Err() == nil {
			tick(fmt.Sprintf("%s (%d reused)", progress.Plural(c.Counters.Chunks.Load(), "chunk", "chunks"), c.Counters.Reused.Load()), true)
		}
		return err
	}
	if ob, ok := rn.(Observed); ok {
		// The jobs run elsewhere: their outcomes, read from the journal, are the progress.
		ob.Observe(func(j botjob.Job) {
			out := Outcome{Job: j}
			c.Job.count(&out)
			tick(progress.Plural(c.Counters.Chunks.Load(), "chunk", "chunks"), true)
		})
	}
	if st, ok := rn.(Settled); ok {
		// The app's tasks: the judge records and counts each job; only the progress is left.
		st.OnSettled(func() { tick(progress.Plural(c.Counters.Chunks.Load(), "chunk", "chunks"), false) })
	}
	if runErr == nil {
		runErr = rn.Run(ctx, todo, do)
	}
	if phase != nil && (runErr != nil || ctx.Err() != nil) {
		phase.Stop()
	}
	res.Elapsed = time.Since(start)
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var finishErr error
	switch {
	case ctx.Err() != nil:
		finishErr = sess.Finish(ctx, ctx.Err())
		runErr = &interruptedError{runID: run.ID, err: ctx.Err()}
	case runErr != nil:
		finishErr = sess.Finish(ctx, runErr)
		runErr = fmt.Errorf("reembed run %d: %w", run.ID, runErr)
	}
	// The report covers the whole run, also what earlier invocations of a resumed run did.
	all, err := botjob.List(fctx, c.Target, run.ID)
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
		res.Run = append(res.Run, Outcome{Job: j, Title: title})
		pending = pending || j.Status == botjob.Pending
	}
	if runErr == nil && !pending {
		finishErr = sess.Finish(ctx, nil)
	}
	return res, errors.Join(runErr, finishErr)
}

// checkReuse runs the reuse check on the bots to do, and turns reuse on for the jobs if it
// passes; if not, it says why and the run embeds everything. An error stops the run.
func (c *Config) checkReuse(ctx context.Context, res *Result, todo []botjob.Job, bots map[string]*botstore.Bot) error {
	var ids []string
	for _, j := range todo {
		if b := bots[j.BotID]; b != nil && !b.Knowledge.Empty() {
			ids = append(ids, j.BotID)
		}
	}
	chunksOf := func(ctx context.Context, id string) ([]string, error) {
		chunks, _, err := c.Job.load(ctx, bots[id])
		texts := make([]string, len(chunks))
		for i, ch := range chunks {
			texts[i] = ch.Text
		}
		return texts, err
	}
	rep, err := c.ReuseFrom.Check(ctx, c.Params.Model, c.Job.Embedder, ids, chunksOf)
	res.Reuse = &rep
	if err != nil {
		return err
	}
	if rep.Refused != "" {
		c.Logger.WarnContext(ctx, "reuse refused: every chunk is embedded", slog.String("from", rep.From), slog.String("reason", rep.Refused))
		c.Job.Reuse = nil
		return nil
	}
	c.Logger.InfoContext(ctx, "reuse checked: chunks the old cluster holds are not embedded again", slog.String("from", rep.From),
		slog.String("old_model", rep.OldModel), slog.Int("sampled", rep.Sampled), slog.Float64("min_cosine", rep.MinCosine))
	c.Job.Reuse = c.ReuseFrom
	return nil
}

// pickRun chooses the run and its jobs to do: the failed bots of the latest run
// (--retry-failed), a new run over every bot in scope (--fresh, or the first run), or else the
// unfinished run resumed — or, when the latest run is finished, a new run over only the bots no
// run has finished yet (created since, or left to the app and never taken by it). A run taken
// up again goes on with its recorded params (resume).
func (c *Config) pickRun(ctx context.Context, sess *journal.Session, res *Result, bots map[string]*botstore.Bot) (*journal.Run, []botjob.Job, error) {
	latest, err := sess.Latest(ctx, Kind, c.Table)
	switch {
	case errors.Is(err, journal.ErrNoRun):
		latest = nil
	case err != nil:
		return nil, nil, fmt.Errorf("reembed: %w", err)
	}
	unfinished := journal.Unfinished(latest)

	if c.RetryFailed {
		if latest == nil {
			res.NothingToDo, res.Note = true, "no re-embed run in the journal to retry"
			return nil, nil, nil
		}
		jobs, err := botjob.List(ctx, c.Target, latest.ID)
		if err != nil {
			return nil, nil, fmt.Errorf("reembed: %w", err)
		}
		var todo []botjob.Job
		for _, j := range jobs {
			if j.Status == botjob.Failed && inScope(*c, j.UserID, j.BotID) {
				todo = append(todo, j)
			}
		}
		res.RunID = latest.ID
		if len(todo) == 0 {
			res.NothingToDo, res.Note = true, fmt.Sprintf("run %d has no failed bots to retry", latest.ID)
			return latest, nil, nil
		}
		if err := c.resume(ctx, sess, latest); err != nil {
			return nil, nil, err
		}
		for i, j := range todo {
			if err := botjob.Reopen(ctx, c.Target, j.RunID, j.BotID); err != nil {
				return nil, nil, fmt.Errorf("reembed: %w", err)
			}
			todo[i].Status, todo[i].Error = botjob.Pending, ""
		}
		c.Logger.InfoContext(ctx, "retrying failed bots", slog.Int64("run_id", latest.ID), slog.Int("bots", len(todo)))
		res.Resumed = true
		return latest, todo, nil
	}

	if c.Fresh || latest == nil {
		// Start abandons the unfinished run.
		return c.startRun(ctx, sess, bots, slices.Sorted(maps.Keys(bots)))
	}

	// Bots some run already finished are not done again, whichever run it was (a run scoped
	// with --bot finishes only its bots).
	finished, err := botjob.FinishedBots(ctx, c.Target, Kind, c.Table)
	if err != nil {
		return nil, nil, fmt.Errorf("reembed: %w", err)
	}
	var need []string
	for _, id := range slices.Sorted(maps.Keys(bots)) {
		switch finished[id] {
		case "":
			need = append(need, id)
		case botjob.Left:
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
		return c.startRun(ctx, sess, bots, need)
	}

	res.Resumed = true
	if err := c.resume(ctx, sess, latest); err != nil {
		return nil, nil, err
	}
	jobs, err := botjob.List(ctx, c.Target, latest.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("reembed: %w", err)
	}
	inRun := map[string]botjob.Job{}
	for _, j := range jobs {
		inRun[j.BotID] = j
	}
	var add []botjob.Job
	for _, id := range need {
		j, ok := inRun[id]
		switch {
		case !ok:
			add = append(add, botjob.Job{RunID: latest.ID, BotID: id, UserID: bots[id].UserID})
		case j.Status == botjob.Left:
			if err := botjob.Reopen(ctx, c.Target, latest.ID, id); err != nil {
				return nil, nil, fmt.Errorf("reembed: %w", err)
			}
		}
	}
	if err := botjob.Add(ctx, c.Target, add); err != nil {
		return nil, nil, fmt.Errorf("reembed: %w", err)
	}
	if jobs, err = botjob.List(ctx, c.Target, latest.ID); err != nil {
		return nil, nil, fmt.Errorf("reembed: %w", err)
	}
	var todo []botjob.Job
	for _, j := range jobs {
		_, ok := bots[j.BotID]
		switch {
		case j.Status != botjob.Pending:
		case ok:
			todo = append(todo, j)
		case len(c.BotIDs) == 0 && len(c.UserIDs) == 0:
			// Pending, in scope, and no longer in the table: deleted since the run began.
			j.Status, j.Error = botjob.Skipped, "the bot was deleted"
			if err := botjob.Finish(ctx, c.Target, j); err != nil {
				return nil, nil, err
			}
		}
	}
	return latest, todo, nil
}

// resume takes run up again under its recorded params: the model must be the run's (else
// ErrParamsDiffer, before anything is written), the source settings are the run's unless this
// invocation sets them, and then the run's params say so for the jobs still to do.
func (c *Config) resume(ctx context.Context, sess *journal.Session, run *journal.Run) error {
	p, changed, complete, err := resumeParams(run.ID, run.Params, c.Params, c.Explicit)
	if err != nil {
		return fmt.Errorf("reembed: %w", err)
	}
	if !complete {
		c.Logger.WarnContext(ctx, "the run was recorded without its settings (an older ragmigrate): it goes on with this invocation's", slog.Int64("run_id", run.ID))
	}
	if len(changed) > 0 || !complete {
		c.Logger.InfoContext(ctx, "the run's source settings change for the bots still to do", slog.Int64("run_id", run.ID), slog.String("changes", strings.Join(changed, ", ")))
		if err := sess.SetParams(ctx, run, p); err != nil {
			return fmt.Errorf("reembed: %w", err)
		}
	}
	c.Params = p
	return sess.Resume(ctx, run, "bots")
}

// startRun records a new run with a job for each of ids.
func (c *Config) startRun(ctx context.Context, sess *journal.Session, bots map[string]*botstore.Bot, ids []string) (*journal.Run, []botjob.Job, error) {
	c.Params.Version, c.Params.Table = ParamsVersion, c.Table
	run, err := sess.Start(ctx, nil, Kind, c.Table, c.Params, "bots")
	if err != nil {
		return nil, nil, fmt.Errorf("reembed: %w", err)
	}
	jobs := make([]botjob.Job, len(ids))
	for i, id := range ids {
		jobs[i] = botjob.Job{RunID: run.ID, BotID: id, UserID: bots[id].UserID, Status: botjob.Pending}
	}
	if err := botjob.Add(ctx, c.Target, jobs); err != nil {
		return nil, nil, fmt.Errorf("reembed: %w", err)
	}
	return run, jobs, nil
}

func inScope(c Config, user, bot string) bool {
	return (len(c.BotIDs) == 0 || slices.Contains(c.BotIDs, bot)) &&
		(len(c.UserIDs) == 0 || slices.Contains(c.UserIDs, user))
}

// interruptedError is a run stopped by its context (SIGINT/SIGTERM): it says how to continue,
// and not the "context canceled" of how it stopped, which is in the chain for errors.Is.
type interruptedError struct {
	runID int64
	err   error
}

func (e *interruptedError) Error() string {
	return fmt.Sprintf("reembed run %d interrupted: run 'ragmigrate reembed' again to continue it (the bots done are skipped)", e.runID)
}

func (e *interruptedError) Unwrap() error { return e.err }
