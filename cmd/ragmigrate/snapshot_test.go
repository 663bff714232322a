package main

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/awsclient"
	"github.com/ragmigrate/ragmigrate/internal/dev/rdssim"
	"github.com/ragmigrate/ragmigrate/internal/dev/secretsim"
	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/snapshot"
)

// snapshotBundle is an old cluster's database (items seeded, as setupCopy makes it), recorded as
// a final snapshot by an RDS contract server of the test's own, and an empty v1 target.
type snapshotBundle struct {
	*copyBundle
	sim        *rdssim.Server
	secrets    *secretsim.Server
	rds        *rds.Client
	admin      string
	oldCluster string
	snapID     string
	env        []string
}

func setupSnapshot(t *testing.T, delay time.Duration) *snapshotBundle {
	t.Helper()
	ctx := stacktest.Context(t)
	b := &snapshotBundle{copyBundle: setupCopy(t, 300, "", nil), admin: stacktest.Getenv(t, "RAGMIGRATE_SOURCE_DB")}
	var err error
	// RDS keeps the master user secrets it manages in Secrets Manager, where --source-secret reads them.
	b.secrets, err = secretsim.New("", nil)
	require.NoError(t, err)
	b.sim, err = rdssim.New(rdssim.Options{AdminURL: b.admin, Dir: t.TempDir(), Secrets: b.secrets, Delay: delay})
	require.NoError(t, err)
	endpoint := stacktest.AWSServer(t, b.sim.Register, b.secrets.Register)
	b.env = append(b.copyBundle.env, "AWS_ENDPOINT_URL_RDS="+endpoint, "AWS_ENDPOINT_URL_SECRETS_MANAGER="+endpoint)
	clients, err := awsclient.Load(ctx, awsclient.Options{})
	require.NoError(t, err)
	b.rds = rds.NewFromConfig(clients.Config, func(o *rds.Options) { o.BaseEndpoint = aws.String(endpoint) })

	suffix := stacktest.Suffix()
	b.oldCluster, b.snapID = "rmtest-old-"+suffix, "rmtest-final-"+suffix
	cfg, err := pgx.ParseConfig(b.src)
	require.NoError(t, err)
	require.NoError(t, b.sim.CreateSnapshot(ctx, rdssim.SnapshotRequest{ID: b.snapID, ClusterID: b.oldCluster, Database: cfg.Database}))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		require.NoError(t, b.sim.DeleteSnapshot(ctx, b.snapID))
	})
	return b
}

// netCluster restores a cluster (not through ragmigrate) in DB subnet group net-subnets with
// security groups sg-a and sg-b, and returns its id.
func (b *snapshotBundle) netCluster(t *testing.T) string {
	t.Helper()
	id := "rmtest-v1-" + stacktest.Suffix()
	b.dropRestored(t, id)
	_, err := b.rds.RestoreDBClusterFromSnapshot(stacktest.Context(t), &rds.RestoreDBClusterFromSnapshotInput{DBClusterIdentifier: aws.String(id),
		SnapshotIdentifier: aws.String(b.snapID), Engine: aws.String("aurora-postgresql"),
		DBSubnetGroupName: aws.String("net-subnets"), VpcSecurityGroupIds: []string{"sg-a", "sg-b"}})
	require.NoError(t, err)
	return id
}

// dropRestored removes what a restore into cluster id left on the shared source cluster, when the
// test does not get as far as its own cleanup.
func (b *snapshotBundle) dropRestored(t *testing.T, id string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, b.admin)
		require.NoError(t, err)
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{id}.Sanitize()+` WITH (FORCE)`)
		require.NoError(t, err)
		_, err = conn.Exec(ctx, `DROP ROLE IF EXISTS `+pgx.Identifier{id}.Sanitize())
		require.NoError(t, err)
	})
}

type restoreJSON struct {
	ClusterID string `json:"cluster_id"`
	Run       string `json:"run"`
	Endpoint  string `json:"endpoint"`
	Port      int    `json:"port"`
	Database  string `json:"database"`
	Username  string `json:"username"`
	SecretARN string `json:"secret_arn"`
	SourceDB  string `json:"source_db"`
	Reused    bool   `json:"reused"`
	Snapshot  struct {
		ID, ClusterID string
	} `json:"snapshot"`
}

func (b *snapshotBundle) restore(t *testing.T, args ...string) (result, restoreJSON) {
	t.Helper()
	r := ragmigrate(t, b.env, append([]string{"snapshot", "restore", "--json"}, args...)...)
	var out restoreJSON
	if r.code == 0 {
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &out), r.stdout)
	}
	return r, out
}

// sourceURL is the restored data's URL with the password from the RDS-managed secret, as an
// operator would put it together (or --source-secret does).
func (b *snapshotBundle) sourceURL(t *testing.T, out restoreJSON) string {
	t.Helper()
	secret, ok := b.secrets.SecretString(out.SecretARN)
	require.True(t, ok, "the secret %s is in Secrets Manager", out.SecretARN)
	var creds struct{ Username, Password string }
	require.NoError(t, json.Unmarshal([]byte(secret), &creds))
	require.Equal(t, out.Username, creds.Username)
	u, err := rdssim.SourceURL(b.admin, out.Database, creds.Password)
	require.NoError(t, err)
	require.Equal(t, strings.Replace(out.SourceDB, "@", ":"+creds.Password+"@", 1)+"?sslmode=disable", u)
	return u
}

// TestSnapshotRestoreCopyVerifyCleanup is the whole alternative path through the binary: restore
// the newest snapshot of the old cluster, copy from it, verify, clean up — and cleanup refuses
// until a verify has passed.
func TestSnapshotRestoreCopyVerifyCleanup(t *testing.T) {
	t.Parallel()
	// Nothing becomes available by itself, so the wait is always seen; the test ends it.
	b := setupSnapshot(t, time.Hour)
	id := "ragmigrate-" + b.snapID
	b.dropRestored(t, id)

	r := ragmigrate(t, b.env, "snapshot", "restore", "--latest", "--source-cluster", b.oldCluster, "--dry-run")
	require.Zero(t, r.code, r.stderr)
	require.Contains(t, r.stdout, "Would restore it into Aurora cluster "+id+": engine version 15.3, Serverless v2 0.5 to 8 ACUs")
	require.Contains(t, r.stdout, "Dry run: nothing was created.")
	_, err := b.rds.DescribeDBClusters(stacktest.Context(t), &rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String(id)})
	require.ErrorContains(t, err, "DBClusterNotFoundFault", "a dry run creates nothing")

	r = ragmigrate(t, b.env, "snapshot", "restore", "--latest", "--source-cluster", b.oldCluster)
	require.Equal(t, exitUsage, r.code, "billable: refused without --yes and without a terminal")

	cmd, stderr := startRagmigrate(t, b.env, "snapshot", "restore", "--latest", "--source-cluster", b.oldCluster, "--yes", "--db-subnet-group", "subnets", "--security-groups", "sg-1")
	require.Eventually(t, func() bool {
		return strings.Contains(stderr.String(), "cluster "+id+": creating, writer "+id+"-writer: creating (")
	}, time.Minute, 20*time.Millisecond, "the wait shows progress")
	require.NoError(t, b.sim.MakeAvailable())
	require.NoError(t, cmd.Wait(), stderr.String())
	require.Contains(t, stderr.String(), "cluster "+id+": available, writer "+id+"-writer: available")

	r = ragmigrate(t, b.env, "snapshot", "restore", "--latest", "--source-cluster", b.oldCluster, "--yes")
	require.Zero(t, r.code, r.stderr)
	require.Contains(t, r.stdout, "Cluster "+id+" is available: snapshot "+b.snapID+" of cluster "+b.oldCluster)
	require.Contains(t, r.stdout, "--source-secret arn:aws:secretsmanager:")
	require.Contains(t, r.stdout, "--source-db 'postgres://"+id+":PASSWORD@127.0.0.1:")
	desc, err := b.rds.DescribeDBClusters(stacktest.Context(t), &rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String(id)})
	require.NoError(t, err)
	c := desc.DBClusters[0]
	require.Equal(t, "subnets", aws.ToString(c.DBSubnetGroup))
	require.Equal(t, "sg-1", aws.ToString(c.VpcSecurityGroups[0].VpcSecurityGroupId))
	require.Equal(t, 8.0, aws.ToFloat64(c.ServerlessV2ScalingConfiguration.MaxCapacity))

	_, out := b.restore(t, "--latest", "--source-cluster", b.oldCluster, "--yes")
	require.True(t, out.Reused)
	src := b.sourceURL(t, out)
	u, err := url.Parse(src)
	require.NoError(t, err)
	password, _ := u.User.Password()
	require.NotContains(t, r.stdout+r.stderr, password, "the password is never printed")

	r = ragmigrate(t, b.env, "snapshot", "cleanup", "--target-db", b.dst, "--yes")
	require.Equal(t, exitFailure, r.code)
	require.Contains(t, r.stderr, "refusing to delete cluster "+id+": the target's journal records no verify of its data")

	r = ragmigrate(t, b.env, "copy", "--yes", "--source-db", src, "--target-db", b.dst)
	require.Zero(t, r.code, r.stderr)
	b.src = src
	b.requireSameItems(t)

	// A verify that finds a difference does not let cleanup delete the source of the truth.
	dst := connectTest(t, b.dst)
	_, err = dst.Exec(stacktest.Context(t), `UPDATE items SET content = 'changed' WHERE id = (SELECT min(id) FROM items)`)
	require.NoError(t, err)
	r = ragmigrate(t, b.env, "verify", "--source-db", src, "--target-db", b.dst)
	require.Equal(t, exitMismatch, r.code, r.stdout)
	r = ragmigrate(t, b.env, "snapshot", "cleanup", "--target-db", b.dst, "--yes", "--cluster-id", id)
	require.Equal(t, exitFailure, r.code)
	require.Contains(t, r.stderr, "the newest verify of its data")
	require.Contains(t, r.stderr, "found differences")

	// As restore prints it: the RDS-managed secret (username and password) and the endpoint.
	bySecret := []string{"--source-secret", out.SecretARN, "--source-db", out.SourceDB}
	r = ragmigrate(t, b.env, append([]string{"copy", "--yes", "--empty-target", "--target-db", b.dst}, bySecret...)...)
	require.Zero(t, r.code, r.stderr)
	r = ragmigrate(t, b.env, append([]string{"verify", "--target-db", b.dst}, bySecret...)...)
	require.Zero(t, r.code, r.stdout+r.stderr)
	require.NotContains(t, r.stdout+r.stderr, password, "the password is never printed")

	r = ragmigrate(t, b.env, "snapshot", "cleanup", "--target-db", b.dst)
	require.Equal(t, exitUsage, r.code, "deleting asks first")
	require.Contains(t, r.stderr, "verify passed at")
	r = ragmigrate(t, b.env, "snapshot", "cleanup", "--target-db", b.dst, "--yes")
	require.Zero(t, r.code, r.stderr)
	require.Contains(t, r.stdout, "Deleted cluster "+id+" and its writer "+id+"-writer (snapshot "+b.snapID+" stays).")
	_, err = b.rds.DescribeDBClusters(stacktest.Context(t), &rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String(id)})
	require.ErrorContains(t, err, "DBClusterNotFoundFault")
	require.Zero(t, queryInt(t, connectTest(t, b.admin), `SELECT count(*) FROM pg_database WHERE datname = $1`, id), "the restored database is gone")

	r = ragmigrate(t, b.env, "snapshot", "cleanup", "--target-db", b.dst, "--yes")
	require.Equal(t, exitFailure, r.code)
	require.Contains(t, r.stderr, "no cluster tagged ragmigrate:created-by=ragmigrate")
}

// TestSnapshotRestoreByIDIsIdempotent: a snapshot named by id restores into --cluster-id; running
// the same command again reuses that cluster (same run, one database), and another snapshot is
// not restored into it.
func TestSnapshotRestoreByIDIsIdempotent(t *testing.T) {
	t.Parallel()
	b := setupSnapshot(t, -1)
	id := "rmtest-restored-" + stacktest.Suffix()
	b.dropRestored(t, id)
	dry := ragmigrate(t, b.env, "snapshot", "restore", "--json", "--dry-run", "--snapshot", b.snapID, "--cluster-id", id)
	require.Zero(t, dry.code, dry.stderr)
	requireOnlyJSON(t, dry)
	require.Contains(t, dry.stdout, `"cluster_id": "`+id+`"`)

	r, first := b.restore(t, "--snapshot", b.snapID, "--cluster-id", id, "--yes")
	require.Zero(t, r.code, r.stderr)
	requireOnlyJSON(t, r)
	require.Equal(t, id, first.ClusterID)
	require.Equal(t, b.snapID, first.Snapshot.ID)
	require.False(t, first.Reused)

	r, again := b.restore(t, "--snapshot", b.snapID, "--cluster-id", id, "--yes")
	require.Zero(t, r.code, r.stderr)
	require.Contains(t, r.stderr, "Cluster "+id+" exists already (restored from it by run "+first.Run+"): reused.")
	require.True(t, again.Reused)
	require.Equal(t, first.Run, again.Run)
	require.Equal(t, first.SecretARN, again.SecretARN, "the secret is not made twice")
	admin := connectTest(t, b.admin)
	require.EqualValues(t, 1, queryInt(t, admin, `SELECT count(*) FROM pg_database WHERE datname = $1`, id))

	// Another restore in the same network as the first, which was given subnets and a security
	// group.
	r = ragmigrate(t, b.env, "snapshot", "restore", "--dry-run", "--snapshot", b.snapID, "--cluster-id", "rmtest-net-"+stacktest.Suffix(), "--network-from", b.netCluster(t))
	require.Zero(t, r.code, r.stderr)
	require.Contains(t, r.stdout, "DB subnet group net-subnets, security groups sg-a,sg-b")

	other := "rmtest-other-" + stacktest.Suffix()
	cfg, err := pgx.ParseConfig(b.copyBundle.src)
	require.NoError(t, err)
	require.NoError(t, b.sim.CreateSnapshot(stacktest.Context(t), rdssim.SnapshotRequest{ID: other, ClusterID: b.oldCluster, Database: cfg.Database}))
	t.Cleanup(func() { b.sim.DeleteSnapshot(context.Background(), other) })
	r, _ = b.restore(t, "--snapshot", other, "--cluster-id", id, "--yes")
	require.Equal(t, exitFailure, r.code)
	require.Contains(t, r.stderr, "an earlier run restored snapshot "+b.snapID+" there, not "+other)

	// --json: only JSON on stdout (before, the text line "Deleted cluster …").
	r = ragmigrate(t, b.env, "snapshot", "cleanup", "--cluster-id", id, "--force", "--yes", "--json")
	require.Zero(t, r.code, r.stderr)
	require.Contains(t, r.stderr, "--force: not checking for a passed verify.")
	var out struct {
		Deleted snapshot.Owned `json:"deleted"`
	}
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&out), r.stdout)
	require.Equal(t, id, out.Deleted.ClusterID)
	require.Equal(t, b.snapID, out.Deleted.Snapshot)
}

// TestSnapshotRestoreErrors: what cannot be restored is refused before anything is created, with
// the reason.
func TestSnapshotRestoreErrors(t *testing.T) {
	t.Parallel()
	b := setupSnapshot(t, -1)
	ctx := stacktest.Context(t)
	for _, tt := range []struct {
		name string
		args []string
		code int
		says string
	}{
		{"NeitherSnapshotNorLatest", nil, exitUsage, "give --snapshot ID or --latest"},
		{"Both", []string{"--snapshot", b.snapID, "--latest"}, exitUsage, "give --snapshot ID or --latest"},
		{"BadClusterID", []string{"--latest", "--cluster-id", "Bad_Name"}, exitUsage, "--cluster-id \"Bad_Name\""},
		{"UnknownSnapshot", []string{"--snapshot", "rmtest-none"}, exitFailure, "snapshot rmtest-none: not found"},
		{"NoSnapshotOfCluster", []string{"--latest", "--source-cluster", "rmtest-none"}, exitFailure, "no available aurora-postgresql snapshot of cluster rmtest-none"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := ragmigrate(t, b.env, append([]string{"snapshot", "restore", "--yes"}, tt.args...)...)
			require.Equal(t, tt.code, r.code, r.stderr)
			require.Contains(t, r.stderr, tt.says)
		})
	}

	// A snapshot still being taken is not restorable: named, or as the only one of its cluster.
	creating, cluster := "rmtest-creating-"+stacktest.Suffix(), "rmtest-busy-"+stacktest.Suffix()
	cfg, err := pgx.ParseConfig(b.copyBundle.src)
	require.NoError(t, err)
	require.NoError(t, b.sim.CreateSnapshot(ctx, rdssim.SnapshotRequest{ID: creating, ClusterID: cluster, Database: cfg.Database, Status: "creating"}))
	t.Cleanup(func() { b.sim.DeleteSnapshot(context.Background(), creating) })
	r := ragmigrate(t, b.env, "snapshot", "restore", "--yes", "--snapshot", creating)
	require.Equal(t, exitFailure, r.code)
	require.Contains(t, r.stderr, "snapshot "+creating+" is creating, not available")
	r = ragmigrate(t, b.env, "snapshot", "restore", "--yes", "--latest", "--source-cluster", cluster)
	require.Equal(t, exitFailure, r.code)
	require.Contains(t, r.stderr, "not available yet: "+creating+" (creating)")

	// A cluster ragmigrate did not create is neither restored into nor deleted.
	foreign := "rmtest-foreign-" + stacktest.Suffix()
	b.dropRestored(t, foreign)
	_, err = b.rds.RestoreDBClusterFromSnapshot(ctx, &rds.RestoreDBClusterFromSnapshotInput{DBClusterIdentifier: aws.String(foreign),
		SnapshotIdentifier: aws.String(b.snapID), Engine: aws.String("aurora-postgresql")})
	require.NoError(t, err)
	r = ragmigrate(t, b.env, "snapshot", "restore", "--yes", "--snapshot", b.snapID, "--cluster-id", foreign)
	require.Equal(t, exitFailure, r.code)
	require.Contains(t, r.stderr, "cluster "+foreign+" has no tag ragmigrate:created-by=ragmigrate")
	r = ragmigrate(t, b.env, "snapshot", "cleanup", "--cluster-id", foreign, "--force", "--yes")
	require.Equal(t, exitFailure, r.code)
	require.Contains(t, r.stderr, "refusing to delete cluster "+foreign+": cluster "+foreign+" has no tag ragmigrate:created-by=ragmigrate")
	_, err = b.rds.DescribeDBClusters(ctx, &rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String(foreign)})
	require.NoError(t, err, "still there")
}

// TestSnapshotRestoreInterrupted: Ctrl-C while the cluster is being created says what is left and
// how to go on; cleanup --force of that half-created cluster waits until RDS lets it delete; after
// another interrupt, a re-run reuses the cluster and finishes it.
func TestSnapshotRestoreInterrupted(t *testing.T) {
	t.Parallel()
	// Nothing becomes available by itself: the interrupt always lands mid-wait.
	b := setupSnapshot(t, time.Hour)
	id := "ragmigrate-" + b.snapID
	b.dropRestored(t, id)
	interrupt := func() {
		t.Helper()
		cmd, stderr := startRagmigrate(t, b.env, "snapshot", "restore", "--snapshot", b.snapID, "--yes")
		require.Eventually(t, func() bool { return strings.Contains(stderr.String(), ": creating (") }, time.Minute, 20*time.Millisecond)
		require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
		require.Error(t, cmd.Wait())
		require.Equal(t, exitInterrupted, cmd.ProcessState.ExitCode(), stderr.String())
		require.Contains(t, stderr.String(), "interrupted: cluster "+id+" goes on being created (and billed) in AWS: run the same 'ragmigrate snapshot restore' again to wait for it and finish, or delete it with 'ragmigrate snapshot cleanup --cluster-id "+id+" --force' (when interrupted, after ")
		require.NotContains(t, stderr.String(), "context canceled", "the message says what stopped, not how")
	}

	interrupt()
	// Ctrl-C while cleanup waits for RDS to let it delete: it says the cluster is not deleted yet
	// and how to finish.
	cmd, stderr := startRagmigrate(t, b.env, "snapshot", "cleanup", "--cluster-id", id, "--force", "--yes")
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "not deletable yet") }, time.Minute, 20*time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	require.Error(t, cmd.Wait())
	require.Equal(t, exitInterrupted, cmd.ProcessState.ExitCode(), stderr.String())
	require.Contains(t, stderr.String(), "interrupted: cluster "+id+" is not deleted yet: run 'ragmigrate snapshot cleanup --cluster-id "+id+"' again, with the same --target-db or --force, to finish\n")
	require.NotContains(t, stderr.String(), "context canceled")

	cmd, stderr = startRagmigrate(t, b.env, "snapshot", "cleanup", "--cluster-id", id, "--force", "--yes")
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "not deletable yet") }, time.Minute, 20*time.Millisecond)
	require.NoError(t, b.sim.MakeAvailable())
	require.NoError(t, cmd.Wait(), stderr.String())
	_, err := b.rds.DescribeDBClusters(stacktest.Context(t), &rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String(id)})
	require.ErrorContains(t, err, "DBClusterNotFoundFault")

	interrupt()
	require.NoError(t, b.sim.MakeAvailable())
	r, out := b.restore(t, "--snapshot", b.snapID, "--yes")
	require.Zero(t, r.code, r.stderr)
	require.True(t, out.Reused)
	b.sourceURL(t, out)
	r = ragmigrate(t, b.env, "snapshot", "cleanup", "--cluster-id", id, "--force", "--yes")
	require.Zero(t, r.code, r.stderr)
}

// TestSnapshotLogFormatJSON: under --log-format json every line restore and cleanup write on
// stderr is a JSON log record — the plan, the wait, what cleanup found and each deletion step —
// as for every other command (they were sentences before, which a log shipper cannot parse).
func TestSnapshotLogFormatJSON(t *testing.T) {
	t.Parallel()
	b := setupSnapshot(t, 0)
	id := "ragmigrate-" + b.snapID
	b.dropRestored(t, id)

	r := ragmigrate(t, b.env, "snapshot", "restore", "--snapshot", b.snapID, "--yes", "--log-format", "json")
	require.Zero(t, r.code, r.stderr)
	requireOwnStderr(t, r, true, "snapshot restore")
	require.Contains(t, r.stderr, `"msg":"restore plan"`)
	require.Contains(t, r.stderr, `"msg":"waiting for the restored cluster","cluster":"`+id+`"`)
	require.Contains(t, r.stderr, `"cluster_status":"available"`)

	r = ragmigrate(t, b.env, "snapshot", "cleanup", "--cluster-id", id, "--force", "--yes", "--log-format", "json")
	require.Zero(t, r.code, r.stderr)
	requireOwnStderr(t, r, true, "snapshot cleanup")
	require.Contains(t, r.stderr, `"msg":"restored cluster","cluster":"`+id+`"`)
	require.Contains(t, r.stderr, `"msg":"not checking for a passed verify","because":"--force"`)
	require.Contains(t, r.stderr, `"msg":"deleting the restored cluster","step":"cluster `+id+`: deleting"`)
}
