package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/jackc/pgx/v5"
	"github.com/oklog/ulid/v2"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/ragmigrate/ragmigrate/internal/awsclient"
	"github.com/ragmigrate/ragmigrate/internal/journal"
	"github.com/ragmigrate/ragmigrate/internal/snapshot"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// defaultSnapshotTimeout bounds the wait for a restore: Aurora restores a small snapshot in 10 to
// 30 minutes.
const defaultSnapshotTimeout = time.Hour

func newSnapshotCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshot",
		Short: "Restore the old cluster's snapshot into a temporary Aurora cluster to copy from, and delete it afterwards",
		Long: `The guide's alternative to re-embedding reads the vectors from a snapshot of the old cluster (v1's
deploy replaces the cluster and leaves a final snapshot). 'snapshot restore' turns that snapshot
into a temporary Aurora cluster and prints the --source-secret / --source-db to give copy and
verify; 'snapshot cleanup' deletes it once verify has passed.`,
	}
	cmd.AddCommand(newSnapshotRestoreCommand(g), newSnapshotCleanupCommand(g))
	return cmd
}

type snapshotRestoreOptions struct {
	In      snapshot.RestoreInput
	DryRun  bool
	Timeout time.Duration
}

func (o *snapshotRestoreOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.In.Snapshot, "snapshot", "", "snapshot identifier or ARN to restore (or --latest)")
	fs.BoolVar(&o.In.Latest, "latest", false, "restore the newest available snapshot of --source-cluster (of any cluster without it)")
	fs.StringVar(&o.In.SourceCluster, "source-cluster", "", "identifier of the old cluster whose snapshots --latest chooses from")
	fs.StringVar(&o.In.SubnetGroup, "db-subnet-group", "", "DB subnet group of the restored cluster (the stack's; default: the account's default VPC)")
	fs.StringSliceVar(&o.In.SecurityGroups, "security-groups", nil, "VPC security group ids of the restored cluster, comma-separated: one that admits where copy runs (the embedding task's)")
	fs.StringVar(&o.In.NetworkFrom, "network-from", "", "take the DB subnet group and security groups not given from this cluster (e.g. the new v1 cluster, which the embedding task reaches)")
	fs.StringVar(&o.In.ClusterID, "cluster-id", "", "identifier of the restored cluster (default ragmigrate-<snapshot id>)")
	fs.Float64Var(&o.In.MaxACU, "max-acu", 8, "Serverless v2 maximum capacity of the writer, in ACUs (1 to 256 in steps of 0.5; the minimum is 0.5)")
	fs.BoolVar(&o.DryRun, "dry-run", false, "say what would be created, and create nothing")
	fs.DurationVar(&o.Timeout, "timeout", defaultSnapshotTimeout, "how long to wait for the cluster and its writer to become available")
}

func (o *snapshotRestoreOptions) Validate() error {
	var errs []error
	if (o.In.Snapshot == "") == !o.In.Latest {
		errs = append(errs, errors.New("give --snapshot ID or --latest (one of them)"))
	}
	if o.In.ClusterID != "" {
		if err := snapshot.ValidIdentifier(o.In.ClusterID); err != nil {
			errs = append(errs, fmt.Errorf("--cluster-id %w", err))
		}
	}
	// Written so that NaN fails too; Serverless v2 capacities go in steps of 0.5.
	if !(o.In.MaxACU >= 1 && o.In.MaxACU <= 256) || math.Mod(o.In.MaxACU*2, 1) != 0 {
		errs = append(errs, fmt.Errorf("--max-acu %g: want 1 to 256, in steps of 0.5", o.In.MaxACU))
	}
	if o.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout %s: want a positive duration", o.Timeout))
	}
	if err := errors.Join(errs...); err != nil {
		return usageError{err}
	}
	o.In.MinACU = 0.5
	return nil
}

func newSnapshotRestoreCommand(g *globalOptions) *cobra.Command {
	o := &snapshotRestoreOptions{}
	cmd := &cobra.Command{
		Use:   "restore",
		Short: "Restore a snapshot of the old cluster into a temporary Aurora cluster (billable until cleanup)",
		Long: `Restore creates a temporary Aurora PostgreSQL cluster from a snapshot of the old one:
RestoreDBClusterFromSnapshot with the snapshot's engine version and a Serverless v2 capacity range
(0.5 to --max-acu), in --db-subnet-group with --security-groups, then a db.serverless writer
(CreateDBInstance). It waits until both are available, then asks RDS to manage the master user's
password (ModifyDBCluster ManageMasterUserPassword): the old password is not needed, the new one is
in an RDS-managed secret in Secrets Manager. It prints the --source-secret and --source-db to give
copy and verify; the password itself is not printed.

The cluster costs money from the moment it is created: restore asks first (--yes in scripts;
--dry-run shows what it would create). Everything it creates is tagged ragmigrate:created-by=ragmigrate,
ragmigrate:run and ragmigrate:snapshot. Running it again reuses the cluster an earlier run created
from the same snapshot, also after Ctrl-C or --timeout (the cluster goes on being created in AWS),
so nothing is paid for twice; 'snapshot cleanup' deletes it.`,
		Example: `  ragmigrate snapshot restore --latest --source-cluster bedrockchatstack-vectorstore-abc --dry-run
  ragmigrate snapshot restore --snapshot my-final-snapshot --db-subnet-group SUBNETS --security-groups sg-123 --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSnapshotRestore(cmd.Context(), o, g)
		},
	}
	o.AddFlags(cmd.Flags())
	g.checkFlagsFirst(cmd, func(*globalOptions) error { return o.Validate() })
	return cmd
}

func rdsClient(ctx context.Context, g *globalOptions) (*rds.Client, error) {
	clients, err := awsclient.Load(ctx, g.awsOptions())
	if err != nil {
		return nil, err
	}
	return rds.NewFromConfig(clients.Config), nil
}

// restoreResult is the --json output of snapshot restore.
type restoreResult struct {
	*snapshot.Restored
	// SourceDB is the URL of the restored data without the password, which is in the secret.
	SourceDB string `json:"source_db"`
}

func runSnapshotRestore(ctx context.Context, o *snapshotRestoreOptions, g *globalOptions) error {
	if err := o.Validate(); err != nil {
		return err
	}
	api, err := rdsClient(ctx, g)
	if err != nil {
		return err
	}
	plan, err := snapshot.Prepare(ctx, api, o.In, func() string { return strings.ToLower(ulid.Make().String()) })
	if err != nil {
		return err
	}
	if o.DryRun && g.JSON {
		return writeJSON(g, plan)
	}
	if g.jsonLogs() && !o.DryRun {
		logRestorePlan(ctx, g, plan)
	} else {
		describeRestorePlan(g, plan, o.DryRun)
	}
	if o.DryRun {
		return nil
	}
	reused := !plan.Creates()
	if !reused {
		if err := g.confirm(fmt.Sprintf("Restore snapshot %s into Aurora cluster %s (billed until 'ragmigrate snapshot cleanup')?", plan.Snapshot.ID, plan.ClusterID)); err != nil {
			return err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	report, done := waitReporter(ctx, g, plan.ClusterID, plan.InstanceID)
	restored, err := snapshot.Restore(wctx, api, plan, report)
	done()
	if err != nil {
		var we *snapshot.WaitError
		after := fmt.Sprintf("run the same 'ragmigrate snapshot restore' again to wait for it and finish, or delete it with 'ragmigrate snapshot cleanup --cluster-id %s --force'", plan.ClusterID)
		switch {
		case ctx.Err() != nil && errors.As(err, &we):
			return interrupted(err, "cluster %s goes on being created (and billed) in AWS: %s (when interrupted, after %s: cluster %s, writer %s)",
				plan.ClusterID, after, we.Last.Elapsed.Round(time.Second), we.Last.Cluster, we.Last.Instance)
		case ctx.Err() != nil:
			// Cut off mid-request: AWS may or may not have created the cluster or its writer.
			return interrupted(err, "before RDS confirmed cluster %s: it may exist already: %s", plan.ClusterID, after)
		case errors.As(err, &we) && errors.Is(err, context.DeadlineExceeded):
			return fmt.Errorf("cluster %s is not available after --timeout %s (cluster %s, writer %s); it goes on being created in AWS: %s",
				plan.ClusterID, o.Timeout, we.Last.Cluster, we.Last.Instance, after)
		}
		return err
	}
	restored.Reused = reused
	g.logger.InfoContext(ctx, "snapshot restored", slog.String("cluster", restored.ClusterID), slog.String("snapshot", restored.Snapshot.ID), slog.String("run", restored.Run))
	sourceDB := (&url.URL{Scheme: "postgres", User: url.User(restored.Username),
		Host: restored.Endpoint + ":" + strconv.Itoa(restored.Port), Path: "/" + restored.Database}).String()
	if g.JSON {
		return writeJSON(g, restoreResult{restored, sourceDB})
	}
	w := g.stdout
	fmt.Fprintf(w, "Cluster %s is available: snapshot %s of cluster %s (taken %s, %s %s).\n", restored.ClusterID, restored.Snapshot.ID,
		restored.Snapshot.ClusterID, restored.Snapshot.Created.UTC().Format(time.RFC3339), snapshot.Engine, restored.EngineVersion)
	fmt.Fprintf(w, "  endpoint     %s:%d, database %s, master user %s\n", restored.Endpoint, restored.Port, restored.Database, restored.Username)
	fmt.Fprintf(w, "  secret       %s (RDS-managed: username and password)\n", restored.SecretARN)
	fmt.Fprintf(w, "\nRead it as the source of plan, copy and verify with\n  --source-secret %s --source-db '%s'\n", restored.SecretARN, sourceDB)
	fmt.Fprintf(w, "  (the RDS-managed secret holds username and password; the URL, without a password, names host, port and database)\n")
	withPassword := strings.Replace(sourceDB, "@", ":PASSWORD@", 1)
	fmt.Fprintf(w, "or, with the secret's password in place of PASSWORD (it is not printed),\n  --source-db '%s'\n", withPassword)
	fmt.Fprintf(w, "\nIt is billed until deleted: after a verify that passes, run\n  ragmigrate snapshot cleanup --cluster-id %s --target-db <the target verify checked>\n", restored.ClusterID)
	return nil
}

func describeRestorePlan(g *globalOptions, p *snapshot.Plan, dryRun bool) {
	// The plan is the dry run's result; otherwise a note before the result, which stdout keeps.
	w := g.stderr
	if dryRun {
		w = g.stdout
	}
	verb := "Will"
	if dryRun {
		verb = "Would"
	}
	fmt.Fprintf(w, "Snapshot %s of cluster %s (%s, taken %s, %s %s).\n", p.Snapshot.ID, p.Snapshot.ClusterID, p.Snapshot.Type,
		p.Snapshot.Created.UTC().Format(time.RFC3339), snapshot.Engine, p.Snapshot.EngineVersion)
	if p.ClusterExists {
		fmt.Fprintf(w, "Cluster %s exists already (restored from it by run %s): reused.\n", p.ClusterID, p.Run)
	} else {
		subnets, sgs := p.Input.SubnetGroup, strings.Join(p.Input.SecurityGroups, ",")
		if subnets == "" {
			subnets = "the default"
		}
		if sgs == "" {
			sgs = "the VPC's default"
		}
		fmt.Fprintf(w, "%s restore it into Aurora cluster %s: engine version %s, Serverless v2 %g to %g ACUs, DB subnet group %s, security groups %s, tags %s=%s %s=%s.\n",
			verb, p.ClusterID, p.Snapshot.EngineVersion, p.Input.MinACU, p.Input.MaxACU, subnets, sgs, snapshot.TagCreatedBy, snapshot.TagCreatedByValue, snapshot.TagRun, p.Run)
	}
	if p.InstanceExists {
		fmt.Fprintf(w, "Writer %s exists already: reused.\n", p.InstanceID)
	} else {
		fmt.Fprintf(w, "%s create its writer %s (%s).\n", verb, p.InstanceID, snapshot.WriterClass)
	}
	if dryRun {
		fmt.Fprintln(w, "Dry run: nothing was created.")
	}
}

// logRestorePlan is describeRestorePlan as one log record, under --log-format json.
func logRestorePlan(ctx context.Context, g *globalOptions, p *snapshot.Plan) {
	g.logger.LogAttrs(ctx, slog.LevelInfo, "restore plan", slog.String("snapshot", p.Snapshot.ID),
		slog.String("snapshot_cluster", p.Snapshot.ClusterID), slog.String("snapshot_type", p.Snapshot.Type),
		slog.Time("snapshot_created", p.Snapshot.Created.UTC()), slog.String("engine_version", p.Snapshot.EngineVersion),
		slog.String("cluster", p.ClusterID), slog.Bool("cluster_exists", p.ClusterExists), slog.String("run", p.Run),
		slog.String("writer", p.InstanceID), slog.Bool("writer_exists", p.InstanceExists), slog.String("writer_class", snapshot.WriterClass),
		slog.Float64("min_acu", p.Input.MinACU), slog.Float64("max_acu", p.Input.MaxACU),
		slog.String("db_subnet_group", p.Input.SubnetGroup), slog.String("security_groups", strings.Join(p.Input.SecurityGroups, ",")))
}

// waitReporter shows the wait: one line rewritten in place on a terminal, a line per change (and
// one a minute) otherwise, as a log record under --log-format json. done ends the terminal's
// line.
func waitReporter(ctx context.Context, g *globalOptions, clusterID, instanceID string) (func(snapshot.Status), func()) {
	f, ok := g.stderr.(*os.File)
	terminal := ok && term.IsTerminal(int(f.Fd())) && !g.jsonLogs()
	var last snapshot.Status
	var printed time.Time
	shown := false
	report := func(s snapshot.Status) {
		line := fmt.Sprintf("cluster %s: %s, writer %s: %s (%s)", clusterID, s.Cluster, instanceID, s.Instance, s.Elapsed.Round(time.Second))
		switch {
		case terminal:
			fmt.Fprintf(g.stderr, "\r\033[K%s", line)
			shown = true
		case s.Cluster != last.Cluster || s.Instance != last.Instance || time.Since(printed) >= time.Minute:
			g.note(ctx, line, "waiting for the restored cluster", slog.String("cluster", clusterID), slog.String("cluster_status", s.Cluster),
				slog.String("writer", instanceID), slog.String("writer_status", s.Instance), slog.Duration("elapsed", s.Elapsed.Round(time.Second)))
			printed = time.Now()
		}
		last = s
	}
	return report, func() {
		if shown {
			fmt.Fprintln(g.stderr)
		}
	}
}

type snapshotCleanupOptions struct {
	ClusterID string
	Force     bool
	Timeout   time.Duration
}

func newSnapshotCleanupCommand(g *globalOptions) *cobra.Command {
	o := &snapshotCleanupOptions{}
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Delete the temporary cluster 'snapshot restore' created, once verify has passed",
		Long: `Cleanup deletes a cluster 'snapshot restore' created — its writer, then the cluster, without a
final snapshot (the snapshot it came from stays) — and refuses any cluster without the tag
ragmigrate:created-by=ragmigrate. Without --cluster-id it takes the one tagged cluster there is.

It deletes only after a verify against the restored data passed: the newest verify recorded in
the journal of --target-db for that source (host:port/database) must have found no difference.
--force deletes without that check (a restore that is not needed any more). It asks first (--yes
in scripts).`,
		Example: `  ragmigrate snapshot cleanup --cluster-id ragmigrate-final-snapshot --target-db "$NEW" --yes`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSnapshotCleanup(cmd.Context(), o, g)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.ClusterID, "cluster-id", "", "the restored cluster to delete (default: the one cluster tagged ragmigrate:created-by=ragmigrate)")
	fs.BoolVar(&o.Force, "force", false, "delete without a passed verify in the target's journal")
	fs.DurationVar(&o.Timeout, "timeout", defaultSnapshotTimeout, "how long to wait for the writer to be deleted")
	g.checkFlagsFirst(cmd, o.Validate)
	return cmd
}

func (o *snapshotCleanupOptions) Validate(g *globalOptions) error {
	var errs []error
	if o.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout %s: want a positive duration", o.Timeout))
	}
	if !o.Force && g.TargetDB == "" {
		errs = append(errs, errors.New("give --target-db, whose journal records the verify of the restored data, or --force to delete without one"))
	}
	if err := errors.Join(errs...); err != nil {
		return usageError{err}
	}
	return nil
}

func runSnapshotCleanup(ctx context.Context, o *snapshotCleanupOptions, g *globalOptions) error {
	if err := o.Validate(g); err != nil {
		return err
	}
	api, err := rdsClient(ctx, g)
	if err != nil {
		return err
	}
	owned, err := snapshot.FindOwned(ctx, api, o.ClusterID)
	if err != nil {
		return err
	}
	source := journal.SourceKey(owned.Endpoint, owned.Port, owned.Database)
	g.note(ctx, fmt.Sprintf("Cluster %s (%s), restored from snapshot %s by run %s; writers %s; data at %s.", owned.ClusterID, owned.Status,
		owned.Snapshot, owned.Run, strings.Join(owned.Instances, ", "), source),
		"restored cluster", slog.String("cluster", owned.ClusterID), slog.String("status", owned.Status), slog.String("snapshot", owned.Snapshot),
		slog.String("run", owned.Run), slog.String("writers", strings.Join(owned.Instances, ",")), slog.String("data", source))
	if o.Force {
		g.note(ctx, "--force: not checking for a passed verify.", "not checking for a passed verify", slog.String("because", "--force"))
	} else {
		v, err := latestVerify(ctx, g, source)
		switch {
		case errors.Is(err, journal.ErrNoVerification):
			return fmt.Errorf("refusing to delete cluster %s: the target's journal records no verify of its data (%s): run 'ragmigrate verify --source-db <its URL> --target-db ...' first, or give --force", owned.ClusterID, source)
		case err != nil:
			return err
		case !v.OK:
			return fmt.Errorf("refusing to delete cluster %s: the newest verify of its data (%s) found differences: %s; fix them and verify again, or give --force",
				owned.ClusterID, v.At.UTC().Format(time.RFC3339), v.Summary)
		}
		g.note(ctx, fmt.Sprintf("verify passed at %s (%s).", v.At.UTC().Format(time.RFC3339), v.Summary),
			"verify passed", slog.Time("at", v.At.UTC()), slog.String("summary", v.Summary))
	}
	if err := g.confirm(fmt.Sprintf("Delete cluster %s and its writer, without a final snapshot?", owned.ClusterID)); err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if err := snapshot.Delete(dctx, api, owned, func(s string) { g.note(ctx, s, "deleting the restored cluster", slog.String("step", s)) }); err != nil {
		if ctx.Err() != nil {
			return interrupted(err, "cluster %s is not deleted yet: run 'ragmigrate snapshot cleanup --cluster-id %s' again, with the same --target-db or --force, to finish", owned.ClusterID, owned.ClusterID)
		}
		return err
	}
	g.logger.InfoContext(ctx, "restored cluster deleted", slog.String("cluster", owned.ClusterID))
	if g.JSON {
		return writeJSON(g, struct {
			Deleted *snapshot.Owned `json:"deleted"`
		}{owned})
	}
	fmt.Fprintf(g.stdout, "Deleted cluster %s and its writer %s (snapshot %s stays).\n", owned.ClusterID, strings.Join(owned.Instances, ", "), owned.Snapshot)
	return nil
}

func latestVerify(ctx context.Context, g *globalOptions, source string) (*journal.Verification, error) {
	conn, err := vectorstore.Connect(ctx, g.TargetDB, "snapshot", g.dbTimeouts())
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return journal.LatestVerification(ctx, conn, source)
}

// recordVerify records verify's verdict in the target's journal, where 'snapshot cleanup' looks
// for it. It is a side note to verify's report, so a target verify cannot write to (a read-only
// user) costs a warning, not the verify.
func recordVerify(ctx context.Context, g *globalOptions, target *pgx.Conn, ok bool) {
	cfg, err := pgx.ParseConfig(g.SourceDB)
	if err != nil {
		return
	}
	summary := "no differences"
	if !ok {
		summary = "differences found"
	}
	v := journal.Verification{Source: journal.SourceKey(cfg.Host, int(cfg.Port), cfg.Database), OK: ok, Summary: summary}
	if err := journal.RecordVerification(ctx, target, v); err != nil {
		g.logger.WarnContext(ctx, "verify's verdict not recorded in the target's journal; 'snapshot cleanup' will not find it", slog.Any("err", err))
	}
}
