package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ragmigrate/ragmigrate/internal/awsclient"
	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/docstore"
	"github.com/ragmigrate/ragmigrate/internal/plan"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

type planOptions struct {
	sourceOptions
	Bots         []string
	Users        []string
	Model        string
	Dimensions   int
	PricePerMTok optionalFloat
	RPM          int
	TPM          int
	Exact        bool
	PerBot       bool
}

func (o *planOptions) AddFlags(fs *pflag.FlagSet) {
	o.addScopeFlags(fs)
	fs.BoolVar(&o.Exact, "exact", false, "download, read and split every source for exact chunk and token counts (no embedding)")
	fs.BoolVar(&o.PerBot, "per-bot", false, "list every bot, not only those that will fail")
}

// addScopeFlags registers what plan and reembed share: which bots, which model at what price
// and budget, and how sources are fetched.
func (o *planOptions) addScopeFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&o.Bots, "bot", nil, "only these bot ids (repeatable)")
	fs.StringSliceVar(&o.Users, "user", nil, "only these users' bots (repeatable)")
	fs.StringVar(&o.Model, "model", "cohere.embed-multilingual-v3", "embedding model: cohere.embed-multilingual-v3 (the app's), cohere.embed-english-v3, amazon.titan-embed-text-v2:0, hash (offline, no model); reembed also takes the model name of --openai-url")
	fs.IntVar(&o.Dimensions, "dimensions", 1024, "vector size: Cohere v3 gives 1024 only, amazon.titan-embed-text-v2:0 also 512 or 256; for reembed's --openai-url, the size its model returns")
	fs.Var(&o.PricePerMTok, "price-per-mtok", "override the model's price in USD per million input tokens (0: free)")
	fs.IntVar(&o.RPM, "rpm", 400, "embedding requests per minute, shared by all bots (0: unlimited)")
	fs.IntVar(&o.TPM, "tpm", 0, "embedding tokens per minute, shared by all bots (0: unlimited)")
	o.sourceOptions.AddFlags(fs)
}

func newPlanCommand(g *globalOptions) *cobra.Command {
	o := &planOptions{}
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Read-only: what the deployment holds, what re-embedding costs, what copying moves",
		Long: `Plan looks before anything is spent or written. It scans the bots (--table; the app's own
filter contains(SK, "#BOT#"), paginated), lists their documents (--bucket), and estimates what
re-embedding every bot with knowledge takes: chunks, tokens (characters / 4, the Cohere guidance),
Bedrock cost at the model's on-demand price, requests and time at the --rpm/--tpm budget. It names
the bots that would fail (missing or unreadable files, dead links, empty sitemaps) and the bot
items nobody can read. --exact downloads and splits every source with the app's splitter instead
of estimating from sizes.

With --target-db it checks the new cluster (pgvector, the items table, its rows and dimension, and
what the role may create, write and delete there) and says for reembed and for copy whether a run
would proceed, and if not why; with
--source-db it sizes a copy from the old cluster and recommends a strategy. It never writes, and
it is the dry run of 'ragmigrate reembed'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(g); err != nil {
				return err
			}
			model, _ := o.model() // checked by Validate
			return runPlan(cmd.Context(), o, g, model)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// Validate checks every flag of plan before anything is read.
func (o *planOptions) Validate(g *globalOptions) error {
	errs := o.validate(g)
	if _, err := o.model(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return usageError{err}
	}
	return nil
}

// validate checks what plan and reembed share; each adds its own flags' errors (reembed checks
// --model and --dimensions its own way, for --openai-url models).
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
	return append(errs, o.sourceOptions.validate()...)
}

// model is the known model --model names, at --dimensions and --price-per-mtok.
func (o *planOptions) model() (plan.Model, error) {
	m, err := plan.LookupModel(o.Model)
	if err != nil {
		return m, fmt.Errorf("--model: %w", err)
	}
	if m, err = m.WithDimensions(o.Dimensions); err != nil {
		return m, fmt.Errorf("--dimensions: %w", err)
	}
	if v, ok := o.PricePerMTok.get(); ok {
		m.PricePerMTok = v
	}
	return m, nil
}

// runPlan makes and prints the plan for model; o has been validated.
func runPlan(ctx context.Context, o *planOptions, g *globalOptions, model plan.Model) error {
	clients, err := awsclient.Load(ctx, g.awsOptions())
	if err != nil {
		return err
	}
	po := plan.Options{
		Bots: botstore.New(clients.DynamoDB, g.Table), Docs: docstore.New(clients.S3, g.Bucket),
		BotIDs: o.Bots, UserIDs: o.Users, Model: model,
		RequestsPerMinute: o.RPM, TokensPerMinute: o.TPM, Exact: o.Exact,
		Fetcher: o.fetcher(), Limits: o.Limits, Logger: g.logger,
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
	p, err := plan.Make(ctx, po)
	if err != nil {
		return err
	}
	if err := checkScope(p, o, g); err != nil {
		return err
	}
	if g.JSON {
		return writeJSON(g, p)
	}
	p.EveryBot = o.PerBot
	return p.WriteText(g.stdout)
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
