package reembed_test

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/embed"
	"github.com/ragmigrate/ragmigrate/internal/reembed"
	"github.com/ragmigrate/ragmigrate/internal/reembed/botjob"
)

func outcome(bot, title, status string, chunks int64, errText string, skipped ...string) reembed.Outcome {
	return reembed.Outcome{Title: title, Job: botjob.Job{RunID: 7, BotID: bot, Status: status, Chunks: chunks, Error: errText, SkippedSources: skipped}}
}

// run is a run of five bots, one of each status, and a malformed item.
func run(resumed bool) *reembed.Result {
	return &reembed.Result{RunID: 7, Resumed: resumed, Elapsed: 83*time.Second + 123456789*time.Nanosecond,
		Run: []reembed.Outcome{
			outcome("b-done", "Handbook", botjob.Done, 40, "", "https://example.com/gone: HTTP 404"),
			outcome("b-fail", "Prices", botjob.Failed, 0, "load prices.pdf: encrypted"),
			outcome("b-skip", "Empty", botjob.Skipped, 0, "no knowledge"),
			outcome("b-left", "Edited", botjob.Left, 0, "left to the app: the bot was edited while it ran"),
			outcome("b-todo", "Later", botjob.Pending, 2, ""),
		},
		Malformed: []botstore.DecodeError{{PK: "u1", SK: "u1#BOT#b-bad", Reason: "Knowledge is not a map"}},
	}
}

var embedding = reembed.Embedding{Model: "amazon.titan-embed-text-v2:0", PricePerMTok: 0.02, EstimatedUSD: 0.5,
	Stats: embed.Stats{Requests: 12, Texts: 40, Throttles: 2, Retries: 2, Tokens: 260000,
		ReportedTokens: 240000, UnreportedTokens: 10000}}

// NewSummary counts the whole run's bots by outcome and prices this invocation's tokens.
func TestSummaryCountsTheRun(t *testing.T) {
	s := reembed.NewSummary(run(false), embedding)
	require.Equal(t, [5]int{1, 1, 1, 1, 1}, [5]int{s.Succeeded, s.Failed, s.Skipped, s.LeftToApp, s.Pending})
	require.EqualValues(t, 42, s.Chunks, "the chunks of every bot of the run")
	require.EqualValues(t, 40, s.Texts)
	require.EqualValues(t, 12, s.Requests)
	require.EqualValues(t, 2, s.Throttles)
	require.EqualValues(t, 250000, s.Tokens, "the tokens reported, and the estimate where the answer did not say")
	require.Equal(t, "reported, 10000 estimated", s.TokensFrom)
	require.EqualValues(t, 260000, s.EstimatedTokens)
	require.InDelta(t, 0.005, s.ActualUSD, 1e-12, "250k tokens at $0.02 per million")
	require.Equal(t, "1m23.123s", s.Elapsed)
	require.Len(t, s.Bots, 5)
	require.Len(t, s.Malformed, 1)
}

func TestSummaryWriteText(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    *reembed.Summary
		want string
	}{{
		name: "a first run lists every bot that did not succeed",
		s:    reembed.NewSummary(run(false), embedding),
		want: `run 7                     1 succeeded · 1 failed · 1 skipped · 1 left to the app · 1 not done yet · 42 chunks
embedding                 40 texts · 12 requests (4.0 texts per accepted request) · 2 throttles · 250000 tokens (as the provider reported them, 10000 of them estimated) · $0.0050 (estimated $0.5000 for the whole run) · amazon.titan-embed-text-v2:0 · 1m23.123s
  source skipped b-done   "Handbook": https://example.com/gone: HTTP 404
  failed b-fail           "Prices": load prices.pdf: encrypted
  skipped b-skip          "Empty": no knowledge
  left to the app b-left  "Edited": the bot was edited while it ran
  not a bot               u1#BOT#b-bad: Knowledge is not a map
`,
	}, {
		// The counts are the whole run's; the embedding only this invocation's, and says so.
		name: "a resumed run",
		s: func() *reembed.Summary {
			res := run(true)
			res.Run, res.Malformed = res.Run[:1], nil
			res.Run[0].SkippedSources = nil
			return reembed.NewSummary(res, reembed.Embedding{Model: "cohere.embed-multilingual-v3", PricePerMTok: 0.1, EstimatedUSD: 0.25})
		}(),
		want: `run 7 (resumed)              1 succeeded · 0 failed · 0 skipped · 0 left to the app · 40 chunks
embedding (this invocation)  0 texts · 0 requests (0.0 texts per accepted request) · 0 throttles · 0 tokens · $0.0000 (estimated $0.2500 for the whole run) · cohere.embed-multilingual-v3 · 1m23.123s
`,
	}, {
		// Reused chunks are the run's, from the journal; what they saved is priced at the model's.
		name: "a run that reused old vectors",
		s: func() *reembed.Summary {
			res := run(false)
			res.Run, res.Malformed = res.Run[:1], nil
			res.Run[0].SkippedSources = nil
			res.Run[0].Reused, res.Run[0].ReusedTokens, res.Run[0].Embedded = 36, 200000, 4
			res.Reuse = &reembed.ReuseReport{From: "u@old:5432/app", OldModel: "amazon.titan-embed-text-v2:0", Sampled: 5, MinCosine: 1}
			return reembed.NewSummary(res, reembed.Embedding{Model: "amazon.titan-embed-text-v2:0", PricePerMTok: 0.02, EstimatedUSD: 0.5,
				Stats: embed.Stats{Requests: 2, Texts: 9, Tokens: 2500, ReportedTokens: 2500}})
		}(),
		want: `run 7      1 succeeded · 0 failed · 0 skipped · 0 left to the app · 40 chunks
reuse      36 of 40 chunks reused · 4 embedded · $0.0040 saved · from u@old:5432/app, amazon.titan-embed-text-v2:0's vectors checked on 5 chunks embedded again (cosine ≥ 1.0000)
embedding  9 texts · 2 requests (4.5 texts per accepted request) · 0 throttles · 2500 tokens (as the provider reported them) · $0.0001 (estimated $0.5000 for the whole run) · amazon.titan-embed-text-v2:0 · 1m23.123s
`,
	}, {
		name: "a run whose old vectors were refused",
		s: func() *reembed.Summary {
			res := run(false)
			res.Run, res.Malformed = res.Run[:1], nil
			res.Run[0].SkippedSources = nil
			res.Reuse = &reembed.ReuseReport{From: "u@old:5432/app", OldModel: "amazon.titan-embed-text-v2:0", Refused: "the old vectors have 1024 dimensions and amazon.titan-embed-text-v2:0 gives 512 here (--dimensions)"}
			return reembed.NewSummary(res, reembed.Embedding{Model: "amazon.titan-embed-text-v2:0", PricePerMTok: 0.02, Stats: embed.Stats{Requests: 1, Texts: 40, Tokens: 10000, ReportedTokens: 10000}})
		}(),
		want: `run 7      1 succeeded · 0 failed · 0 skipped · 0 left to the app · 40 chunks
reuse      refused, every chunk embedded: the old vectors have 1024 dimensions and amazon.titan-embed-text-v2:0 gives 512 here (--dimensions)
embedding  40 texts · 1 request (40.0 texts per accepted request) · 0 throttles · 10000 tokens (as the provider reported them) · $0.0002 (estimated $0.0000 for the whole run) · amazon.titan-embed-text-v2:0 · 1m23.123s
`,
	}, {
		name: "nothing to do",
		s:    &reembed.Summary{RunID: 7, NothingToDo: true, Model: "amazon.titan-embed-text-v2:0"},
		want: "nothing to do: run 7 and the runs before it finished every bot in scope (--fresh starts over, --retry-failed reruns the latest run's failures)\n",
	}, {
		name: "nothing to do, with the run's own reason (--retry-failed)",
		s:    &reembed.Summary{RunID: 7, NothingToDo: true, Note: "run 7 has no failed bots to retry"},
		want: "nothing to do: run 7 has no failed bots to retry\n",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			require.NoError(t, tc.s.WriteText(&out))
			require.Equal(t, tc.want, out.String())
		})
	}
}

// The JSON's field names are a contract with scripts (and the run's report file): renaming one
// breaks them, so the names are pinned here.
func TestSummaryJSONFieldNames(t *testing.T) {
	b, err := json.Marshal(reembed.NewSummary(run(true), embedding))
	require.NoError(t, err)
	var fields map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(b, &fields))
	require.Equal(t, []string{"actual_cost_usd", "bots", "chunks", "elapsed", "embedded", "estimated_cost_usd", "estimated_tokens", "failed", "left_to_app",
		"malformed", "model", "nothing_to_do", "pending", "requests", "resumed", "reused", "run_id", "saved_cost_usd", "skipped", "succeeded",
		"texts", "throttles", "tokens", "tokens_from"}, slices.Sorted(maps.Keys(fields)))
	var bots []map[string]any
	require.NoError(t, json.Unmarshal(fields["bots"], &bots))
	require.Equal(t, "Prices", bots[1]["title"])
	require.Equal(t, "b-fail", bots[1]["bot_id"])
	require.Equal(t, "failed", bots[1]["status"])
}

// TestSummaryCountWorkers: with ragmigrate's workers on ECS, the counts are the run's jobs' as
// the workers recorded them, not the coordinator's (which sent nothing), and the text says so.
func TestSummaryCountWorkers(t *testing.T) {
	t.Parallel()
	res := run(false)
	res.Run[0].Requests, res.Run[0].Throttles, res.Run[0].Tokens, res.Run[0].Reused = 2, 1, 30_000, 10
	res.Run[4].Requests, res.Run[4].Tokens = 1, 500
	s := reembed.NewSummary(res, reembed.Embedding{Model: "amazon.titan-embed-text-v2:0", PricePerMTok: 0.02})
	s.EmbeddedBy = "ragmigrate worker tasks on ECS (--workers 3)"
	s.CountWorkers(0.02)
	require.True(t, s.CountedByWorkers)
	require.Equal(t, int64(32), s.Texts, "the chunks embedded: 40 + 2, less the 10 reused")
	require.Equal(t, int64(3), s.Requests)
	require.Equal(t, int64(1), s.Throttles)
	require.Equal(t, int64(30_500), s.Tokens)
	require.InDelta(t, 30_500/1e6*0.02, s.ActualUSD, 1e-12)
	var out bytes.Buffer
	require.NoError(t, s.WriteText(&out))
	require.Contains(t, out.String(), "by ragmigrate worker tasks on ECS (--workers 3): 32 texts · 3 requests · 1 throttle · 30500 tokens · $0.0006, the whole run's as the workers recorded them")

	// Resumed, the counts are still the whole run's: the line must not call them this
	// invocation's.
	res = run(true)
	res.Run[0].Requests = 2
	s = reembed.NewSummary(res, reembed.Embedding{Model: "amazon.titan-embed-text-v2:0", PricePerMTok: 0.02})
	s.EmbeddedBy = "ragmigrate worker tasks on ECS (--workers 3)"
	s.CountWorkers(0.02)
	out.Reset()
	require.NoError(t, s.WriteText(&out))
	require.NotContains(t, out.String(), "this invocation")
	require.Contains(t, out.String(), "\nembedding ")
}
