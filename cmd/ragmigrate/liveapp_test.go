package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/dev/bedrocksim"
	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/reembed"
	"github.com/ragmigrate/ragmigrate/internal/reembed/botjob"
)

// TestReembedLiveAppWins runs a slowed re-embed while the live app writes three of its bots, each
// after ragmigrate claimed it and before it finished: a user adds a URL to one (the app's
// update_bot: new Knowledge, SyncStatus QUEUED), the app's own embedding task re-syncs another
// (its exec id, then its rows and SUCCEEDED), and a user deletes the third. None of the three may
// be written by ragmigrate: no SUCCEEDED over the edit, the app's rows byte-identical, no ghost
// item; they are reported as left to the app or skipped, and a re-run does not take them.
func TestReembedLiveAppWins(t *testing.T) {
	t.Parallel()
	// Every request takes 2 s: a bot stays RUNNING long enough for the "app" to act.
	b := setupReembed(t, 16, bedrocksim.Knobs{Latency: 2 * time.Second})
	var ids []string
	for id := range b.wantRows {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	require.GreaterOrEqual(t, len(ids), 3)
	edited, resynced, deleted := ids[len(ids)-3], ids[len(ids)-2], ids[len(ids)-1]
	bots := b.bots(t)
	report := filepath.Join(t.TempDir(), "r.json")
	cmd, stderr := startRagmigrate(t, b.env, append([]string{"reembed", "--yes", "--rpm", "0", "--concurrency", "2", "--report", report}, b.args...)...)

	claimed := func(id string) {
		t.Helper()
		require.Eventually(t, func() bool {
			bot := b.get(t, bots[id])
			return bot != nil && bot.SyncStatus == botstore.StatusRunning && strings.HasPrefix(bot.LastExecID, "ragmigrate-")
		}, 2*time.Minute, 20*time.Millisecond, "bot %s never claimed; stderr: %s", id, stderr)
	}
	newURL := stacktest.Getenv(t, "RAGMIGRATE_DEV_WEB_URL") + "/docs/customer-faq.html"

	// A user adds a URL: the app's update_bot writes Knowledge and QUEUED (not LastExecId).
	claimed(edited)
	_, err := b.dynamo.UpdateItem(t.Context(), &dynamodb.UpdateItemInput{TableName: aws.String(b.table), Key: itemKey(bots[edited]),
		UpdateExpression: aws.String("SET Knowledge.source_urls = list_append(Knowledge.source_urls, :u), SyncStatus = :q, SyncStatusReason = :e"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":u": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberS{Value: newURL}}},
			":q": &types.AttributeValueMemberS{Value: "QUEUED"}, ":e": &types.AttributeValueMemberS{Value: ""}}})
	require.NoError(t, err)

	// The app's embedding task re-syncs a bot: RUNNING under its task id, then its rows, then
	// SUCCEEDED.
	claimed(resynced)
	appTask := "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	setStatus := func(status string) {
		_, err := b.dynamo.UpdateItem(t.Context(), &dynamodb.UpdateItemInput{TableName: aws.String(b.table), Key: itemKey(bots[resynced]),
			UpdateExpression: aws.String("SET SyncStatus = :s, SyncStatusReason = :r, LastExecId = :e"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":s": &types.AttributeValueMemberS{Value: status},
				":r": &types.AttributeValueMemberS{Value: ""}, ":e": &types.AttributeValueMemberS{Value: appTask}}})
		require.NoError(t, err)
	}
	setStatus("RUNNING")
	conn, err := pgx.Connect(t.Context(), b.target)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	vec := "[" + strings.TrimSuffix(strings.Repeat("0.01,", 1024), ",") + "]"
	_, err = conn.Exec(t.Context(), `INSERT INTO items (id, botid, content, source, embedding) VALUES ('app-row-1', $1, 'the app wrote this', 's3://app', $2::vector)`, resynced, vec)
	require.NoError(t, err)
	setStatus("SUCCEEDED")

	// A user deletes a bot.
	claimed(deleted)
	_, err = b.dynamo.DeleteItem(t.Context(), &dynamodb.DeleteItemInput{TableName: aws.String(b.table), Key: itemKey(bots[deleted])})
	require.NoError(t, err)

	err = cmd.Wait()
	require.Equal(t, exitFailure, cmd.ProcessState.ExitCode(), "the seed's unreadable bots fail the run: %v %s", err, stderr)

	raw, err := os.ReadFile(report)
	require.NoError(t, err)
	var sum reembed.Summary
	require.NoError(t, json.Unmarshal(raw, &sum))
	require.Equal(t, 2, sum.LeftToApp, "%s", raw)
	outcome := map[string]reembedOutcomeJSON{}
	for _, o := range sum.Bots {
		outcome[o.BotID] = reembedOutcomeJSON{o.Status, o.Error}
	}
	require.Equal(t, botjob.Left, outcome[edited].Status)
	require.Contains(t, outcome[edited].Error, "SyncStatus is QUEUED")
	require.Equal(t, botjob.Left, outcome[resynced].Status)
	require.Contains(t, outcome[resynced].Error, appTask)
	require.Equal(t, botjob.Skipped, outcome[deleted].Status)
	require.Contains(t, outcome[deleted].Error, "deleted")

	// The app's writes stand.
	after := b.bots(t)
	require.Equal(t, botstore.StatusQueued, after[edited].SyncStatus)
	require.Contains(t, after[edited].Knowledge.SourceURLs, newURL)
	require.Equal(t, botstore.StatusSucceeded, after[resynced].SyncStatus)
	require.Equal(t, appTask, after[resynced].LastExecID)
	require.NotContains(t, after, deleted, "no ghost item for the deleted bot")
	require.Nil(t, b.get(t, bots[deleted]))
	rows := b.rowsPerBot(t)
	require.Zero(t, rows[edited], "no rows written over the user's edit")
	require.Zero(t, rows[deleted])
	require.Equal(t, int64(1), rows[resynced], "the app's rows are untouched")
	var content string
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT content FROM items WHERE botid = $1`, resynced).Scan(&content))
	require.Equal(t, "the app wrote this", content)
	// Every other readable bot was written as usual.
	for id, n := range b.wantRows {
		if id != edited && id != resynced && id != deleted {
			require.Equal(t, n, rows[id], id)
		}
	}

	st := ragmigrate(t, b.env, "status", "--target-db", b.target, "--failures")
	require.Zero(t, st.code, st.stderr)
	require.Contains(t, st.stdout, "bot "+edited+" (user "+bots[edited].UserID+") left to the app: ")

	// A re-run leaves them to the app: the edited bot is QUEUED for the app's own task, the
	// re-synced one was taken by it.
	again := b.reembed(t, "--json")
	require.Zero(t, again.code, again.stderr)
	require.Contains(t, again.stdout, `"nothing_to_do": true`)
}

type reembedOutcomeJSON struct{ Status, Error string }

// TestReembedSpendsOnlyOnWhatIsAsked: --retry-failed runs exactly the failed bots of the latest
// run, and a run scoped with --bot leaves the others to the runs that did them.
func TestReembedSpendsOnlyOnWhatIsAsked(t *testing.T) {
	t.Parallel()
	b := setupReembed(t, 16, bedrocksim.Knobs{})
	first := b.reembed(t, "--json")
	require.Equal(t, exitFailure, first.code, first.stderr)
	// --rpm 0 asks for no request budget: nothing is paced, and nothing is to be found either.
	require.Contains(t, first.stderr, "budget: none (--rpm 0 or --tpm 0 given): requests are not paced")
	var one string
	for id := range b.wantRows {
		one = id
		break
	}

	texts := func() int64 { return bedrockStats(t, b.bedrock+"/stats").Texts }
	before := texts()
	scoped := b.reembed(t, "--json", "--fresh", "--bot", one)
	require.Zero(t, scoped.code, scoped.stderr)
	var sum reembed.Summary
	require.NoError(t, json.Unmarshal([]byte(scoped.stdout), &sum))
	require.Len(t, sum.Bots, 1)
	require.Equal(t, b.wantRows[one], texts()-before, "only the one bot was embedded")

	// The latest run (the --bot run) has no failures: nothing is retried, nothing is spent.
	before = texts()
	retry := b.reembed(t, "--json", "--retry-failed")
	require.Zero(t, retry.code, retry.stderr)
	require.Contains(t, retry.stdout, `"nothing_to_do": true`)
	require.Contains(t, retry.stdout, "has no failed bots")
	require.Equal(t, before, texts())

	// Nor does a plain run: every other bot has its outcome in the first run.
	plain := b.reembed(t, "--json")
	require.Zero(t, plain.code, plain.stderr)
	require.Contains(t, plain.stdout, `"nothing_to_do": true`)
	require.Equal(t, before, texts())
	b.requireFinalState(t)
}

// get reads a bot's item again; nil when it is gone.
func (b *reembedBundle) get(t *testing.T, bot *botstore.Bot) *botstore.Bot {
	t.Helper()
	got, err := botstore.New(b.dynamo, b.table).Get(t.Context(), bot.UserID, bot.ID)
	if err != nil {
		require.ErrorIs(t, err, botstore.ErrBotGone)
		return nil
	}
	return got
}

func itemKey(b *botstore.Bot) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: b.UserID}, "SK": &types.AttributeValueMemberS{Value: botstore.BotSK(b.UserID, b.ID)}}
}
