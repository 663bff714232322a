package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/oklog/ulid/v2"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ragmigrate/ragmigrate/internal/awsclient"
	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/docstore"
	"github.com/ragmigrate/ragmigrate/internal/embed"
	"github.com/ragmigrate/ragmigrate/internal/progress"
	"github.com/ragmigrate/ragmigrate/internal/ratelimit"
	"github.com/ragmigrate/ragmigrate/internal/reembed"
	"github.com/ragmigrate/ragmigrate/internal/reembed/botjob"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// workerOptions are worker's flags: the model, the budget and how sources are read, as for
// reembed. In a task they come from RAGMIGRATE_<FLAG> variables (RAGMIGRATE_ALLOW_PRIVATE_URLS,
// RAGMIGRATE_MODEL, ...), since the app's task definition gives the container only its command.
type workerOptions struct {
	planOptions
	Truncate        string
	OnSourceError   string
	RequestTimeout  time.Duration
	ProviderTimeout time.Duration
	CreateMissing   bool
	// Unbuffered is python's -u in the app's command; accepted and ignored.
	Unbuffered bool
	// Run, Concurrency, BatchLinger and Lease are worker --run's (worker_run.go).
	Run         int64
	Concurrency int
	BatchLinger time.Duration
	Lease       time.Duration
}

// appScript is the program the app's command names: `python3 -u embedding/main.py KEYS`.
const appScript = "embedding/main.py"

func (o *workerOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Model, "model", "cohere.embed-multilingual-v3", "embedding model (as for reembed)")
	fs.StringVar(&o.OpenAIURL, "openai-url", "", "embed through an OpenAI-compatible endpoint (as for reembed)")
	fs.IntVar(&o.Dimensions, "dimensions", 1024, "vector size (as for reembed)")
	fs.IntVar(&o.RPM, "rpm", 0, "embedding requests per minute (default: the model's quota read from Service Quotas, else found adaptively; 0: no request budget)")
	fs.IntVar(&o.TPM, "tpm", 0, "embedding tokens per minute (default: the model's quota read from Service Quotas, else found adaptively; 0: no token budget)")
	o.sourceOptions.AddFlags(fs)
	fs.StringVar(&o.Truncate, "truncate", "NONE", "over-long chunks: NONE fails them (the app's behaviour), END or START cuts them")
	fs.StringVar(&o.OnSourceError, "on-source-error", reembed.SkipURL, "when a file or URL cannot be read: skip-url (the app's loaders: the URL is skipped, a file fails the bot), fail-bot or skip-source (as for reembed)")
	fs.DurationVar(&o.RequestTimeout, "request-timeout", embed.DefaultRequestTimeout, "how long one embedding request may take before it is abandoned and retried")
	fs.DurationVar(&o.ProviderTimeout, "provider-timeout", embed.DefaultProviderTimeout, "fail when no embedding request has succeeded for this long")
	fs.BoolVar(&o.CreateMissing, "create-missing", false, "create the vector extension and the items table (the app's DDL) if the target lacks them")
	o.addRunFlags(fs)
	fs.BoolVarP(&o.Unbuffered, "unbuffered", "u", false, "accepted for the app's command line (python3 -u embedding/main.py KEYS), and ignored")
	_ = fs.MarkHidden("unbuffered")
}

func newWorkerCommand(g *globalOptions) *cobra.Command {
	o := &workerOptions{}
	cmd := &cobra.Command{
		Use:   "worker [-u embedding/main.py] KEYS | worker --run ID",
		Short: "Re-embed one bot as the app's embedding task does (its ECS task contract), or a run's bots (--run)",
		Long: `worker runs the app's embedding task contract with ragmigrate's pipeline, so that the app's own
task definition can run ragmigrate in place of 'python3 -u embedding/main.py': its argument is
the bot's DynamoDB keys, {"PK":{"S":"<user>"},"SK":{"S":"<user>#BOT#<bot>"}}; the app's command
line "-u embedding/main.py KEYS" is accepted as it is.

Its configuration is the environment the app's task definition gives: TABLE_NAME,
DOCUMENT_BUCKET, BEDROCK_REGION (the embedding model's region), and the database as DB_SECRETS_ARN
(v1: the cluster's secret) or DB_HOST, DB_PORT, DB_USER, DB_PASSWORD, DB_NAME (v0.4.x; the app's
defaults 5432, postgres, password, postgres). In the app's task (AWS_EXECUTION_ENV set), it
reaches the bot's item as the app's code does: through TABLE_ACCESS_ROLE_ARN, the app's table
access role, assumed with a session policy limited to the bot's user's items (the app's task role
may not touch the table). ragmigrate's own settings win over them: the global
flags and their RAGMIGRATE_* variables (--table, --target-db, --target-secret, ...), and worker's
flags, also as RAGMIGRATE_<FLAG> (RAGMIGRATE_ALLOW_PRIVATE_URLS=true, RAGMIGRATE_MODEL, ...).

It writes what the app's task writes: SyncStatus RUNNING with LastExecId = the task id (the last
part of TaskARN from the task metadata endpoint, ECS_CONTAINER_METADATA_URI_V4; outside ECS a
generated id, which it says), then the bot's rows in one transaction and SUCCEEDED, or FAILED
with the reason; a bot without knowledge becomes SUCCEEDED ("No contents to embed."). As the
app's loaders, an unreadable URL is skipped and an unreadable file fails the bot
(--on-source-error skip-url); unlike them, a bot none of whose sources can be read fails, every
status write is conditional on the item as read (a user's edit or a deletion meanwhile wins,
and nothing is written), and QUEUED is never written. It keeps no journal.

Exit status 0 when the bot is SUCCEEDED, 1 when it is FAILED or was left to the app (edited or
deleted while it ran), 2 for a usage error.

` + workerRunHelp,
		Args: cobra.RangeArgs(0, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := workerFlagsFromEnv(cmd.Flags()); err != nil {
				return err
			}
			o.noteBudgetFlags(cmd)
			if o.Run != 0 || len(args) == 0 {
				if len(args) > 0 {
					return usageError{fmt.Errorf("worker --run %d: takes no bot keys (it claims the run's bots)", o.Run)}
				}
				return runWorkerRun(cmd.Context(), o, g, cmd.Flags())
			}
			if len(args) == 2 {
				if args[0] != appScript {
					return usageError{fmt.Errorf("worker %s: want the bot's keys, or %s and the keys (the app's command)", args[0], appScript)}
				}
				args = args[1:]
			}
			return runWorker(cmd.Context(), o, g, args[0])
		},
	}
	o.AddFlags(cmd.Flags())
	// worker --run's flags are checked before --stack is read (its full check, which needs
	// the app's environment for the target, runs with the command).
	g.checkFlagsFirst(cmd, func(*globalOptions) error {
		if err := errors.Join(o.validateRun()...); err != nil {
			return usageError{err}
		}
		return nil
	})
	return cmd
}

// workerFlagsFromEnv sets each worker flag not given from RAGMIGRATE_<FLAG> (--allow-private-urls
// from RAGMIGRATE_ALLOW_PRIVATE_URLS): in a task, the environment is how settings arrive.
func workerFlagsFromEnv(fs *pflag.FlagSet) error {
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "help" || f.Name == "unbuffered" {
			return
		}
		name := "RAGMIGRATE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok && v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: --%s: %w", name, v, f.Name, err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return usageError{err}
	}
	return nil
}

// resolveWorker fills the global settings ragmigrate's flags and variables leave unset from the
// app's task environment, then resolves the stack and secrets as every command does.
func (g *globalOptions) resolveWorker(ctx context.Context, fs *pflag.FlagSet) error {
	from := func(flag string, dst *string, env string) {
		if v := os.Getenv(env); *dst == "" && v != "" {
			*dst = v
			g.logger.Info("from the app's task environment", slog.String("flag", flag), slog.String("variable", env))
		}
	}
	from("--table", &g.Table, "TABLE_NAME")
	from("--bucket", &g.Bucket, "DOCUMENT_BUCKET")
	if g.TargetDB == "" {
		from("--target-secret", &g.awsStack.TargetSecret, "DB_SECRETS_ARN")
	}
	if g.TargetDB == "" && g.awsStack.TargetSecret == "" && os.Getenv("DB_HOST") != "" {
		// v0.4.x resolved the credentials into the task's environment; the app's code defaults.
		env := func(name, def string) string {
			if v := os.Getenv(name); v != "" {
				return v
			}
			return def
		}
		u := url.URL{Scheme: "postgres", User: url.UserPassword(env("DB_USER", "postgres"), env("DB_PASSWORD", "password")),
			Host: os.Getenv("DB_HOST") + ":" + env("DB_PORT", "5432"), Path: "/" + env("DB_NAME", "postgres")}
		g.TargetDB = u.String()
		g.logger.Info("from the app's task environment", slog.String("flag", "--target-db"),
			slog.String("variable", "DB_HOST, DB_PORT, DB_USER, DB_PASSWORD, DB_NAME"))
	}
	return g.resolveStack(ctx, fs)
}

// botKeys reads the app's task argument: the bot item's keys in DynamoDB JSON.
func botKeys(arg string) (user, bot string, err error) {
	var k struct {
		PK, SK struct {
			S string `json:"S"`
		}
	}
	if err := json.Unmarshal([]byte(arg), &k); err != nil || k.PK.S == "" || k.SK.S == "" {
		return "", "", fmt.Errorf(`worker %s: want the bot's keys, {"PK":{"S":"<user>"},"SK":{"S":"<user>#BOT#<bot>"}}`, arg)
	}
	if !strings.Contains(k.SK.S, "#BOT#") {
		// The app's Pipe also starts tasks for alias items; the app's task then fails.
		return "", "", fmt.Errorf("worker: SK %q is not a bot's sort key ({user}#BOT#{bot})", k.SK.S)
	}
	parts := strings.Split(k.SK.S, "#")
	return k.PK.S, parts[len(parts)-1], nil
}

// execID is the task's id as the app writes it to LastExecId: the last part of the TaskARN the
// task metadata endpoint gives. Outside ECS (no endpoint) it is a generated id, and generated
// says so.
func execID(ctx context.Context) (id string, generated bool, err error) {
	base := os.Getenv("ECS_CONTAINER_METADATA_URI_V4")
	if base == "" {
		return "ragmigrate-worker-" + ulid.Make().String(), true, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/task", nil)
	if err != nil {
		return "", false, fmt.Errorf("task metadata: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", false, fmt.Errorf("task metadata: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var md struct {
		TaskARN string `json:"TaskARN"`
	}
	if resp.StatusCode != http.StatusOK {
		return "", false, fmt.Errorf("task metadata: HTTP %d", resp.StatusCode)
	}
	if err := json.Unmarshal(body, &md); err != nil || md.TaskARN == "" {
		return "", false, errors.New("task metadata: no TaskARN in the answer")
	}
	return md.TaskARN[strings.LastIndex(md.TaskARN, "/")+1:], false, nil
}

// Validate checks the flags before anything is read.
func (o *workerOptions) Validate(g *globalOptions) error {
	errs := o.planOptions.validate(g)
	if g.TargetDB == "" {
		errs = append(errs, errors.New("--target-db is required (or the app's DB_SECRETS_ARN, or DB_HOST)"))
	}
	if _, err := embed.ParseTruncate(o.Truncate); err != nil || o.Truncate == "" {
		errs = append(errs, fmt.Errorf("--truncate %q: want NONE, END or START", o.Truncate))
	}
	if o.OnSourceError != "fail-bot" && o.OnSourceError != reembed.SkipSource && o.OnSourceError != reembed.SkipURL {
		errs = append(errs, fmt.Errorf("--on-source-error %q: want skip-url, fail-bot or skip-source", o.OnSourceError))
	}
	if o.RequestTimeout < time.Millisecond || o.ProviderTimeout < time.Millisecond {
		errs = append(errs, fmt.Errorf("--request-timeout %s, --provider-timeout %s: want positive durations", o.RequestTimeout, o.ProviderTimeout))
	}
	errs = append(errs, o.validateRun()...)
	if err := errors.Join(errs...); err != nil {
		return usageError{err}
	}
	return nil
}

func runWorker(ctx context.Context, o *workerOptions, g *globalOptions, keys string) error {
	// Table and bucket may come from the app's environment: name them in the errors.
	if err := o.Validate(g); err != nil {
		return err
	}
	user, botID, err := botKeys(keys)
	if err != nil {
		return usageError{err}
	}
	exec, generated, err := execID(ctx)
	if err != nil {
		return err
	}
	log := g.logger.With(slog.String("bot_id", botID), slog.String("exec_id", exec))
	if generated {
		log.WarnContext(ctx, "no ECS task metadata (ECS_CONTAINER_METADATA_URI_V4 unset): LastExecId is a generated id")
	}
	clients, err := awsclient.Load(ctx, g.awsOptions())
	if err != nil {
		return err
	}
	bots := botstore.New(clients.DynamoDB, g.Table)
	if role := awsclient.AppTableAccessRole(); role != "" {
		// As the app's task: its role may not touch the table; it assumes the table access
		// role, scoped to the user's items.
		bots = bots.WithUserCredentials(awsclient.NewTableAccess(clients.Config, role).For)
		log.InfoContext(ctx, "table access through the app's role", slog.String("role", role))
	}
	embedCfg := clients.Config.Copy()
	if r := os.Getenv("BEDROCK_REGION"); r != "" && o.OpenAIURL == "" {
		// The app calls Bedrock in BEDROCK_REGION, which may differ from the task's.
		embedCfg.Region = r
	}
	m, err := o.model()
	if err != nil {
		return usageError{err}
	}
	trunc, _ := embed.ParseTruncate(o.Truncate)
	provider, err := embed.Open(m, o.openOptions(embedCfg, trunc))
	if err != nil {
		return err
	}
	pool, err := vectorstore.NewPool(ctx, g.TargetDB, "worker", 4, g.dbTimeouts())
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	defer pool.Close()
	if _, err := checkTargetSetup(ctx, pool, o.CreateMissing); err != nil {
		return err
	}
	if err := ensureItems(ctx, pool, m.Dimensions, o.CreateMissing); err != nil {
		return err
	}

	budget := o.budget(ctx, embedCfg, m)
	log.InfoContext(ctx, "budget: "+budgetLine(budget, o.discovers(budget)))
	lim, err := ratelimit.New(ratelimit.Config{RequestsPerMinute: budget.RequestsPerMinute, TokensPerMinute: budget.TokensPerMinute,
		// As reembed: with no budget given or read, the first throttle tells it.
		Discover:      o.discovers(budget),
		SlidingMinute: true})
	if err != nil {
		return usageError{err}
	}
	batcher := embed.NewBatcher(provider, embed.Options{Limiter: lim, Logger: log,
		RequestTimeout: o.RequestTimeout, ProviderTimeout: o.ProviderTimeout})
	job := reembed.Job{
		Bots: bots, Docs: docstore.New(clients.S3, g.Bucket), Target: pool,
		// The job names the bot itself.
		Logger: g.logger.With(slog.String("exec_id", exec)), Embedder: batcher, Journal: reembed.NoJournal{}, StampExecID: true,
	}
	rm := reembedOptions{planOptions: o.planOptions, Truncate: o.Truncate, OnSourceError: o.OnSourceError}
	job.Use(rm.params(g, m))

	out, runErr := job.Run(ctx, &botstore.Bot{UserID: user, ID: botID},
		botjob.Job{BotID: botID, UserID: user, Status: botjob.Pending, Exec: exec})
	if err := batcher.Err(); err != nil {
		runErr = errors.Join(fmt.Errorf("embedding stopped: %w; the bot's SyncStatus was put back", err), runErr)
	}
	if runErr != nil {
		return fmt.Errorf("worker: bot %s: %w", botID, runErr)
	}
	if g.JSON {
		if err := writeJSON(g, out); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(g.stdout, "bot %s (%s): %s\n", botID, exec, workerOutcome(out))
	}
	switch out.Status {
	case botjob.Done:
		return nil
	case botjob.Failed:
		return fmt.Errorf("bot %s is FAILED: %s", botID, out.Error)
	default:
		return fmt.Errorf("bot %s not written: %s", botID, out.Error)
	}
}

// workerOutcome is the one line worker prints.
func workerOutcome(out reembed.Outcome) string {
	switch out.Status {
	case botjob.Done:
		s := "SUCCEEDED, " + progress.Plural(out.Chunks, "chunk", "chunks")
		if n := len(out.SkippedSources); n > 0 {
			s += fmt.Sprintf(", %s skipped: %s", progress.Plural(n, "source", "sources"), strings.Join(out.SkippedSources, "; "))
		}
		return s
	case botjob.Failed:
		return "FAILED: " + out.Error
	}
	return "not written: " + out.Error
}

// ensureItems checks the items table's vector size against the model's (and creates what is
// missing with create), as reembed's run does.
func ensureItems(ctx context.Context, pool *pgxpool.Pool, dims int, create bool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	err = vectorstore.EnsureItems(ctx, conn.Conn(), dims, create)
	conn.Release()
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	// Connections opened before the vector extension existed know no codec for it.
	pool.Reset()
	return nil
}
