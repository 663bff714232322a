package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/dev/bedrocksim"
	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/embed"
	"github.com/ragmigrate/ragmigrate/internal/plan"
	"github.com/ragmigrate/ragmigrate/internal/reembed"
)

// TestPlanIsWhatTheRunSpends: plan --exact's tokens are what a run against the contract server
// reports as spent for the same deployment, and its requests the ones the run sends, for Cohere
// and for the hash; one model catalogue and one token estimator serve both. Before, the run
// counted characters / 4 while plan --exact counted CJK characters and punctuation as tokens,
// and plan gave the hash a batch of 1024 while the run sent 96 texts per request. Plan and
// --dry-run also take a model of an OpenAI-compatible endpoint, priced by --price-per-mtok, and a
// run through one spends what they said.
func TestPlanIsWhatTheRunSpends(t *testing.T) {
	t.Parallel()
	b := setupReembed(t, 12, bedrocksim.Knobs{})
	// A bot split fine enough that its chunks take more than one request, whatever the seed made.
	fine := &botstore.Bot{UserID: "fine-user", ID: "01JFINEBOT0000000000000000", Title: "Fine", Instruction: "x",
		EmbeddingParams: botstore.EmbeddingParams{ChunkSize: 25, ChunkOverlap: 0}, GenerationParams: botstore.DefaultGenerationParams(),
		MaxResults: 20, SyncStatus: botstore.StatusSucceeded,
		Knowledge: botstore.Knowledge{SourceURLs: []string{stacktest.Getenv(t, "RAGMIGRATE_DEV_WEB_URL") + "/docs/customer-faq.html"}, SitemapURLs: []string{}, Filenames: []string{}}}
	_, err := b.dynamo.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(b.table), Item: fine.Item()})
	require.NoError(t, err)
	scope := append([]string{"--allow-private-urls"}, b.args[:4]...) // --table, --bucket
	planOf := func(t *testing.T, args ...string) plan.Plan {
		t.Helper()
		r := ragmigrate(t, b.env, append(append([]string{"plan", "--json"}, scope...), args...)...)
		require.Zero(t, r.code, r.stderr)
		var p plan.Plan
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &p))
		return p
	}
	// --batch-linger 0: each bot sends its own full batches, the requests plan counts.
	run := func(t *testing.T, args ...string) reembed.Summary {
		t.Helper()
		r := b.reembed(t, append([]string{"--json", "--batch-linger", "0"}, args...)...)
		require.Equal(t, exitFailure, r.code, "the seed's unreadable bots fail: %s", r.stderr)
		var sum reembed.Summary
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &sum))
		require.Equal(t, len(b.wantFail), sum.Failed, r.stdout)
		return sum
	}

	cohere := planOf(t, "--exact")
	require.Equal(t, "cohere.embed-multilingual-v3", cohere.Model.ID)
	require.Positive(t, cohere.Reembed.Tokens)
	hash := planOf(t, "--exact", "--model", "hash")
	require.Equal(t, 96, hash.Model.MaxBatch)
	require.Equal(t, cohere.Reembed.Tokens, hash.Reembed.Tokens, "tokens do not depend on the model")
	require.Equal(t, cohere.Reembed.Requests, hash.Reembed.Requests, "the hash batches as Cohere does")
	big := false
	for _, bp := range hash.PerBot {
		big = big || len(bp.Problems) == 0 && bp.Chunks > int64(hash.Model.MaxBatch)
	}
	require.True(t, big, "a bot has more chunks than one request takes, so the batch size shows in the requests")

	t.Run("Cohere", func(t *testing.T) {
		sum := run(t)
		require.Zero(t, sum.Throttles)
		if sum.Requests == cohere.Reembed.Requests {
			require.Equal(t, cohere.Reembed.Tokens, sum.EstimatedTokens, "the run spent the tokens plan --exact estimated")
		} else {
			// A lost answer, retried (see requireSent in internal/embed): Bedrock charged both.
			require.Greater(t, sum.EstimatedTokens, cohere.Reembed.Tokens)
		}
		// The bill is what Bedrock reported: the contract server cuts a text over Cohere's 512
		// tokens (--truncate END) and counts what is left, where the estimate counts it all.
		require.Equal(t, "reported", sum.TokensFrom)
		require.Positive(t, sum.Tokens)
		require.LessOrEqual(t, sum.Tokens, sum.EstimatedTokens)
		require.InDelta(t, cohere.Reembed.CostUSD, float64(cohere.Reembed.Tokens)/1e6*0.10, 1e-12)
	})
	t.Run("Hash", func(t *testing.T) {
		sum := run(t, "--fresh", "--model", "hash")
		require.Equal(t, hash.Reembed.Requests, sum.Requests, "the run sent the requests plan counted")
		require.Equal(t, hash.Reembed.Tokens, sum.Tokens)
		require.Zero(t, sum.ActualUSD)
	})

	t.Run("OpenAICompatible", func(t *testing.T) {
		srv := &openAIDouble{}
		hs := httptest.NewServer(srv)
		t.Cleanup(hs.Close)
		openai := []string{"--openai-url", hs.URL + "/v1", "--model", "text-embedding-3-small", "--dimensions", "1024"}
		r := ragmigrate(t, b.env, append(append([]string{"plan"}, scope...), openai...)...)
		require.Equal(t, exitUsage, r.code, r.stderr)
		require.Contains(t, r.stderr, "--price-per-mtok", "an unknown price is asked for, not printed as $0")

		openai = append(openai, "--price-per-mtok", "0.02")
		exact := planOf(t, append(openai, "--exact")...)
		for _, p := range []plan.Plan{planOf(t, openai...), exact} {
			require.Equal(t, embed.KindOpenAI, p.Model.Kind)
			require.Equal(t, "text-embedding-3-small", p.Model.ID)
			require.Equal(t, 1024, p.Model.Dimensions)
			require.Equal(t, 96, p.Model.MaxBatch, "the batch the OpenAI provider sends")
			require.InDelta(t, float64(p.Reembed.Tokens)/1e6*0.02, p.Reembed.CostUSD, 1e-12)
		}
		require.Equal(t, cohere.Reembed.Tokens, exact.Reembed.Tokens)
		require.Zero(t, srv.requests.Load(), "plan never calls the model")

		dry := ragmigrate(t, b.env, append(append([]string{"reembed", "--dry-run"}, scope...), openai...)...)
		require.Zero(t, dry.code, dry.stderr)
		require.Contains(t, dry.stdout, "text-embedding-3-small at $0.02/1M tokens")
		require.NotContains(t, dry.stdout, "Bedrock")

		sum := run(t, append([]string{"--fresh"}, openai...)...)
		require.Equal(t, exact.Reembed.Requests, sum.Requests, "the run sent the requests plan counted")
		require.Equal(t, srv.requests.Load(), sum.Requests)
		require.EqualValues(t, 96, srv.maxInputs.Load(), "full batches of the catalogue's size")
		require.Equal(t, exact.Reembed.Tokens, sum.Tokens)
		require.InDelta(t, exact.Reembed.CostUSD, sum.ActualUSD, 1e-12)
	})
}

// openAIDouble is an OpenAI-compatible /embeddings endpoint whose vectors are the hash's; it
// counts requests and the most inputs one carried.
type openAIDouble struct {
	requests, maxInputs atomic.Int64
}

func (s *openAIDouble) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	var req struct {
		Model      string   `json:"model"`
		Input      []string `json:"input"`
		Dimensions int      `json:"dimensions"`
	}
	if r.URL.Path != "/v1/embeddings" || json.NewDecoder(r.Body).Decode(&req) != nil {
		http.Error(w, `{"error":{"message":"bad request"}}`, http.StatusBadRequest)
		return
	}
	for n := int64(len(req.Input)); ; {
		m := s.maxInputs.Load()
		if n <= m || s.maxInputs.CompareAndSwap(m, n) {
			break
		}
	}
	h, _ := embed.NewHash(1024)
	vecs, _ := h.Embed(r.Context(), req.Input)
	type datum struct {
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	}
	out := struct {
		Data []datum `json:"data"`
	}{}
	for i, v := range vecs {
		out.Data = append(out.Data, datum{i, v})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// TestModelHelpNamesTheCatalogue: every model of the catalogue is named where --model is
// explained, and every model the help names is one plan takes.
func TestModelHelpNamesTheCatalogue(t *testing.T) {
	t.Parallel()
	root := newRootCommand(nil, nil, nil)
	for _, path := range [][]string{{"plan"}, {"reembed"}, {"inspect"}} {
		cmd, _, err := root.Find(path)
		require.NoError(t, err)
		usage := cmd.Flags().Lookup("model").Usage
		for _, id := range embed.ModelIDs() {
			require.Contains(t, usage, id, "%s --model", path[0])
		}
	}
	o := &planOptions{Dimensions: 1024}
	for _, id := range embed.ModelIDs() {
		o.Model = id
		_, err := o.model()
		require.NoError(t, err, id)
	}
	o.Model = "cohere.embed-v4"
	_, err := o.model()
	require.ErrorContains(t, err, "--openai-url")
	require.True(t, strings.HasPrefix(err.Error(), "--model: "))
}
