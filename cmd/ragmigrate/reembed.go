package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ragmigrate/ragmigrate/internal/awsclient"
	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/docstore"
	"github.com/ragmigrate/ragmigrate/internal/embed"
	"github.com/ragmigrate/ragmigrate/internal/plan"
	"github.com/ragmigrate/ragmigrate/internal/progress"
	"github.com/ragmigrate/ragmigrate/internal/ratelimit"
	"github.com/ragmigrate/ragmigrate/internal/reembed"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

type reembedOptions struct {
	planOptions
	Truncate      string
	Concurrency   int
	BatchLinger   time.Duration
	Fresh         bool
	RetryFailed   bool
	OnSourceError string
	DryRun        bool
	ReportFile    string
	CreateMissing bool

	// RequestTimeout and ProviderTimeout bound the waits on the embedding provider.
	RequestTimeout  time.Duration
	ProviderTimeout time.Duration

	// ECS runs the bots as ECS tasks (--runner ecs).
	ECS ecsRunOptions

	// explicit tells which flags the operator set (a resumed run keeps its recorded source
	// settings unless they are set again).
	explicit func(flag string) bool
	// flags are the command's, whose global settings reach --ecs-task worker's tasks.
	flags *pflag.FlagSet
}

func (o *reembedOptions) AddFlags(fs *pflag.FlagSet) {
	o.addScopeFlags(fs)
	fs.StringVar(&o.Truncate, "truncate", "NONE", "over-long chunks: NONE fails them (the app's behaviour), END or START cuts them to the model's limit")
	fs.IntVar(&o.Concurrency, "concurrency", 32, fmt.Sprintf("bots worked on at once (1 to %d). The requests in flight follow the budget by themselves "+
		"(requests/min ÷ 60 × seconds per request, up to 96 chunks each); the bots being read keep them full. "+
		"32 keeps 120 requests/min or 2 M tokens/min full at 2 s per request with ~100 chunks a bot; "+
		"raise it with the budget × latency, or when bots are small", maxConcurrency))
	fs.DurationVar(&o.BatchLinger, "batch-linger", 200*time.Millisecond, "how long a request waits for other bots' chunks before it goes out less than full; under a requests/min budget at least one request's share of the minute, and until the budget has a request free (0: each bot sends its own requests)")
	fs.DurationVar(&o.RequestTimeout, "request-timeout", embed.DefaultRequestTimeout, "how long one embedding request may take before it is abandoned and retried (Bedrock's answer must also begin within --aws-timeout)")
	fs.DurationVar(&o.ProviderTimeout, "provider-timeout", embed.DefaultProviderTimeout, "stop the run when no embedding request has succeeded for this long (a provider that answers nothing); access denied, bad credentials or an unknown model stop it at once")
	fs.BoolVar(&o.Fresh, "fresh", false, "abandon the unfinished run and start a new one (default: resume it)")
	fs.BoolVar(&o.RetryFailed, "retry-failed", false, "run the failed bots of the latest run again, and nothing else")
	fs.StringVar(&o.OnSourceError, "on-source-error", "fail-bot", "when a file or URL cannot be read: fail-bot (the bot keeps its old state and is FAILED with the source named; what the app did for files), skip-source (re-embed from the readable sources and list the others in the report) or skip-url (the app's loaders: an unreadable URL is skipped and listed, an unreadable file fails the bot)")
	fs.BoolVar(&o.DryRun, "dry-run", false, "only plan: same as 'ragmigrate plan'")
	fs.StringVar(&o.ReportFile, "report", "", "JSON report file (default ragmigrate-reembed-run<N>.json)")
	fs.BoolVar(&o.CreateMissing, "create-missing", false, "create the vector extension and the items table (the app's DDL) if the target database lacks them; without it such a target is refused before any work")
	o.ECS.AddFlags(fs)
}

func newReembedCommand(g *globalOptions) *cobra.Command {
	o := &reembedOptions{}
	cmd := &cobra.Command{
		Use:   "reembed",
		Short: "Rebuild every bot's vectors in the new cluster from its sources (the guide's main path)",
		Long: `Reembed scans the bots (--table), and for every bot with knowledge loads its sources (documents in
--bucket, source URLs), splits them exactly as the app does (llama-index 0.10.19 SentenceSplitter
with the bot's chunk_size/chunk_overlap), embeds them in full batches under one rate limit shared
by all bots (--rpm, --tpm; it slows down by itself when Bedrock throttles), and writes the bot's
rows to --target-db in one transaction together with the journal entry that marks the bot done.

The bot's SyncStatus stays truthful: RUNNING while it is worked on, then SUCCEEDED or FAILED with
a reason naming the file or URL and the cause. Bots without knowledge become SUCCEEDED ("No
contents to embed.") as the app's task would. QUEUED is never written (it would start the app's
own embedding task), and a deleted bot is never re-created.

The live app wins: every status write is conditional on the bot item being the one ragmigrate
read (its SyncStatus and LastExecId, its Knowledge and EmbeddingParams). If a user edits or
deletes a bot, or the app's own embedding task takes it, while ragmigrate works on it, nothing is
written for that bot — neither rows nor status — and the report lists it as "left to the app".
If the run stops for a reason that is not the bot's (Ctrl-C, the provider refusing every call),
the bots it was working on get their previous SyncStatus back.

Runs are journaled in the target (schema ragmigrate): a crash, kill -9 or Ctrl-C loses nothing and
a re-run continues the unfinished run, skipping done bots; after a finished run it takes up only
the bots no run has finished (created since, or left to the app and never taken by it).
--fresh starts over (within --bot/--user), --retry-failed reruns exactly the failed bots of the
latest run; 'ragmigrate status' shows the journal. A run taken up again (a resume, --retry-failed)
keeps the settings recorded with it: another --model, --dimensions, --truncate, --openai-url or
--bucket is refused (exit 2; --fresh starts a new run), and a source setting (--on-source-error,
--max-file-bytes, --max-bot-bytes, --url-timeout, …) applies to the bots still to do only when
given again. The report (--report, and stdout) covers the whole run, also what an interrupted
invocation of it did. It asks before spending (--yes for scripts); --dry-run only plans. Exit status 1 when any bot failed.

--reuse-from URL (or 'source-db' for --source-db) takes vectors from the old cluster, usually a
restored snapshot, which is only read: a chunk whose bot's old rows hold exactly its text keeps the
stored vector (bytes unchanged, the chunk's own source) and is not embedded; the others are. Before
any bot, up to 5 such chunks of bots spread over the run are embedded again and must match their
stored vectors (cosine >= 0.999, same length); the old model is --model unless --reuse-model says
otherwise, and its dimensions must be the run's. If any check fails, the run says why and embeds
every chunk. The report and the journal count reused and embedded chunks per bot; 'plan
--reuse-from' counts them beforehand. The URL is not recorded with the run: a resumed run reuses
only when given --reuse-from again.

The target must hold the app's setup (the vector extension and items, as a v1 deploy leaves them);
a database without them is refused before any work, since it is most likely not the app's.
--create-missing creates what is missing with the app's DDL, as copy's --create-missing does.

--runner ecs --ecs-task app runs each bot as the app's own embedding task (the guide's path, done
safely): one RunTask per bot of --task-definition with the app's command ["-u",
"embedding/main.py", KEYS] for --app-container, in all --subnets with --security-groups and no
public IP (--stack fills these from its outputs), at most --max-tasks at once. RunTask's
failures[] and throttling are retried with backoff; a permanent error (a wrong container name, a
missing role) stops the run with the fix named. Each task is followed with DescribeTasks; the
bot counts as done when its SyncStatus says SUCCEEDED under the task's id (LastExecId) and its
rows check out (rows for a bot with knowledge, the run's dimensions, no NULL vector), and as
failed when the task wrote FAILED. A task that ends otherwise (killed, never started) or runs
past --task-timeout is stopped and the bot run again, up to --task-retries times. The journal
records every job as for a local run. The task definition's image may be the app's, or
ragmigrate's running 'ragmigrate worker' (see its help).

--runner ecs --ecs-task worker runs ragmigrate's own pipeline on Fargate instead: --workers tasks
of --image (task definition family "ragmigrate", registered by content as 'remote' does, with the
roles and log group of --task-definition), placed as above, each running 'ragmigrate worker --run
ID', which claims the run's bots under leases (--lease) and shares the run's budget with the other
workers through the target. The target and the global settings reach the tasks as RAGMIGRATE_*
variables, never on their command line. A task that ends while bots remain is replaced, up to
--task-retries in all; a bot whose worker died is claimed by another once its lease expires.
Ctrl-C stops the tasks and leaves the run to continue; a restarted reembed follows the tasks
still running instead of launching more.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.explicit = func(flag string) bool { return cmd.Flags().Changed(strings.TrimPrefix(flag, "--")) }
			o.flags = cmd.Flags()
			o.noteBudgetFlags(cmd)
			return runReembed(cmd.Context(), o, g)
		},
	}
	o.AddFlags(cmd.Flags())
	o.flags = cmd.Flags() // for Validate, which runs before RunE
	g.checkFlagsFirst(cmd, o.Validate)
	return cmd
}

// maxConcurrency bounds --concurrency; each bot worked on holds a target connection.
const maxConcurrency = 256

// Validate checks every flag before anything is read, for a run and for --dry-run alike.
func (o *reembedOptions) Validate(g *globalOptions) error {
	errs := o.planOptions.validate(g)
	if g.TargetDB == "" && !o.DryRun {
		errs = append(errs, errors.New("--target-db is required"))
	}
	// ParseTruncate reads "" as NONE; the flag names its three values, so "" is refused here.
	if _, err := embed.ParseTruncate(o.Truncate); err != nil || o.Truncate == "" {
		errs = append(errs, fmt.Errorf("--truncate %q: want NONE, END or START", o.Truncate))
	}
	if o.OnSourceError != "fail-bot" && o.OnSourceError != reembed.SkipSource && o.OnSourceError != reembed.SkipURL {
		errs = append(errs, fmt.Errorf("--on-source-error %q: want fail-bot, skip-source or skip-url", o.OnSourceError))
	}
	if o.Fresh && o.RetryFailed {
		errs = append(errs, errors.New("--fresh and --retry-failed exclude each other"))
	}
	if o.Concurrency < 1 || o.Concurrency > maxConcurrency {
		errs = append(errs, fmt.Errorf("--concurrency %d: want 1 to %d", o.Concurrency, maxConcurrency))
	}
	if o.BatchLinger < 0 {
		errs = append(errs, fmt.Errorf("--batch-linger %s: want 0 (no sharing) or more", o.BatchLinger))
	}
	if o.RequestTimeout < time.Millisecond || o.ProviderTimeout < time.Millisecond {
		errs = append(errs, fmt.Errorf("--request-timeout %s, --provider-timeout %s: want positive durations", o.RequestTimeout, o.ProviderTimeout))
	}
	errs = append(errs, o.ECS.validate()...)
	if o.flags != nil {
		errs = append(errs, o.ECS.unused(o.flags)...)
	}
	if o.ECS.Runner == "ecs" && o.ReuseFrom != "" {
		// The app's task embeds every chunk of its bot; it knows nothing of the old cluster.
		errs = append(errs, errors.New("--reuse-from: not with --runner ecs, whose tasks embed every chunk"))
	}
	if err := errors.Join(errs...); err != nil {
		return usageError{err}
	}
	return nil
}

// provider builds the embedding provider for the model the flags name; o has been validated.
func (o *reembedOptions) provider(clients *awsclient.Clients) (embed.Provider, embed.Model, error) {
	m, err := o.model()
	if err != nil {
		return nil, m, usageError{err}
	}
	trunc, _ := embed.ParseTruncate(o.Truncate)
	p, err := embed.Open(m, o.openOptions(clients.Config, trunc))
	return p, m, err
}

func runReembed(ctx context.Context, o *reembedOptions, g *globalOptions) error {
	if err := o.Validate(g); err != nil {
		return err
	}
	if o.DryRun {
		o.planOptions.truncate = o.Truncate
		o.planOptions.ecs = &o.ECS
		return runPlan(ctx, &o.planOptions, g)
	}
	clients, err := awsclient.Load(ctx, g.awsOptions())
	if err != nil {
		return err
	}
	provider, model, err := o.provider(clients)
	if err != nil {
		return err
	}
	bots := botstore.New(clients.DynamoDB, g.Table)
	docs := docstore.New(clients.S3, g.Bucket)
	fetcher := o.fetcher()
	pool, err := vectorstore.NewPool(ctx, g.TargetDB, "reembed", int32(o.Concurrency+2), g.dbTimeouts())
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	defer pool.Close()
	creates, err := checkTargetSetup(ctx, pool, o.CreateMissing)
	if err != nil {
		return err
	}
	// Lookups are short: a connection per bot at once is more than they need.
	reuse, closeReuse, err := o.openReusePool(ctx, g, min(o.Concurrency, 16), model, o.Truncate)
	if err != nil {
		return err
	}
	defer closeReuse()

	// The dry run, shown before anything is spent.
	budget := o.budget(ctx, clients.Config, model)
	p, err := plan.Make(ctx, plan.Options{Bots: bots, Docs: docs, BotIDs: o.Bots, UserIDs: o.Users, Model: model,
		RequestsPerMinute: budget.RequestsPerMinute, TokensPerMinute: budget.TokensPerMinute, BudgetSource: budget.Source,
		Fetcher: fetcher, Limits: o.Limits, Logger: g.logger})
	if err != nil {
		return err
	}
	if err := checkScope(p, &o.planOptions, g); err != nil {
		return err
	}
	// Log lines like the others on stderr (in the --log-format asked for), read before the question.
	g.logger.InfoContext(ctx, "budget: "+budgetLine(budget, o.discovers(budget)))
	fail := "fail"
	if p.Bots.WillFail == 1 {
		fail = "fails"
	}
	g.logger.InfoContext(ctx, fmt.Sprintf("re-embed %s with knowledge (%d %s before any reading: missing, unsupported or oversized files; 'plan --exact' reads every source) with %s: ~%s, ~%s, ~$%.4f, %s",
		progress.Plural(p.Bots.WithKnowledge, "bot", "bots"), p.Bots.WillFail, fail, model.ID, progress.Plural(p.Reembed.Chunks, "chunk", "chunks"),
		progress.Plural(p.Reembed.Tokens, "token", "tokens"), p.Reembed.CostUSD, planDuration(p)))
	if reuse != nil {
		refused, err := reuse.Precheck(ctx, reembed.Model{ID: model.ID, Dimensions: model.Dimensions})
		switch {
		case err != nil:
			return err
		case refused != "":
			g.logger.WarnContext(ctx, fmt.Sprintf("reuse from %s: nothing can be reused, every chunk will be embedded: %s", reuse.From, refused))
		default:
			g.logger.InfoContext(ctx, fmt.Sprintf("reuse from %s: chunks its rows hold for the same bot (exact text) keep their old vectors and are not embedded, once up to %d of them, embedded again first, show they are %s's ('plan --reuse-from' counts them)",
				reuse.From, reembed.ReuseSample, reuse.OldModel))
		}
	}
	if err := g.confirm(fmt.Sprintf("Write the vectors of %s into the target%s and update their SyncStatus?", progress.Plural(p.Bots.Total, "bot", "bots"), creates)); err != nil {
		return err
	}

	lim, err := ratelimit.New(ratelimit.Config{RequestsPerMinute: budget.RequestsPerMinute, TokensPerMinute: budget.TokensPerMinute,
		// With no budget given or read, the first throttle tells it; --rpm 0 --tpm 0 asks for no
		// pacing at all.
		Discover: o.discovers(budget),
		// Bedrock's token quotas count over a sliding minute.
		SlidingMinute: true})
	if err != nil {
		return usageError{err}
	}
	prog, logger := g.newProgress()
	counters := &reembed.Counters{}
	ectx, stopEmbedder := context.WithCancel(ctx)
	defer stopEmbedder()
	batcher, embedder := newEmbedder(ectx, provider, lim, logger, o.RequestTimeout, o.ProviderTimeout, o.BatchLinger)
	job := reembed.Job{
		Bots: bots, Docs: docs, Target: pool, Logger: logger, Counters: counters, Embedder: embedder,
	}
	var rn reembed.Runner
	if o.ECS.Runner == "ecs" && o.ECS.Task == "worker" {
		rn, err = o.workerRunner(ctx, g, clients.Config, pool, budget, logger)
	} else {
		rn, err = o.ECS.runner(ctx, g, clients.Config, &job, model.Dimensions, p, logger)
		o.warnAppIgnores(ctx, logger)
	}
	if err != nil {
		prog.Close()
		return err
	}
	res, runErr := reembed.Run(ctx, reembed.Config{
		Job: job, Runner: rn,
		Table: g.Table, Concurrency: o.Concurrency, BotIDs: o.Bots, UserIDs: o.Users,
		Fresh: o.Fresh, RetryFailed: o.RetryFailed, Dimensions: model.Dimensions, CreateMissing: o.CreateMissing, Progress: prog,
		Params: o.params(g, model), Explicit: o.explicit, ReuseFrom: reuse,
	})
	prog.Close()
	if r := lim.Rate(); r.Discovered {
		// A log record like every other line on stderr, so that --log-format json keeps stderr
		// all JSON.
		g.logger.InfoContext(ctx, fmt.Sprintf("budget found at the first throttle: %.0f requests/min, %.0f tokens/min (what the provider accepted over the minute before it, lowered %s at later throttles)",
			r.RequestsPerMinute, r.TokensPerMinute, progress.Plural(r.Cuts, "time", "times")),
			slog.Float64("requests_per_minute", r.RequestsPerMinute), slog.Float64("tokens_per_minute", r.TokensPerMinute), slog.Int64("cuts", r.Cuts))
	}
	if err := batcher.Err(); err != nil {
		// The provider refused the whole run (embed.ErrProviderFatal): the operator's problem,
		// named once; the bots it was working on have their SyncStatus back.
		stopped := fmt.Errorf("embedding stopped: %w; no bot was marked FAILED for it, and 'ragmigrate reembed' continues the run once it is fixed", err)
		if errors.Is(runErr, embed.ErrProviderFatal) {
			runErr = stopped
		} else {
			runErr = errors.Join(stopped, runErr)
		}
	}
	if errors.Is(runErr, reembed.ErrParamsDiffer) {
		return usageError{runErr}
	}
	if res == nil {
		return runErr
	}
	summary := reembed.NewSummary(res, reembed.Embedding{Model: model.ID, PricePerMTok: model.PricePerMTok,
		EstimatedUSD: p.Reembed.CostUSD, Stats: batcher.Stats()})
	switch {
	case rn == nil:
	case o.ECS.Task == "worker":
		summary.EmbeddedBy = "ragmigrate worker tasks on ECS (--workers " + strconv.Itoa(o.ECS.Workers) + ")"
		summary.CountWorkers(model.PricePerMTok)
	default:
		summary.EmbeddedBy = "the app's embedding tasks on ECS"
	}
	if res.RunID != 0 && !res.NothingToDo {
		path := o.ReportFile
		if path == "" {
			path = fmt.Sprintf("ragmigrate-reembed-run%d.json", res.RunID)
		}
		b, _ := json.MarshalIndent(summary, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			return errors.Join(runErr, fmt.Errorf("write report: %w", err))
		}
		g.logger.InfoContext(ctx, "report written", slog.String("file", path))
	}
	if g.JSON {
		err = writeJSON(g, summary)
	} else {
		err = summary.WriteText(g.stdout)
	}
	if runErr != nil || err != nil {
		return errors.Join(runErr, err)
	}
	if summary.Failed > 0 {
		return fmt.Errorf("%d of %s failed; their SyncStatusReason says why (fix, then 'ragmigrate reembed --retry-failed')", summary.Failed, progress.Plural(len(res.Run), "bot", "bots"))
	}
	return nil
}

// params are the run's parameters the flags describe, recorded with a new run.
func (o *reembedOptions) params(g *globalOptions, m embed.Model) reembed.Params {
	return reembed.Params{
		Model: reembed.Model{ID: m.ID, Dimensions: m.Dimensions, Truncate: o.Truncate, OpenAIURL: o.OpenAIURL, Bucket: g.Bucket},
		Sources: reembed.Sources{
			OnSourceError: o.OnSourceError, AllowPrivateURLs: o.AllowPrivateURLs, URLTimeout: o.URLTimeout, URLRetries: o.URLRetries,
			MaxURLBytes: o.MaxURLBytes, MaxSitemapPages: o.MaxSitemapPages, SitemapAnyHost: o.SitemapAnyHost, UserAgent: o.UserAgent,
			MaxFileBytes: o.Limits.MaxFileBytes, MaxBotBytes: o.Limits.MaxBotBytes,
		},
		RPM: o.RPM, TPM: o.TPM,
	}
}

// checkTargetSetup refuses, before any work, a target that lacks the vector extension or items
// unless --create-missing asks for them (the same rule as copy's), and otherwise returns what
// the confirmation question must say will be created.
func checkTargetSetup(ctx context.Context, pool *pgxpool.Pool, create bool) (string, error) {
	s, err := vectorstore.CheckSetup(ctx, pool)
	if err != nil {
		return "", fmt.Errorf("target: %w", err)
	}
	missing := s.Missing()
	db := pool.Config().ConnConfig.Database
	switch {
	case missing == "":
		return "", nil
	case s.Pgvector == "" && s.Available == "":
		return "", fmt.Errorf("target database %s: %w: the cluster does not offer pgvector; install it on the target cluster", db, vectorstore.ErrSetupMissing)
	case !create:
		return "", fmt.Errorf("target database %s: %w: it lacks %s (a v1 deploy creates them): check --target-db, or pass --create-missing to create what is missing with the app's DDL", db, vectorstore.ErrSetupMissing, missing)
	}
	return " (creating " + missing + " first, with the app's DDL)", nil
}

func planDuration(p *plan.Plan) string {
	if p.Reembed.Bound == "none" {
		return "no rate budget"
	}
	return fmt.Sprintf("~%s at the budget", p.Reembed.Duration)
}

// newEmbedder is the Batcher over provider, paced by lim, and what the bots embed through: with
// linger > 0 a Coalescer over it, so that bots share requests (a request is filled with chunks of
// several bots), running until ctx ends; else the Batcher itself.
func newEmbedder(ctx context.Context, provider embed.Provider, lim embed.Limiter, log *slog.Logger,
	requestTimeout, providerTimeout, linger time.Duration) (*embed.Batcher, reembed.Embedder) {
	batcher := embed.NewBatcher(provider, embed.Options{Limiter: lim, Logger: log,
		RequestTimeout: requestTimeout, ProviderTimeout: providerTimeout})
	if linger <= 0 {
		return batcher, batcher
	}
	return batcher, embed.NewCoalescer(ctx, batcher, linger)
}
