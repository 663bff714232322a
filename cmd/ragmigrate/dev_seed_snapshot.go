//go:build dev

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ragmigrate/ragmigrate/internal/dev/rdssim"
	"github.com/ragmigrate/ragmigrate/internal/dev/stack"
)

// devOldCluster is the identifier of the seeded deployment's old Aurora cluster, whose final
// snapshot the stack's RDS contract server publishes (as v1's deploy leaves one behind when it
// replaces the cluster).
const devOldCluster = "bedrockchatstack-vectorstoreclustera2b3c4d5-1x2y3z4a5b6c"

// publishFinalSnapshot records the seeded source database as the old cluster's final snapshot
// name on the RDS contract server (POST /_dev/rds/snapshots), so that 'snapshot restore --latest'
// finds it. No session may be connected to the source database meanwhile: the snapshot is a copy
// of it as a template.
func publishFinalSnapshot(ctx context.Context, sourceDB, name string) error {
	endpoint := os.Getenv("AWS_ENDPOINT_URL_RDS")
	if endpoint == "" {
		return errors.New("--final-snapshot: AWS_ENDPOINT_URL_RDS must point at the stack's RDS contract server")
	}
	cfg, err := pgx.ParseConfig(sourceDB)
	if err != nil {
		return fmt.Errorf("--final-snapshot: %w", err)
	}
	body, _ := json.Marshal(rdssim.SnapshotRequest{ID: name, ClusterID: devOldCluster, Database: cfg.Database})
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := stack.DevCall(ctx, http.MethodPost, strings.TrimSuffix(endpoint, "/")+"/_dev/rds/snapshots", body, nil); err != nil {
		return fmt.Errorf("publish final snapshot %s: %w", name, err)
	}
	return nil
}
