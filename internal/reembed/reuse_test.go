package reembed_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/bedrocksim"
	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/embed"
	"github.com/ragmigrate/ragmigrate/internal/reembed"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

const checkModel = "cohere.embed-multilingual-v3"

// fakeEmbedder gives the contract server's vectors and remembers what it was sent.
type fakeEmbedder struct {
	sent []string
	err  error
}

func (f *fakeEmbedder) EmbedAll(_ context.Context, texts []string) ([][]float32, embed.Stats, error) {
	f.sent = append(f.sent, texts...)
	if f.err != nil {
		return nil, embed.Stats{}, f.err
	}
	out := make([][]float32, len(texts))
	for i, t := range texts {
		out[i] = bedrocksim.Vector(checkModel, t, vectorstore.Dimensions)
	}
	return out, embed.Stats{Texts: int64(len(texts))}, nil
}

// TestReuseCheck: the sample is of hits (chunks of today's the old cluster holds), one per bot
// over bots spread across the list, and anything but the run's model's vectors refuses reuse
// with the reason; the provider refusing every call stops the run instead.
func TestReuseCheck(t *testing.T) {
	t.Parallel()
	ctx := stacktest.Context(t)
	url := stacktest.Database(t, "RAGMIGRATE_SOURCE_DB")
	conn, err := vectorstore.Connect(ctx, url, "test", vectorstore.Timeouts{})
	require.NoError(t, err)
	defer conn.Close(ctx)
	require.NoError(t, vectorstore.SetupApp(ctx, conn))
	// Check reads several bots at once.
	pool, err := vectorstore.NewPool(ctx, url, "test", 8, vectorstore.Timeouts{})
	require.NoError(t, err)
	defer pool.Close()

	// Ten bots of four chunks each, the old cluster holding them with the model's vectors, and
	// an older row per bot whose text no chunk has any more, with a vector that is no model's.
	var bots []string
	chunks := map[string][]string{}
	var rows []vectorstore.Row
	id := 0
	row := func(bot, content string, v []float32) {
		id++
		rows = append(rows, vectorstore.Row{ID: fmt.Sprintf("%026d", id), BotID: bot, Content: content, Source: "s", Embedding: v})
	}
	for b := range 10 {
		bot := fmt.Sprintf("01HXBOT%019d", b)
		bots = append(bots, bot)
		bogus := make([]float32, vectorstore.Dimensions)
		bogus[b] = 1
		row(bot, fmt.Sprintf("bot %d: what the page said before", b), bogus)
		for c := range 4 {
			text := fmt.Sprintf("bot %d, chunk %d: the travel policy covers trains and planes", b, c)
			chunks[bot] = append(chunks[bot], text)
			row(bot, text, bedrocksim.Vector(checkModel, text, vectorstore.Dimensions))
		}
	}
	_, err = vectorstore.CopyRows(ctx, conn, rows)
	require.NoError(t, err)

	var mu sync.Mutex
	var read []string
	chunksOf := func(_ context.Context, bot string) ([]string, error) {
		mu.Lock()
		defer mu.Unlock()
		read = append(read, bot)
		return chunks[bot], nil
	}
	model := reembed.Model{ID: checkModel, Dimensions: vectorstore.Dimensions}
	reuse := &reembed.Reuse{Old: pool, From: "u@old/app", OldModel: checkModel}

	t.Run("Passes", func(t *testing.T) {
		read = nil
		emb := &fakeEmbedder{}
		rep, err := reuse.Check(ctx, model, emb, bots, chunksOf)
		require.NoError(t, err)
		require.Empty(t, rep.Refused)
		require.Equal(t, reembed.ReuseSample, rep.Sampled)
		require.InDelta(t, 1, rep.MinCosine, 1e-9)
		spread := []string{bots[0], bots[2], bots[4], bots[6], bots[8]}
		require.ElementsMatch(t, spread, read, "one bot in two: spread over the list")
		require.Len(t, emb.sent, reembed.ReuseSample)
		for i, text := range emb.sent {
			require.Contains(t, chunks[spread[i]], text, "the sample is the bots' chunks in the list's order, never a stale old row")
		}
	})
	t.Run("OtherModelNamed", func(t *testing.T) {
		emb := &fakeEmbedder{}
		other := *reuse
		other.OldModel = "amazon.titan-embed-text-v2:0"
		rep, err := other.Check(ctx, model, emb, bots, chunksOf)
		require.NoError(t, err)
		require.Contains(t, rep.Refused, "the old vectors are amazon.titan-embed-text-v2:0's (--reuse-model)")
		require.Empty(t, emb.sent, "nothing is spent on a refusal known beforehand")
	})
	t.Run("OtherDimensions", func(t *testing.T) {
		emb := &fakeEmbedder{}
		rep, err := reuse.Check(ctx, reembed.Model{ID: checkModel, Dimensions: 512}, emb, bots, chunksOf)
		require.NoError(t, err)
		require.Contains(t, rep.Refused, "the old vectors have 1024 dimensions")
		require.Empty(t, emb.sent)
	})
	t.Run("FewerBotsHold", func(t *testing.T) {
		// Only bots 1 and 7 have chunks the old cluster holds: every bot is read, a round at a
		// time, and the two hits are the sample.
		read = nil
		emb := &fakeEmbedder{}
		rep, err := reuse.Check(ctx, model, emb, bots, func(ctx context.Context, bot string) ([]string, error) {
			texts, _ := chunksOf(ctx, bot)
			if bot != bots[1] && bot != bots[7] {
				return []string{"new text"}, nil
			}
			return texts, nil
		})
		require.NoError(t, err)
		require.Empty(t, rep.Refused)
		require.Equal(t, 2, rep.Sampled)
		require.Len(t, read, len(bots))
		require.Contains(t, chunks[bots[1]], emb.sent[0])
		require.Contains(t, chunks[bots[7]], emb.sent[1])
	})
	t.Run("NoHits", func(t *testing.T) {
		emb := &fakeEmbedder{}
		rep, err := reuse.Check(ctx, model, emb, bots, func(context.Context, string) ([]string, error) { return []string{"new text"}, nil })
		require.NoError(t, err)
		require.Equal(t, "u@old/app holds no chunk of the 10 bots read for the check", rep.Refused)
		require.Empty(t, emb.sent)
	})
	t.Run("ProviderRefusesEveryCall", func(t *testing.T) {
		emb := &fakeEmbedder{err: fmt.Errorf("embed: %w", embed.ErrProviderFatal)}
		_, err := reuse.Check(ctx, model, emb, bots, chunksOf)
		require.ErrorIs(t, err, embed.ErrProviderFatal)
	})
	// Last: it changes the old vectors.
	t.Run("Scaled", func(t *testing.T) {
		_, err := pool.Exec(ctx, `UPDATE items SET embedding = (SELECT array_agg(x * 0.5 ORDER BY i) FROM unnest(embedding::real[]) WITH ORDINALITY AS u(x, i))::vector`)
		require.NoError(t, err)
		rep, err := reuse.Check(ctx, model, &fakeEmbedder{}, bots, chunksOf)
		require.NoError(t, err)
		require.Contains(t, rep.Refused, "length off by 50.0%")
		require.Contains(t, rep.Refused, "cosine 1.0000")
	})
}

// TestReuseTakes: a chunk the model would reject in a plain run is not reused but sent: with a
// NUL (stored without it), over the limits under --truncate NONE, over Titan's token window
// whatever --truncate says; Cohere cuts over-long chunks itself under END, as it did for the
// old vectors.
func TestReuseTakes(t *testing.T) {
	t.Parallel()
	cohere, err := embed.LookupModel("cohere.embed-multilingual-v3")
	require.NoError(t, err)
	titan, err := embed.LookupModel("amazon.titan-embed-text-v2:0")
	require.NoError(t, err)
	long := strings.Repeat("word ", 600)                  // ~600 tokens, 3000 characters
	longForTitan := strings.Repeat("tokenisation ", 3000) // ~9000 tokens
	for _, tt := range []struct {
		name  string
		model embed.Model
		trunc embed.Truncate
		text  string
		want  bool
	}{
		{"Plain", cohere, embed.TruncateNone, "a chunk", true},
		{"Empty", cohere, embed.TruncateEnd, "", false},
		{"NUL", cohere, embed.TruncateEnd, "a\x00chunk", false},
		{"OverCohereUnderNone", cohere, embed.TruncateNone, long, false},
		{"OverCohereUnderEnd", cohere, embed.TruncateEnd, long, true},
		{"OverTitanUnderEnd", titan, embed.TruncateEnd, longForTitan, false},
		{"LongForCohereFineForTitan", titan, embed.TruncateNone, long, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &reembed.Reuse{}
			r.Limit(tt.model, tt.trunc)
			require.Equal(t, tt.want, r.Takes(tt.text))
		})
	}
}
