package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/bedrocksim"
	"github.com/ragmigrate/ragmigrate/internal/dev/seed"
	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
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

	t.Run("ExpectIsValidated", func(t *testing.T) {
		r := ragmigrate(t, env, "verify", "--source-db", src, "--target-db", dst, "--expect", "bogus")
		require.Equal(t, exitUsage, r.code)
		require.Contains(t, r.stderr, `--expect "bogus"`)
		r = ragmigrate(t, env, "verify", "--table", table, "--target-db", dst, "--expect", "reembed")
		require.Equal(t, exitUsage, r.code)
		require.Contains(t, r.stderr, "--expect needs --source-db")
	})

	t.Run("CopyTargetComparedExactly", func(t *testing.T) {
		// No journal in the target: its rows are taken to be copied, and the report says so.
		r := ragmigrate(t, env, "verify", "--source-db", src, "--target-db", src, "--queries", "0")
		require.Zero(t, r.code, r.stdout+r.stderr)
		require.Regexp(t, `expect +copy: the target has no ragmigrate run`, r.stdout)
		require.Contains(t, r.stdout, "every row's id, content, source and embedding bytes")
	})
}

// verifyReport is the part of verify's JSON report the tests read.
type verifyReport struct {
	OK   bool `json:"ok"`
	Data struct {
		Expect      string   `json:"expect"`
		NotCompared []string `json:"not_compared"`
		Mismatches  []struct {
			BotID string `json:"bot_id"`
		} `json:"mismatches"`
		Content []struct {
			BotID        string `json:"bot_id"`
			SourceRows   int64  `json:"source_rows"`
			TargetRows   int64  `json:"target_rows"`
			OnlyInSource int64  `json:"only_in_source"`
			OnlyInTarget int64  `json:"only_in_target"`
			Expected     bool   `json:"expected"`
			Why          string `json:"why"`
			Reloaded     *struct {
				OnlyInTarget   int64 `json:"only_in_target"`
				OnlyInSources  int64 `json:"only_in_sources"`
				TargetExamples []struct {
					Content string `json:"content"`
				} `json:"target_examples"`
			} `json:"reloaded"`
		} `json:"content"`
	} `json:"data"`
	ContentSearch *struct {
		Bots      int     `json:"bots_sampled"`
		SelfExact float64 `json:"self_retrieval_exact"`
		Failed    int     `json:"failed"`
	} `json:"search_by_content"`
	Bots struct {
		Problems []struct {
			BotID       string `json:"bot_id"`
			Preexisting bool   `json:"preexisting"`
		} `json:"problems"`
	} `json:"bots"`
}

// TestVerifyAfterReembed verifies a re-embedded target against the old cluster it replaces: ids
// and vectors are new by design, so the bots are compared by their chunks, and only a real
// difference of content fails.
func TestVerifyAfterReembed(t *testing.T) {
	t.Parallel()
	b := setupReembed(t, seed.DefaultBots, bedrocksim.Knobs{Seed: 7})
	r := b.reembed(t)
	require.Equal(t, exitFailure, r.code, "the seed's unreadable bots fail the run: %s", r.stderr)
	srcRows := rowsPerBotIn(t, b.source)
	bots := b.bots(t)

	args := []string{"verify", "--source-db", b.source, "--target-db", b.target, "--table", b.table, "--bucket", b.bucket, "--allow-private-urls", "--queries", "20"}
	v := ragmigrate(t, b.env, args...)
	t.Log("\n" + v.stdout)
	require.Zero(t, v.code, v.stdout+v.stderr)
	require.Contains(t, v.stdout, "data (source vs target, by content)")
	require.Contains(t, v.stdout, "not compared")
	require.Contains(t, v.stdout, "new ids and new vectors by design")
	require.NotContains(t, v.stdout, "MISMATCH")

	v = ragmigrate(t, b.env, append(args, "--json")...)
	require.Zero(t, v.code, v.stderr)
	var rep verifyReport
	require.NoError(t, json.Unmarshal([]byte(v.stdout), &rep))
	require.True(t, rep.OK)
	require.Equal(t, "reembed", rep.Data.Expect, "read from the target's journal")
	require.NotEmpty(t, rep.Data.NotCompared)
	require.Empty(t, rep.Data.Mismatches)
	seen := map[string]bool{}
	for _, c := range rep.Data.Content {
		seen[c.BotID] = true
		require.True(t, c.Expected, "%s: %s", c.BotID, c.Why)
		_, exists := bots[c.BotID]
		switch {
		case c.SourceRows == 0:
			// v0 never embedded it (the sitemap bot, the bot stuck in QUEUED); the target holds
			// what its sources give.
			require.Contains(t, c.Why, "v0 never embedded it", c.BotID)
			require.NotNil(t, c.Reloaded, c.BotID)
			require.Zero(t, c.Reloaded.OnlyInTarget+c.Reloaded.OnlyInSources, c.BotID)
		case !exists:
			require.Zero(t, c.TargetRows, "a deleted bot's rows are not re-embedded")
			require.Contains(t, c.Why, "no item in the table", c.BotID)
		default:
			// The seed's v0 text is what v0's loaders made of the files: lists, tables,
			// slides and PDF pages come out otherwise today.
			require.Positive(t, c.TargetRows, c.BotID)
			require.Regexp(t, `laid out or split differently|exactly what the bot's sources give`, c.Why, c.BotID)
		}
	}
	for id, n := range b.wantRows {
		if srcRows[id] == 0 {
			require.True(t, seen[id], "bot %s, never embedded by v0, is reported", id)
		} else {
			require.Positive(t, n)
		}
	}
	require.NotNil(t, rep.ContentSearch)
	require.Positive(t, rep.ContentSearch.Bots)
	require.Equal(t, 1.0, rep.ContentSearch.SelfExact)
	require.Zero(t, rep.ContentSearch.Failed)
	// The bots whose sources cannot be read fail the re-embed, and had no rows in the old
	// cluster either: reported, not a difference the migration made.
	require.Len(t, rep.Bots.Problems, len(b.wantFail))
	for _, p := range rep.Bots.Problems {
		require.True(t, b.wantFail[p.BotID], p.BotID)
		require.True(t, p.Preexisting, p.BotID)
		require.Zero(t, srcRows[p.BotID])
	}

	// Without --table and --bucket the differing text cannot be checked against the sources:
	// it fails, and says what would tell.
	v = ragmigrate(t, b.env, "verify", "--source-db", b.source, "--target-db", b.target, "--queries", "0")
	require.Equal(t, exitMismatch, v.code, v.stdout+v.stderr)
	require.Contains(t, v.stdout, "give --table and --bucket")

	// Told to expect a copy, verify compares rows exactly: every bot differs.
	v = ragmigrate(t, b.env, append(args, "--expect", "copy", "--json")...)
	require.Equal(t, exitMismatch, v.code, v.stderr)
	rep = verifyReport{}
	require.NoError(t, json.Unmarshal([]byte(v.stdout), &rep))
	require.Equal(t, "copy", rep.Data.Expect)
	require.NotEmpty(t, rep.Data.Mismatches)

	// One altered row of a bot v0 embedded is caught: neither the old cluster's text nor what
	// the bot's sources give.
	var altered string
	for id := range b.wantRows {
		if srcRows[id] > 0 && (altered == "" || id < altered) {
			altered = id
		}
	}
	require.NotEmpty(t, altered)
	conn, err := vectorstore.Connect(t.Context(), b.target, "test", vectorstore.Timeouts{})
	require.NoError(t, err)
	defer conn.Close(t.Context())
	_, err = conn.Exec(t.Context(), `UPDATE items SET content = content || ' Altered by hand.'
		WHERE id = (SELECT id FROM items WHERE botid = $1 ORDER BY id LIMIT 1)`, altered)
	require.NoError(t, err)
	v = ragmigrate(t, b.env, append(args, "--json")...)
	require.Equal(t, exitMismatch, v.code, v.stdout+v.stderr)
	rep = verifyReport{}
	require.NoError(t, json.Unmarshal([]byte(v.stdout), &rep))
	require.False(t, rep.OK)
	var found bool
	for _, c := range rep.Data.Content {
		if c.BotID != altered {
			require.True(t, c.Expected, "%s: %s", c.BotID, c.Why)
			continue
		}
		found = true
		require.False(t, c.Expected)
		require.NotNil(t, c.Reloaded)
		require.EqualValues(t, 1, c.Reloaded.OnlyInTarget)
		require.EqualValues(t, 1, c.Reloaded.OnlyInSources)
		require.Contains(t, c.Why, "neither the old cluster's nor what the bot's sources give")
		require.Contains(t, c.Reloaded.TargetExamples[0].Content, "Altered by hand.", "the example shows where the chunk departs from its source")
	}
	require.True(t, found, "the altered bot is reported")
	v = ragmigrate(t, b.env, args...)
	t.Log("\n" + v.stdout)
	require.Equal(t, exitMismatch, v.code)
	require.Contains(t, v.stdout, "bot "+altered)
	require.Contains(t, v.stdout, "Altered by hand.")
}

// rowsPerBotIn reads a database's items rows per bot.
func rowsPerBotIn(t *testing.T, url string) map[string]int64 {
	t.Helper()
	conn, err := vectorstore.Connect(t.Context(), url, "test", vectorstore.Timeouts{})
	require.NoError(t, err)
	defer conn.Close(t.Context())
	got, err := vectorstore.RowsPerBot(t.Context(), conn)
	require.NoError(t, err)
	return got
}
