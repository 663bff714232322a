package snapshot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/rds/types"
)

// Owned is a cluster 'snapshot restore' created.
type Owned struct {
	ClusterID string   `json:"cluster_id"`
	Snapshot  string   `json:"snapshot"`
	Run       string   `json:"run"`
	Status    string   `json:"status"`
	Endpoint  string   `json:"endpoint"`
	Port      int      `json:"port"`
	Database  string   `json:"database"`
	Instances []string `json:"instances"`
}

// FindOwned returns the cluster id, which must carry TagCreatedBy; with id empty, the one
// cluster that does (several are an error that lists them).
func FindOwned(ctx context.Context, api RDS, id string) (*Owned, error) {
	if id != "" {
		c, err := describeCluster(ctx, api, id)
		if err != nil {
			return nil, err
		}
		if c == nil {
			return nil, fmt.Errorf("cluster %s: not found (DescribeDBClusters)", id)
		}
		if tagMap(c.TagList)[TagCreatedBy] != TagCreatedByValue {
			return nil, fmt.Errorf("refusing to delete cluster %s: %w", id, &NotOursError{id})
		}
		return owned(*c), nil
	}
	var mine []*Owned
	pages := rds.NewDescribeDBClustersPaginator(api, &rds.DescribeDBClustersInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe clusters: %w", err)
		}
		for _, c := range page.DBClusters {
			if tagMap(c.TagList)[TagCreatedBy] == TagCreatedByValue {
				mine = append(mine, owned(c))
			}
		}
	}
	switch len(mine) {
	case 0:
		return nil, fmt.Errorf("no cluster tagged %s=%s: nothing 'snapshot restore' created is left", TagCreatedBy, TagCreatedByValue)
	case 1:
		return mine[0], nil
	}
	ids := make([]string, len(mine))
	for i, o := range mine {
		ids[i] = o.ClusterID
	}
	return nil, fmt.Errorf("%d clusters were created by 'snapshot restore' (%s): name one with --cluster-id", len(mine), strings.Join(ids, ", "))
}

func owned(c types.DBCluster) *Owned {
	tags := tagMap(c.TagList)
	o := &Owned{ClusterID: aws.ToString(c.DBClusterIdentifier), Snapshot: tags[TagSnapshot], Run: tags[TagRun],
		Status: aws.ToString(c.Status), Endpoint: aws.ToString(c.Endpoint), Port: int(aws.ToInt32(c.Port)), Database: aws.ToString(c.DatabaseName)}
	if o.Database == "" {
		o.Database = "postgres"
	}
	for _, m := range c.DBClusterMembers {
		o.Instances = append(o.Instances, aws.ToString(m.DBInstanceIdentifier))
	}
	return o
}

// Delete deletes the cluster's instances, waits until they are gone, and deletes the cluster
// without a final snapshot (it is a copy of one). What is gone already is skipped, so Delete
// can be run again after an interruption.
func Delete(ctx context.Context, api RDS, o *Owned, report func(string)) error {
	for _, id := range o.Instances {
		// An instance still being created (a restore interrupted with Ctrl-C) cannot be deleted
		// yet: wait until RDS accepts the deletion.
		for wait := 250 * time.Millisecond; ; wait = min(2*wait, 10*time.Second) {
			_, err := api.DeleteDBInstance(ctx, &rds.DeleteDBInstanceInput{DBInstanceIdentifier: aws.String(id), SkipFinalSnapshot: aws.Bool(true)})
			var nf *types.DBInstanceNotFoundFault
			var busy *types.InvalidDBInstanceStateFault
			if errors.As(err, &busy) && !strings.Contains(err.Error(), "deleting") {
				report(fmt.Sprintf("instance %s: not deletable yet (%s), waiting", id, busy.ErrorMessage()))
				select {
				case <-ctx.Done():
					return fmt.Errorf("delete writer %s of cluster %s: %w", id, o.ClusterID, ctx.Err())
				case <-time.After(wait):
					continue
				}
			}
			if err != nil && !errors.As(err, &nf) && !errors.As(err, &busy) {
				return fmt.Errorf("delete writer %s of cluster %s: %w", id, o.ClusterID, err)
			}
			break
		}
		report(fmt.Sprintf("instance %s: deleting", id))
	}
	for wait := 250 * time.Millisecond; ; wait = min(2*wait, 10*time.Second) {
		out, err := api.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{
			Filters: []types.Filter{{Name: aws.String("db-cluster-id"), Values: []string{o.ClusterID}}}})
		if err != nil {
			return fmt.Errorf("wait for the instances of cluster %s to go: %w", o.ClusterID, err)
		}
		if len(out.DBInstances) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the instances of cluster %s to go: %w", o.ClusterID, ctx.Err())
		case <-time.After(wait):
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	for wait := 250 * time.Millisecond; ; wait = min(2*wait, 10*time.Second) {
		_, err := api.DeleteDBCluster(ctx, &rds.DeleteDBClusterInput{DBClusterIdentifier: aws.String(o.ClusterID), SkipFinalSnapshot: aws.Bool(true)})
		var nf *types.DBClusterNotFoundFault
		var busy *types.InvalidDBClusterStateFault
		if errors.As(err, &busy) {
			report(fmt.Sprintf("cluster %s: not deletable yet (%s), waiting", o.ClusterID, busy.ErrorMessage()))
			select {
			case <-ctx.Done():
				return fmt.Errorf("delete cluster %s: %w", o.ClusterID, ctx.Err())
			case <-time.After(wait):
				continue
			}
		}
		if err != nil && !errors.As(err, &nf) {
			return fmt.Errorf("delete cluster %s: %w", o.ClusterID, err)
		}
		break
	}
	report(fmt.Sprintf("cluster %s: deleting", o.ClusterID))
	return nil
}
