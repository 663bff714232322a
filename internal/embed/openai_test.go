package embed_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/embed"
)

const secretKey = "sk-test-DO-NOT-LEAK-4f1e"

// openAIServer is a small OpenAI-compatible /embeddings endpoint. Its
// vectors come from the hash provider; it answers in reverse index order to
// check that the client sorts, throttles the first throttleFirst requests
// and refuses inputs containing "POISON" with a 400.
type openAIServer struct {
	hash          *embed.Hash
	throttleFirst int64
	status        int // when set, every request fails with it
	requests      atomic.Int64
}

func (s *openAIServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.requests.Add(1)
	fail := func(status int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"message": msg, "type": "invalid_request_error"}})
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v1/embeddings" {
		fail(http.StatusNotFound, "no such route")
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+secretKey {
		fail(http.StatusUnauthorized, "Incorrect API key provided")
		return
	}
	if s.status != 0 {
		fail(s.status, "injected")
		return
	}
	if n <= s.throttleFirst {
		fail(http.StatusTooManyRequests, "Rate limit reached for requests")
		return
	}
	var req struct {
		Model          string   `json:"model"`
		Input          []string `json:"input"`
		EncodingFormat string   `json:"encoding_format"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Model != "text-embedding-3-small" || req.EncodingFormat != "float" {
		fail(http.StatusBadRequest, "bad request body")
		return
	}
	for _, in := range req.Input {
		if strings.Contains(in, "POISON") {
			fail(http.StatusBadRequest, "This model's maximum context length is 8192 tokens")
			return
		}
	}
	vecs, _ := s.hash.Embed(r.Context(), req.Input)
	type datum struct {
		Object    string    `json:"object"`
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	}
	data := make([]datum, len(vecs))
	for i, v := range vecs {
		data[len(vecs)-1-i] = datum{"embedding", i, v}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data, "model": req.Model})
}

func setupOpenAI(t *testing.T, srv *openAIServer, maxBatch int) *embed.OpenAI {
	t.Helper()
	h, err := embed.NewHash(64)
	require.NoError(t, err)
	srv.hash = h
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	p, err := embed.NewOpenAI(embed.OpenAIOptions{
		BaseURL: hs.URL + "/v1/", APIKey: secretKey, Model: "text-embedding-3-small",
		Dimensions: 64, MaxBatch: maxBatch, HTTPClient: hs.Client(),
	})
	require.NoError(t, err)
	return p
}

func TestOpenAI(t *testing.T) {
	t.Parallel()
	hash, err := embed.NewHash(64)
	require.NoError(t, err)
	texts := corpus(50, "openai")
	want, err := hash.Embed(context.Background(), texts)
	require.NoError(t, err)

	t.Run("BatchesInOrderAndRetries429", func(t *testing.T) {
		t.Parallel()
		srv := &openAIServer{throttleFirst: 2}
		p := setupOpenAI(t, srv, 16)
		vecs, st, err := embed.NewBatcher(p, fast(embed.Options{})).EmbedAll(context.Background(), texts)
		require.NoError(t, err)
		require.Equal(t, want, vecs)
		require.EqualValues(t, 4+2, st.Requests, "16+16+16+2, and two throttled")
		require.EqualValues(t, 2, st.Throttles)
		require.EqualValues(t, 6, srv.requests.Load())
	})
	t.Run("BadInputIsBisected", func(t *testing.T) {
		t.Parallel()
		srv := &openAIServer{}
		p := setupOpenAI(t, srv, 16)
		poisoned := slices.Clone(texts)
		poisoned[20] = "POISON " + poisoned[20]
		vecs, _, err := embed.NewBatcher(p, fast(embed.Options{})).EmbedAll(context.Background(), poisoned)
		var ie *embed.InputError
		require.ErrorAs(t, err, &ie)
		require.Len(t, ie.Texts, 1)
		require.Equal(t, 20, ie.Texts[0].Index)
		require.Contains(t, err.Error(), "maximum context length")
		require.Nil(t, vecs[20])
		require.Equal(t, want[:20], vecs[:20])
		require.Equal(t, want[21:], vecs[21:])
	})
	t.Run("StatusClasses", func(t *testing.T) {
		t.Parallel()
		for status, want := range map[int][3]bool{ // retryable, throttle, bad input
			http.StatusTooManyRequests:     {true, true, false},
			http.StatusInternalServerError: {true, false, false},
			http.StatusBadGateway:          {true, false, false},
			http.StatusRequestTimeout:      {true, false, false},
			http.StatusBadRequest:          {false, false, true},
			http.StatusForbidden:           {false, false, false},
			http.StatusNotFound:            {false, false, false},
		} {
			p := setupOpenAI(t, &openAIServer{status: status}, 16)
			_, err := p.Embed(context.Background(), []string{"x"})
			var pe *embed.Error
			require.ErrorAs(t, err, &pe, "status %d", status)
			require.Equal(t, want, [3]bool{pe.Retryable(), pe.Throttle(), pe.BadInput()}, "status %d", status)
		}
	})
	t.Run("KeyNeverInErrors", func(t *testing.T) {
		t.Parallel()
		h, err := embed.NewHash(64)
		require.NoError(t, err)
		srv := &openAIServer{hash: h}
		hs := httptest.NewServer(srv)
		t.Cleanup(hs.Close)
		p, err := embed.NewOpenAI(embed.OpenAIOptions{BaseURL: hs.URL + "/v1", APIKey: "sk-wrong-" + secretKey,
			Model: "text-embedding-3-small", Dimensions: 64})
		require.NoError(t, err)
		_, _, err = embed.NewBatcher(p, fast(embed.Options{})).EmbedAll(context.Background(), texts)
		require.ErrorContains(t, err, "HTTP 401")
		require.ErrorContains(t, err, "Incorrect API key")
		require.NotContains(t, err.Error(), secretKey)

		// A transport error names the URL, not the key.
		hs.Close()
		_, err = p.Embed(context.Background(), texts[:1])
		var pe *embed.Error
		require.ErrorAs(t, err, &pe)
		require.True(t, pe.Retryable())
		require.NotContains(t, err.Error(), secretKey)
	})
	t.Run("Options", func(t *testing.T) {
		t.Parallel()
		_, err := embed.NewOpenAI(embed.OpenAIOptions{BaseURL: "http://x", Model: "m"})
		require.Error(t, err, "dimensions are required")
		p, err := embed.NewOpenAI(embed.OpenAIOptions{BaseURL: "http://x", Model: "m", Dimensions: 8})
		require.NoError(t, err)
		require.Equal(t, 96, p.MaxBatch())
		require.Equal(t, "m", p.Model())
		require.Equal(t, 8, p.Dimensions())
	})
}
