package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ragmigrate/ragmigrate/internal/pgcopy"
	"github.com/ragmigrate/ragmigrate/internal/plan"
	"github.com/ragmigrate/ragmigrate/internal/progress"
	"github.com/ragmigrate/ragmigrate/internal/replicate"
)

func newReplicateCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "replicate",
		Short: "Live migration: bulk load plus native logical replication, then a guarded cut-over",
		Long: `Replicate moves the vectors while the old cluster is still written to, with a short pause at
the end instead of a downtime as long as the copy:

  start    preflight; a publication and a logical replication slot on the source, created with an
           exported snapshot; the bulk load of that snapshot through the copy path (binary COPY,
           parallel parts, indexes built after the load); then a subscription on the target
           attached to the slot with copy_data = false, so streaming begins exactly where the
           snapshot ended: no gap, no duplicate.
  status   per table state and rows on both sides, lag in bytes and time, apply errors, the WAL
           the slot retains on the source (with a warning before its disk is at risk).
  cutover  once writes to the source have stopped: waits until the target has applied the
           source's current position, runs the verify checks, drops subscription, slot and
           publication, and prints the pause writers had to take.
  abort    drops every replication object of the run on both sides (idempotent).

Needs wal_level=logical on the source (on Aurora: rds.logical_replication = 1 in the cluster
parameter group, then a reboot of the writer), a role with REPLICATION (rds_replication), a free
replication slot and WAL sender, a primary key (or replica identity) on every table; and a
superuser (rds_superuser) on the target, which must reach the source over the network
(--publisher-url when it reaches it at another address than ragmigrate does). plan shows the
same preflight.

The replication slot holds the source's WAL until cutover or abort: a forgotten slot fills the
source's disk. A failed start removes what it created; a killed one is cleaned up by the next
start or by abort.`,
	}
	cmd.AddCommand(newReplicateStartCommand(g), newReplicateStatusCommand(g), newReplicateCutoverCommand(g), newReplicateAbortCommand(g))
	return cmd
}

// replicateOptions are the flags every replicate subcommand shares.
type replicateOptions struct {
	LockWait time.Duration
}

func (o *replicateOptions) AddFlags(fs *pflag.FlagSet) {
	fs.DurationVar(&o.LockWait, "lock-wait", pgcopy.DefaultLockWait, "how long to wait for another replicate command on the target before exiting with code 4 (0: try once)")
}

func (o *replicateOptions) validate(g *globalOptions) []error {
	var errs []error
	if g.SourceDB == "" {
		errs = append(errs, errors.New("--source-db is required (env RAGMIGRATE_SOURCE_DB)"))
	}
	if g.TargetDB == "" {
		errs = append(errs, errors.New("--target-db is required (env RAGMIGRATE_TARGET_DB)"))
	}
	if o.LockWait < 0 {
		errs = append(errs, fmt.Errorf("--lock-wait %s: want 0 (try once) or more", o.LockWait))
	}
	return errs
}

func (o *replicateOptions) options(g *globalOptions) replicate.Options {
	return replicate.Options{SourceURL: g.SourceDB, TargetURL: g.TargetDB, LockWait: lockWait(o.LockWait),
		Timeouts: g.dbTimeouts(), Logger: g.logger, Confirm: g.confirm}
}

type replicateStartOptions struct {
	replicateOptions
	loadOptions
	EmptyTarget   bool
	CreateMissing bool
	PublisherURL  string
}

func newReplicateStartCommand(g *globalOptions) *cobra.Command {
	o := &replicateStartOptions{loadOptions: newLoadOptions()}
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Preflight, publication and slot, bulk load of the slot's snapshot, then a subscription streaming from it",
		Long: `Start checks both clusters (read-only; every failure says how to fix it), records the run and the
names of everything it will create in the target's journal, creates a publication for --tables
and a logical replication slot (pgoutput) with an exported snapshot on the source, loads that
snapshot into the target through the copy path (see 'ragmigrate copy --help': binary COPY in
parallel primary-key parts, the source's indexes built after the load), and then creates a
subscription on the target attached to the slot with copy_data = false. From then on the target
applies every change committed on the source after the snapshot.

A --publisher-url other than --source-db is tried first: a login the source refuses (wrong user
or password) or a database it lacks stops the start before it creates anything; a publisher ragmigrate cannot reach
from where it runs is logged and the start goes on (the target may reach it).

A non-empty target is refused unless --empty-target. A start killed during its load leaves a
slot and a partial load: start again drops them, empties the tables it loaded and starts over
(the old snapshot is gone, so nothing of the partial load can be kept); 'replicate abort' drops
the slot instead. A start that fails removes its slot, publication and subscription itself.`,
		Example: `  ragmigrate replicate start --source-db "$OLD" --target-db "$NEW" --yes
  ragmigrate replicate status --watch
  ragmigrate replicate cutover --yes     # once the app's writes to the old cluster have stopped`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runReplicateStart(cmd.Context(), o, g) },
	}
	fs := cmd.Flags()
	o.replicateOptions.AddFlags(fs)
	fs.StringSliceVar(&o.Tables, "tables", []string{"items"}, "tables to replicate, comma-separated, resolved by each side's search_path")
	fs.IntVar(&o.Jobs, "jobs", pgcopy.DefaultJobs, "parts loaded at once; index builds use jobs-1 parallel workers")
	fs.Var(&o.PartSize, "part-size", "target size of a bulk-load part, in table bytes including TOAST (e.g. 64MB)")
	fs.Var(&o.IndexMemory, "index-memory", "upper bound of maintenance_work_mem for the index builds (e.g. 1GB, 8GB)")
	fs.Var(&o.MaxRate, "max-rate", "cap on the bytes per second the bulk load reads from the source, all --jobs together (e.g. 50MB); default no cap")
	fs.BoolVar(&o.EmptyTarget, "empty-target", false, "delete the rows of non-empty target tables first (TRUNCATE; their rows are lost)")
	fs.BoolVar(&o.CreateMissing, "create-missing", false, "create what the target database lacks: the vector extension and missing tables (the source's columns)")
	fs.StringVar(&o.PublisherURL, "publisher-url", "", "the source as the target cluster reaches it, for the subscription's connection (default --source-db; env RAGMIGRATE_PUBLISHER_URL); its password is stored in the target's pg_subscription, as PostgreSQL does, and never printed")
	g.checkFlagsFirst(cmd, o.Validate)
	return cmd
}

func (o *replicateStartOptions) Validate(g *globalOptions) error {
	errs := append(o.replicateOptions.validate(g), o.loadOptions.validate()...)
	if err := errors.Join(errs...); err != nil {
		return usageError{err}
	}
	return nil
}

func runReplicateStart(ctx context.Context, o *replicateStartOptions, g *globalOptions) error {
	if o.PublisherURL == "" {
		o.PublisherURL = os.Getenv("RAGMIGRATE_PUBLISHER_URL")
	}
	if err := o.Validate(g); err != nil {
		return err
	}
	progress, logger := g.newProgress()
	opts := o.options(g)
	opts.Logger, opts.Progress = logger, progress
	res, err := replicate.Start(ctx, replicate.StartConfig{
		Options: opts, PublisherURL: o.PublisherURL, Tables: o.Tables, Jobs: o.Jobs,
		PartBytes: int64(o.PartSize), IndexMemory: int64(o.IndexMemory), MaxRate: int64(o.MaxRate),
		EmptyTarget: o.EmptyTarget, CreateMissing: o.CreateMissing,
	})
	progress.Close()
	if err != nil && ctx.Err() != nil {
		err = startInterrupted(err, res)
	}
	if res == nil {
		return err
	}
	return writeResult(g, res, err, func(w io.Writer) error { return writeStartText(w, res, err) })
}

// startInterrupted says what an interrupted start left (res, nil when it stopped in its
// preflight) and how to start again.
func startInterrupted(err error, res *replicate.StartResult) error {
	if res == nil {
		return interrupted(err, "replicate start stopped in its preflight, before it created anything: run it again")
	}
	var rows int64
	if res.Load != nil {
		for _, t := range res.Load.Tables {
			rows += t.Rows
		}
	}
	again := "run 'ragmigrate replicate start' again to start over"
	if rows > 0 {
		// The snapshot those rows came from went with the slot: a new start loads from scratch.
		again = fmt.Sprintf("the target keeps the %d rows it loaded, from a snapshot that is gone: run 'ragmigrate replicate start --empty-target' to start over", rows)
	}
	return interrupted(err, "replication run %d did not start (what it removed again is listed on stdout): %s", res.RunID, again)
}

func writeStartText(w io.Writer, r *replicate.StartResult, runErr error) error {
	var b strings.Builder
	if r.Replaced != 0 {
		fmt.Fprintf(&b, "replaced run %d, %s: subscription %s, slot %s, publication %s\n", r.Replaced, cmp.Or(r.ReplacedHow, "killed during its load"),
			r.ReplacedDrop.Subscription, r.ReplacedDrop.Slot, r.ReplacedDrop.Publication)
	}
	if runErr != nil {
		fmt.Fprintf(&b, "replication run %d did not start", r.RunID)
		if r.Cleanup != nil {
			fmt.Fprintf(&b, "; removed again: subscription %s, slot %s, publication %s", r.Cleanup.Subscription, r.Cleanup.Slot, r.Cleanup.Publication)
		}
		b.WriteString("\n")
	} else {
		fmt.Fprintf(&b, "replication run %d streaming: slot, publication and subscription %s, from LSN %s\n", r.RunID, r.Slot, r.ConsistentLSN)
	}
	if r.Load != nil {
		for _, t := range r.Load.Tables {
			if runErr != nil {
				// The planned parts are not what a start that stopped loaded.
				fmt.Fprintf(&b, "  loaded %s before it stopped: %d rows, %d of %d parts\n", t.Target, t.Rows, t.PartsDone, t.Parts)
				continue
			}
			fmt.Fprintf(&b, "  loaded %s: %s, %s\n", t.Target, progress.Plural(t.Rows, "row", "rows"), progress.Plural(t.Parts, "part", "parts"))
		}
		fmt.Fprintf(&b, "  load %.1fs (data %.1fs, indexes %.1fs), total %.1fs\n", r.LoadSeconds, r.Load.DataSeconds, r.Load.IndexSeconds, r.TotalSeconds)
	}
	if runErr == nil {
		b.WriteString("next: 'ragmigrate replicate status' to watch the lag; 'ragmigrate replicate cutover' once writes to the source have stopped\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

type replicateStatusOptions struct {
	Watch        bool
	Interval     time.Duration
	Exact        bool
	WarnRetained byteSize
}

func newReplicateStatusCommand(g *globalOptions) *cobra.Command {
	o := &replicateStatusOptions{Interval: 2 * time.Second, WarnRetained: 10 << 30}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "The replication's state: tables, rows on both sides, lag, apply errors, WAL retained on the source",
		Long: `Status reads the newest replication run of the target's journal and both clusters: its phase; the
slot on the source (active, lag in bytes = the source's current LSN minus the slot's
confirmed_flush_lsn, WAL retained = current LSN minus restart_lsn, wal_status); the subscription
on the target (apply worker, lag in seconds, apply errors from pg_stat_subscription_stats); per
table its state (pg_subscription_rel) and rows on both sides (planner estimates, --exact counts).
A WARNING line names what needs action: retained WAL over --warn-retained, a lost slot, no
apply worker, apply errors. Read-only. --watch repeats every --interval until Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runReplicateStatus(cmd.Context(), o, g) },
	}
	fs := cmd.Flags()
	fs.BoolVar(&o.Watch, "watch", false, "repeat every --interval until interrupted")
	fs.DurationVar(&o.Interval, "interval", o.Interval, "time between two looks with --watch")
	fs.BoolVar(&o.Exact, "exact", false, "count the rows on both sides (count(*)) instead of the planner's estimates")
	fs.Var(&o.WarnRetained, "warn-retained", "warn when the slot retains more WAL than this on the source (e.g. 10GB)")
	g.checkFlagsFirst(cmd, o.Validate)
	return cmd
}

func (o *replicateStatusOptions) Validate(g *globalOptions) error {
	errs := (&replicateOptions{}).validate(g)
	if o.Interval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("--interval %s: want at least 100ms", o.Interval))
	}
	if o.WarnRetained < 1<<20 {
		errs = append(errs, errors.New("--warn-retained: at least 1MB"))
	}
	if err := errors.Join(errs...); err != nil {
		return usageError{err}
	}
	return nil
}

func runReplicateStatus(ctx context.Context, o *replicateStatusOptions, g *globalOptions) error {
	if err := o.Validate(g); err != nil {
		return err
	}
	w, err := replicate.NewStatusWatcher(ctx, replicate.StatusOptions{
		Options: replicate.Options{SourceURL: g.SourceDB, TargetURL: g.TargetDB, Timeouts: g.dbTimeouts(), Logger: g.logger},
		Exact:   o.Exact, WarnRetained: int64(o.WarnRetained),
	})
	if err != nil {
		return err
	}
	defer w.Close(context.WithoutCancel(ctx))
	for looks := 0; ; {
		s, err := w.Read(ctx)
		if err != nil {
			if o.Watch && ctx.Err() != nil {
				return nil // Ctrl-C is how a watch ends
			}
			return err
		}
		if g.JSON {
			err = writeJSON(g, s)
		} else {
			if o.Watch && looks > 0 {
				fmt.Fprintln(g.stdout)
			}
			err = s.WriteText(g.stdout)
		}
		looks++
		if err != nil || !o.Watch {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(o.Interval):
		}
	}
}

type replicateCutoverOptions struct {
	replicateOptions
	Timeout time.Duration
	Queries int
}

func newReplicateCutoverCommand(g *globalOptions) *cobra.Command {
	o := &replicateCutoverOptions{}
	cmd := &cobra.Command{
		Use:   "cutover",
		Short: "Once writes have stopped: wait for the target to catch up, verify, drop the replication",
		Long: `Cutover asks for confirmation that writes to the source have stopped (or --yes), records the
source's current LSN, and waits (at most --timeout) until the slot's confirmed_flush_lsn reaches
it: the target has applied everything. It then runs the verify checks (every bot's rows and
digests, and --queries searches; see 'ragmigrate verify --help'), sets the target's sequences to
the source's (logical replication does not carry them), drops the subscription (with its slot)
and the publication, and prints the pause writers had to take: from the confirmation until the
target is ready. A difference exits 3 and leaves the replication running. Before it drops
anything it checks that the confirmation was true: when a transaction changed the replicated
tables on the source after the position it waited for (the subscription's replication origin on
the target says so once the target has caught up again), it refuses with exit 6 and leaves the
replication running: stop the app's writers, then cut over again. It refuses while
'replicate start' is still loading or building indexes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runReplicateCutover(cmd.Context(), o, g) },
	}
	fs := cmd.Flags()
	o.replicateOptions.AddFlags(fs)
	fs.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "how long to wait for the target to apply the source's current position")
	fs.IntVar(&o.Queries, "queries", 5, "bots sampled for search equivalence in the verify step (0 turns it off)")
	g.checkFlagsFirst(cmd, o.Validate)
	return cmd
}

func (o *replicateCutoverOptions) Validate(g *globalOptions) error {
	errs := o.validate(g)
	if o.Timeout < time.Second {
		errs = append(errs, fmt.Errorf("--timeout %s: want at least 1s", o.Timeout))
	}
	if o.Queries < 0 {
		errs = append(errs, fmt.Errorf("--queries %d: want 0 or more", o.Queries))
	}
	if err := errors.Join(errs...); err != nil {
		return usageError{err}
	}
	return nil
}

func runReplicateCutover(ctx context.Context, o *replicateCutoverOptions, g *globalOptions) error {
	if err := o.Validate(g); err != nil {
		return err
	}
	res, err := replicate.Cutover(ctx, replicate.CutoverConfig{Options: o.options(g), Timeout: o.Timeout, Queries: o.Queries})
	if errors.Is(err, replicate.ErrMismatch) {
		err = fmt.Errorf("%w: %w", errMismatch, err)
	}
	if errors.Is(err, replicate.ErrWritesAfterCut) {
		err = fmt.Errorf("%w: %w", errWritesAfterCut, err)
	}
	if err != nil && ctx.Err() != nil {
		err = cutoverInterrupted(err, res)
	}
	if res == nil {
		return err
	}
	return writeResult(g, res, err, func(w io.Writer) error {
		var b strings.Builder
		if res.Verify != nil && !res.Verify.OK {
			res.Verify.WriteText(&b)
		}
		switch {
		case res.CaughtUp:
			fmt.Fprintf(&b, "replication run %d: source LSN %s, target confirmed %s after %.2fs", res.RunID, res.SourceLSN, res.ConfirmedLSN, res.CatchUpSeconds)
			if res.Verify != nil {
				verdict := "the target equals the source"
				if res.LastWriteLSN != "" {
					verdict = "no difference then" // the writes that came after are what it missed
				}
				if !res.Verify.OK {
					verdict = "DIFFERENCES (above)"
				}
				fmt.Fprintf(&b, "; verify %.2fs: %s", res.VerifySeconds, verdict)
			}
			if res.LastWriteLSN != "" {
				fmt.Fprintf(&b, "; then the source took writes after the cut (the last at LSN %s): nothing dropped", res.LastWriteLSN)
			}
			b.WriteString("\n")
		case res.SourceLSN != "":
			// It stopped waiting (--timeout, an interrupt): the target is behind, not caught up.
			fmt.Fprintf(&b, "replication run %d: the target had not applied the source's LSN %s when cutover stopped waiting, after %.2fs (confirmed %s)\n",
				res.RunID, res.SourceLSN, res.CatchUpSeconds, cmp.Or(res.ConfirmedLSN, "none"))
		}
		if res.Dropped != nil {
			fmt.Fprintf(&b, "subscription %s, slot %s, publication %s\n", res.Dropped.Subscription, res.Dropped.Slot, res.Dropped.Publication)
		}
		if err == nil {
			fmt.Fprintf(&b, "cut over: writers paused %.2fs (from the confirmation until the target was ready); point the app at the target\n", res.PauseSeconds)
		}
		_, werr := io.WriteString(w, b.String())
		return werr
	})
}

// cutoverInterrupted says where an interrupted cutover (res, nil before it found the run)
// stopped: before the drop the replication goes on streaming (Cutover puts the run back), after
// it abort finishes.
func cutoverInterrupted(err error, res *replicate.CutoverResult) error {
	again := "run 'ragmigrate replicate cutover' again once writes to the source have stopped"
	switch {
	case res == nil:
		return interrupted(err, "cutover stopped before it began; the replication goes on as it was: %s", again)
	case res.Dropped == nil:
		return interrupted(err, "cutover of replication run %d stopped before it dropped anything; the replication goes on streaming: %s", res.RunID, again)
	default:
		return interrupted(err, "cutover of replication run %d stopped while it dropped the replication: run 'ragmigrate replicate abort' to finish", res.RunID)
	}
}

func newReplicateAbortCommand(g *globalOptions) *cobra.Command {
	o := &replicateOptions{}
	cmd := &cobra.Command{
		Use:   "abort",
		Short: "Drop every replication object of the run on both sides (subscription, slot, publication)",
		Long: `Abort drops the subscription (target), the replication slot and the publication (source) that the
newest replication run of the target's journal named — whichever exist, whatever state the run
is in (also after a failed or killed start) — and ends the run. It is idempotent: run it again
and it finds nothing left. The rows loaded into the target stay.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := errors.Join(o.validate(g)...); err != nil {
				return usageError{err}
			}
			res, err := replicate.Abort(cmd.Context(), o.options(g))
			if res == nil {
				return err
			}
			return writeResult(g, res, err, func(w io.Writer) error {
				_, werr := fmt.Fprintf(w, "replication run %d (%s, phase %s): subscription %s, slot %s, publication %s\n",
					res.RunID, res.Status, res.Phase, res.Dropped.Subscription, cmpText(res.Dropped.Slot), cmpText(res.Dropped.Publication))
				return werr
			})
		},
	}
	o.AddFlags(cmd.Flags())
	g.checkFlagsFirst(cmd, func(pending *globalOptions) error {
		if err := errors.Join(o.validate(pending)...); err != nil {
			return usageError{err}
		}
		return nil
	})
	return cmd
}

func cmpText(s string) string {
	if s == "" {
		return "not dropped"
	}
	return s
}

// writePlan prints the plan, and with --source-db the replication preflight after it (the
// JSON's "replication"): what 'replicate start' would refuse, each with its fix.
func writePlan(ctx context.Context, g *globalOptions, p *plan.Plan, src, dst *pgx.Conn) error {
	var pf *replicate.Preflight
	if src != nil {
		var err error
		if pf, err = replicate.CheckAll(ctx, src, dst, []string{"items"}, false); err != nil {
			return fmt.Errorf("replication preflight: %w", err)
		}
	}
	if g.JSON {
		return writeJSON(g, struct {
			*plan.Plan
			Replication *replicate.Preflight `json:"replication,omitempty"`
		}{p, pf})
	}
	if err := p.WriteText(g.stdout); err != nil || pf == nil {
		return err
	}
	var b strings.Builder
	verdict := "ready"
	if !pf.Ready {
		verdict = "NOT ready"
	}
	fmt.Fprintf(&b, "\nReplication preflight (replicate start): %s\n", verdict)
	for _, c := range pf.Checks {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(&b, "  %s %-6s %-28s %s\n", mark, c.Side, c.Name, c.Detail)
		if c.Fix != "" {
			fmt.Fprintf(&b, "       fix: %s\n", c.Fix)
		}
	}
	_, err := io.WriteString(g.stdout, b.String())
	return err
}
