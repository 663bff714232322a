package main

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/dev/bedrocksim"
	"github.com/ragmigrate/ragmigrate/internal/dev/seed"
	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/docstore"
	"github.com/ragmigrate/ragmigrate/internal/embed"
	"github.com/ragmigrate/ragmigrate/internal/loader"
	"github.com/ragmigrate/ragmigrate/internal/plan"
	"github.com/ragmigrate/ragmigrate/internal/reembed"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// reembedBundle is a seeded deployment, an empty target and the expected outcome of every bot,
// judged by plan --exact: the bots whose sources can all be read, and their chunk counts.
type reembedBundle struct {
	env      []string
	args     []string
	table    string
	source   string // the old cluster
	target   string
	bucket   string
	bedrock  string // the bundle's own contract server
	dynamo   *dynamodb.Client
	wantRows map[string]int64 // bots that must succeed, with their chunks
	wantFail map[string]bool
	empty    map[string]bool // bots without knowledge
	// unreadable is the seed's own word on which bots cannot be read, and the source each
	// failure must name.
	unreadable map[string]string
}

func setupReembed(t *testing.T, bots int, knobs bedrocksim.Knobs) *reembedBundle {
	t.Helper()
	ctx := stacktest.Context(t)
	clients := stacktest.AWS(t)
	b := &reembedBundle{table: stacktest.Table(t, clients.DynamoDB), dynamo: clients.DynamoDB,
		target: stacktest.Database(t, "RAGMIGRATE_TARGET_DB"), wantRows: map[string]int64{}, wantFail: map[string]bool{}, empty: map[string]bool{}}
	bucket := stacktest.Bucket(t, clients.S3)
	b.bucket = bucket
	src := stacktest.Database(t, "RAGMIGRATE_SOURCE_DB")
	b.source = src
	srv := httptest.NewServer(bedrocksim.New(knobs, nil))
	t.Cleanup(srv.Close)
	b.bedrock = srv.URL
	b.env = append(stackEnv(t), "AWS_ENDPOINT_URL_BEDROCK_RUNTIME="+srv.URL)
	// --truncate END: a dense CJK chunk of 1000 characters can exceed Cohere's 512-token window,
	// which with the app's NONE fails the bot (see TestReembedNamesRejectedChunk).
	// --create-missing: the target is an empty database, without the app's setup.
	b.args = []string{"--table", b.table, "--bucket", bucket, "--target-db", b.target, "--truncate", "END", "--allow-private-urls", "--create-missing"}
	r := ragmigrate(t, b.env, "dev", "seed", "--yes", "--json", "--bots", strconv.Itoa(bots), "--table", b.table, "--bucket", bucket, "--source-db", src, "--no-target")
	require.Zero(t, r.code, r.stderr)
	var expect seed.Expect
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &expect))
	b.unreadable = expect.Unreadable

	model, _ := embed.LookupModel("cohere.embed-multilingual-v3")
	p, err := plan.Make(ctx, plan.Options{Bots: botstore.New(clients.DynamoDB, b.table), Docs: docstore.New(clients.S3, bucket),
		Model: model, Exact: true, Fetcher: &loader.Fetcher{AllowPrivate: true}})
	require.NoError(t, err)
	for _, bp := range p.PerBot {
		switch {
		case len(bp.Problems) > 0:
			b.wantFail[bp.BotID] = true
		case bp.Files+bp.URLs+bp.Sitemaps == 0:
			b.empty[bp.BotID] = true
		default:
			b.wantRows[bp.BotID] = bp.Chunks
		}
	}
	require.NotEmpty(t, b.wantRows)
	require.NotEmpty(t, b.wantFail)
	require.Len(t, b.wantFail, len(b.unreadable), "plan --exact fails exactly the bots the seed made unreadable")
	for id := range b.unreadable {
		require.True(t, b.wantFail[id], id)
	}
	return b
}

func (b *reembedBundle) reembed(t *testing.T, extra ...string) result {
	t.Helper()
	args := append([]string{"reembed", "--yes", "--rpm", "0", "--report", filepath.Join(t.TempDir(), "r.json")}, b.args...)
	return ragmigrate(t, b.env, append(args, extra...)...)
}

// rowsPerBot reads the target's rows per bot.
func (b *reembedBundle) rowsPerBot(t *testing.T) map[string]int64 {
	t.Helper()
	conn, err := vectorstore.Connect(t.Context(), b.target, "test", vectorstore.Timeouts{})
	require.NoError(t, err)
	defer conn.Close(t.Context())
	got, err := vectorstore.RowsPerBot(t.Context(), conn)
	require.NoError(t, err)
	return got
}

func (b *reembedBundle) bots(t *testing.T) map[string]*botstore.Bot {
	t.Helper()
	out := map[string]*botstore.Bot{}
	require.NoError(t, botstore.New(b.dynamo, b.table).ScanBots(t.Context(), func(bot *botstore.Bot) error {
		out[bot.ID] = bot
		return nil
	}, func(*botstore.DecodeError) error { return nil }))
	return out
}

// sourcesPerBot is the set of sources each bot has rows from in the target.
func (b *reembedBundle) sourcesPerBot(t *testing.T) map[string]map[string]bool {
	t.Helper()
	conn, err := vectorstore.Connect(t.Context(), b.target, "test", vectorstore.Timeouts{})
	require.NoError(t, err)
	defer conn.Close(t.Context())
	rows, err := conn.Query(t.Context(), `SELECT DISTINCT rtrim(botid), source FROM items`)
	require.NoError(t, err)
	out := map[string]map[string]bool{}
	var bot, source string
	_, err = pgx.ForEachRow(rows, []any{&bot, &source}, func() error {
		if out[bot] == nil {
			out[bot] = map[string]bool{}
		}
		out[bot][source] = true
		return nil
	})
	require.NoError(t, err)
	return out
}

// requireFinalState checks rows and statuses after a complete run.
func (b *reembedBundle) requireFinalState(t *testing.T) {
	t.Helper()
	require.Equal(t, b.wantRows, b.rowsPerBot(t), "every readable bot has exactly its chunks; no rows for failed, empty or deleted bots")
	sources := b.sourcesPerBot(t)
	for id, bot := range b.bots(t) {
		switch {
		case b.wantFail[id]:
			require.Equal(t, botstore.StatusFailed, bot.SyncStatus, id)
			require.Regexp(t, `(s3://|http://)`, bot.SyncStatusReason, "the reason names the source")
			if src, ok := b.unreadable[id]; ok {
				require.Contains(t, bot.SyncStatusReason, src+": ", "the reason names the unreadable source")
			}
		case b.empty[id]:
			require.Equal(t, botstore.StatusSucceeded, bot.SyncStatus, id)
		default:
			require.Equal(t, botstore.StatusSucceeded, bot.SyncStatus, id)
			require.Equal(t, botstore.ReasonSucceeded, bot.SyncStatusReason, id)
			require.Regexp(t, `^ragmigrate-run[0-9]+-`+id+`$`, bot.LastExecID, "LastExecId is the job's id")
			// A bot that succeeded embedded something of every source it lists: none was
			// dropped silently (an AES-256 PDF, a page saved as .pdf, a Shift_JIS page).
			for _, name := range bot.Knowledge.Filenames {
				require.True(t, sources[id][docstore.SourceURI(b.bucket, docstore.DocumentKey(bot.UserID, id, name))], "bot %s has no rows from its file %q", id, name)
			}
			for _, u := range bot.Knowledge.SourceURLs {
				require.True(t, sources[id][u], "bot %s has no rows from its URL %s", id, u)
			}
		}
	}
}

func TestReembedEndToEnd(t *testing.T) {
	t.Parallel()
	// A fifth of all requests throttled: the run must still finish every bot it can. One bot of
	// each seed profile: the unreadable uploads (scanned, encrypted, truncated PDFs, a dead link)
	// fail their bots; the odd ones (NUL bytes, a page saved as .pdf, a PDF protected against
	// editing, Shift_JIS) succeed.
	b := setupReembed(t, seed.DefaultBots, bedrocksim.Knobs{ThrottleRate: 0.2, Seed: 7})
	aliasesBefore := scanKind(t, b.dynamo, b.table, botstore.KindAlias)

	r := b.reembed(t, "--json")
	require.Equal(t, exitFailure, r.code, "bots with unreadable sources fail the run's exit status: %s", r.stderr)
	require.NotContains(t, r.stderr, "ragmigrate: reembed run", "the run itself did not fail")
	var sum reembed.Summary
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &sum))
	require.Equal(t, len(b.wantFail), sum.Failed, "throttling failed no bot: %s", r.stdout)
	require.Positive(t, sum.Throttles, "the contract server throttled")
	require.Equal(t, len(b.wantRows)+len(b.empty), sum.Succeeded)
	b.requireFinalState(t)
	require.Equal(t, aliasesBefore, scanKind(t, b.dynamo, b.table, botstore.KindAlias), "aliases untouched")

	// verify, bots vs target: only the failed bots are problems, and the journal's chunk counts
	// agree with the rows; one row less is caught against the journal.
	v := ragmigrate(t, b.env, "verify", "--json", "--table", b.table, "--target-db", b.target)
	require.Equal(t, exitMismatch, v.code, v.stderr)
	var vr struct {
		Bots struct {
			JournalRun int64 `json:"journal_run"`
			Problems   []struct {
				BotID   string `json:"bot_id"`
				Problem string `json:"problem"`
			} `json:"problems"`
		} `json:"bots"`
	}
	require.NoError(t, json.Unmarshal([]byte(v.stdout), &vr))
	require.Positive(t, vr.Bots.JournalRun)
	require.Len(t, vr.Bots.Problems, len(b.wantFail))
	for _, p := range vr.Bots.Problems {
		require.True(t, b.wantFail[p.BotID], p.Problem)
	}

	again := b.reembed(t)
	require.Zero(t, again.code, again.stderr)
	require.Contains(t, again.stdout, "nothing to do")
	b.requireFinalState(t)

	// A bot created after the run finished is picked up by the next run, and only it.
	late := &botstore.Bot{UserID: "late-user", ID: "01JLATEBOT0000000000000000", Title: "Late", Instruction: "x",
		EmbeddingParams: botstore.EmbeddingParams{ChunkSize: 1000, ChunkOverlap: 200}, GenerationParams: botstore.DefaultGenerationParams(),
		MaxResults: 20, SyncStatus: botstore.StatusSucceeded,
		Knowledge: botstore.Knowledge{SourceURLs: []string{stacktest.Getenv(t, "RAGMIGRATE_DEV_WEB_URL") + "/docs/customer-faq.html"}, SitemapURLs: []string{}, Filenames: []string{}}}
	_, err := b.dynamo.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(b.table), Item: late.Item()})
	require.NoError(t, err)
	third := b.reembed(t, "--json")
	require.Zero(t, third.code, third.stderr)
	var sum3 reembed.Summary
	require.NoError(t, json.Unmarshal([]byte(third.stdout), &sum3))
	require.NotEqual(t, sum.RunID, sum3.RunID, "a finished run stays as it finished; the new bot gets a run of its own")
	require.Len(t, sum3.Bots, 1)
	require.Equal(t, late.ID, sum3.Bots[0].BotID)
	b.wantRows[late.ID] = sum3.Chunks
	require.Positive(t, sum3.Chunks)
	b.requireFinalState(t)

	st := ragmigrate(t, b.env, "status", "--target-db", b.target, "--json", "--failures")
	require.Zero(t, st.code, st.stderr)
	require.Contains(t, st.stdout, `"kind": "reembed"`)
	require.Contains(t, st.stdout, `"failed": `+strconv.Itoa(len(b.wantFail)))

	cl := ragmigrate(t, b.env, "cleanup", "--target-db", b.target)
	require.Equal(t, exitUsage, cl.code, "cleanup asks first")
	cl = ragmigrate(t, b.env, "cleanup", "--target-db", b.target, "--yes")
	require.Zero(t, cl.code, cl.stderr)
	st = ragmigrate(t, b.env, "status", "--target-db", b.target)
	require.Contains(t, st.stdout, "no runs")
	require.Equal(t, b.wantRows, b.rowsPerBot(t), "cleanup leaves the migrated rows")
}

// TestReembedInterrupted sends SIGINT mid-run: exit 130, the run recorded as interrupted, no bot
// left claiming RUNNING, and a re-run finishes the job.
func TestReembedInterrupted(t *testing.T) {
	t.Parallel()
	b := setupReembed(t, 24, bedrocksim.Knobs{Latency: 150 * time.Millisecond})
	conn, err := pgx.Connect(t.Context(), b.target)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	cmd, stderr := startRagmigrate(t, b.env, append([]string{"reembed", "--yes", "--rpm", "0", "--concurrency", "2", "--report", filepath.Join(t.TempDir(), "r.json")}, b.args...)...)
	require.Eventually(t, func() bool {
		var n int
		return conn.QueryRow(t.Context(), `SELECT count(*) FROM ragmigrate.bot_jobs WHERE status <> 'pending'`).Scan(&n) == nil && n >= 3
	}, time.Minute, 20*time.Millisecond, "stderr: %s", stderr)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	err = cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, exitInterrupted, ee.ExitCode(), stderr.String())
	var status string
	var runID int64
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT status, id FROM ragmigrate.runs ORDER BY id DESC LIMIT 1`).Scan(&status, &runID))
	require.Equal(t, "interrupted", status)
	require.Contains(t, stderr.String(), fmt.Sprintf("ragmigrate: reembed run %d interrupted: run 'ragmigrate reembed' again to continue it (the bots done are skipped)\n", runID))
	require.NotContains(t, stderr.String(), "context canceled")
	require.Contains(t, stderr.String(), `msg="phase stopped" phase=bots`)
	require.NotContains(t, stderr.String(), `msg="phase done" phase=bots`, "an interrupted phase is not done")
	for id, bot := range b.bots(t) {
		// (The seed has a bot stuck RUNNING since v0; only this run's own claims count.)
		ours := strings.HasPrefix(bot.LastExecID, "ragmigrate-")
		require.False(t, ours && bot.SyncStatus == botstore.StatusRunning, "bot %s still claims RUNNING", id)
	}
	// status says the run was interrupted, without an error line saying "context canceled".
	st := ragmigrate(t, b.env, "status", "--target-db", b.target)
	require.Zero(t, st.code, st.stderr)
	require.Regexp(t, fmt.Sprintf(`(?m)^%d +reembed +\S+ +interrupted `, runID), st.stdout)
	require.NotContains(t, st.stdout, "context canceled")
	r := b.reembed(t)
	require.Equal(t, exitFailure, r.code, r.stderr)
	b.requireFinalState(t)
}

// TestReembedSurvivesKill9 kills the run twice at different points and requires the resumed run
// to end exactly where an uninterrupted one would.
func TestReembedSurvivesKill9(t *testing.T) {
	t.Parallel()
	b := setupReembed(t, 24, bedrocksim.Knobs{Latency: 150 * time.Millisecond})
	conn, err := pgx.Connect(t.Context(), b.target)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	done := func() int {
		var n int
		if conn.QueryRow(t.Context(), `SELECT count(*) FROM ragmigrate.bot_jobs WHERE status <> 'pending'`).Scan(&n) != nil {
			return 0
		}
		return n
	}
	total := len(b.wantRows) + len(b.wantFail) + len(b.empty)
	for _, killAt := range []int{2, 9} {
		cmd, stderr := startRagmigrate(t, b.env, append([]string{"reembed", "--yes", "--rpm", "0", "--concurrency", "2", "--report", filepath.Join(t.TempDir(), "r.json")}, b.args...)...)
		require.Eventually(t, func() bool { return done() >= killAt }, time.Minute, 20*time.Millisecond, "stderr: %s", stderr)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		cmd.Wait()
		require.Less(t, done(), total, "killed before the end")
	}
	r := b.reembed(t, "--json")
	require.Equal(t, exitFailure, r.code, r.stderr)
	var sum reembed.Summary
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &sum))
	require.True(t, sum.Resumed)
	// The report is the whole run's, with what the killed invocations did too.
	require.Len(t, sum.Bots, total)
	require.Equal(t, len(b.wantFail), sum.Failed)
	require.Equal(t, len(b.wantRows)+len(b.empty), sum.Succeeded)
	require.LessOrEqual(t, sum.Texts, 96*(sum.Requests-sum.Throttles), "no request holds more than Cohere's 96 texts")
	b.requireFinalState(t)
	require.Equal(t, total, done())
}

func scanKind(t *testing.T, c *dynamodb.Client, table string, kind botstore.Kind) []map[string]types.AttributeValue {
	t.Helper()
	var out []map[string]types.AttributeValue
	require.NoError(t, botstore.New(c, table).ScanAll(t.Context(), func(item botstore.Item) error {
		if sk, ok := item["SK"].(*types.AttributeValueMemberS); ok && botstore.KindOf(sk.Value) == kind {
			out = append(out, item)
		}
		return nil
	}))
	return out
}

// TestReembedNamesRejectedChunk runs with the app's truncate NONE: the model rejects a dense CJK
// chunk, the batch is bisected, and the bot fails with a reason naming the chunk and its file,
// while every other text of the bot was embedded and the other bots succeed.
func TestReembedNamesRejectedChunk(t *testing.T) {
	t.Parallel()
	b := setupReembed(t, 12, bedrocksim.Knobs{})
	// plan --exact warns of them first.
	p := ragmigrate(t, b.env, append([]string{"plan", "--json", "--exact", "--allow-private-urls"}, b.args[:4]...)...)
	require.Zero(t, p.code, p.stderr)
	var pl plan.Plan
	require.NoError(t, json.Unmarshal([]byte(p.stdout), &pl))
	long := map[string]bool{}
	for _, bp := range pl.PerBot {
		if bp.LongChunks > 0 {
			long[bp.BotID] = true
		}
	}
	require.NotEmpty(t, long)

	r := b.reembed(t, "--json", "--truncate", "NONE")
	require.Equal(t, exitFailure, r.code, r.stderr)
	var sum reembed.Summary
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &sum))
	rejected := 0
	for _, o := range sum.Bots {
		if o.Status == "failed" && strings.Contains(o.Error, "the model rejected") {
			rejected++
			require.Regexp(t, `chunk \d+ of (s3|https?)://\S+ `, o.Error)
			require.Contains(t, o.Error, "Input is too long")
			require.True(t, long[o.BotID], "plan --exact named bot %s for long chunks", o.BotID)
			delete(b.wantRows, o.BotID)
			b.wantFail[o.BotID] = true
		}
	}
	require.Positive(t, rejected, "a CJK bot exceeds the token window")
	b.requireFinalState(t)
}

// TestReembedSizeLimits: --max-file-bytes refuses a large upload before reading it, and
// --max-bot-bytes a bot whose sources together pass it; the bots fail naming the source, and
// plan says so first.
func TestReembedSizeLimits(t *testing.T) {
	t.Parallel()
	b := setupReembed(t, 9, bedrocksim.Knobs{})
	p := ragmigrate(t, b.env, append([]string{"plan", "--json", "--max-file-bytes", "1500"}, b.args[:4]...)...)
	require.Zero(t, p.code, p.stderr)
	require.Contains(t, p.stdout, "larger than the 1500-byte limit for one file (--max-file-bytes)")

	r := b.reembed(t, "--json", "--max-bot-bytes", "3000")
	require.Equal(t, exitFailure, r.code, r.stderr)
	var sum reembed.Summary
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &sum))
	for _, o := range sum.Bots {
		if b.wantRows[o.BotID] > 0 {
			require.Equal(t, "failed", o.Status, o.BotID)
			require.Regexp(t, `^(s3|https?)://.+: too large: with this source the bot's sources would reach \d+ bytes, over the 3000-byte limit for one bot \(--max-bot-bytes\)`, o.Error)
		}
	}
	require.Empty(t, b.rowsPerBot(t), "no bot over the limit wrote a row")
}

// TestReembedSkipSources: with --on-source-error skip-source a bot with a dead link and a missing
// file is re-embedded from its readable sources, and the two are listed with their causes.
func TestReembedSkipSources(t *testing.T) {
	t.Parallel()
	b := setupReembed(t, 12, bedrocksim.Knobs{})
	r := b.reembed(t, "--json", "--on-source-error", "skip-source")
	require.Zero(t, r.code, r.stderr)
	var sum reembed.Summary
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &sum))
	require.Zero(t, sum.Failed)
	var skipped []string
	for _, o := range sum.Bots {
		if len(o.SkippedSources) > 0 {
			require.True(t, b.wantFail[o.BotID], "only a bot with broken sources skips any")
			require.Positive(t, o.Chunks, "re-embedded from the sources that could be read")
			skipped = append(skipped, o.SkippedSources...)
		}
	}
	require.Len(t, skipped, 2)
	require.Contains(t, strings.Join(skipped, " "), "HTTP 404")
	require.Contains(t, strings.Join(skipped, " "), "s3://")
}

// TestReembedRefusesTargetWithoutSetup points reembed at databases without the app's setup: it
// must refuse before any work, name --create-missing, and leave the target untouched, as copy
// does; with --create-missing the confirmation question says what will be created.
func TestReembedRefusesTargetWithoutSetup(t *testing.T) {
	t.Parallel()
	env := stackEnv(t)
	clients := stacktest.AWS(t)
	table, bucket := stacktest.Table(t, clients.DynamoDB), stacktest.Bucket(t, clients.S3)
	r := ragmigrate(t, env, "dev", "seed", "--yes", "--bots", "3", "--table", table, "--bucket", bucket,
		"--source-db", stacktest.Database(t, "RAGMIGRATE_SOURCE_DB"), "--no-target")
	require.Zero(t, r.code, r.stderr)
	for name, tc := range map[string]struct {
		setup string
		want  string
	}{
		"EmptyDatabase": {"", "lacks the vector extension and the items table"},
		"ExtensionOnly": {"CREATE EXTENSION vector", "lacks the items table"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			target := stacktest.Database(t, "RAGMIGRATE_TARGET_DB")
			dst := connectTest(t, target)
			if tc.setup != "" {
				_, err := dst.Exec(t.Context(), tc.setup)
				require.NoError(t, err)
			}
			before := targetState(t, dst)
			args := []string{"reembed", "--rpm", "0", "--table", table, "--bucket", bucket, "--target-db", target, "--report", filepath.Join(t.TempDir(), "r.json")}
			r := ragmigrate(t, env, append(args, "--yes")...)
			require.Equal(t, exitFailure, r.code, r.stderr)
			require.Contains(t, r.stderr, tc.want)
			require.Contains(t, r.stderr, "pass --create-missing")
			require.NotContains(t, r.stderr, "re-embed ", "refused before the plan")
			require.Equal(t, before, targetState(t, dst), "the target is untouched")

			// Without --yes the question is shown (here: in the refusal, stdin is no terminal).
			r = ragmigrate(t, env, append(args, "--create-missing")...)
			require.Equal(t, exitUsage, r.code, r.stderr)
			require.Contains(t, r.stderr, "into the target (creating "+strings.TrimPrefix(tc.want, "lacks ")+" first, with the app's DDL)")
			require.Equal(t, before, targetState(t, dst), "the target is untouched")
		})
	}
}
