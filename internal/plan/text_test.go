package plan_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/embed"
	"github.com/ragmigrate/ragmigrate/internal/plan"
)

// TestTextSaysWhatTruncateDoes: the cure the plan offers for chunks over the model's token
// window is --truncate END only for a model that truncates itself (Cohere); Titan rejects them
// whatever --truncate says. The cost is the model's, never called Bedrock's for another provider.
func TestTextSaysWhatTruncateDoes(t *testing.T) {
	t.Parallel()
	text := func(m embed.Model) string {
		p := &plan.Plan{Model: m, Exact: true,
			Bots:    plan.BotCounts{Total: 1, WithKnowledge: 1, WillFail: 1, WillFailLongChunks: 1},
			Reembed: plan.Estimate{Chunks: 3, Tokens: 9000, LongChunks: 1, LongChunkBots: 1, Bound: "none"}}
		var b strings.Builder
		require.NoError(t, p.WriteText(&b, false))
		return b.String()
	}
	cohere, err := embed.LookupModel("cohere.embed-multilingual-v3")
	require.NoError(t, err)
	require.Contains(t, text(cohere), "--truncate END embeds them cut")

	titan, err := embed.LookupModel("amazon.titan-embed-text-v2:0")
	require.NoError(t, err)
	out := text(titan)
	require.NotContains(t, out, "END embeds")
	require.Contains(t, out, "whatever --truncate says")

	openai, err := embed.OpenAIModel("text-embedding-3-small")
	require.NoError(t, err)
	openai.PricePerMTok = 0.02
	out = text(openai)
	require.Contains(t, out, "(text-embedding-3-small at $0.02/1M tokens)")
	require.NotContains(t, out, "Bedrock")
}
