package plan_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/embed"
	"github.com/ragmigrate/ragmigrate/internal/plan"
)

// textPlan is a small plan: two bots, one of which fails, and a copy estimate.
func textPlan() *plan.Plan {
	return &plan.Plan{
		Bots: plan.BotCounts{Total: 2, WithKnowledge: 2, WillFail: 1,
			ByStatus: map[botstore.SyncStatus]int{botstore.StatusSucceeded: 2}},
		Sources: plan.SourceCounts{Files: 3, FileBytes: 3<<20 + 512<<10, ByExt: map[string]int{".pdf": 2, ".txt": 1}, Missing: 1},
		Reembed: plan.Estimate{Chunks: 120, Tokens: 30000, Requests: 2, Bound: "none"},
		PerBot: []plan.BotPlan{
			{BotID: "b-ok", Title: "Handbook", Status: botstore.StatusSucceeded, Files: 2, Bytes: 3 << 20, Chunks: 100},
			{BotID: "b-bad", Title: "Prices", Status: botstore.StatusSucceeded, Files: 1, Bytes: 512, Chunks: 20,
				Problems: []string{"prices.pdf: not in the bucket"}},
		},
		Copy:           &plan.CopyEstimate{Rows: 120, Bytes: 5 << 30, Dimensions: 1024},
		Recommendation: "reembed",
		Reason:         "the model changes",
	}
}

// The text lists the bots with a problem; --per-bot (EveryBot) lists them all. Sizes are in
// binary units.
func TestPlanWriteText(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, textPlan().WriteText(&out))
	text := out.String()
	require.Contains(t, text, "3 files (3.5 MiB: .pdf 2 .txt 1) · 1 missing")
	require.Contains(t, text, "  bot b-bad     \"Prices\" SUCCEEDED · 1 file 512 B · 0 urls")
	require.Contains(t, text, "    ✗           prices.pdf: not in the bucket\n")
	require.NotContains(t, text, "b-ok", "a bot without problems is listed only with --per-bot")
	require.Contains(t, text, "copy            120 rows · 5.0 GiB incl. TOAST and indexes · vector(1024)")
	require.True(t, strings.HasSuffix(text, "recommendation  reembed: the model changes\n"), text)

	p := textPlan()
	p.EveryBot = true
	out.Reset()
	require.NoError(t, p.WriteText(&out))
	require.Contains(t, out.String(), "  bot b-ok      \"Handbook\" SUCCEEDED · 2 files 3.0 MiB · 0 urls · 0 sitemaps · 100 chunks\n")
	require.Contains(t, out.String(), "b-bad")
}

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
		require.NoError(t, p.WriteText(&b))
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

// TestPlanWriteTextReuse: with --reuse-from the plan says, in total and for each bot that would
// not fail, the chunks the old cluster holds and those still to embed, and what it costs; a
// refused reuse says why and counts nothing as reused.
func TestPlanWriteTextReuse(t *testing.T) {
	t.Parallel()
	p := textPlan()
	p.EveryBot = true
	p.PerBot[0].Reused, p.PerBot[0].Embedded = 90, 10
	p.Reuse = &plan.ReusePlan{From: "u@old:5432/app", OldModel: "cohere.embed-multilingual-v3", Reused: 90, Embedded: 30,
		ReusedTokens: 22000, EmbeddedTokens: 8000, CostUSD: 0.0008, SavedUSD: 0.0022, Sample: 5}
	var out strings.Builder
	require.NoError(t, p.WriteText(&out))
	text := out.String()
	require.Contains(t, text, "reuse           90 of 120 chunks held by u@old:5432/app (by bot and exact text) · 30 to embed · 8000 tokens · $0.0008 ($0.0022 saved)\n")
	require.Contains(t, text, "embeds again up to 5 of these chunks")
	require.Contains(t, text, "100 chunks (90 reused, 10 to embed)\n")
	require.NotContains(t, text, "20 chunks (", "a bot that fails embeds nothing")

	p.Reuse = &plan.ReusePlan{From: "u@old:5432/app", OldModel: "amazon.titan-embed-text-v2:0", Refused: "the old vectors are amazon.titan-embed-text-v2:0's"}
	out.Reset()
	require.NoError(t, p.WriteText(&out))
	require.Contains(t, out.String(), "reuse           nothing reused from u@old:5432/app, every chunk embedded: the old vectors are amazon.titan-embed-text-v2:0's\n")
	require.NotContains(t, out.String(), "reused,")
}
