package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ragmigrate/ragmigrate/internal/awsclient"
	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/docstore"
	"github.com/ragmigrate/ragmigrate/internal/embed"
	"github.com/ragmigrate/ragmigrate/internal/journal"
	"github.com/ragmigrate/ragmigrate/internal/plan"
	"github.com/ragmigrate/ragmigrate/internal/ratelimit"
	"github.com/ragmigrate/ragmigrate/internal/reembed"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

type reembedOptions struct {
	planOptions
	Truncate      string
	OpenAIURL     string
	Dimensions    int
	Concurrency   int
	BatchLinger   time.Duration
	Fresh         bool
	RetryFailed   bool
	OnSourceError string
	DryRun        bool
	ReportFile    string

	// RequestTimeout and ProviderTimeout bound the waits on the embedding provider.
	RequestTimeout  time.Duration
	ProviderTimeout time.Duration
}

func (o *reembedOptions) AddFlags(fs *pflag.FlagSet) {
	o.addScopeFlags(fs)
	fs.StringVar(&o.OpenAIURL, "openai-url", "", "embed through an OpenAI-compatible endpoint (BASE_URL/embeddings; key from OPENAI_API_KEY) instead of Bedrock")
	fs.IntVar(&o.Dimensions, "dimensions", 1024, "vector size of the --openai-url model")
	fs.StringVar(&o.Truncate, "truncate", "NONE", "over-long chunks: NONE fails them (the app's behaviour), END or START cuts them to the model's limit")
	fs.IntVar(&o.Concurrency, "concurrency", 8, "bots worked on at once")
	fs.DurationVar(&o.BatchLinger, "batch-linger", 200*time.Millisecond, "how long a request waits for other bots' chunks before it goes out less than full (0: each bot sends its own requests)")
	fs.DurationVar(&o.RequestTimeout, "request-timeout", embed.DefaultRequestTimeout, "how long one embedding request may take before it is abandoned and retried (Bedrock's answer must also begin within --aws-timeout)")
	fs.DurationVar(&o.ProviderTimeout, "provider-timeout", embed.DefaultProviderTimeout, "stop the run when no embedding request has succeeded for this long (a provider that answers nothing); access denied, bad credentials or an unknown model stop it at once")
	fs.BoolVar(&o.Fresh, "fresh", false, "abandon the unfinished run and start a new one (default: resume it)")
	fs.BoolVar(&o.RetryFailed, "retry-failed", false, "run the latest run's failed bots again")
	fs.StringVar(&o.OnSourceError, "on-source-error", "fail-bot", "when a file or URL cannot be read: fail-bot (the bot keeps its old state and is FAILED with the source named; what the app did for files) or skip-source (re-embed from the readable sources and list the others in the report; the app skipped unreadable URLs this way)")
	fs.BoolVar(&o.DryRun, "dry-run", false, "only plan: same as 'ragmigrate plan'")
	fs.StringVar(&o.ReportFile, "report", "", "JSON report file (default ragmigrate-reembed-run<N>.json)")
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

Runs are journaled in the target (schema ragmigrate): a crash, kill -9 or Ctrl-C loses nothing and
a re-run continues the unfinished run, skipping done bots; after a finished run it takes up only
the bots created since. --fresh starts over, --retry-failed reruns failures; 'ragmigrate status'
shows the journal. It asks before spending (--yes for
scripts); --dry-run only plans. Exit status 1 when any bot failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runReembed(cmd.Context(), o, g)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func (o *reembedOptions) Validate(g *globalOptions) error {
	var errs []error
	for _, r := range []struct{ v, name string }{{g.Table, "--table"}, {g.Bucket, "--bucket"}, {g.TargetDB, "--target-db"}} {
		if r.v == "" {
			errs = append(errs, fmt.Errorf("%s is required", r.name))
		}
	}
	if _, err := embed.ParseTruncate(o.Truncate); err != nil {
		errs = append(errs, err)
	}
	if o.OnSourceError != "fail-bot" && o.OnSourceError != "skip-source" {
		errs = append(errs, fmt.Errorf("--on-source-error %q: want fail-bot or skip-source", o.OnSourceError))
	}
	if o.Fresh && o.RetryFailed {
		errs = append(errs, errors.New("--fresh and --retry-failed exclude each other"))
	}
	if o.Concurrency < 1 || o.RPM < 0 || o.TPM < 0 {
		errs = append(errs, errors.New("--concurrency must be at least 1; --rpm and --tpm not negative"))
	}
	if o.RequestTimeout < time.Millisecond || o.ProviderTimeout < time.Millisecond {
		errs = append(errs, fmt.Errorf("--request-timeout %s, --provider-timeout %s: want positive durations", o.RequestTimeout, o.ProviderTimeout))
	}
	if err := errors.Join(errs...); err != nil {
		return usageError{err}
	}
	return nil
}

// provider builds the embedding provider the flags name.
func (o *reembedOptions) provider(clients *awsclient.Clients) (embed.Provider, plan.Model, error) {
	trunc, _ := embed.ParseTruncate(o.Truncate)
	if o.OpenAIURL != "" {
		p, err := embed.NewOpenAI(embed.OpenAIOptions{BaseURL: o.OpenAIURL, APIKey: os.Getenv("OPENAI_API_KEY"), Model: o.Model, Dimensions: o.Dimensions})
		return p, plan.Model{ID: o.Model, Dimensions: o.Dimensions, MaxBatch: p.MaxBatch(), PricePerMTok: max(o.PricePerMTok, 0)}, err
	}
	m, err := plan.LookupModel(o.Model)
	if err != nil {
		return nil, m, usageError{err}
	}
	if o.PricePerMTok >= 0 {
		m.PricePerMTok = o.PricePerMTok
	}
	switch {
	case m.ID == "hash":
		p, err := embed.NewHash(m.Dimensions)
		return p, m, err
	case strings.HasPrefix(m.ID, "cohere."):
		return embed.NewBedrockCohere(embed.NewBedrockClient(clients.Config), embed.CohereOptions{Model: m.ID, Truncate: trunc}), m, nil
	default:
		p, err := embed.NewBedrockTitan(embed.NewBedrockClient(clients.Config), embed.TitanOptions{Model: m.ID, Dimensions: m.Dimensions})
		return p, m, err
	}
}

func runReembed(ctx context.Context, o *reembedOptions, g *globalOptions) error {
	if o.DryRun {
		return runPlan(ctx, &o.planOptions, g)
	}
	if err := o.Validate(g); err != nil {
		return err
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

	// The dry run, shown before anything is spent.
	p, err := plan.Make(ctx, plan.Options{Bots: bots, Docs: docs, BotIDs: o.Bots, UserIDs: o.Users, Model: model,
		RequestsPerMinute: o.RPM, TokensPerMinute: o.TPM, Fetcher: fetcher, Limits: o.Limits, Logger: g.logger})
	if err != nil {
		return err
	}
	fmt.Fprintf(g.stderr, "re-embed %d bots with knowledge (%d fail before any reading: missing, unsupported or oversized files; 'plan --exact' reads every source) with %s: ~%d chunks, ~%d tokens, ~$%.4f, %s\n",
		p.Bots.WithKnowledge, p.Bots.WillFail, model.ID, p.Reembed.Chunks, p.Reembed.Tokens, p.Reembed.CostUSD, planDuration(p))
	pool, err := vectorstore.NewPool(ctx, g.TargetDB, "reembed", int32(o.Concurrency+2), g.dbTimeouts())
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	defer pool.Close()
	if err := g.confirm(fmt.Sprintf("Write the vectors of %d bots into the target and update their SyncStatus?", p.Bots.Total)); err != nil {
		return err
	}

	lim, err := ratelimit.New(ratelimit.Config{RequestsPerMinute: o.RPM, TokensPerMinute: o.TPM})
	if err != nil {
		return usageError{err}
	}
	progress, logger := g.newProgress()
	counters := &reembed.Counters{}
	batcher := embed.NewBatcher(provider, embed.Options{Limiter: lim, Logger: logger,
		RequestTimeout: o.RequestTimeout, ProviderTimeout: o.ProviderTimeout})
	var embedder reembed.Embedder = batcher
	if o.BatchLinger > 0 {
		// Bots share requests: a request is filled with chunks of several bots.
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		embedder = embed.NewCoalescer(cctx, batcher, o.BatchLinger)
	}
	res, runErr := reembed.Run(ctx, reembed.Config{
		Job: reembed.Job{
			Bots: bots, Docs: docs, Fetcher: fetcher, Limits: o.Limits, Target: pool, Logger: logger, Counters: counters,
			Embedder: embedder, SkipUnreadableSources: o.OnSourceError == "skip-source",
		},
		Table: g.Table, Concurrency: o.Concurrency, BotIDs: o.Bots, UserIDs: o.Users,
		Fresh: o.Fresh, RetryFailed: o.RetryFailed, Dimensions: model.Dimensions, Progress: progress,
		Params: map[string]any{"model": model.ID, "rpm": o.RPM, "tpm": o.TPM, "truncate": o.Truncate, "bucket": g.Bucket},
	})
	progress.Close()
	if err := batcher.Err(); err != nil {
		// The provider refuses the whole run (embed.ErrProviderFatal): say so once, whatever
		// the bots' own errors repeat.
		runErr = errors.Join(fmt.Errorf("embedding stopped: %w", err), runErr)
	}
	if res == nil {
		return runErr
	}
	summary := newReembedSummary(res, p, model, batcher.Stats())
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
		err = summary.writeText(g)
	}
	if runErr != nil || err != nil {
		return errors.Join(runErr, err)
	}
	if summary.Failed > 0 {
		return fmt.Errorf("%d of %d bots failed; their SyncStatusReason says why (fix, then 'ragmigrate reembed --retry-failed')", summary.Failed, len(res.Outcomes))
	}
	return nil
}

func planDuration(p *plan.Plan) string {
	if p.Reembed.Bound == "none" {
		return "no rate budget"
	}
	return fmt.Sprintf("~%s at the budget", p.Reembed.Duration)
}

// reembedSummary is the end-of-run report (stdout and the JSON file).
type reembedSummary struct {
	RunID        int64                  `json:"run_id"`
	Resumed      bool                   `json:"resumed"`
	NothingToDo  bool                   `json:"nothing_to_do"`
	Model        string                 `json:"model"`
	Succeeded    int                    `json:"succeeded"`
	Failed       int                    `json:"failed"`
	Skipped      int                    `json:"skipped"`
	Chunks       int64                  `json:"chunks"`
	Requests     int64                  `json:"requests"`
	Throttles    int64                  `json:"throttles"`
	Tokens       int64                  `json:"tokens"`
	EstimatedUSD float64                `json:"estimated_cost_usd"`
	ActualUSD    float64                `json:"actual_cost_usd"`
	Elapsed      string                 `json:"elapsed"`
	Bots         []reembed.Outcome      `json:"bots"`
	Malformed    []botstore.DecodeError `json:"malformed,omitempty"`
}

// newReembedSummary sums the outcomes; requests, throttles and tokens are the Batcher's own
// totals, since bots share requests.
func newReembedSummary(res *reembed.Result, p *plan.Plan, m plan.Model, st embed.Stats) *reembedSummary {
	s := &reembedSummary{RunID: res.RunID, Resumed: res.Resumed, NothingToDo: res.NothingToDo, Model: m.ID,
		Bots: res.Outcomes, Malformed: res.Malformed, EstimatedUSD: p.Reembed.CostUSD, Elapsed: res.Elapsed.Round(1e6).String()}
	for _, o := range res.Outcomes {
		switch o.Status {
		case journal.JobDone:
			s.Succeeded++
		case journal.JobFailed:
			s.Failed++
		case journal.JobSkipped:
			s.Skipped++
		}
		s.Chunks += o.Chunks
	}
	s.Requests, s.Throttles, s.Tokens = st.Requests, st.Throttles, st.Tokens
	s.ActualUSD = float64(s.Tokens) / 1e6 * m.PricePerMTok
	return s
}

func (s *reembedSummary) writeText(g *globalOptions) error {
	if s.NothingToDo {
		_, err := fmt.Fprintf(g.stdout, "nothing to do: run %d finished every bot (--fresh starts over, --retry-failed reruns failures)\n", s.RunID)
		return err
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
	resumed := ""
	if s.Resumed {
		resumed = " (resumed)"
	}
	fmt.Fprintf(tw, "run %d%s\t%d succeeded · %d failed · %d skipped · %s\n", s.RunID, resumed, s.Succeeded, s.Failed, s.Skipped, s.Elapsed)
	perReq := 0.0
	if s.Requests > 0 {
		perReq = float64(s.Chunks) / float64(s.Requests)
	}
	fmt.Fprintf(tw, "embedding\t%d chunks · %d requests (%.1f texts each) · %d throttles · %d tokens · $%.4f (estimated $%.4f) · %s\n",
		s.Chunks, s.Requests, perReq, s.Throttles, s.Tokens, s.ActualUSD, s.EstimatedUSD, s.Model)
	for _, o := range s.Bots {
		if o.Status == journal.JobFailed || o.Status == journal.JobSkipped {
			fmt.Fprintf(tw, "  %s %s\t%q: %s\n", o.Status, o.BotID, o.Title, o.Error)
		}
		for _, src := range o.SkippedSources {
			fmt.Fprintf(tw, "  source skipped %s\t%q: %s\n", o.BotID, o.Title, src)
		}
	}
	for _, m := range s.Malformed {
		fmt.Fprintf(tw, "  not a bot\t%s: %s\n", m.SK, m.Reason)
	}
	return tw.Flush()
}
