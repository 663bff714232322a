package main

import (
	"context"
	"encoding/json"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/bedrocksim"
	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/reembed"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// requireOnlyJSON checks that stdout is one JSON value and nothing else (an error exit may print
// nothing at all).
func requireOnlyJSON(t *testing.T, r result, args ...string) {
	t.Helper()
	if r.code != 0 && strings.TrimSpace(r.stdout) == "" {
		return
	}
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	var v any
	require.NoError(t, dec.Decode(&v), "%q prints JSON on stdout:\n%s\nstderr: %s", args, r.stdout, r.stderr)
	require.ErrorIs(t, dec.Decode(&v), io.EOF, "%q prints only JSON on stdout:\n%s", args, r.stdout)
}

func TestRootHelpSaysOnlyWhatExists(t *testing.T) {
	t.Parallel()
	r := ragmigrate(t, nil, "--help")
	require.Zero(t, r.code, r.stderr)
	require.NotContains(t, r.stdout, "planned, not yet available", "replication exists now")
	require.Contains(t, r.stdout, "logical replication with a guarded cut-over (replicate)")
	require.Contains(t, r.stdout, "replicate   ")
}

// TestMessagesAreTrue walks a seeded deployment through every command with --json, in each branch
// (no journal, a journal, nothing to do, a dropped journal), and checks what the text says: plan
// --exact's "will fail N bots" is its list and the run's failures; each page of a sitemap and a
// sitemap index of the same pages is embedded once; cleanup without a journal says so.
func TestMessagesAreTrue(t *testing.T) {
	t.Parallel()
	b := setupReembed(t, 12, bedrocksim.Knobs{}) // includes the sitemap bot and the CJK bot with long chunks
	common := []string{"--table", b.table, "--bucket", b.bucket, "--target-db", b.target, "--allow-private-urls"}
	jsonRun := func(args ...string) result {
		t.Helper()
		r := ragmigrate(t, b.env, append(args, "--json")...)
		requireOnlyJSON(t, r, args...)
		return r
	}

	// Before any run: no journal.
	r := jsonRun("status", "--target-db", b.target)
	require.Zero(t, r.code, r.stderr)
	require.JSONEq(t, `{"runs": [], "failed_bots": [], "left_to_app": []}`, r.stdout)
	r = jsonRun("cleanup", "--target-db", b.target, "--yes")
	require.Zero(t, r.code, r.stderr)
	require.JSONEq(t, `{"journal_dropped": false}`, r.stdout)
	r = ragmigrate(t, b.env, "cleanup", "--target-db", b.target)
	require.Zero(t, r.code, "nothing to drop, nothing to confirm: %s", r.stderr)
	require.Contains(t, r.stdout, "no journal to drop")
	require.NotContains(t, r.stdout, "journal dropped")

	r = jsonRun(append([]string{"plan"}, common...)...)
	require.Zero(t, r.code, r.stderr)
	var quick struct {
		PerBot []struct {
			BotID string `json:"bot_id"`
			URLs  int64  `json:"urls"`
		} `json:"per_bot"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &quick))
	// --per-bot lists every bot in the text, as the JSON always does.
	r = ragmigrate(t, b.env, append([]string{"plan", "--per-bot"}, common...)...)
	require.Zero(t, r.code, r.stderr)
	everyBot := map[string]bool{}
	for _, l := range regexp.MustCompile(`(?m)^  bot (\S+)`).FindAllStringSubmatch(r.stdout, -1) {
		everyBot[l[1]] = true
	}
	require.Len(t, everyBot, len(quick.PerBot), r.stdout)
	r = jsonRun(append([]string{"reembed", "--dry-run"}, common...)...)
	require.Zero(t, r.code, r.stderr)
	r = jsonRun(append([]string{"plan", "--exact"}, common...)...)
	require.Zero(t, r.code, r.stderr)
	var exact struct {
		PerBot []struct {
			BotID      string   `json:"bot_id"`
			Chunks     int64    `json:"chunks"`
			LongChunks int64    `json:"long_chunks"`
			Problems   []string `json:"problems"`
		} `json:"per_bot"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &exact))

	// plan --exact in text: the count is the list.
	r = ragmigrate(t, b.env, append([]string{"plan", "--exact"}, common...)...)
	require.Zero(t, r.code, r.stderr)
	m := regexp.MustCompile(`will fail\s+(\d+) bots? with the defaults`).FindStringSubmatch(r.stdout)
	require.NotNil(t, m, r.stdout)
	listed := map[string]bool{}
	for _, l := range regexp.MustCompile(`(?m)^  bot (\S+)`).FindAllStringSubmatch(r.stdout, -1) {
		listed[l[1]] = true
	}
	require.Equal(t, m[1], itoa(len(listed)), "the count is the list:\n%s", r.stdout)
	long := false
	for _, bp := range exact.PerBot {
		long = long || (bp.LongChunks > 0 && len(bp.Problems) == 0)
	}
	require.True(t, long, "the seed has a bot that only long chunks fail")

	// The run with the defaults (--truncate NONE, the app's) fails exactly the listed bots.
	r = b.reembed(t, "--truncate", "NONE", "--json")
	requireOnlyJSON(t, r, "reembed")
	require.Equal(t, exitFailure, r.code, r.stderr)
	var sum reembed.Summary
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &sum))
	failed := map[string]bool{}
	for _, o := range sum.Bots {
		if o.Status == "failed" {
			failed[o.BotID] = true
		}
	}
	require.Equal(t, listed, failed, "plan --exact lists the bots the run fails")

	r = b.reembed(t, "--truncate", "NONE", "--json")
	requireOnlyJSON(t, r, "reembed", "again")
	require.Zero(t, r.code, r.stderr)
	require.Contains(t, r.stdout, `"nothing_to_do": true`)

	// Every page once (the sitemap bot's pages are listed by a sitemap and by a sitemap index):
	// with long chunks cut, every readable bot has exactly the plan's chunks, and none has a
	// chunk of a source twice.
	r = b.reembed(t, "--fresh", "--truncate", "END", "--json")
	requireOnlyJSON(t, r, "reembed", "--fresh")
	rows := b.rowsPerBot(t)
	sitemapBot := false
	for _, bp := range exact.PerBot {
		if len(bp.Problems) == 0 && bp.Chunks > 0 {
			require.Equal(t, bp.Chunks, rows[bp.BotID], "bot %s", bp.BotID)
		}
	}
	conn := connectTest(t, b.target)
	for _, bot := range b.bots(t) {
		if len(bot.Knowledge.SitemapURLs) < 2 || rows[bot.ID] == 0 {
			continue
		}
		sitemapBot = true
		// The quick plan counts the pages the run loads: each once.
		for _, bp := range quick.PerBot {
			if bp.BotID == bot.ID {
				require.Equal(t, queryInt(t, conn, `SELECT count(DISTINCT source) FROM items WHERE botid = $1`, bot.ID), bp.URLs, "the quick plan's pages of bot %s", bot.ID)
			}
		}
	}
	require.True(t, sitemapBot, "a bot with a sitemap and a sitemap index was embedded")
	require.Zero(t, queryInt(t, conn, `SELECT count(*) FROM (SELECT 1 FROM items GROUP BY botid, source, content HAVING count(*) > 1) d`),
		"no chunk of a source is embedded twice in a bot")

	r = jsonRun("status", "--target-db", b.target, "--failures")
	require.Zero(t, r.code, r.stderr)
	r = jsonRun("verify", "--table", b.table, "--target-db", b.target)
	require.Equal(t, exitMismatch, r.code, r.stderr)

	doc := filepath.Join(t.TempDir(), "doc.md")
	require.NoError(t, os.WriteFile(doc, []byte("# Title\n\nSome text. More text."), 0o644))
	r = jsonRun("inspect", doc)
	require.Zero(t, r.code, r.stderr)
	r = jsonRun("dev", "upload", filepath.Join(t.TempDir(), "big.md"), "--text-mb", "1")
	require.Zero(t, r.code, r.stderr)

	r = jsonRun("cleanup", "--target-db", b.target, "--yes")
	require.Zero(t, r.code, r.stderr)
	require.JSONEq(t, `{"journal_dropped": true}`, r.stdout)
	r = ragmigrate(t, b.env, "cleanup", "--target-db", b.target, "--yes")
	require.Zero(t, r.code, r.stderr)
	require.Contains(t, r.stdout, "no journal to drop")
}

func TestCopyJSONOnlyOnStdout(t *testing.T) {
	t.Parallel()
	b := setupCopy(t, 20, "", nil)
	r := ragmigrate(t, b.env, b.args()...)
	requireOnlyJSON(t, r, "copy")
	require.Zero(t, r.code, r.stderr)
	r = ragmigrate(t, b.env, b.args()...) // the target is not empty now: refused
	requireOnlyJSON(t, r, "copy", "again")
	require.NotZero(t, r.code)
}

// TestPlanTargetVerdicts: plan says "ready" for a strategy only if a run of it would proceed.
func TestPlanTargetVerdicts(t *testing.T) {
	t.Parallel()
	ctx := stacktest.Context(t)
	clients := stacktest.AWS(t)
	table := stacktest.BotTable(t, clients.DynamoDB)
	bucket := stacktest.Bucket(t, clients.S3)
	target := stacktest.Database(t, "RAGMIGRATE_TARGET_DB")
	conn := connectTest(t, target)
	require.NoError(t, vectorstore.SetupApp(ctx, conn))
	plan := func(db string) string {
		t.Helper()
		r := ragmigrate(t, stackEnv(t), "plan", "--table", table, "--bucket", bucket, "--target-db", db)
		require.Zero(t, r.code, r.stderr)
		return r.stdout
	}
	verdict := func(out, strategy string) string {
		t.Helper()
		m := regexp.MustCompile(`(?m)^  ` + strategy + `\s+(ready|NOT READY)$`).FindStringSubmatch(out)
		require.NotNil(t, m, "a verdict for %s:\n%s", strategy, out)
		return m[1]
	}

	out := plan(target)
	require.Equal(t, "ready", verdict(out, "reembed"), out)
	require.Equal(t, "ready", verdict(out, "copy"), "an empty items of the app's DDL: %s", out)

	_, err := vectorstore.CopyRows(ctx, conn, testRows(3))
	require.NoError(t, err)
	out = plan(target)
	require.Equal(t, "ready", verdict(out, "reembed"), "reembed replaces only the rows of the bots it re-embeds: %s", out)
	require.Equal(t, "NOT READY", verdict(out, "copy"), out)
	require.Contains(t, out, "copy refuses a non-empty target")
	require.Contains(t, out, "--empty-target replaces its rows")

	// A role that may read items but not write it.
	role := "rmtest_ro_" + stacktest.Suffix()
	_, err = conn.Exec(ctx, `CREATE ROLE `+role+` LOGIN PASSWORD 'ro-secret'; GRANT SELECT ON items TO `+role)
	require.NoError(t, err)
	t.Cleanup(func() {
		// Roles belong to the cluster: drop it before the database goes.
		ctx := context.Background()
		c, err := pgx.Connect(ctx, target)
		require.NoError(t, err)
		defer c.Close(ctx)
		_, err = c.Exec(ctx, `REVOKE ALL ON items FROM `+role+`; DROP ROLE `+role)
		require.NoError(t, err)
	})
	u, err := url.Parse(target)
	require.NoError(t, err)
	u.User = url.UserPassword(role, "ro-secret")
	out = plan(u.String())
	require.Equal(t, "NOT READY", verdict(out, "reembed"), out)
	require.Equal(t, "NOT READY", verdict(out, "copy"), out)
	require.Contains(t, out, "role "+role+" lacks")
	require.Contains(t, out, "INSERT on items")
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
