package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ragmigrate/ragmigrate/internal/journal"
	"github.com/ragmigrate/ragmigrate/internal/pgcopy"
)

// loadOptions are the bulk-load settings copy and replicate start share (replicate loads the
// slot's snapshot through the copy path). Each command registers the flags in its own words.
type loadOptions struct {
	Tables      []string
	Jobs        int
	PartSize    byteSize
	IndexMemory byteSize
	MaxRate     byteSize
}

func newLoadOptions() loadOptions {
	return loadOptions{PartSize: pgcopy.DefaultPartBytes, IndexMemory: pgcopy.DefaultIndexMemory}
}

// validate checks the bounds pgcopy works within.
func (o *loadOptions) validate() []error {
	var errs []error
	if o.Jobs < 1 || o.Jobs > 64 {
		errs = append(errs, fmt.Errorf("--jobs %d: want 1 to 64", o.Jobs))
	}
	if o.PartSize < 1<<20 {
		errs = append(errs, errors.New("--part-size: at least 1MB"))
	}
	if o.IndexMemory < 64<<20 {
		errs = append(errs, errors.New("--index-memory: at least 64MB"))
	}
	if len(o.Tables) == 0 {
		errs = append(errs, errors.New("--tables: name at least one table"))
	}
	return errs
}

type copyOptions struct {
	loadOptions
	Resume        bool
	EmptyTarget   bool
	CreateMissing bool
	LockWait      time.Duration
	// Merge and IncludeDeleted: copy into a serving v1 cluster (copy_merge.go).
	Merge          bool
	IncludeDeleted bool
}

func newCopyCommand(g *globalOptions) *cobra.Command {
	o := &copyOptions{loadOptions: newLoadOptions()}
	cmd := &cobra.Command{
		Use:   "copy",
		Short: "Copy the vectors from the old cluster (or its restored snapshot) as binary COPY, no re-embedding",
		Long: `Copy moves tables (default: items) from --source-db to --target-db without calling Bedrock:
typically the old v0 cluster, or a snapshot of it restored into a temporary database, into the new
v1 cluster.

  1. Preflight (read-only): pgvector on both sides, the source tables' columns, primary key,
     indexes and sizes. A target without the vector extension or the table is refused unless
     --create-missing creates them (the table with the source's columns and types, as reembed's
     --create-missing creates the app's). An existing table must match exactly (vector(1024) is
     not vector(1536)) and be empty, unless --resume or --empty-target says what to do with its
     rows. An empty target's indexes (a fresh v1 deploy creates items with its indexes) are
     dropped and rebuilt from the source's after the load.
  2. Data: all workers read one exported snapshot of the source. Each table is split into
     primary-key ranges of about --part-size bytes (heap plus TOAST, where the vectors live); each
     part streams as raw COPY (FORMAT binary) bytes from source to target, never printed as decimal
     text, and commits together with its journal record (schema ragmigrate in the target).
  3. Indexes, after the load, with the source's exact definitions: the primary key via CREATE
     UNIQUE INDEX + ADD CONSTRAINT … USING INDEX, the btree indexes, then ivfflat/hnsw with
     maintenance_work_mem sized rows × (8 + 4·dims) × 1.3 (at most --index-memory); then ANALYZE.

Into a v1 cluster the app already serves, --merge copies bot by bot and leaves the app's bots
alone (see "Merging" below).

A killed or interrupted copy continues with --resume: finished parts and indexes are kept, the
rest is redone, each part exactly once. Resuming reads a new snapshot, so it suits a source that
no longer changes (a restored snapshot, or the old cluster with the app stopped).

Progress goes to stderr (a bar on a terminal, log lines otherwise); the report to stdout (--json).

` + mergeHelp,
		Example: `  ragmigrate copy --source-db "$OLD" --target-db "$NEW" --yes
  ragmigrate copy --jobs 4 --index-memory 8GB --yes --json > copy.json
  ragmigrate copy --resume --yes          # after a crash, a kill or Ctrl-C
  ragmigrate copy --merge --table "$TABLE" --yes   # into a v1 cluster users already re-embed into`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCopy(cmd.Context(), o, g)
		},
	}
	o.AddFlags(cmd.Flags())
	g.checkFlagsFirst(cmd, o.Validate)
	return cmd
}

func (o *copyOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&o.Tables, "tables", []string{"items"}, "tables to copy, comma-separated, resolved by each side's search_path")
	fs.IntVar(&o.Jobs, "jobs", pgcopy.DefaultJobs, "parts copied at once; index builds use jobs-1 parallel workers")
	fs.Var(&o.PartSize, "part-size", "target size of a part, in table bytes including TOAST (e.g. 64MB)")
	fs.Var(&o.IndexMemory, "index-memory", "upper bound of maintenance_work_mem for the index builds (e.g. 1GB, 8GB)")
	fs.Var(&o.MaxRate, "max-rate", "cap on the bytes per second read from the source, all --jobs together (a total, not per job), e.g. 50MB (= 50 MiB/s, 52 MB/s as the report counts); default no cap")
	fs.BoolVar(&o.Resume, "resume", false, "continue the latest interrupted copy into these tables")
	fs.BoolVar(&o.EmptyTarget, "empty-target", false, "delete the rows of non-empty target tables first (TRUNCATE; their rows are lost)")
	// --truncate was this flag's first name; reembed's --truncate cuts long chunks (Bedrock's own
	// parameter), so copy's says what it does instead. The old name still works, with a warning.
	fs.BoolVar(&o.EmptyTarget, "truncate", false, "deprecated name of --empty-target")
	deprecate(fs, "truncate", "use --empty-target (same meaning: the target tables' rows are deleted first)")
	fs.BoolVar(&o.CreateMissing, "create-missing", false, "create what the target database lacks: the vector extension (CREATE EXTENSION vector) and missing tables (the source's columns); without it such a target is refused before any write, as reembed does")
	// The old name covered the extension only; the table used to be created without asking.
	fs.BoolVar(&o.CreateMissing, "create-extension", false, "deprecated name of --create-missing")
	deprecate(fs, "create-extension", "use --create-missing (it creates the vector extension and missing target tables)")
	o.addMergeFlags(fs)
	fs.DurationVar(&o.LockWait, "lock-wait", pgcopy.DefaultLockWait, "how long to wait for another run's lock on the target before exiting with code 4 (0: try once)")
}

func (o *copyOptions) Validate(g *globalOptions) error {
	var errs []error
	if g.SourceDB == "" {
		errs = append(errs, errors.New("--source-db is required (env RAGMIGRATE_SOURCE_DB)"))
	}
	if g.TargetDB == "" {
		errs = append(errs, errors.New("--target-db is required (env RAGMIGRATE_TARGET_DB)"))
	}
	errs = append(errs, o.loadOptions.validate()...)
	if o.LockWait < 0 {
		errs = append(errs, fmt.Errorf("--lock-wait %s: want 0 (try once) or more", o.LockWait))
	}
	if o.Resume && o.EmptyTarget {
		errs = append(errs, errors.New("--resume and --empty-target contradict each other"))
	}
	errs = append(errs, o.validateMerge(g)...)
	if err := errors.Join(errs...); err != nil {
		return usageError{err}
	}
	return nil
}

func runCopy(ctx context.Context, o *copyOptions, g *globalOptions) error {
	if err := o.Validate(g); err != nil {
		return err
	}
	var bots map[string]pgcopy.BotItem
	if o.Merge {
		var err error
		if bots, err = mergeBots(ctx, g); err != nil {
			return err
		}
	}
	progress, logger := g.newProgress()
	res, err := pgcopy.Copy(ctx, pgcopy.Config{
		Merge: o.Merge, IncludeDeleted: o.IncludeDeleted, Bots: bots,
		SourceURL: g.SourceDB, TargetURL: g.TargetDB,
		Tables: o.Tables, Jobs: o.Jobs,
		PartBytes: int64(o.PartSize), IndexMemory: int64(o.IndexMemory), MaxRate: int64(o.MaxRate),
		Resume: o.Resume, EmptyTarget: o.EmptyTarget, CreateMissing: o.CreateMissing, LockWait: lockWait(o.LockWait), Timeouts: g.dbTimeouts(),
		Logger: logger, Progress: progress, Confirm: g.confirm,
	})
	progress.Close()
	if err != nil && ctx.Err() != nil && !o.Merge { // a merge says itself what an interrupt left
		err = copyInterrupted(err, res)
	}
	if res == nil {
		return err
	}
	summary := &pgcopy.Summary{Result: res, Stopped: err != nil}
	return writeResult(g, summary, err, summary.WriteText)
}

// copyInterrupted says what an interrupted copy left (res, nil before the run was recorded) and
// how to continue it.
func copyInterrupted(err error, res *pgcopy.Result) error {
	if res == nil || res.RunID == 0 {
		return interrupted(err, "copy stopped before it copied a row: 'ragmigrate status' shows whether it recorded a copy run, which 'ragmigrate copy --resume' continues; otherwise run the same copy again")
	}
	done, parts := 0, 0
	for _, t := range res.Tables {
		done, parts = done+t.PartsDone, parts+t.Parts
	}
	return interrupted(err, "copy run %d stopped with %d of %d parts copied; 'ragmigrate copy --resume' continues it (the parts copied are kept)", res.RunID, done, parts)
}

// byteSize is a flag holding a size such as 64MB, 1GB or 1048576 (bytes); units are powers of 1024.
type byteSize int64

func (b *byteSize) String() string {
	n := int64(*b)
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"kB", 1 << 10}} {
		if n != 0 && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

func (b *byteSize) Set(s string) error {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"GB", 1 << 30}, {"G", 1 << 30}, {"MB", 1 << 20}, {"M", 1 << 20}, {"KB", 1 << 10}, {"K", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.size
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("%q: want a size such as 64MB or 1GB", s)
	}
	*b = byteSize(n * float64(mult))
	return nil
}

func (b *byteSize) Type() string { return "size" }

// lockWait is --lock-wait as the journal reads it: the flag's 0 means one try.
func lockWait(d time.Duration) time.Duration {
	if d == 0 {
		return journal.NoWait
	}
	return d
}
