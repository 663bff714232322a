package vectorstore_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// TestStoredVectors: the lookup finds a bot's rows by exact content only, across query batches,
// gives the oldest row's vector where a bot holds a text twice, ignores other bots' rows and rows
// without a vector, and hands back the stored float32 bits unchanged (values no decimal text
// form keeps).
func TestStoredVectors(t *testing.T) {
	t.Parallel()
	ctx := stacktest.Context(t)
	conn, err := vectorstore.Connect(ctx, stacktest.Database(t, "RAGMIGRATE_SOURCE_DB"), "test", vectorstore.Timeouts{})
	require.NoError(t, err)
	defer conn.Close(ctx)

	_, err = vectorstore.EmbeddingDimensions(ctx, conn)
	require.ErrorIs(t, err, vectorstore.ErrNoItems)
	require.NoError(t, vectorstore.SetupApp(ctx, conn))
	dims, err := vectorstore.EmbeddingDimensions(ctx, conn)
	require.NoError(t, err)
	require.Equal(t, vectorstore.Dimensions, dims)

	vec := func(x float32) []float32 {
		v := make([]float32, vectorstore.Dimensions)
		v[0], v[1], v[2] = x, math.Nextafter32(x, 2), 1.0/3
		return v
	}
	const bot, other = "01HX0000000000000000000BOT", "01HX000000000000000000OTHR"
	var rows []vectorstore.Row
	var contents []string
	for i := range 2500 {
		c := fmt.Sprintf("chunk %d", i)
		contents = append(contents, c)
		if i%2 == 0 {
			rows = append(rows, vectorstore.Row{ID: fmt.Sprintf("%026d", i), BotID: bot, Content: c, Source: "s", Embedding: vec(float32(i) + 0.1)})
		}
	}
	// The same text twice in the bot (the older row wins), once in another bot.
	rows = append(rows,
		vectorstore.Row{ID: fmt.Sprintf("%026d", 9000), BotID: bot, Content: "chunk 0", Source: "s", Embedding: vec(-1)},
		vectorstore.Row{ID: fmt.Sprintf("%026d", 9001), BotID: other, Content: "chunk 1", Source: "s", Embedding: vec(-2)})
	_, err = vectorstore.CopyRows(ctx, conn, rows)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `INSERT INTO items (id, botid, content, source) VALUES ($1, $2, 'chunk 3', 's')`, fmt.Sprintf("%026d", 9002), bot)
	require.NoError(t, err)

	got, err := vectorstore.StoredVectors(ctx, conn, bot, append(contents, "chunk 0 but longer"))
	require.NoError(t, err)
	require.Len(t, got, 1250, "every even chunk, found across the query batches; nothing of the other bot or without a vector")
	require.Equal(t, vec(0.1), got["chunk 0"], "the oldest row of a text the bot holds twice")
	for i := 0; i < 2500; i += 2 {
		require.Equal(t, vec(float32(i)+0.1), got[fmt.Sprintf("chunk %d", i)])
	}
	held, err := vectorstore.StoredContents(ctx, conn, bot, contents)
	require.NoError(t, err)
	require.Len(t, held, 1250)
	require.True(t, held["chunk 2498"])
	require.False(t, held["chunk 1"])

	none, err := vectorstore.StoredVectors(ctx, conn, "01HX00000000000000000NOBOT", contents)
	require.NoError(t, err)
	require.Empty(t, none)
}
