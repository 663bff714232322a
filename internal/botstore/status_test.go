package botstore_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
)

func TestUpdateStatus(t *testing.T) {
	t.Parallel()
	ctx := stacktest.Context(t)
	c := stacktest.AWS(t).DynamoDB
	table := stacktest.BotTable(t, c)
	store := botstore.New(c, table)
	put := func(b *botstore.Bot) {
		t.Helper()
		_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: b.Item()})
		require.NoError(t, err)
	}
	newBot := func(id string, files ...string) *botstore.Bot {
		b := &botstore.Bot{UserID: "u-1", ID: id, Title: "T", SyncStatus: botstore.StatusSucceeded, LastExecID: "v0-task",
			EmbeddingParams: botstore.EmbeddingParams{ChunkSize: 1000, ChunkOverlap: 200}, MaxResults: 20,
			GenerationParams: botstore.DefaultGenerationParams(),
			Knowledge:        botstore.Knowledge{SourceURLs: []string{"https://example.com/a"}, SitemapURLs: []string{}, Filenames: files}}
		put(b)
		got, err := store.Get(ctx, b.UserID, b.ID)
		require.NoError(t, err)
		return got
	}

	t.Run("a chain of writes each expecting the last", func(t *testing.T) {
		bot := newBot("01HXBOT0000000000000000001", "a.txt")
		require.NoError(t, store.UpdateStatus(ctx, bot, botstore.StatusRunning, "", "ragmigrate-1"))
		require.NoError(t, store.UpdateStatus(ctx, bot, botstore.StatusSucceeded, botstore.ReasonSucceeded, "ragmigrate-1"))
		got := getBot(t, c, table, bot)
		require.Equal(t, botstore.StatusSucceeded, got.SyncStatus)
		require.Equal(t, "ragmigrate-1", got.LastExecID)
		require.Equal(t, "T", got.Title, "other attributes are untouched")
		require.ErrorContains(t, store.UpdateStatus(ctx, bot, botstore.StatusQueued, "", "x"), "QUEUED")
	})

	t.Run("a deleted bot is not re-created", func(t *testing.T) {
		gone := newBot("01HXBOT0000000000000000002")
		_, err := c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: key(gone)})
		require.NoError(t, err)
		require.ErrorIs(t, store.UpdateStatus(ctx, gone, botstore.StatusFailed, "x", "ragmigrate-1"), botstore.ErrBotGone)
		out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true), Key: key(gone)})
		require.NoError(t, err)
		require.Empty(t, out.Item, "no ghost item is created for a deleted bot")
		_, err = store.Get(ctx, gone.UserID, gone.ID)
		require.ErrorIs(t, err, botstore.ErrBotGone)
	})

	// The app's writes between ragmigrate's read and its write: each must stop the write.
	for _, tc := range []struct {
		name, want string
		edit       func(b *botstore.Bot)
	}{
		{"a user adds a URL", "SyncStatus is QUEUED", func(b *botstore.Bot) {
			b.Knowledge.SourceURLs = append(b.Knowledge.SourceURLs, "https://example.com/new")
			b.SyncStatus = botstore.StatusQueued
		}},
		{"the app's task re-syncs the bot", `LastExecId is "arn-task-9"`, func(b *botstore.Bot) {
			b.SyncStatus, b.LastExecID = botstore.StatusRunning, "arn-task-9"
		}},
		{"sources change without a status change", "its Knowledge changed", func(b *botstore.Bot) {
			b.Knowledge.Filenames = []string{"b.txt"}
		}},
		{"the chunk size changes", "its EmbeddingParams changed", func(b *botstore.Bot) {
			b.EmbeddingParams.ChunkSize = 500
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "01HXBOTEDIT" + strconv.Itoa(len(tc.name)) + strings.ReplaceAll(tc.name[:4], " ", "X")
			bot := newBot(id, "a.txt")
			require.NoError(t, store.UpdateStatus(ctx, bot, botstore.StatusRunning, "", "ragmigrate-1"))
			edited := *bot
			edited.Knowledge.Filenames = slices.Clone(bot.Knowledge.Filenames)
			tc.edit(&edited)
			put(&edited)
			err := store.UpdateStatus(ctx, bot, botstore.StatusSucceeded, botstore.ReasonSucceeded, "ragmigrate-1")
			require.ErrorIs(t, err, botstore.ErrBotChanged)
			require.ErrorContains(t, err, tc.want)
			got := getBot(t, c, table, bot)
			require.Equal(t, edited.SyncStatus, got.SyncStatus, "the app's write stands")
			require.Equal(t, edited.LastExecID, got.LastExecID)
		})
	}

	t.Run("a bot with more sources than a condition holds", func(t *testing.T) {
		var files []string
		for i := range 400 {
			files = append(files, fmt.Sprintf("document-with-a-long-name-%03d.pdf", i))
		}
		bot := newBot("01HXBOT0000000000000000003", files...)
		require.NoError(t, store.UpdateStatus(ctx, bot, botstore.StatusRunning, "", "ragmigrate-1"))
		edited := *bot
		edited.Knowledge.Filenames = append(slices.Clone(files[:399]), "replaced.pdf")
		put(&edited)
		err := store.UpdateStatus(ctx, bot, botstore.StatusSucceeded, botstore.ReasonSucceeded, "ragmigrate-1")
		require.ErrorIs(t, err, botstore.ErrBotChanged)
		require.ErrorContains(t, err, "its Knowledge changed")
	})

	t.Run("an item without EmbeddingParams (v0.4.5)", func(t *testing.T) {
		bot := newBot("01HXBOT0000000000000000004", "a.txt")
		_, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table), Key: key(bot),
			UpdateExpression: aws.String("REMOVE EmbeddingParams")})
		require.NoError(t, err)
		legacy, err := store.Get(ctx, bot.UserID, bot.ID)
		require.NoError(t, err)
		require.NoError(t, store.UpdateStatus(ctx, legacy, botstore.StatusRunning, "", "ragmigrate-1"))
		_, err = c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table), Key: key(bot),
			UpdateExpression:          aws.String("SET EmbeddingParams = :p"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":p": bot.Item()["EmbeddingParams"]}})
		require.NoError(t, err)
		require.ErrorIs(t, store.UpdateStatus(ctx, legacy, botstore.StatusSucceeded, "", "ragmigrate-1"), botstore.ErrBotChanged)
	})
}

func key(b *botstore.Bot) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: b.UserID}, "SK": &types.AttributeValueMemberS{Value: botstore.BotSK(b.UserID, b.ID)}}
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
