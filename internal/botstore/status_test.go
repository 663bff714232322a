package botstore_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/stacktest"
)

func TestSetStatus(t *testing.T) {
	t.Parallel()
	ctx := stacktest.Context(t)
	c := stacktest.AWS(t).DynamoDB
	table := stacktest.Table(t, c)
	_, err := c.CreateTable(ctx, botstore.CreateTableInput(table))
	require.NoError(t, err)
	require.NoError(t, dynamodb.NewTableExistsWaiter(c).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, time.Minute,
		func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 50 * time.Millisecond }))
	store := botstore.New(c, table)
	bot := &botstore.Bot{UserID: "u-1", ID: "01HXBOT0000000000000000001", Title: "T", SyncStatus: botstore.StatusQueued,
		EmbeddingParams: botstore.EmbeddingParams{ChunkSize: 1000, ChunkOverlap: 200}, MaxResults: 20,
		GenerationParams: botstore.DefaultGenerationParams(),
		Knowledge:        botstore.Knowledge{SourceURLs: []string{}, SitemapURLs: []string{}, Filenames: []string{"a.txt"}}}
	_, err = c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: bot.Item()})
	require.NoError(t, err)

	require.NoError(t, store.SetStatus(ctx, bot.UserID, bot.ID, botstore.StatusRunning, "", "ragmigrate-1"))
	got := getBot(t, c, table, bot)
	require.Equal(t, botstore.StatusRunning, got.SyncStatus)
	require.Equal(t, "ragmigrate-1", got.LastExecID)
	require.Equal(t, "T", got.Title, "other attributes are untouched")

	require.ErrorContains(t, store.SetStatus(ctx, bot.UserID, bot.ID, botstore.StatusQueued, "", "x"), "QUEUED")

	gone := *bot
	gone.ID = "01HXBOT0000000000000000002"
	err = store.SetStatus(ctx, gone.UserID, gone.ID, botstore.StatusSucceeded, botstore.ReasonSucceeded, "x")
	require.ErrorIs(t, err, botstore.ErrBotGone)
	out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: gone.UserID}, "SK": &types.AttributeValueMemberS{Value: botstore.BotSK(gone.UserID, gone.ID)}}})
	require.NoError(t, err)
	require.Empty(t, out.Item, "no ghost item is created for a deleted bot")
}

func getBot(t *testing.T, c *dynamodb.Client, table string, b *botstore.Bot) *botstore.Bot {
	t.Helper()
	out, err := c.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: b.UserID}, "SK": &types.AttributeValueMemberS{Value: botstore.BotSK(b.UserID, b.ID)}}})
	require.NoError(t, err)
	got, err := botstore.Decode(out.Item)
	require.NoError(t, err)
	return got
}
