//go:build dev

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ragmigrate/ragmigrate/internal/dev/rdssim"
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
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(endpoint, "/")+"/_dev/rds/snapshots", bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("publish final snapshot %s: %w", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		return fmt.Errorf("publish final snapshot %s: %s: %s (an aws server started before RDS existed needs a restart: 'ragmigrate dev stack down' and 'up')",
			name, resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}
