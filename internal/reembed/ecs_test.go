package reembed_test

import (
	"log/slog"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/journal"
	"github.com/ragmigrate/ragmigrate/internal/reembed"
	"github.com/ragmigrate/ragmigrate/internal/reembed/botjob"
	"github.com/ragmigrate/ragmigrate/internal/runner"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// TestTaskJudgeChecksRows: a task that says SUCCEEDED is believed only with sound rows. A bot
// with knowledge and no rows, or rows of another vector size than the run's, is a failed attempt (retried); on
// the last try the job is failed and the bot's SyncStatus says why, under the task's id. Sound
// rows make the job done with their count; FAILED under the task's id is the bot's failure.
func TestTaskJudgeChecksRows(t *testing.T) {
	t.Parallel()
	ctx := stacktest.Context(t)
	clients := stacktest.AWS(t)
	table := stacktest.BotTable(t, clients.DynamoDB)
	url := stacktest.Database(t, "RAGMIGRATE_TARGET_DB")
	conn, err := vectorstore.Connect(ctx, url, "test", vectorstore.Timeouts{})
	require.NoError(t, err)
	defer conn.Close(ctx)
	require.NoError(t, vectorstore.SetupApp(ctx, conn))
	require.NoError(t, journal.Migrate(ctx, conn))
	pool, err := vectorstore.NewPool(ctx, url, "test", 4, vectorstore.Timeouts{})
	require.NoError(t, err)
	defer pool.Close()
	run, err := journal.StartRun(ctx, conn, reembed.Kind, table, map[string]any{})
	require.NoError(t, err)

	bots := botstore.New(clients.DynamoDB, table)
	put := func(id string, status botstore.SyncStatus, reason, exec string) botjob.Job {
		b := &botstore.Bot{UserID: "u1", ID: id, Title: id, Instruction: "x",
			EmbeddingParams: botstore.EmbeddingParams{ChunkSize: 1000, ChunkOverlap: 200}, GenerationParams: botstore.DefaultGenerationParams(),
			MaxResults: 20, SyncStatus: status, SyncStatusReason: reason, LastExecID: exec,
			Knowledge: botstore.Knowledge{SourceURLs: []string{"https://example.com/"}, SitemapURLs: []string{}, Filenames: []string{}}}
		_, err := clients.DynamoDB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: b.Item()})
		require.NoError(t, err)
		j := botjob.Job{RunID: run.ID, BotID: id, UserID: "u1", Status: botjob.Pending}
		require.NoError(t, botjob.Add(ctx, conn, []botjob.Job{j}))
		return j
	}
	rows := func(id string, n, dims int) {
		var rs []vectorstore.Row
		for i := range n {
			v := make([]float32, dims)
			v[0] = 1
			rs = append(rs, vectorstore.Row{ID: id[:24] + string(rune('A'+i)) + "0", BotID: id, Content: "c", Source: "s", Embedding: v})
		}
		require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			_, err := vectorstore.ReplaceBotRows(ctx, tx, id, rs)
			return err
		}))
	}
	judge := reembed.TaskJudge{Job: &reembed.Job{Bots: bots, Target: pool, Logger: slog.New(slog.DiscardHandler)}, Dimensions: vectorstore.Dimensions}
	end := func(task string) runner.TaskEnd {
		return runner.TaskEnd{TaskID: task, StopCode: "EssentialContainerExited"}
	}
	outcome := func(id string) botjob.Job {
		jobs, err := botjob.List(ctx, pool, run.ID)
		require.NoError(t, err)
		for _, j := range jobs {
			if j.BotID == id {
				return j
			}
		}
		t.Fatalf("no job for %s", id)
		return botjob.Job{}
	}

	const noRows, good, failed = "01JNOROWS0000000000000000A", "01JGOOD000000000000000000A", "01JFAILED00000000000000000"
	j := put(noRows, botstore.StatusSucceeded, botstore.ReasonSucceeded, "task-1")
	v, err := judge.Settle(ctx, j, end("task-1"), false)
	require.NoError(t, err)
	require.Equal(t, runner.Retry, v, "SUCCEEDED without rows is not believed")
	require.Equal(t, botjob.Pending, outcome(noRows).Status)
	v, err = judge.Settle(ctx, j, end("task-1"), true)
	require.NoError(t, err)
	require.Equal(t, runner.Finished, v)
	require.Equal(t, botjob.Failed, outcome(noRows).Status)
	require.Contains(t, outcome(noRows).Error, "no rows")
	b, err := bots.Get(ctx, "u1", noRows)
	require.NoError(t, err)
	require.Equal(t, botstore.StatusFailed, b.SyncStatus)
	require.Equal(t, "task-1", b.LastExecID)

	j = put(good, botstore.StatusSucceeded, botstore.ReasonSucceeded, "task-2")
	rows(good, 3, vectorstore.Dimensions)
	other := judge
	other.Dimensions = 512
	v, err = other.Settle(ctx, j, end("task-2"), false)
	require.NoError(t, err)
	require.Equal(t, runner.Retry, v, "vectors of another size than the run's are not believed")
	v, err = judge.Settle(ctx, j, end("task-2"), false)
	require.NoError(t, err)
	require.Equal(t, runner.Finished, v)
	require.Equal(t, botjob.Done, outcome(good).Status)
	require.EqualValues(t, 3, outcome(good).Chunks)

	j = put(failed, botstore.StatusFailed, "get s3://b/k: NoSuchKey", "task-3")
	v, err = judge.Settle(ctx, j, end("task-3"), false)
	require.NoError(t, err)
	require.Equal(t, runner.Finished, v, "the task's FAILED is the bot's failure: not retried")
	require.Equal(t, botjob.Failed, outcome(failed).Status)
	require.Equal(t, "get s3://b/k: NoSuchKey", outcome(failed).Error)

	// A task that never claimed the bot (its LastExecId is another's) ended without an outcome.
	v, err = judge.Settle(ctx, put("01JOTHER000000000000000000", botstore.StatusSucceeded, "", "older"), end("task-4"), false)
	require.NoError(t, err)
	require.Equal(t, runner.Retry, v)
}
