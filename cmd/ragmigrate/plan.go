package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ragmigrate/ragmigrate/internal/awsclient"
	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/docstore"
	"github.com/ragmigrate/ragmigrate/internal/embed"
	"github.com/ragmigrate/ragmigrate/internal/plan"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

type planOptions struct {
	sourceOptions
	reuseOptions
	Bots         []string
	Users        []string
	Model        string
	OpenAIURL    string
	Dimensions   int
	PricePerMTok optionalFloat
	RPM          int
	TPM          int
	Exact        bool
	PerBot       bool

	// truncate is reembed's --truncate when plan is its dry run (plan has no such flag: "" is
	// the run's default, NONE); it decides which chunks a run would reuse.
	truncate string

	// rpmSet and tpmSet say whether --rpm and --tpm were given; the budgets not given are read
	// from Service Quotas.
	rpmSet, tpmSet bool

	// ecs are the --runner ecs flags (plan's own, or reembed's for its dry run); nil: none.
	ecs *ecsRunOptions
}

// noteBudgetFlags records which budget flags the operator gave.
func (o *planOptions) noteBudgetFlags(cmd *cobra.Command) {
	o.rpmSet, o.tpmSet = cmd.Flags().Changed("rpm"), cmd.Flags().Changed("tpm")
}

func (o *planOptions) AddFlags(fs *pflag.FlagSet) {
	o.addScopeFlags(fs)
	fs.BoolVar(&o.Exact, "exact", false, "download, read and split every source for exact chunk and token counts (no embedding)")
	fs.BoolVar(&o.PerBot, "per-bot", false, "list every bot, not only those that will fail")
	o.addECSFlags(fs)
}

// addScopeFlags registers what plan and reembed share: which bots, which model at what price
// and budget, and how sources are fetched.
func (o *planOptions) addScopeFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&o.Bots, "bot", nil, "only these bot ids (repeatable)")
	fs.StringSliceVar(&o.Users, "user", nil, "only these users' bots (repeatable)")
	fs.StringVar(&o.Model, "model", "cohere.embed-multilingual-v3", "embedding model: cohere.embed-multilingual-v3 (the app's), cohere.embed-english-v3, amazon.titan-embed-text-v2:0, hash (offline, no model); with --openai-url, the name of the endpoint's model")
	fs.StringVar(&o.OpenAIURL, "openai-url", "", "embed through an OpenAI-compatible endpoint (BASE_URL/embeddings; key from OPENAI_API_KEY) instead of Bedrock; name its model with --model, its vector size with --dimensions and its price with --price-per-mtok")
	fs.IntVar(&o.Dimensions, "dimensions", 1024, "vector size: Cohere v3 gives 1024 only, amazon.titan-embed-text-v2:0 also 512 or 256; with --openai-url, the size its model returns")
	fs.Var(&o.PricePerMTok, "price-per-mtok", "override the model's price in USD per million input tokens (0: free); required with --openai-url")
	fs.IntVar(&o.RPM, "rpm", 0, "embedding requests per minute, shared by all bots (default: the model's quota read from Service Quotas, else found adaptively; 0: no request budget)")
	fs.IntVar(&o.TPM, "tpm", 0, "embedding tokens per minute, shared by all bots (default: the model's quota read from Service Quotas, else found adaptively; 0: no token budget)")
	o.sourceOptions.AddFlags(fs)
	o.reuseOptions.AddFlags(fs)
}

func newPlanCommand(g *globalOptions) *cobra.Command {
	o := &planOptions{}
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Read-only: what the deployment holds, what re-embedding costs, what copying moves",
		Long: `Plan looks before anything is spent or written. It scans the bots (--table; the app's own
filter contains(SK, "#BOT#"), paginated), lists their documents (--bucket), and estimates what
re-embedding every bot with knowledge takes: chunks, tokens (counted as the run counts what it
spends: a token per 4 characters of a word, the Cohere guidance, and one per CJK character or
symbol), cost at the model's on-demand price (--price-per-mtok for an --openai-url model),
requests in the model's batches and time at the --rpm/--tpm budget. It names
the bots that would fail (missing or unreadable files, dead links, empty sitemaps) and the bot
items nobody can read. --exact downloads and splits every source with the app's splitter instead
of estimating from sizes.

With --target-db it checks the new cluster (pgvector, the items table, its rows and dimension, and
what the role may create, write and delete there) and says for reembed and for copy whether a run
would proceed, and if not why; with
--source-db it sizes a copy from the old cluster and recommends a strategy. With --reuse-from it
reads and splits every source (as --exact) and counts, per bot and in total, the chunks whose
vectors the old cluster holds (same bot, exact text) and those a re-embed would still embed, with
the cost saved. With --runner ecs it also prices re-embedding as the app's task per bot on Fargate
(reembed --runner ecs): tasks, the app's requests of 10 texts, task-hours and wall time at
--max-tasks (default: what Fargate's On-Demand vCPU quota fits and the provider budget feeds, with
why), and Fargate's cost for the task's size (--task-definition or --stack, else the app's 2 vCPU,
4 GB) next to the model's. It never writes, and it is the dry run of 'ragmigrate reembed'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.noteBudgetFlags(cmd)
			if err := o.Validate(g); err != nil {
				return err
			}
			return runPlan(cmd.Context(), o, g)
		},
	}
	o.AddFlags(cmd.Flags())
	g.checkFlagsFirst(cmd, o.Validate)
	return cmd
}

// Validate checks every flag of plan before anything is read.
func (o *planOptions) Validate(g *globalOptions) error {
	if err := errors.Join(append(o.validate(g), o.ecs.validatePlan()...)...); err != nil {
		return usageError{err}
	}
	return nil
}

// validate checks what plan and reembed share, the model included; reembed adds its own flags'
// errors.
func (o *planOptions) validate(g *globalOptions) []error {
	var errs []error
	for _, r := range []struct{ v, name string }{{g.Table, "--table"}, {g.Bucket, "--bucket"}} {
		if r.v == "" {
			errs = append(errs, fmt.Errorf("%s is required", r.name))
		}
	}
	if o.RPM < 0 {
		errs = append(errs, fmt.Errorf("--rpm %d: want 0 (unlimited) or more", o.RPM))
	}
	if o.TPM < 0 {
		errs = append(errs, fmt.Errorf("--tpm %d: want 0 (unlimited) or more", o.TPM))
	}
	if v, ok := o.PricePerMTok.get(); ok && !(v >= 0 && !math.IsInf(v, 1)) {
		errs = append(errs, fmt.Errorf("--price-per-mtok %v: want 0 or more USD", v))
	}
	if _, err := o.model(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, o.reuseOptions.validate(g, o.OpenAIURL != "")...)
	return append(errs, o.sourceOptions.validate()...)
}

// model is the model the flags name, at --dimensions and --price-per-mtok: one of the catalogue,
// or any model of the --openai-url endpoint, whose price the operator must give (nothing else
// knows it, and a cost printed as $0 would be untrue).
func (o *planOptions) model() (embed.Model, error) {
	var m embed.Model
	var err error
	if o.OpenAIURL == "" {
		if m, err = embed.LookupModel(o.Model); err != nil {
			return m, fmt.Errorf("--model: %w; or, for a model of an OpenAI-compatible endpoint, pass --openai-url", err)
		}
	} else if m, err = embed.OpenAIModel(o.Model); err != nil {
		return m, fmt.Errorf("--model: %w", err)
	}
	if m, err = m.WithDimensions(o.Dimensions); err != nil {
		return m, fmt.Errorf("--dimensions: %w", err)
	}
	v, ok := o.PricePerMTok.get()
	switch {
	case ok:
		m.PricePerMTok = v
	case m.Kind == embed.KindOpenAI:
		return m, errors.New("--price-per-mtok: give the price of the --openai-url model in USD per million input tokens (0 for a free one)")
	}
	if m.Kind == embed.KindOpenAI {
		// The endpoint is checked before anything is read, as every other flag is.
		if _, err := embed.Open(m, o.openOptions(aws.Config{}, embed.TruncateNone)); err != nil {
			return m, fmt.Errorf("--openai-url: %w", err)
		}
	}
	return m, nil
}

// openOptions say how to reach the model: Bedrock through cfg, or the --openai-url endpoint.
func (o *planOptions) openOptions(cfg aws.Config, truncate embed.Truncate) embed.OpenOptions {
	return embed.OpenOptions{AWS: cfg, OpenAIURL: o.OpenAIURL, OpenAIKey: os.Getenv("OPENAI_API_KEY"), Truncate: truncate}
}

// runPlan makes and prints the plan; o has been validated.
func runPlan(ctx context.Context, o *planOptions, g *globalOptions) error {
	model, err := o.model()
	if err != nil {
		return usageError{err}
	}
	clients, err := awsclient.Load(ctx, g.awsOptions())
	if err != nil {
		return err
	}
	budget := o.budget(ctx, clients.Config, model)
	po := plan.Options{
		Bots: botstore.New(clients.DynamoDB, g.Table), Docs: docstore.New(clients.S3, g.Bucket),
		BotIDs: o.Bots, UserIDs: o.Users, Model: model,
		RequestsPerMinute: budget.RequestsPerMinute, TokensPerMinute: budget.TokensPerMinute, BudgetSource: budget.Source, Exact: o.Exact,
		Fetcher: o.fetcher(), Limits: o.Limits, Logger: g.logger,
	}
	if po.ECS, err = o.ecs.planECS(ctx, g, clients.Config); err != nil {
		return err
	}
	if g.TargetDB != "" {
		if po.Target, err = vectorstore.Connect(ctx, g.TargetDB, "plan", g.dbTimeouts()); err != nil {
			return fmt.Errorf("target: %w", err)
		}
		defer po.Target.Close(context.WithoutCancel(ctx))
	}
	if g.SourceDB != "" {
		if po.Source, err = vectorstore.Connect(ctx, g.SourceDB, "plan", g.dbTimeouts()); err != nil {
			return fmt.Errorf("source: %w", err)
		}
		defer po.Source.Close(context.WithoutCancel(ctx))
	}
	reuse, closeReuse, err := o.openReuseConn(ctx, g, model, o.truncate)
	if err != nil {
		return err
	}
	defer closeReuse()
	po.Reuse = reuse
	p, err := plan.Make(ctx, po)
	if err != nil {
		return err
	}
	if err := checkScope(p, o, g); err != nil {
		return err
	}
	// With --reuse-from every bot's reused and embedded chunks are the point of the plan.
	p.EveryBot = o.PerBot || o.ReuseFrom != ""
	return writePlan(ctx, g, p, po.Source, po.Target)
}

// checkScope refuses --bot and --user ids that match no bot item in --table: a typo would select
// nothing, and a run that does nothing must not exit 0 as if it had done its work.
func checkScope(p *plan.Plan, o *planOptions, g *globalOptions) error {
	bots, users := p.Unmatched(o.Bots, o.Users)
	var errs []error
	// With both filters a bot is in scope only if it matches both, so the messages say so.
	switch {
	case len(bots) > 0 && len(o.Users) > 0:
		errs = append(errs, fmt.Errorf("--bot %s: no such bot of the --user given in table %s", strings.Join(bots, ","), g.Table))
	case len(bots) > 0:
		errs = append(errs, fmt.Errorf("--bot %s: no such bot in table %s", strings.Join(bots, ","), g.Table))
	}
	switch {
	case len(users) > 0 && len(o.Bots) > 0:
		errs = append(errs, fmt.Errorf("--user %s: none of the --bot given is this user's in table %s", strings.Join(users, ","), g.Table))
	case len(users) > 0:
		errs = append(errs, fmt.Errorf("--user %s: no bot of this user in table %s", strings.Join(users, ","), g.Table))
	}
	if err := errors.Join(errs...); err != nil {
		return usageError{err}
	}
	return nil
}

// optionalFloat is a float flag that knows whether it was given: --price-per-mtok overrides the
// model's price only when given, and 0 (a free model) is a price like any other.
type optionalFloat struct {
	v   float64
	set bool
}

func (f *optionalFloat) get() (float64, bool) { return f.v, f.set }

func (f *optionalFloat) String() string {
	if !f.set {
		return ""
	}
	return strconv.FormatFloat(f.v, 'g', -1, 64)
}

func (f *optionalFloat) Set(s string) error {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return err
	}
	f.v, f.set = v, true
	return nil
}

func (f *optionalFloat) Type() string { return "float64" }
