package embed_test

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/embed"
)

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func TestHash(t *testing.T) {
	t.Parallel()
	h, err := embed.NewHash(256)
	require.NoError(t, err)
	require.Equal(t, "hash-256", h.Model())
	texts := []string{
		"The quick brown fox jumps over the lazy dog",
		"the QUICK brown fox jumps over the lazy dog!",
		"Quarterly revenue grew by eleven percent",
		"東京都の天気は晴れです",
		"東京都の天気は雨です",
		"",
	}
	a, err := h.Embed(context.Background(), texts)
	require.NoError(t, err)
	h2, err := embed.NewHash(256)
	require.NoError(t, err)
	b, err := h2.Embed(context.Background(), texts)
	require.NoError(t, err)
	require.Equal(t, a, b, "deterministic across instances")

	for i, v := range a {
		require.Len(t, v, 256)
		require.InDelta(t, 1, math.Sqrt(dot(v, v)), 1e-5, "text %d is a unit vector", i)
	}
	require.InDelta(t, 1, dot(a[0], a[1]), 1e-6, "case and punctuation do not matter")
	require.Greater(t, dot(a[0], a[1]), dot(a[0], a[2]))
	require.Greater(t, dot(a[3], a[4]), 0.5, "CJK bigrams make similar sentences close")
	require.Less(t, dot(a[3], a[2]), 0.5)

	_, err = embed.NewHash(0)
	require.Error(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = h.Embed(ctx, texts)
	require.ErrorIs(t, err, context.Canceled)

	// Through the Batcher: no limits, nothing to retry.
	vecs, st, err := embed.NewBatcher(h, embed.Options{}).EmbedAll(context.Background(), corpus(200, "hash"))
	require.NoError(t, err)
	require.Len(t, vecs, 200)
	require.EqualValues(t, 3, st.Requests)
}
