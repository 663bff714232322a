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
	"github.com/ragmigrate/ragmigrate/internal/docstore"
	"github.com/ragmigrate/ragmigrate/internal/progress"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
	"github.com/ragmigrate/ragmigrate/internal/verify"
)

type verifyOptions struct {
	// sourceOptions load a bot's sources again after a re-embed, as reembed does.
	sourceOptions
	Expect        string
	Tables        []string
	Queries       int
	TopK          int
	MaxDetails    int
	DeleteOrphans bool
	ReportFile    string
}

func (o *verifyOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Expect, "expect", verify.ExpectAuto, "how the target was filled, which decides what --source-db is compared by: copy (every row exactly), merge (copy --merge: every row of the bots the merge copied, the others listed as the app's; read from the journal), reembed (each bot's chunks by content) or auto (the newest run in the target's journal)")
	fs.StringSliceVar(&o.Tables, "tables", nil, "more tables to compare row by row by primary key, besides items (needs --source-db)")
	fs.IntVar(&o.Queries, "queries", 20, "bots sampled for search equivalence (needs --source-db; 0 turns it off)")
	fs.IntVar(&o.TopK, "top-k", 20, "results per search, as the app's max_results")
	fs.IntVar(&o.MaxDetails, "max-details", 20, "ids listed per bot and kind of difference")
	fs.BoolVar(&o.DeleteOrphans, "delete-orphans", false, "delete target rows whose bot has no item in the table (asks first)")
	fs.StringVar(&o.ReportFile, "report", "", "also write the JSON report to this file")
	o.sourceOptions.AddFlags(fs)
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
	switch o.Expect {
	case verify.ExpectAuto, verify.ExpectCopy, verify.ExpectMerge, verify.ExpectReembed:
	default:
		errs = append(errs, fmt.Errorf("--expect %q: want auto, copy, merge or reembed", o.Expect))
	}
	if o.Expect != verify.ExpectAuto && g.SourceDB == "" {
		errs = append(errs, errors.New("--expect needs --source-db: it says how the target is compared with the source"))
	}
	if o.Queries < 0 || o.TopK < 1 || o.MaxDetails < 1 {
		errs = append(errs, errors.New("--queries must not be negative; --top-k and --max-details must be at least 1"))
	}
	errs = append(errs, o.sourceOptions.validate()...)
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
it runs against live databases without blocking writers. With --source-db, it records its verdict
in the target's journal (ragmigrate.verifications), which 'snapshot cleanup' asks for.

With --source-db, what is compared depends on how the target was filled (--expect; by default
the kind of the newest run in the target's journal, and copy when there is none):

After copy or replication (--expect copy):
  data    per bot, the row count and an order-independent digest over id, content, source and the
          embedding's exact bytes, computed on each server; a bot that differs is drilled into to
          name the ids missing, extra, changed (and which columns) or moved to another bot.
  tables  --tables: any other table, row by row by primary key.
  search  for --queries sampled bots, a stored vector is the query of the app's own search
          (WHERE botid = $1 ORDER BY embedding <-> $2 LIMIT --top-k) on both sides, with the ANN
          index as configured and with exact search: recall@k says whether a difference comes
          from the data or from the index. Exact search must agree; ANN differences are reported.

After copy --merge (--expect merge; auto when the journal's newest run is a merge): the checks of
copy, for the bots the merge copied (its journal says which). Every other bot in the target is the
app's — skipped because it had rows or was QUEUED/RUNNING, not copied because it was deleted, or
not in the source — and is listed as left to the app, not compared; so is a copied bot the app
has re-embedded since (none of its rows keeps a source id: the app writes new ones) or, with
--table, emptied because its item was deleted or lost its knowledge since; one that lost or
changed rows is a mismatch. Search samples the copied bots.

After re-embed (--expect reembed): ids and vectors are new by design and are not compared.
  data    per bot, the chunks (source, content) as multisets and the row counts; the embedding
          columns' dimensions, and the target's NULL, non-finite and zero vectors. A bot the old
          cluster has no rows for (v0 never embedded it), the leftover rows of a deleted bot
          (known with --table) and the same text laid out or split otherwise (compared as
          letters and digits) are expected. Where the text differs, and with --table and
          --bucket, the bot's sources are loaded again as reembed loads them (the URL flags
          below apply): a target holding exactly what they give is expected (v0's loaders
          extracted otherwise, or the sources changed since); any other difference fails, with
          the chunks found on one side only.
  search  for a sampled chunk of each of --queries bots, the target's own vector of that chunk
          must find it (exact search); the top --top-k of both sides, each searching with its own
          vector of the chunk, are compared by chunk: a verdict only for a bot whose chunks are
          equal on both sides and whose vectors are the same (the same model), information
          otherwise.

With --table (after re-embed; no source needed):
  bots    every bot with knowledge has rows and SyncStatus SUCCEEDED; every bot without knowledge
          has none; rows of bots that no longer exist are orphans (the app's deletion handler
          leaves them; --delete-orphans removes them); every embedding has the column's dimension
          and finite values. With --source-db too, a bot that has no rows on either side is
          reported but does not fail: the migration lost nothing of it.

Exit status 0 when everything matches, 3 when anything differs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runVerify(cmd.Context(), o, g)
		},
	}
	o.AddFlags(cmd.Flags())
	g.checkFlagsFirst(cmd, o.Validate)
	return cmd
}

func runVerify(ctx context.Context, o *verifyOptions, g *globalOptions) error {
	if err := o.Validate(g); err != nil {
		return err
	}
	vo := verify.Options{Expect: o.Expect, Tables: o.Tables, Queries: o.Queries, TopK: o.TopK, MaxDetails: o.MaxDetails, Logger: g.logger}
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
		if g.Bucket != "" {
			vo.Docs, vo.Fetcher, vo.Limits = docstore.New(clients.S3, g.Bucket), o.fetcher(), o.Limits
		}
	}
	report, err := verify.Run(ctx, vo)
	if err != nil {
		if ctx.Err() != nil {
			return interrupted(err, "verify stopped before its report; it changed nothing and recorded no verdict: run it again")
		}
		return err
	}
	if g.SourceDB != "" {
		recordVerify(ctx, g, vo.Target, report.OK)
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
		if err := g.confirm(fmt.Sprintf("Delete %s of %s that have no bot item from the target?", progress.Plural(b.OrphanRows, "row", "rows"), progress.Plural(len(b.Orphans), "bot", "bots"))); err != nil {
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
