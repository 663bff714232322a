package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ragmigrate/ragmigrate/internal/awsclient"
	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
	"github.com/ragmigrate/ragmigrate/internal/verify"
)

type verifyOptions struct {
	Tables        []string
	Queries       int
	TopK          int
	MaxDetails    int
	DeleteOrphans bool
	ReportFile    string
}

func (o *verifyOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&o.Tables, "tables", nil, "more tables to compare row by row by primary key, besides items (needs --source-db)")
	fs.IntVar(&o.Queries, "queries", 20, "bots sampled for search equivalence (needs --source-db; 0 turns it off)")
	fs.IntVar(&o.TopK, "top-k", 20, "results per search, as the app's max_results")
	fs.IntVar(&o.MaxDetails, "max-details", 20, "ids listed per bot and kind of difference")
	fs.BoolVar(&o.DeleteOrphans, "delete-orphans", false, "delete target rows whose bot has no item in the table (asks first)")
	fs.StringVar(&o.ReportFile, "report", "", "also write the JSON report to this file")
}

func (o *verifyOptions) Validate(g *globalOptions) error {
	var errs []error
	if g.TargetDB == "" {
		errs = append(errs, errors.New("--target-db is required"))
	}
	if g.SourceDB == "" && g.Table == "" {
		errs = append(errs, errors.New("give --source-db (data and search checks), --table (bot checks), or both"))
	}
	if len(o.Tables) > 0 && g.SourceDB == "" {
		errs = append(errs, errors.New("--tables needs --source-db"))
	}
	if o.DeleteOrphans && g.Table == "" {
		errs = append(errs, errors.New("--delete-orphans needs --table: orphans are rows whose bot has no item there"))
	}
	if o.Queries < 0 || o.TopK < 1 || o.MaxDetails < 1 {
		errs = append(errs, errors.New("--queries must not be negative; --top-k and --max-details must be at least 1"))
	}
	if err := errors.Join(errs...); err != nil {
		return usageError{err}
	}
	return nil
}

func newVerifyCommand(g *globalOptions) *cobra.Command {
	o := &verifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Prove the migration: find every difference and say which bot and row it is in",
		Long: `Verify compares what the migration produced with what it should be. It is read-only (except
--delete-orphans, which asks first) and reads through REPEATABLE READ, READ ONLY transactions, so
it runs against live databases without blocking writers.

With --source-db (after copy or replication):
  data    per bot, the row count and an order-independent digest over id, content, source and the
          embedding's exact bytes, computed on each server; a bot that differs is drilled into to
          name the ids missing, extra, changed (and which columns) or moved to another bot.
  tables  --tables: any other table, row by row by primary key.
  search  for --queries sampled bots, a stored vector is the query of the app's own search
          (WHERE botid = $1 ORDER BY embedding <-> $2 LIMIT --top-k) on both sides, with the ANN
          index as configured and with exact search: recall@k says whether a difference comes
          from the data or from the index. Exact search must agree; ANN differences are reported.

With --table (after re-embed; no source needed):
  bots    every bot with knowledge has rows and SyncStatus SUCCEEDED; every bot without knowledge
          has none; rows of bots that no longer exist are orphans (the app's deletion handler
          leaves them; --delete-orphans removes them); every embedding has the column's dimension
          and finite values.

Exit status 0 when everything matches, 3 when anything differs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runVerify(cmd.Context(), o, g)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runVerify(ctx context.Context, o *verifyOptions, g *globalOptions) error {
	if err := o.Validate(g); err != nil {
		return err
	}
	vo := verify.Options{Tables: o.Tables, Queries: o.Queries, TopK: o.TopK, MaxDetails: o.MaxDetails, Logger: g.logger}
	var err error
	if vo.Target, err = vectorstore.Connect(ctx, g.TargetDB, "verify", g.dbTimeouts()); err != nil {
		return fmt.Errorf("target: %w", err)
	}
	defer vo.Target.Close(context.WithoutCancel(ctx))
	if g.SourceDB != "" {
		if vo.Source, err = vectorstore.Connect(ctx, g.SourceDB, "verify", g.dbTimeouts()); err != nil {
			return fmt.Errorf("source: %w", err)
		}
		defer vo.Source.Close(context.WithoutCancel(ctx))
	} else {
		vo.Queries = 0
	}
	if g.Table != "" {
		clients, err := awsclient.Load(ctx, g.awsOptions())
		if err != nil {
			return err
		}
		vo.Bots = botstore.New(clients.DynamoDB, g.Table)
	}
	report, err := verify.Run(ctx, vo)
	if err != nil {
		return err
	}
	if o.ReportFile != "" {
		b, _ := json.MarshalIndent(report, "", "  ")
		if err := os.WriteFile(o.ReportFile, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	if g.JSON {
		err = writeJSON(g, report)
	} else {
		err = report.WriteText(g.stdout)
	}
	if err != nil {
		return err
	}
	if o.DeleteOrphans && report.Bots != nil && len(report.Bots.Orphans) > 0 {
		b := report.Bots
		if err := g.confirm(fmt.Sprintf("Delete %d rows of %d bots that have no bot item from the target?", b.OrphanRows, len(b.Orphans))); err != nil {
			return err
		}
		n, err := verify.DeleteOrphans(ctx, vo.Target, b.Orphans)
		if err != nil {
			return err
		}
		g.logger.InfoContext(ctx, "orphan rows deleted", slog.Int64("rows", n), slog.Int("bots", len(b.Orphans)))
	}
	if !report.OK {
		return fmt.Errorf("%w: the target differs (details above)", errMismatch)
	}
	return nil
}
