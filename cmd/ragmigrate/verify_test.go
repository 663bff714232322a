package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/bedrocksim"
	"github.com/ragmigrate/ragmigrate/internal/seed"
	"github.com/ragmigrate/ragmigrate/internal/stacktest"
)

func TestVerifyCommand(t *testing.T) {
	t.Parallel()
	env := stackEnv(t)
	clients := stacktest.AWS(t)
	table := stacktest.Table(t, clients.DynamoDB)
	bucket := stacktest.Bucket(t, clients.S3)
	src := stacktest.Database(t, "RAGMIGRATE_SOURCE_DB")
	dst := stacktest.Database(t, "RAGMIGRATE_TARGET_DB")
	r := ragmigrate(t, env, "dev", "seed", "--yes", "--table", table, "--bucket", bucket, "--source-db", src, "--target-db", dst)
	require.Zero(t, r.code, r.stderr)

	t.Run("IdenticalDatabasesPass", func(t *testing.T) {
		r := ragmigrate(t, env, "verify", "--source-db", src, "--target-db", src, "--queries", "5")
		require.Zero(t, r.code, r.stdout+r.stderr)
		require.Contains(t, r.stdout, "result")
		require.Contains(t, r.stdout, "recall exact 1.000")
	})

	t.Run("EmptyTargetFailsWithExit3", func(t *testing.T) {
		report := filepath.Join(t.TempDir(), "report.json")
		r := ragmigrate(t, env, "verify", "--source-db", src, "--target-db", dst, "--json", "--report", report)
		require.Equal(t, exitMismatch, r.code, r.stderr)
		var rep struct {
			OK   bool `json:"ok"`
			Data struct {
				SourceRows int `json:"source_rows"`
				TargetRows int `json:"target_rows"`
			} `json:"data"`
		}
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
		require.False(t, rep.OK)
		require.Positive(t, rep.Data.SourceRows)
		require.Zero(t, rep.Data.TargetRows)
		file, err := os.ReadFile(report)
		require.NoError(t, err)
		require.JSONEq(t, r.stdout, string(file))
		require.NotContains(t, r.stdout+r.stderr, "ragmigrate-local-secret")
	})

	t.Run("BotsAndOrphans", func(t *testing.T) {
		// The seeded old cluster, checked as if it were the target: failed and stuck bots are
		// problems, the deleted bots' rows are orphans.
		r := ragmigrate(t, env, "verify", "--table", table, "--target-db", src)
		require.Equal(t, exitMismatch, r.code, r.stderr)
		require.Contains(t, r.stdout, "SyncStatus FAILED")
		require.Contains(t, r.stdout, "orphan ")
		require.Contains(t, r.stdout, "ghost item")

		r = ragmigrate(t, env, "verify", "--table", table, "--target-db", src, "--delete-orphans")
		require.Equal(t, exitUsage, r.code, "deleting needs --yes without a terminal")
		require.Contains(t, r.stderr, "refusing to write without --yes")

		r = ragmigrate(t, env, "verify", "--table", table, "--target-db", src, "--delete-orphans", "--yes", "--json")
		require.Equal(t, exitMismatch, r.code, "the stuck bots are still problems")
		r = ragmigrate(t, env, "verify", "--table", table, "--target-db", src, "--json")
		var rep struct {
			Bots struct {
				OrphanRows int `json:"orphan_rows"`
			} `json:"bots"`
		}
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
		require.Zero(t, rep.Bots.OrphanRows)
	})

	t.Run("NeedsSomethingToCompare", func(t *testing.T) {
		r := ragmigrate(t, env, "verify", "--target-db", dst)
		require.Equal(t, exitUsage, r.code)
	})
}

// TestVerifyAfterReembed verifies a re-embedded target against the old cluster it replaces: ids
// and vectors are new by design, so the bots are compared by their chunks, and only a real
// difference of content fails.
func TestVerifyAfterReembed(t *testing.T) {
	t.Parallel()
	b := setupReembed(t, seed.DefaultBots, bedrocksim.Knobs{Seed: 7})
	r := b.reembed(t)
	require.Equal(t, exitFailure, r.code, "the seed's unreadable bots fail the run: %s", r.stderr)

	args := []string{"verify", "--source-db", b.source, "--target-db", b.target, "--table", b.table, "--bucket", b.bucket, "--allow-private-urls", "--queries", "20"}
	v := ragmigrate(t, b.env, args...)
	t.Log("\n" + v.stdout)
	require.Zero(t, v.code, v.stdout+v.stderr)
	require.Contains(t, v.stdout, "data (source vs target, by content)")
	require.Contains(t, v.stdout, "not compared")
	require.Contains(t, v.stdout, "new ids and new vectors by design")
	require.NotContains(t, v.stdout, "MISMATCH")
}
