package rdssim_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/awsclient"
	"github.com/ragmigrate/ragmigrate/internal/dev/rdssim"
	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
)

// TestRestoreLifecycle drives the server with the real SDK client: a snapshot of a database
// restores into a new database holding the same rows, reachable with the RDS-managed secret's
// credentials; the modeled faults arrive as the SDK's types; deleting the cluster removes the
// database and its role.
func TestRestoreLifecycle(t *testing.T) {
	t.Parallel()
	ctx := stacktest.Context(t)
	admin := stacktest.Getenv(t, "RAGMIGRATE_SOURCE_DB")
	src := stacktest.Database(t, "RAGMIGRATE_SOURCE_DB")
	conn, err := pgx.Connect(ctx, src)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `CREATE TABLE items (id text PRIMARY KEY, content text); INSERT INTO items VALUES ('a', 'alpha'), ('b', 'beta')`)
	require.NoError(t, err)
	conn.Close(ctx)

	secrets := &rdssim.MemorySecrets{}
	dir := t.TempDir()
	sim, err := rdssim.New(rdssim.Options{AdminURL: admin, Dir: dir, Secrets: secrets, Delay: time.Hour})
	require.NoError(t, err)
	endpoint := stacktest.AWSServer(t, sim.Register)
	clients, err := awsclient.Load(ctx, awsclient.Options{Region: "us-east-1"})
	require.NoError(t, err)
	client := rds.NewFromConfig(clients.Config, func(o *rds.Options) { o.BaseEndpoint = aws.String(endpoint) })

	suffix := stacktest.Suffix()
	snapID, clusterID := "rmtest-snap-"+suffix, "rmtest-restored-"+suffix
	dbName := mustDB(t, src)
	require.NoError(t, sim.CreateSnapshot(ctx, rdssim.SnapshotRequest{ID: snapID, ClusterID: "old-" + suffix, Database: dbName}))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		client.DeleteDBInstance(ctx, &rds.DeleteDBInstanceInput{DBInstanceIdentifier: aws.String(clusterID + "-writer"), SkipFinalSnapshot: aws.Bool(true)})
		client.DeleteDBCluster(ctx, &rds.DeleteDBClusterInput{DBClusterIdentifier: aws.String(clusterID), SkipFinalSnapshot: aws.Bool(true)})
		require.NoError(t, sim.DeleteSnapshot(ctx, snapID))
	})

	snaps, err := client.DescribeDBClusterSnapshots(ctx, &rds.DescribeDBClusterSnapshotsInput{DBClusterIdentifier: aws.String("old-" + suffix)})
	require.NoError(t, err)
	require.Len(t, snaps.DBClusterSnapshots, 1)
	sn := snaps.DBClusterSnapshots[0]
	require.Equal(t, snapID, aws.ToString(sn.DBClusterSnapshotIdentifier))
	require.Equal(t, "available", aws.ToString(sn.Status))
	require.Equal(t, "15.3", aws.ToString(sn.EngineVersion))
	require.Equal(t, "manual", aws.ToString(sn.SnapshotType))
	require.False(t, aws.ToTime(sn.SnapshotCreateTime).IsZero())

	_, err = client.DescribeDBClusterSnapshots(ctx, &rds.DescribeDBClusterSnapshotsInput{DBClusterSnapshotIdentifier: aws.String("rmtest-none-" + suffix)})
	var snapNotFound *types.DBClusterSnapshotNotFoundFault
	require.ErrorAs(t, err, &snapNotFound)

	restore := &rds.RestoreDBClusterFromSnapshotInput{
		DBClusterIdentifier: aws.String(clusterID), SnapshotIdentifier: aws.String(snapID),
		Engine: aws.String("aurora-postgresql"), EngineVersion: sn.EngineVersion,
		DBSubnetGroupName: aws.String("subnets"), VpcSecurityGroupIds: []string{"sg-1", "sg-2"},
		ServerlessV2ScalingConfiguration: &types.ServerlessV2ScalingConfiguration{MinCapacity: aws.Float64(0.5), MaxCapacity: aws.Float64(4)},
		Tags:                             []types.Tag{{Key: aws.String("ragmigrate:created-by"), Value: aws.String("ragmigrate")}},
	}
	out, err := client.RestoreDBClusterFromSnapshot(ctx, restore)
	require.NoError(t, err)
	require.Equal(t, "creating", aws.ToString(out.DBCluster.Status))
	require.Equal(t, []types.VpcSecurityGroupMembership{{VpcSecurityGroupId: aws.String("sg-1"), Status: aws.String("active")},
		{VpcSecurityGroupId: aws.String("sg-2"), Status: aws.String("active")}}, out.DBCluster.VpcSecurityGroups)
	require.Equal(t, 4.0, aws.ToFloat64(out.DBCluster.ServerlessV2ScalingConfiguration.MaxCapacity))

	_, err = client.RestoreDBClusterFromSnapshot(ctx, restore)
	var exists *types.DBClusterAlreadyExistsFault
	require.ErrorAs(t, err, &exists)

	_, err = client.ModifyDBCluster(ctx, &rds.ModifyDBClusterInput{DBClusterIdentifier: aws.String(clusterID), ManageMasterUserPassword: aws.Bool(true)})
	var badState *types.InvalidDBClusterStateFault
	require.ErrorAs(t, err, &badState, "the cluster is still creating")

	_, err = client.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{DBInstanceIdentifier: aws.String(clusterID + "-writer"),
		DBClusterIdentifier: aws.String(clusterID), DBInstanceClass: aws.String("db.serverless"), Engine: aws.String("aurora-postgresql")})
	require.NoError(t, err)

	// Nothing is available until the test says so; then the SDK's own waiters, polling
	// DescribeDBClusters/DescribeDBInstances, see "available".
	out2, err := client.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(clusterID + "-writer")})
	require.NoError(t, err)
	require.Equal(t, "creating", aws.ToString(out2.DBInstances[0].DBInstanceStatus))
	require.NoError(t, sim.MakeAvailable())
	require.NoError(t, rds.NewDBClusterAvailableWaiter(client, func(o *rds.DBClusterAvailableWaiterOptions) { o.MinDelay = 100 * time.Millisecond }).
		Wait(ctx, &rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String(clusterID)}, time.Minute))
	require.NoError(t, rds.NewDBInstanceAvailableWaiter(client, func(o *rds.DBInstanceAvailableWaiterOptions) { o.MinDelay = 100 * time.Millisecond }).
		Wait(ctx, &rds.DescribeDBInstancesInput{Filters: []types.Filter{{Name: aws.String("db-cluster-id"), Values: []string{clusterID}}}}, time.Minute))

	mod, err := client.ModifyDBCluster(ctx, &rds.ModifyDBClusterInput{DBClusterIdentifier: aws.String(clusterID), ManageMasterUserPassword: aws.Bool(true), ApplyImmediately: aws.Bool(true)})
	require.NoError(t, err)
	arn := aws.ToString(mod.DBCluster.MasterUserSecret.SecretArn)
	secret, ok := secrets.SecretString(arn)
	require.True(t, ok, arn)
	var creds struct{ Username, Password string }
	require.NoError(t, json.Unmarshal([]byte(secret), &creds))

	desc, err := client.DescribeDBClusters(ctx, &rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String(clusterID)})
	require.NoError(t, err)
	c := desc.DBClusters[0]
	require.Equal(t, arn, aws.ToString(c.MasterUserSecret.SecretArn))
	require.Len(t, c.DBClusterMembers, 1)
	require.True(t, aws.ToBool(c.DBClusterMembers[0].IsClusterWriter))

	restoredURL, err := rdssim.SourceURL(admin, aws.ToString(c.DatabaseName), creds.Password)
	require.NoError(t, err)
	rc, err := pgx.Connect(ctx, restoredURL)
	require.NoError(t, err)
	var n int
	require.NoError(t, rc.QueryRow(ctx, `SELECT count(*) FROM items`).Scan(&n))
	require.Equal(t, 2, n)
	rc.Close(ctx)

	tags, err := client.ListTagsForResource(ctx, &rds.ListTagsForResourceInput{ResourceName: c.DBClusterArn})
	require.NoError(t, err)
	require.Equal(t, []types.Tag{{Key: aws.String("ragmigrate:created-by"), Value: aws.String("ragmigrate")}}, tags.TagList)

	_, err = client.DeleteDBCluster(ctx, &rds.DeleteDBClusterInput{DBClusterIdentifier: aws.String(clusterID), SkipFinalSnapshot: aws.Bool(true)})
	require.ErrorAs(t, err, &badState, "the writer is still there")
	_, err = client.DeleteDBInstance(ctx, &rds.DeleteDBInstanceInput{DBInstanceIdentifier: aws.String(clusterID + "-writer"), SkipFinalSnapshot: aws.Bool(true)})
	require.NoError(t, err)
	_, err = client.DeleteDBCluster(ctx, &rds.DeleteDBClusterInput{DBClusterIdentifier: aws.String(clusterID), SkipFinalSnapshot: aws.Bool(true)})
	require.NoError(t, err)
	_, err = client.DescribeDBClusters(ctx, &rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String(clusterID)})
	var clusterNotFound *types.DBClusterNotFoundFault
	require.ErrorAs(t, err, &clusterNotFound)

	// The state survives a restart of the server.
	again, err := rdssim.New(rdssim.Options{AdminURL: admin, Dir: dir, Secrets: secrets})
	require.NoError(t, err)
	endpoint2 := stacktest.AWSServer(t, again.Register)
	client2 := rds.NewFromConfig(clients.Config, func(o *rds.Options) { o.BaseEndpoint = aws.String(endpoint2) })
	snaps, err = client2.DescribeDBClusterSnapshots(ctx, &rds.DescribeDBClusterSnapshotsInput{DBClusterSnapshotIdentifier: aws.String(snapID)})
	require.NoError(t, err)
	require.Len(t, snaps.DBClusterSnapshots, 1)

	ac, err := pgx.Connect(ctx, admin)
	require.NoError(t, err)
	defer ac.Close(ctx)
	var left int
	require.NoError(t, ac.QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_database WHERE datname = $1) + (SELECT count(*) FROM pg_roles WHERE rolname = $1)`, clusterID).Scan(&left))
	require.Zero(t, left, "the database and the role are gone")
}

func mustDB(t *testing.T, u string) string {
	cfg, err := pgx.ParseConfig(u)
	require.NoError(t, err)
	return cfg.Database
}
