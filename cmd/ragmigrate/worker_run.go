package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/ragmigrate/ragmigrate/internal/awsclient"
	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/docstore"
	"github.com/ragmigrate/ragmigrate/internal/embed"
	"github.com/ragmigrate/ragmigrate/internal/journal"
	"github.com/ragmigrate/ragmigrate/internal/progress"
	"github.com/ragmigrate/ragmigrate/internal/reembed"
	"github.com/ragmigrate/ragmigrate/internal/reembed/botjob"
	"github.com/ragmigrate/ragmigrate/internal/runbudget"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// workerRunHelp is worker --run's part of worker's help.
const workerRunHelp = `worker --run ID works on re-embed run ID of the target's journal, as a task of 'reembed --runner
ecs --ecs-task worker' does: it rebuilds the run's jobs from the settings recorded with the run
(model, dimensions, truncation, bucket, how sources are read), joins the run's provider budget kept
in the target (so that all the run's workers together keep to it; a worker given --rpm or --tpm
other than the run's is refused, exit 2), and claims the run's pending
bots one at a time, --concurrency at once, their chunks sharing full requests. Each claimed bot is
leased for --lease and the lease renewed while the bot is worked on; a bot whose worker died is
claimed again once its lease has expired, and a worker whose lease was taken writes nothing of
that bot. As the app's embedding task role (TABLE_ACCESS_ROLE_ARN and AWS_EXECUTION_ENV set, as
'reembed' runs the workers without --task-role), it reaches each bot's item through the app's
table access role limited to that bot's user's items, one session per user, as the app's code
does. It does not take the run's lock, which the coordinating 'reembed' holds. Exit status 0
once no bot of the run is pending; 2 when ID names no re-embed run of the target (no such run, or
a run of another kind) or one without a budget for workers (the local runner's, unless --rpm or
--tpm sets one); non-zero when the provider refuses the run (credentials, model access),
the table access role refuses it, or the target fails; the bots it held then go back to pending.
SIGINT/SIGTERM stops it once the bots being written are (exit 130); a second one exits at once,
its writes in progress aborted, after giving back its leases (within 2 s), so that no bot waits
for its lease to expire.`

func (o *workerOptions) addRunFlags(fs *pflag.FlagSet) {
	fs.Int64Var(&o.Run, "run", 0, "work on the pending bots of this re-embed run of the target's journal (0: one bot, the app's task contract)")
	fs.IntVar(&o.Concurrency, "concurrency", 8, "with --run: bots worked on at once, whose chunks share requests")
	fs.DurationVar(&o.BatchLinger, "batch-linger", 200*time.Millisecond, "with --run: how long a request waits for other bots' chunks before it goes out less than full (0: each bot sends its own)")
	fs.DurationVar(&o.Lease, "lease", 2*time.Minute, "with --run: how long a claimed bot stays this worker's without a renewal (renewed every third of it); a dead worker's bots are claimed again after it")
}

// validateRun checks worker --run's flags, in either mode, so that a typo is caught.
func (o *workerOptions) validateRun() []error {
	var errs []error
	if o.Run < 0 {
		errs = append(errs, fmt.Errorf("--run %d: want a run id of the journal ('ragmigrate status' lists them)", o.Run))
	}
	if o.Concurrency < 1 || o.Concurrency > maxConcurrency {
		errs = append(errs, fmt.Errorf("--concurrency %d: want 1 to %d", o.Concurrency, maxConcurrency))
	}
	if o.BatchLinger < 0 {
		errs = append(errs, fmt.Errorf("--batch-linger %s: want 0 or more", o.BatchLinger))
	}
	if o.Lease < time.Second {
		errs = append(errs, fmt.Errorf("--lease %s: want at least 1s", o.Lease))
	}
	return errs
}

// runWorkerRun is worker --run: claim the run's pending bots until none is left.
func runWorkerRun(ctx context.Context, o *workerOptions, g *globalOptions, fs *pflag.FlagSet) error {
	if o.Run == 0 && fs.Changed("run") {
		// Given as 0: not a run id (the journal's start at 1), not "no --run" either.
		return usageError{errors.New("--run 0: want a run id of the journal ('ragmigrate status' lists them)")}
	}
	if o.Run == 0 {
		return usageError{errors.New("worker: give the bot's keys (the app's task contract), or --run ID")}
	}
	if g.TargetDB == "" {
		return usageError{errors.New("worker --run: --target-db is required (or --target-secret), the run's journal")}
	}
	if errs := o.validateRun(); len(errs) > 0 {
		return usageError{errors.Join(errs...)}
	}
	pool, err := vectorstore.NewPool(ctx, g.TargetDB, "worker", int32(o.Concurrency+4), g.dbTimeouts())
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	defer pool.Close()
	// An id that names no re-embed run of the target is the operator's input, refused as a usage
	// error like an unknown --stack, --bot or --app-container: the same id would fail every time.
	kind, status, raw, err := botjob.RunParams(ctx, pool, o.Run)
	switch {
	case errors.Is(err, journal.ErrNoJournal):
		return usageError{fmt.Errorf("worker --run %d: %w, so no run %d: give the --target-db (or --target-secret) of the 'reembed' that started the run", o.Run, journal.ErrNoJournal, o.Run)}
	case errors.Is(err, journal.ErrNoRun):
		return usageError{fmt.Errorf("worker --run %d: %w of --target-db with id %d: give the id of one of its re-embed runs, as 'ragmigrate status' lists them (KIND reembed)", o.Run, journal.ErrNoRun, o.Run)}
	case err != nil:
		return fmt.Errorf("worker --run %d: %w", o.Run, err)
	case kind != botjob.Kind:
		return usageError{fmt.Errorf("worker --run %d: run %d is a %s run, not a re-embed run: give the id of a re-embed run, as 'ragmigrate status' lists them (KIND reembed)", o.Run, o.Run, kind)}
	}
	if status == journal.StatusAbandoned || status == journal.StatusDone {
		fmt.Fprintf(g.stdout, "run %d is %s: no bot to claim\n", o.Run, status)
		return nil
	}
	p, err := reembed.DecodeParams(raw)
	if err != nil {
		return fmt.Errorf("worker --run %d: %w", o.Run, err)
	}
	// The run's settings, not this worker's flags: every worker writes what the coordinator
	// would have written. A flag given that says otherwise is named, so that it is not taken
	// for one that was used.
	for _, f := range []struct {
		flag, given, run string
	}{
		{"model", o.Model, p.Model.ID}, {"dimensions", strconv.Itoa(o.Dimensions), strconv.Itoa(p.Model.Dimensions)},
		{"openai-url", o.OpenAIURL, p.Model.OpenAIURL}, {"truncate", o.Truncate, p.Model.Truncate},
		{"bucket", g.Bucket, p.Model.Bucket}, {"table", g.Table, p.Table},
	} {
		if fs.Changed(f.flag) && f.given != f.run {
			g.logger.WarnContext(ctx, fmt.Sprintf("worker --run %d: --%s %s ignored: the run's is %q, which every worker of the run uses", o.Run, f.flag, f.given, f.run))
		}
	}
	o.Model, o.Dimensions, o.OpenAIURL, o.Truncate = p.Model.ID, p.Model.Dimensions, p.Model.OpenAIURL, p.Model.Truncate
	g.Bucket, g.Table = p.Model.Bucket, p.Table
	m, err := o.model()
	if err != nil {
		return usageError{err}
	}
	trunc, err := embed.ParseTruncate(o.Truncate)
	if err != nil {
		return fmt.Errorf("worker --run %d: the run's --truncate: %w", o.Run, err)
	}
	// The worker's name in the leases: its ECS task id (outside ECS a generated id).
	owner, _, err := execID(ctx)
	if err != nil {
		return err
	}
	log := g.logger.With(slog.Int64("run_id", o.Run), slog.String("worker", owner))
	clients, err := awsclient.Load(ctx, g.awsOptions())
	if err != nil {
		return err
	}
	provider, err := embed.Open(m, o.openOptions(clients.Config, trunc))
	if err != nil {
		return err
	}
	// The run's budget is the coordinator's (it opened it before launching the workers): a
	// worker joins it. A budget given to this worker is checked against the run's instead, so
	// that a worker started by hand with other settings says so rather than pace by its own.
	shared := runbudget.Config{Join: true, Logger: log}
	if o.rpmSet || o.tpmSet {
		shared = runbudget.Config{RequestsPerMinute: o.RPM, TokensPerMinute: o.TPM, Logger: log}
	}
	bucket, err := runbudget.Open(ctx, pool, o.Run, shared)
	if errors.Is(err, runbudget.ErrBudgetDiffers) {
		// The operator's flags (or RAGMIGRATE_RPM/TPM), not the run: say how to join it.
		return usageError{fmt.Errorf("worker --run %d: %w; without --rpm and --tpm a worker joins the run's budget (the coordinating 'reembed' sets it with its own --rpm, --tpm)", o.Run, err)}
	}
	if errors.Is(err, runbudget.ErrNoBudget) {
		// A run no 'reembed --runner ecs --ecs-task worker' has coordinated (the local runner's):
		// the same id fails every time, so it is the operator's input, said with what to do.
		return usageError{fmt.Errorf("worker --run %d: run %d has no budget shared by workers, which 'reembed --runner ecs --ecs-task worker' sets before it starts them (a run of the local runner has none): continue it with the 'ragmigrate reembed' that started it, or give this worker --rpm or --tpm to set the run's budget", o.Run, o.Run)}
	}
	if err != nil {
		return fmt.Errorf("worker --run %d: %w", o.Run, err)
	}
	log.InfoContext(ctx, "budget of the run, shared by its workers: "+bucket.Config().String())
	defer bucket.Close()
	ectx, stopEmbedder := context.WithCancel(ctx)
	defer stopEmbedder()
	batcher, embedder := newEmbedder(ectx, provider, bucket, log, o.RequestTimeout, o.ProviderTimeout, o.BatchLinger)
	bots := botstore.New(clients.DynamoDB, g.Table)
	if role := awsclient.AppTableAccessRole(); role != "" {
		// Running as the app's embedding task role, which may not touch the table: each bot's
		// item is reached as the app's code reaches it, through the table access role scoped to
		// the bot's user, one session per user.
		bots = bots.WithUserCredentials(awsclient.NewTableAccess(clients.Config, role).For)
		log.InfoContext(ctx, "the table through the app's table access role, scoped to each bot's user", slog.String("role", role))
	}
	job := reembed.Job{
		Bots: bots, Docs: docstore.New(clients.S3, g.Bucket), Target: pool,
		Logger: log, Embedder: embedder, Journal: reembed.Leased{Owner: owner}, Counters: &reembed.Counters{},
	}
	job.Use(p)
	// A second SIGINT/SIGTERM ends the process without waiting for the bots being written:
	// their transactions are aborted (rolled back), and the leases of every bot this worker
	// holds given back, so that the run's other workers, or its next invocation, claim them at
	// once rather than after --lease.
	abort, abortNow := context.WithCancel(context.WithoutCancel(ctx))
	defer abortNow()
	job.Abort = abort
	finished := make(chan struct{}) // closed once every bot this worker holds has stopped
	defer atSecondSignal(ctx, func(lctx context.Context) {
		abortNow()
		// An aborted bot puts its item's SyncStatus back as it was before its claim: wait for
		// that (within half the bound, the leases need the rest), or the app's items stay RUNNING.
		wait, cancel := context.WithTimeout(lctx, lastWordsWait/2)
		select {
		case <-finished:
		case <-wait.Done():
		}
		cancel()
		// A connection of its own: the pool's may all be busy, or the pool closing as the
		// command ends.
		err := func() error {
			conn, err := vectorstore.Connect(lctx, g.TargetDB, "worker", g.dbTimeouts())
			if err != nil {
				return fmt.Errorf("target: %w", err)
			}
			defer conn.Close(context.WithoutCancel(lctx))
			return botjob.Release(lctx, conn, o.Run, owner)
		}()
		if err != nil {
			log.ErrorContext(lctx, "second signal: exiting without giving back the leases of this worker's bots, which are claimed again once they expire", slog.Any("error", err))
			return
		}
		log.WarnContext(lctx, "second signal: exiting now, its writes in progress aborted; the bots this worker had not finished are pending again")
	})()
	defer context.AfterFunc(ctx, func() {
		log.Warn("interrupted: the bots being written are finished and the others given back; a second SIGINT/SIGTERM exits at once, aborting the writes")
	})()
	log.InfoContext(ctx, "worker claims the run's bots", slog.String("model", m.ID), slog.Int("concurrency", o.Concurrency), slog.Duration("lease", o.Lease))

	w := &leaseWorker{o: o, job: &job, owner: owner, log: log}
	runErr := w.run(ctx)
	close(finished)
	if ctx.Err() != nil {
		// StopTask's SIGTERM, or Ctrl-C.
		runErr = fmt.Errorf("stopped (%v): the bots it held are pending again, for the run's other workers or its next invocation", context.Cause(ctx))
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	// Bots this worker held and did not finish go to the other workers at once.
	if err := botjob.Release(rctx, pool, o.Run, owner); err != nil {
		runErr = errors.Join(runErr, err)
	}
	if err := batcher.Err(); err != nil {
		runErr = errors.Join(fmt.Errorf("embedding stopped: %w; the bots this worker held are pending again", err), runErr)
	}
	if tae := (*awsclient.TableAccessError)(nil); errors.As(runErr, &tae) {
		// Not a bot's problem: no bot was written, and every bot would meet it.
		runErr = fmt.Errorf("%w; the bots this worker held are pending again: let this task's role assume %s, or give 'ragmigrate reembed' --task-role a role with the grants of 'ragmigrate iam-policy worker'",
			runErr, tae.Role)
	}
	c := job.Counters
	// This process's requests, which its bots shared.
	st := batcher.Stats()
	if g.JSON {
		err := writeJSON(g, map[string]any{"run_id": o.Run, "worker": owner, "done": c.BotsDone.Load(), "failed": c.BotsFailed.Load(),
			"skipped": c.BotsSkipped.Load(), "left_to_app": c.BotsLeft.Load(), "chunks": c.Chunks.Load(), "requests": st.Requests, "throttles": st.Throttles})
		runErr = errors.Join(runErr, err)
	} else {
		fmt.Fprintf(g.stdout, "run %d, worker %s: %s done · %d failed · %d skipped · %d left to the app · %s · %s · %s\n",
			o.Run, owner, progress.Plural(c.BotsDone.Load(), "bot", "bots"), c.BotsFailed.Load(), c.BotsSkipped.Load(), c.BotsLeft.Load(),
			progress.Plural(c.Chunks.Load(), "chunk", "chunks"), progress.Plural(st.Requests, "request", "requests"), progress.Plural(st.Throttles, "throttle", "throttles"))
	}
	if runErr != nil {
		return fmt.Errorf("worker --run %d: %w", o.Run, runErr)
	}
	return nil
}

// leaseWorker claims a run's bots and works on up to --concurrency of them at once.
type leaseWorker struct {
	o     *workerOptions
	job   *reembed.Job
	owner string
	log   *slog.Logger
}

// run claims and works on bots until none of the run's is pending, or one stops the run.
func (w *leaseWorker) run(ctx context.Context) error {
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	db := w.job.Target
	slots := make(chan struct{}, w.o.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	// finished wakes the claim loop when a bot ends, so that an idle worker looks again at once.
	finished := make(chan struct{}, 1)
	idle := min(w.o.Lease/4, 2*time.Second)
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		if ctx.Err() != nil {
			// A bot's error stopped the worker (or it was interrupted): claim no more.
			return context.Cause(ctx)
		}
		j, err := botjob.ClaimNext(ctx, db, w.o.Run, w.owner, w.o.Lease)
		if err != nil {
			<-slots
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			stop(err)
			return err
		}
		if j == nil {
			<-slots
			pending, leased, err := botjob.CountPending(ctx, db, w.o.Run)
			if err != nil {
				if ctx.Err() != nil {
					return context.Cause(ctx)
				}
				stop(err)
				return err
			}
			if pending == 0 {
				// No bot of the run is pending, so none is this worker's either: done. (A bot
				// only leaves pending, never returns to it, while its run's workers run.)
				return context.Cause(ctx)
			}
			// Bots are pending but leased (to this worker or others): wait for one to end or
			// a lease to expire (a dead worker's).
			w.log.DebugContext(ctx, "no bot to claim now", slog.Int("pending", pending), slog.Int("leased", leased))
			t := time.NewTimer(idle)
			select {
			case <-finished:
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				<-slots
				select {
				case finished <- struct{}{}:
				default:
				}
			}()
			if err := w.work(ctx, *j); err != nil {
				stop(err)
			}
		}()
	}
}

// work runs one leased bot, renewing its lease until it ends. It returns an error only for what
// stops the worker; a lost lease is not one (the bot is another worker's now).
func (w *leaseWorker) work(ctx context.Context, j botjob.Job) error {
	log := w.log.With(slog.String("bot_id", j.BotID))
	// An exec id of this worker's attempt: a worker that lost its lease cannot take the bot's
	// status from the worker that claimed it next (the status writes compare the exec id).
	j.Exec = fmt.Sprintf("ragmigrate-run%d-%s-%s", j.RunID, j.BotID, w.owner[max(0, len(w.owner)-8):])
	log.InfoContext(ctx, "bot claimed", slog.Int("attempt", j.Attempts), slog.String("exec_id", j.Exec))
	jctx, lose := context.WithCancelCause(ctx)
	defer lose(nil)
	done := make(chan struct{})
	beat := make(chan struct{})
	go func() {
		defer close(beat)
		w.heartbeat(jctx, j, done, lose, log)
	}()
	_, err := w.job.Run(jctx, &botstore.Bot{UserID: j.UserID, ID: j.BotID}, j)
	close(done)
	<-beat
	if err == nil {
		// The bot's outcome is committed (fenced on the lease). A renewal that raced the commit
		// finds the job no longer pending, which is no loss.
		return nil
	}
	if errors.Is(err, botjob.ErrLeaseLost) || (errors.Is(context.Cause(jctx), botjob.ErrLeaseLost) && ctx.Err() == nil) {
		log.WarnContext(ctx, "lease lost: another worker claimed the bot, which writes it; nothing of this worker's attempt was written", slog.Any("error", err))
		return nil
	}
	return err
}

// heartbeat renews j's lease every third of it until done. When the lease is taken, or cannot
// be renewed before it expires, it ends the bot's context with botjob.ErrLeaseLost.
func (w *leaseWorker) heartbeat(ctx context.Context, j botjob.Job, done <-chan struct{}, lose context.CancelCauseFunc, log *slog.Logger) {
	every := w.o.Lease / 3
	last := time.Now()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, every)
		err := botjob.Renew(rctx, w.job.Target, j, w.o.Lease)
		cancel()
		switch {
		case err == nil:
			last = time.Now()
		case errors.Is(err, botjob.ErrLeaseLost):
			lose(err)
			return
		case time.Since(last)+every >= w.o.Lease:
			log.WarnContext(ctx, "the lease could not be renewed before it expires: giving the bot up", slog.Any("error", err))
			lose(fmt.Errorf("%w: %w", botjob.ErrLeaseLost, err))
			return
		default:
			log.WarnContext(ctx, "lease renewal failed; trying again", slog.Any("error", err))
		}
	}
}
