package plan_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/plan"
)

func TestEstimateTokens(t *testing.T) {
	t.Parallel()
	require.Zero(t, plan.EstimateTokens(""))
	require.EqualValues(t, 2, plan.EstimateTokens("purifier"), "a word: a token per four characters")
	require.EqualValues(t, 4, plan.EstimateTokens("HEPA filter."), "words and a full stop")
	require.EqualValues(t, 6, plan.EstimateTokens("出張旅費規程"), "one per CJK character")
	require.EqualValues(t, 3, plan.EstimateTokens("한국어"), "Hangul too")

	english := strings.Repeat("The filter must be replaced every twelve months. ", 20)
	ratio := float64(plan.EstimateTokens(english)) / float64(len(english))
	require.InDelta(t, 0.25, ratio, 0.08, "English is near 4 characters per token")

	japanese := strings.Repeat("日当は三千円です。", 100) // 900 characters
	require.Greater(t, plan.EstimateTokens(japanese), int64(512), "a 900-character Japanese chunk passes Cohere's 512 tokens")
}

func TestWithDimensions(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		model string
		dims  int
		ok    bool
	}{
		{"amazon.titan-embed-text-v2:0", 512, true},
		{"amazon.titan-embed-text-v2:0", 256, true},
		{"amazon.titan-embed-text-v2:0", 1024, true},
		{"amazon.titan-embed-text-v2:0", 300, false},
		{"cohere.embed-multilingual-v3", 1024, true},
		{"cohere.embed-multilingual-v3", 512, false},
		{"cohere.embed-english-v3", 256, false},
		{"hash", 7, true},
		{"hash", 0, false},
		{"hash", -1, false},
		{"hash", plan.MaxDimensions + 1, false},
	} {
		m, err := plan.LookupModel(tt.model)
		require.NoError(t, err)
		got, err := m.WithDimensions(tt.dims)
		if !tt.ok {
			require.Error(t, err, "%s %d", tt.model, tt.dims)
			continue
		}
		require.NoError(t, err, "%s %d", tt.model, tt.dims)
		require.Equal(t, tt.dims, got.Dimensions)
	}
}
