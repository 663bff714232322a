package embed_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/bedrocksim"
	"github.com/ragmigrate/ragmigrate/internal/chunk"
	textcorpus "github.com/ragmigrate/ragmigrate/internal/corpus"
	"github.com/ragmigrate/ragmigrate/internal/embed"
)

func TestEstimateTokens(t *testing.T) {
	t.Parallel()
	require.Zero(t, embed.EstimateTokens(""))
	require.Equal(t, 1, embed.EstimateTokens("abcd"))
	require.Equal(t, 2, embed.EstimateTokens("purifier"), "a word: a token per four characters")
	require.Equal(t, 4, embed.EstimateTokens("HEPA filter."), "words and a full stop")
	require.Equal(t, 6, embed.EstimateTokens("出張旅費規程"), "one per CJK character")
	require.Equal(t, 3, embed.EstimateTokens("한국어"), "Hangul too")
	require.Equal(t, 2, embed.EstimateTokens("café   naïf\t"), "code points, not bytes; whitespace is free")

	english := strings.Repeat("The filter must be replaced every twelve months. ", 20)
	ratio := float64(embed.EstimateTokens(english)) / float64(len(english))
	require.InDelta(t, 0.25, ratio, 0.08, "English is near 4 characters per token")

	japanese := strings.Repeat("日当は三千円です。", 100) // 900 characters
	require.Greater(t, embed.EstimateTokens(japanese), 512, "a 900-character Japanese chunk passes Cohere's 512 tokens")
}

// TestTokensAreTheContractServers: what a run reports as spent (the Batcher's Tokens, the
// run's actual cost) is what the Bedrock contract server counts for the same texts, in every
// language of the corpus: the tool's one estimator and the double's own copy agree. Before,
// the Batcher counted characters / 4 while plan --exact and the double counted CJK characters
// and punctuation as tokens of their own.
func TestTokensAreTheContractServers(t *testing.T) {
	t.Parallel()
	b := setup(t, bedrocksim.Knobs{})
	splitter, err := chunk.New(300, 50) // within Cohere's 512 tokens even for dense CJK: no truncation
	require.NoError(t, err)
	var texts []string
	for n := range 2 * len(textcorpus.Languages()) {
		texts = append(texts, splitter.Split(textcorpus.Generate(3, n).PlainText())...)
	}
	var want int64
	for _, text := range texts {
		n := embed.EstimateTokens(text)
		require.LessOrEqual(t, n, 512)
		want += int64(n)
	}
	_, st, err := embed.NewBatcher(b.cohere(embed.CohereOptions{}), embed.Options{}).EmbedAll(context.Background(), texts)
	require.NoError(t, err)
	require.EqualValues(t, len(texts), st.Texts)
	require.Equal(t, b.sim.Stats().Tokens, st.Tokens, "the contract server counted the same tokens")
	if st.Retries == 0 {
		require.Equal(t, want, st.Tokens, "each text's estimate, once")
	} else {
		// A lost answer, retried (see requireSent): Bedrock charged both requests.
		require.Greater(t, st.Tokens, want)
	}
}

func TestWithDimensions(t *testing.T) {
	t.Parallel()
	openai, err := embed.OpenAIModel("text-embedding-3-small")
	require.NoError(t, err)
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
		{"hash", embed.MaxDimensions + 1, false},
		{openai.ID, 1536, true},
		{openai.ID, 0, false},
		{openai.ID, embed.MaxDimensions + 1, false},
	} {
		m := openai
		if tt.model != openai.ID {
			m, err = embed.LookupModel(tt.model)
			require.NoError(t, err)
		}
		got, err := m.WithDimensions(tt.dims)
		if !tt.ok {
			require.Error(t, err, "%s %d", tt.model, tt.dims)
			continue
		}
		require.NoError(t, err, "%s %d", tt.model, tt.dims)
		require.Equal(t, tt.dims, got.Dimensions)
	}
	_, err = embed.LookupModel("cohere.embed-v4")
	require.ErrorContains(t, err, "known are cohere.embed-multilingual-v3, cohere.embed-english-v3, amazon.titan-embed-text-v2:0, hash")
	_, err = embed.OpenAIModel("")
	require.Error(t, err)
}

// TestCatalogueIsWhatOpenGives: every fact the catalogue states about a model (plan's batch,
// character limit, vector size, truncation) is what the Provider a run gets from Open obeys, at
// every size the model offers. Before, the catalogue gave the hash a batch of 1024 while its
// provider sent 96, so plan counted requests the run never made.
func TestCatalogueIsWhatOpenGives(t *testing.T) {
	t.Parallel()
	openai, err := embed.OpenAIModel("text-embedding-3-small")
	require.NoError(t, err)
	opts := embed.OpenOptions{AWS: aws.Config{Region: "us-east-1"}, OpenAIURL: "http://127.0.0.1:1/v1", Truncate: embed.TruncateEnd}
	for _, base := range append(embed.Models, openai) {
		sizes := base.DimensionChoices
		if sizes == nil {
			sizes = []int{1, 1024, 1536, embed.MaxDimensions}
		}
		for _, dims := range sizes {
			m, err := base.WithDimensions(dims)
			require.NoError(t, err)
			p, err := embed.Open(m, opts)
			require.NoError(t, err, "%s %d", m.ID, dims)
			require.Equal(t, m.MaxBatch, p.MaxBatch(), "%s: batch", m.ID)
			require.Equal(t, m.MaxChars, p.MaxChars(), "%s: characters", m.ID)
			require.Equal(t, dims, p.Dimensions(), "%s: dimensions", m.ID)
			if m.Kind != embed.KindHash {
				require.Equal(t, m.ID, p.Model())
			}
			tr, truncates := p.(interface{ Truncation() embed.Truncate })
			require.Equal(t, m.Truncates, truncates, "%s: truncation", m.ID)
			if truncates {
				require.Equal(t, embed.TruncateEnd, tr.Truncation(), "%s: --truncate reaches the model", m.ID)
			}
		}
	}
	hash, err := embed.LookupModel("hash")
	require.NoError(t, err)
	require.Equal(t, 96, hash.MaxBatch, "the hash batches as Cohere does")

	_, err = embed.Open(openai, embed.OpenOptions{OpenAIURL: "127.0.0.1:1/v1"})
	require.Error(t, err, "no dimensions")
	m, err := openai.WithDimensions(8)
	require.NoError(t, err)
	_, err = embed.Open(m, embed.OpenOptions{OpenAIURL: "ftp://user:secret@host/v1"})
	require.ErrorContains(t, err, "base URL")
	require.NotContains(t, err.Error(), "secret")
}
