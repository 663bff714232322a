package main

import (
	"context"
	"errors"
	"fmt"

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
	PricePerMTok float64
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
	fs.Float64Var(&o.PricePerMTok, "price-per-mtok", -1, "override the model's price in USD per million input tokens")
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

With --target-db it checks the new cluster (pgvector, the items table and its dimension); with
--source-db it sizes a copy from the old cluster and recommends a strategy. It never writes, and
it is the dry run of 'ragmigrate reembed'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPlan(cmd.Context(), o, g)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runPlan(ctx context.Context, o *planOptions, g *globalOptions) error {
	if g.Table == "" || g.Bucket == "" {
		return usageError{errors.New("--table and --bucket are required")}
	}
	model, err := plan.LookupModel(o.Model)
	if err != nil {
		return usageError{err}
	}
	if o.PricePerMTok >= 0 {
		model.PricePerMTok = o.PricePerMTok
	}
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
	if g.JSON {
		return writeJSON(g, p)
	}
	return p.WriteText(g.stdout, o.PerBot)
}
