// Package snapshot restores a snapshot of the old Aurora cluster into a temporary cluster that
// copy and verify can read, and deletes that cluster again: the guide's alternative to
// re-embedding, without the old master password.
//
// # Overview
//
// Prepare resolves the snapshot (one named, or the newest available one of the old cluster) and
// finds out whether an earlier run already restored it. Restore then calls
// RestoreDBClusterFromSnapshot with the snapshot's engine version and a Serverless v2 scaling
// configuration, CreateDBInstance for a db.serverless writer, waits until both are available,
// and asks for an RDS-managed master user secret (ModifyDBCluster ManageMasterUserPassword),
// whose username and password connect to the restored data. Every resource is tagged
// (TagCreatedBy), so that a re-run reuses what it finds instead of paying twice, and Delete only
// ever removes what this package created.
package snapshot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/rds/types"
)

// Tags ragmigrate puts on what it creates.
const (
	TagCreatedBy      = "ragmigrate:created-by"
	TagCreatedByValue = "ragmigrate"
	TagRun            = "ragmigrate:run"
	TagSnapshot       = "ragmigrate:snapshot"
)

// Engine is Bedrock Chat's Aurora engine.
const Engine = "aurora-postgresql"

// WriterClass is the Serverless v2 instance class.
const WriterClass = "db.serverless"

// RDS is what this package needs from the RDS API (*rds.Client).
type RDS interface {
	DescribeDBClusterSnapshots(context.Context, *rds.DescribeDBClusterSnapshotsInput, ...func(*rds.Options)) (*rds.DescribeDBClusterSnapshotsOutput, error)
	RestoreDBClusterFromSnapshot(context.Context, *rds.RestoreDBClusterFromSnapshotInput, ...func(*rds.Options)) (*rds.RestoreDBClusterFromSnapshotOutput, error)
	CreateDBInstance(context.Context, *rds.CreateDBInstanceInput, ...func(*rds.Options)) (*rds.CreateDBInstanceOutput, error)
	DescribeDBClusters(context.Context, *rds.DescribeDBClustersInput, ...func(*rds.Options)) (*rds.DescribeDBClustersOutput, error)
	DescribeDBInstances(context.Context, *rds.DescribeDBInstancesInput, ...func(*rds.Options)) (*rds.DescribeDBInstancesOutput, error)
	ModifyDBCluster(context.Context, *rds.ModifyDBClusterInput, ...func(*rds.Options)) (*rds.ModifyDBClusterOutput, error)
	DeleteDBInstance(context.Context, *rds.DeleteDBInstanceInput, ...func(*rds.Options)) (*rds.DeleteDBInstanceOutput, error)
	DeleteDBCluster(context.Context, *rds.DeleteDBClusterInput, ...func(*rds.Options)) (*rds.DeleteDBClusterOutput, error)
}

// RestoreInput is what to restore, and where. The command fills it from flags, or from the
// stack's outputs (--stack).
type RestoreInput struct {
	// Snapshot is a snapshot identifier or ARN; empty with Latest.
	Snapshot string
	// Latest picks the newest available snapshot of SourceCluster (of any cluster when empty).
	Latest bool
	// SourceCluster is the old cluster's identifier.
	SourceCluster string
	// SubnetGroup is the DB subnet group the restored cluster goes into (the stack's).
	SubnetGroup string
	// SecurityGroups are VPC security groups for the restored cluster: one the machine running
	// copy can reach it through (the embedding task's).
	SecurityGroups []string
	// NetworkFrom names a cluster (typically the new v1 one, in the same VPC) whose DB subnet
	// group and security groups the restored cluster gets where SubnetGroup or SecurityGroups
	// are not given.
	NetworkFrom string
	// ClusterID names the restored cluster; default ClusterIDFor(snapshot).
	ClusterID string
	// MinACU and MaxACU are the Serverless v2 capacity range.
	MinACU, MaxACU float64
}

// Snapshot is the snapshot a restore starts from.
type Snapshot struct {
	ID            string    `json:"id"`
	ARN           string    `json:"arn"`
	ClusterID     string    `json:"cluster_id"`
	Type          string    `json:"type"`
	EngineVersion string    `json:"engine_version"`
	Created       time.Time `json:"created"`
}

// Plan is what Restore will do.
type Plan struct {
	Input      RestoreInput `json:"-"`
	Snapshot   Snapshot     `json:"snapshot"`
	ClusterID  string       `json:"cluster_id"`
	InstanceID string       `json:"instance_id"`
	// ClusterExists and InstanceExists say what an earlier run already created (with our tag);
	// Restore reuses it.
	ClusterExists  bool `json:"cluster_exists"`
	InstanceExists bool `json:"instance_exists"`
	// Run is the run id the restored resources are tagged with (the earlier run's on reuse).
	Run string `json:"run"`
}

// Creates reports whether Restore will create anything billable.
func (p *Plan) Creates() bool { return !p.ClusterExists || !p.InstanceExists }

// ErrNotOurs is returned (wrapped) for a cluster that ragmigrate did not create.
var ErrNotOurs = errors.New("not created by ragmigrate")

// NotOursError names the cluster and the tag it lacks.
type NotOursError struct{ ClusterID string }

func (e *NotOursError) Error() string {
	return fmt.Sprintf("cluster %s has no tag %s=%s, so ragmigrate did not create it", e.ClusterID, TagCreatedBy, TagCreatedByValue)
}
func (e *NotOursError) Unwrap() error { return ErrNotOurs }

// ClusterIDFor is the default name of the cluster a snapshot is restored into: the same for every
// run, so that a re-run finds the cluster an interrupted one left.
func ClusterIDFor(snapshotID string) string {
	var b strings.Builder
	b.WriteString("ragmigrate-")
	for _, r := range strings.ToLower(snapshotID) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	// 63 is RDS's limit; leave room for the writer's "-writer".
	return strings.TrimRight(truncate(b.String(), 63-len("-writer")), "-")
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// ValidIdentifier checks RDS's rule for cluster identifiers.
func ValidIdentifier(id string) error {
	ok := len(id) >= 1 && len(id) <= 63-len("-writer") && id[0] >= 'a' && id[0] <= 'z' && !strings.Contains(id, "--") && !strings.HasSuffix(id, "-")
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("%q: want 1 to %d lowercase letters, digits or hyphens, starting with a letter, without two hyphens in a row or one at the end", id, 63-len("-writer"))
	}
	return nil
}

// Prepare resolves the snapshot and what an earlier run left.
func Prepare(ctx context.Context, api RDS, in RestoreInput, newRun func() string) (*Plan, error) {
	sn, err := resolveSnapshot(ctx, api, in)
	if err != nil {
		return nil, err
	}
	if in.NetworkFrom != "" {
		c, err := describeCluster(ctx, api, in.NetworkFrom)
		if err != nil {
			return nil, err
		}
		if c == nil {
			return nil, fmt.Errorf("--network-from cluster %s: not found (DescribeDBClusters)", in.NetworkFrom)
		}
		if in.SubnetGroup == "" {
			in.SubnetGroup = aws.ToString(c.DBSubnetGroup)
		}
		if len(in.SecurityGroups) == 0 {
			for _, sg := range c.VpcSecurityGroups {
				in.SecurityGroups = append(in.SecurityGroups, aws.ToString(sg.VpcSecurityGroupId))
			}
		}
	}
	p := &Plan{Input: in, Snapshot: *sn, ClusterID: in.ClusterID}
	if p.ClusterID == "" {
		p.ClusterID = ClusterIDFor(sn.ID)
	}
	p.InstanceID = p.ClusterID + "-writer"
	c, err := describeCluster(ctx, api, p.ClusterID)
	if err != nil {
		return nil, err
	}
	if c != nil {
		tags := tagMap(c.TagList)
		if tags[TagCreatedBy] != TagCreatedByValue {
			return nil, fmt.Errorf("restore into cluster %s: it exists already and %w: give another --cluster-id", p.ClusterID, &NotOursError{p.ClusterID})
		}
		if from := tags[TagSnapshot]; from != sn.ID {
			return nil, fmt.Errorf("restore into cluster %s: an earlier run restored snapshot %s there, not %s: give another --cluster-id, or delete it with 'ragmigrate snapshot cleanup --cluster-id %s'", p.ClusterID, from, sn.ID, p.ClusterID)
		}
		p.ClusterExists, p.Run = true, tags[TagRun]
		for _, m := range c.DBClusterMembers {
			if aws.ToString(m.DBInstanceIdentifier) == p.InstanceID {
				p.InstanceExists = true
			}
		}
	}
	if p.Run == "" {
		p.Run = newRun()
	}
	return p, nil
}

func resolveSnapshot(ctx context.Context, api RDS, in RestoreInput) (*Snapshot, error) {
	if !in.Latest {
		out, err := api.DescribeDBClusterSnapshots(ctx, &rds.DescribeDBClusterSnapshotsInput{DBClusterSnapshotIdentifier: aws.String(in.Snapshot)})
		var nf *types.DBClusterSnapshotNotFoundFault
		if errors.As(err, &nf) || err == nil && len(out.DBClusterSnapshots) == 0 {
			return nil, fmt.Errorf("snapshot %s: not found (DescribeDBClusterSnapshots); '--latest' picks the newest one", in.Snapshot)
		}
		if err != nil {
			return nil, fmt.Errorf("describe snapshot %s: %w", in.Snapshot, err)
		}
		s := out.DBClusterSnapshots[0]
		if st := aws.ToString(s.Status); st != "available" {
			return nil, fmt.Errorf("snapshot %s is %s, not available: restore it once it is", in.Snapshot, st)
		}
		return toSnapshot(s), nil
	}
	input := &rds.DescribeDBClusterSnapshotsInput{}
	scope := "any cluster"
	if in.SourceCluster != "" {
		input.DBClusterIdentifier = aws.String(in.SourceCluster)
		scope = "cluster " + in.SourceCluster
	}
	var all []types.DBClusterSnapshot
	pages := rds.NewDescribeDBClusterSnapshotsPaginator(api, input)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe snapshots of %s: %w", scope, err)
		}
		all = append(all, page.DBClusterSnapshots...)
	}
	var usable []types.DBClusterSnapshot
	var other []string
	for _, s := range all {
		switch {
		case aws.ToString(s.Engine) != Engine:
		case aws.ToString(s.Status) == "available":
			usable = append(usable, s)
		default:
			other = append(other, fmt.Sprintf("%s (%s)", aws.ToString(s.DBClusterSnapshotIdentifier), aws.ToString(s.Status)))
		}
	}
	if len(usable) == 0 {
		msg := fmt.Sprintf("no available %s snapshot of %s", Engine, scope)
		if len(other) > 0 {
			msg += "; not available yet: " + strings.Join(other, ", ")
		}
		return nil, errors.New(msg)
	}
	sort.SliceStable(usable, func(i, j int) bool {
		return aws.ToTime(usable[i].SnapshotCreateTime).After(aws.ToTime(usable[j].SnapshotCreateTime))
	})
	return toSnapshot(usable[0]), nil
}

func toSnapshot(s types.DBClusterSnapshot) *Snapshot {
	return &Snapshot{ID: aws.ToString(s.DBClusterSnapshotIdentifier), ARN: aws.ToString(s.DBClusterSnapshotArn), ClusterID: aws.ToString(s.DBClusterIdentifier),
		Type: aws.ToString(s.SnapshotType), EngineVersion: aws.ToString(s.EngineVersion), Created: aws.ToTime(s.SnapshotCreateTime)}
}

func describeCluster(ctx context.Context, api RDS, id string) (*types.DBCluster, error) {
	out, err := api.DescribeDBClusters(ctx, &rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String(id)})
	var nf *types.DBClusterNotFoundFault
	if errors.As(err, &nf) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("describe cluster %s: %w", id, err)
	}
	if len(out.DBClusters) == 0 {
		return nil, nil
	}
	return &out.DBClusters[0], nil
}

func tagMap(tags []types.Tag) map[string]string {
	m := map[string]string{}
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

// Restored is a restored cluster ready to be read.
type Restored struct {
	ClusterID     string   `json:"cluster_id"`
	Snapshot      Snapshot `json:"snapshot"`
	Run           string   `json:"run"`
	EngineVersion string   `json:"engine_version"`
	Endpoint      string   `json:"endpoint"`
	Port          int      `json:"port"`
	Database      string   `json:"database"`
	Username      string   `json:"username"`
	// SecretARN is the RDS-managed secret holding the master user's username and password.
	SecretARN string `json:"secret_arn"`
	// Reused says an earlier run had created the cluster.
	Reused bool `json:"reused"`
}

// Status is what Restore reports while it waits.
type Status struct {
	Cluster, Instance string
	Elapsed           time.Duration
}

// Restore creates what the plan says is missing, waits until it is available, and makes sure the
// cluster has an RDS-managed secret. report is called after every poll. When ctx ends while
// waiting, what was asked for goes on being created in AWS: a re-run with the same plan reuses
// it, Delete removes it.
func Restore(ctx context.Context, api RDS, p *Plan, report func(Status)) (*Restored, error) {
	tags := []types.Tag{
		{Key: aws.String(TagCreatedBy), Value: aws.String(TagCreatedByValue)},
		{Key: aws.String(TagRun), Value: aws.String(p.Run)},
		{Key: aws.String(TagSnapshot), Value: aws.String(p.Snapshot.ID)},
	}
	if !p.ClusterExists {
		in := &rds.RestoreDBClusterFromSnapshotInput{
			DBClusterIdentifier: aws.String(p.ClusterID),
			// The ARN names a snapshot shared from another account too; the identifier does not.
			SnapshotIdentifier: aws.String(cmp.Or(p.Snapshot.ARN, p.Snapshot.ID)),
			Engine:             aws.String(Engine),
			// The snapshot's own version: restoring to another one is an upgrade, not a copy.
			EngineVersion: aws.String(p.Snapshot.EngineVersion),
			ServerlessV2ScalingConfiguration: &types.ServerlessV2ScalingConfiguration{
				MinCapacity: aws.Float64(p.Input.MinACU), MaxCapacity: aws.Float64(p.Input.MaxACU)},
			VpcSecurityGroupIds: p.Input.SecurityGroups,
			Tags:                tags,
			CopyTagsToSnapshot:  aws.Bool(true),
			DeletionProtection:  aws.Bool(false),
		}
		if p.Input.SubnetGroup != "" {
			in.DBSubnetGroupName = aws.String(p.Input.SubnetGroup)
		}
		if _, err := api.RestoreDBClusterFromSnapshot(ctx, in); err != nil {
			return nil, fmt.Errorf("restore snapshot %s into cluster %s: %w", p.Snapshot.ID, p.ClusterID, err)
		}
		p.ClusterExists = true
	}
	if !p.InstanceExists {
		_, err := api.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{
			DBInstanceIdentifier: aws.String(p.InstanceID),
			DBClusterIdentifier:  aws.String(p.ClusterID),
			DBInstanceClass:      aws.String(WriterClass),
			Engine:               aws.String(Engine),
			PubliclyAccessible:   aws.Bool(false),
			Tags:                 tags,
		})
		var exists *types.DBInstanceAlreadyExistsFault
		if err != nil && !errors.As(err, &exists) {
			return nil, fmt.Errorf("create writer %s of cluster %s: %w", p.InstanceID, p.ClusterID, err)
		}
		p.InstanceExists = true
	}
	start := time.Now()
	c, err := waitFor(ctx, api, p, start, report, func(c *types.DBCluster, instance string) bool {
		return aws.ToString(c.Status) == "available" && instance == "available"
	})
	if err != nil {
		return nil, err
	}
	if c.MasterUserSecret == nil || aws.ToString(c.MasterUserSecret.SecretArn) == "" {
		if ctx.Err() != nil {
			return nil, &WaitError{p.ClusterID, Status{Cluster: aws.ToString(c.Status), Instance: "available"}, ctx.Err()}
		}
		if _, err := api.ModifyDBCluster(ctx, &rds.ModifyDBClusterInput{
			DBClusterIdentifier: aws.String(p.ClusterID), ManageMasterUserPassword: aws.Bool(true), ApplyImmediately: aws.Bool(true),
		}); err != nil {
			return nil, fmt.Errorf("give cluster %s an RDS-managed master user secret: %w", p.ClusterID, err)
		}
		// The secret is written while the cluster is "modifying"; it is usable once the cluster is
		// available again with the secret active.
		c, err = waitFor(ctx, api, p, start, report, func(c *types.DBCluster, instance string) bool {
			s := c.MasterUserSecret
			return aws.ToString(c.Status) == "available" && instance == "available" &&
				s != nil && aws.ToString(s.SecretArn) != "" && aws.ToString(s.SecretStatus) == "active"
		})
		if err != nil {
			return nil, err
		}
	}
	db := aws.ToString(c.DatabaseName)
	if db == "" {
		db = "postgres" // Bedrock Chat's defaultDatabaseName, kept by the snapshot
	}
	return &Restored{ClusterID: p.ClusterID, Snapshot: p.Snapshot, Run: p.Run, EngineVersion: aws.ToString(c.EngineVersion),
		Endpoint: aws.ToString(c.Endpoint), Port: int(aws.ToInt32(c.Port)), Database: db, Username: aws.ToString(c.MasterUsername),
		SecretARN: aws.ToString(c.MasterUserSecret.SecretArn)}, nil
}

// WaitError is returned when the wait for the restored cluster ends before it is ready.
type WaitError struct {
	ClusterID string
	Last      Status
	Err       error
}

func (e *WaitError) Error() string {
	return fmt.Sprintf("wait for cluster %s (cluster %s, writer %s after %s): %v", e.ClusterID, e.Last.Cluster, e.Last.Instance,
		e.Last.Elapsed.Round(time.Second), e.Err)
}
func (e *WaitError) Unwrap() error { return e.Err }

// waitFor polls the cluster and its writer until done says so, backing off from a quarter of a
// second to ten seconds: a local double answers in seconds, Aurora in minutes.
func waitFor(ctx context.Context, api RDS, p *Plan, start time.Time, report func(Status), done func(*types.DBCluster, string) bool) (*types.DBCluster, error) {
	var last Status
	for wait := 250 * time.Millisecond; ; wait = min(2*wait, 10*time.Second) {
		c, err := describeCluster(ctx, api, p.ClusterID)
		if err != nil {
			return nil, &WaitError{p.ClusterID, last, err}
		}
		if c == nil {
			return nil, fmt.Errorf("wait for cluster %s: it no longer exists", p.ClusterID)
		}
		instance := "missing"
		out, err := api.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(p.InstanceID)})
		var nf *types.DBInstanceNotFoundFault
		switch {
		case errors.As(err, &nf):
		case err != nil:
			return nil, &WaitError{p.ClusterID, last, err}
		case len(out.DBInstances) > 0:
			instance = aws.ToString(out.DBInstances[0].DBInstanceStatus)
		}
		last = Status{Cluster: aws.ToString(c.Status), Instance: instance, Elapsed: time.Since(start)}
		if report != nil {
			report(last)
		}
		if done(c, instance) {
			return c, nil
		}
		if instance == "missing" || failed(last.Cluster) || failed(instance) {
			return nil, fmt.Errorf("cluster %s is %s and its writer %s %s: it will not become available by waiting; delete it with 'ragmigrate snapshot cleanup --cluster-id %s --force'",
				p.ClusterID, last.Cluster, p.InstanceID, instance, p.ClusterID)
		}
		select {
		case <-ctx.Done():
			return nil, &WaitError{p.ClusterID, last, ctx.Err()}
		case <-time.After(wait):
		}
	}
}

// failed says a status is one RDS does not leave by itself.
func failed(status string) bool {
	switch status {
	case "failed", "inaccessible-encryption-credentials", "incompatible-restore", "incompatible-parameters", "deleting", "stopped":
		return true
	}
	return false
}
