//go:build dev

package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/ragmigrate/ragmigrate/internal/awsclient"
	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/dev/inventory"
	"github.com/ragmigrate/ragmigrate/internal/dev/seed"
	"github.com/ragmigrate/ragmigrate/internal/docstore"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

type devSeedOptions struct {
	seed.Options
	Rows     int
	NoTarget bool
	// FinalSnapshot names the old cluster's final RDS snapshot the seeded source becomes.
	FinalSnapshot string
}

func newDevSeedCommand(g *globalOptions) *cobra.Command {
	o := &devSeedOptions{}
	cmd := &cobra.Command{
		Use:   "seed",
		Short: "Replace the local stack's deployment with a realistic Bedrock Chat v0 deployment",
		Long: `Seed writes a Bedrock Chat v0 deployment, deterministic from --seed: the conversation table
(--table) with its keys and indexes, bots of every vintage and SyncStatus, aliases, conversations
and malformed items; their documents in the bucket (--bucket) in all eight upload types; URL and
sitemap sources on the stack's web server; the old cluster's items table (--source-db) with each
bot's chunks and vectors as v0 wrote them; and, like a fresh v1 deploy, an empty items table on
the new cluster (--target-db). Whatever these held before is replaced, so it asks first.

--rows N adds N benchmark rows (~1.1 KB chunks, vector(1024)) to the old cluster's items.

It refuses to run unless AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL_S3 point somewhere other
than AWS: it is for the local stack only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDevSeed(cmd.Context(), o, g)
		},
	}
	f := cmd.Flags()
	f.Int64Var(&o.Seed, "seed", 1, "seed of the deployment; the stack's web server uses seed 1")
	f.IntVar(&o.Bots, "bots", seed.DefaultBots, "well-formed bots (they cycle through the seed's profiles, one of each by default)")
	f.IntVar(&o.DocsPerBot, "docs-per-bot", 3, "documents per bot that has files")
	f.IntVar(&o.Users, "users", 0, "users owning the bots (default bots/4, at least 3)")
	f.IntVar(&o.Rows, "rows", 0, "extra benchmark rows for the old cluster's items (e.g. 100000)")
	f.StringVar(&o.WebURL, "web-url", "", "base URL of the stack's web server (env RAGMIGRATE_DEV_WEB_URL)")
	f.BoolVar(&o.NoTarget, "no-target", false, "leave the new cluster alone")
	f.StringVar(&o.FinalSnapshot, "final-snapshot", "", "also publish the seeded old cluster's database as its final snapshot of this name on the stack's RDS contract server (AWS_ENDPOINT_URL_RDS), for 'snapshot restore --latest'")
	return cmd
}

func (o *devSeedOptions) Validate(g *globalOptions) error {
	o.WebURL = cmp.Or(o.WebURL, os.Getenv("RAGMIGRATE_DEV_WEB_URL"))
	var missing []error
	for _, r := range []struct{ val, what string }{
		{g.Table, "--table"}, {g.Bucket, "--bucket"}, {g.SourceDB, "--source-db"}, {o.WebURL, "--web-url"},
	} {
		if r.val == "" {
			missing = append(missing, fmt.Errorf("%s is required", r.what))
		}
	}
	if !o.NoTarget && g.TargetDB == "" {
		missing = append(missing, errors.New("--target-db is required (or --no-target)"))
	}
	if os.Getenv("AWS_ENDPOINT_URL_DYNAMODB") == "" || !awsclient.EndpointOverridden() {
		missing = append(missing, errors.New("AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL_S3 must point at the local stack ('eval \"$(ragmigrate dev stack env)\"'); dev seed never writes to AWS"))
	}
	if o.Bots < 1 || o.DocsPerBot < 1 || o.Rows < 0 || o.Users < 0 {
		missing = append(missing, errors.New("--bots and --docs-per-bot must be at least 1, --rows and --users not negative"))
	}
	if err := errors.Join(missing...); err != nil {
		return usageError{err}
	}
	return nil
}

func runDevSeed(ctx context.Context, o *devSeedOptions, g *globalOptions) error {
	if err := o.Validate(g); err != nil {
		return err
	}
	o.Bucket = g.Bucket
	d, err := seed.Plan(o.Options)
	if err != nil {
		return err
	}
	if err := g.confirm(fmt.Sprintf("Replace table %s, bucket %s and the clusters' items with seed %d?", g.Table, g.Bucket, d.Options.Seed)); err != nil {
		return err
	}
	clients, err := awsclient.Load(ctx, g.awsOptions())
	if err != nil {
		return err
	}
	src, err := vectorstore.Connect(ctx, g.SourceDB, "seed", g.dbTimeouts())
	if err != nil {
		return fmt.Errorf("source cluster: %w", err)
	}
	defer src.Close(context.WithoutCancel(ctx))
	var dst *pgx.Conn
	if !o.NoTarget {
		if dst, err = vectorstore.Connect(ctx, g.TargetDB, "seed", g.dbTimeouts()); err != nil {
			return fmt.Errorf("target cluster: %w", err)
		}
		defer dst.Close(context.WithoutCancel(ctx))
	}
	err = seed.Apply(ctx, d, seed.Targets{
		DynamoDB: clients.DynamoDB, Table: g.Table,
		Docs:   docstore.New(clients.S3, g.Bucket),
		Source: src, Target: dst, Logger: g.logger,
	})
	if err != nil {
		return err
	}
	if o.Rows > 0 {
		n, err := seed.BulkRows(ctx, d, src, o.Rows, g.logger)
		if err != nil {
			return err
		}
		d.Expect.Rows += int(n)
		g.logger.InfoContext(ctx, "bulk rows added", slog.Int64("rows", n))
	}
	if o.FinalSnapshot != "" {
		// The snapshot copies the source database as a template, which no session may use.
		src.Close(ctx)
		if err := publishFinalSnapshot(ctx, g.SourceDB, o.FinalSnapshot); err != nil {
			return err
		}
		g.logger.InfoContext(ctx, "final snapshot of the old cluster published", slog.String("snapshot", o.FinalSnapshot), slog.String("cluster", devOldCluster))
	}
	if g.JSON {
		return writeJSON(g, d.Expect)
	}
	e := d.Expect
	fmt.Fprintf(g.stdout, "seeded %d bots (%d with knowledge), %d malformed bot items, %d aliases, %d conversations, %d files, %d rows (%d orphan)\n",
		e.Bots, e.WithKnowledge, e.Malformed, e.Aliases, e.Conversations, len(d.Files), e.Rows, e.OrphanRows)
	return nil
}

func newDevSummaryCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "summary",
		Short: "Read the deployment back through DynamoDB, S3 and SQL and count what is there",
		Long: `Summary scans the table (--table), lists the bucket (--bucket) and queries the items table on the
clusters given (--source-db, --target-db), and prints what it found: items by kind, bots by
SyncStatus, vintage and knowledge, documents by type, rows, orphans and indexes. Read-only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if g.Table == "" || g.Bucket == "" {
				return usageError{errors.New("--table and --bucket are required")}
			}
			clients, err := awsclient.Load(ctx, g.awsOptions())
			if err != nil {
				return err
			}
			src := inventory.Sources{Bots: botstore.New(clients.DynamoDB, g.Table), Docs: docstore.New(clients.S3, g.Bucket)}
			if g.SourceDB != "" {
				if src.Source, err = vectorstore.Connect(ctx, g.SourceDB, "summary", g.dbTimeouts()); err != nil {
					return fmt.Errorf("source cluster: %w", err)
				}
				defer src.Source.Close(context.WithoutCancel(ctx))
			}
			if g.TargetDB != "" {
				if src.Target, err = vectorstore.Connect(ctx, g.TargetDB, "summary", g.dbTimeouts()); err != nil {
					return fmt.Errorf("target cluster: %w", err)
				}
				defer src.Target.Close(context.WithoutCancel(ctx))
			}
			inv, err := inventory.Take(ctx, src)
			if err != nil {
				return err
			}
			if g.JSON {
				return writeJSON(g, inv)
			}
			return inv.WriteText(g.stdout)
		},
	}
}
