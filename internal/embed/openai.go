package embed

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// OpenAIOptions configure an OpenAI-compatible embeddings endpoint.
type OpenAIOptions struct {
	// BaseURL is the API root; requests go to BaseURL + "/embeddings"
	// (for OpenAI itself, https://api.openai.com/v1).
	BaseURL string
	// APIKey is sent as a bearer token when set. It never appears in
	// errors or logs.
	APIKey string
	// Model is the model name sent in each request. Required.
	Model string
	// Dimensions is the length of the vectors the model returns. Required.
	Dimensions int
	// SendDimensions also sends "dimensions" in the request, for models
	// that can shorten their vectors (text-embedding-3-*).
	SendDimensions bool
	// MaxBatch is the most inputs per request. Default 96, what OpenAIModel
	// plans with.
	MaxBatch int
	// MaxChars is the most characters per input; 0 means no limit.
	MaxChars int
	// HTTPClient defaults to http.DefaultClient. Put timeouts on the
	// caller's ctx rather than here.
	HTTPClient *http.Client
}

// OpenAI is any server implementing OpenAI's POST /embeddings.
type OpenAI struct {
	opts OpenAIOptions
	url  string
}

// NewOpenAI returns the provider. It takes an options struct rather than
// positional arguments because batch size, limits and the HTTP client vary
// by server.
func NewOpenAI(o OpenAIOptions) (*OpenAI, error) {
	if o.BaseURL == "" || o.Model == "" || o.Dimensions <= 0 {
		return nil, errors.New("openai provider: base URL, model and dimensions are required")
	}
	if u, err := url.Parse(o.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The URL is not echoed: it may carry credentials.
		return nil, errors.New("openai provider: base URL: want http(s)://host/path")
	}
	o.MaxBatch = cmp.Or(o.MaxBatch, openAIMaxBatch)
	if o.HTTPClient == nil {
		o.HTTPClient = http.DefaultClient
	}
	return &OpenAI{opts: o, url: strings.TrimRight(o.BaseURL, "/") + "/embeddings"}, nil
}

// Model names the model.
func (p *OpenAI) Model() string { return p.opts.Model }

// Endpoint names where requests go, for errors.
func (p *OpenAI) Endpoint() string { return p.url }

// Dimensions is the length of every vector.
func (p *OpenAI) Dimensions() int { return p.opts.Dimensions }

// MaxBatch is the most texts per request.
func (p *OpenAI) MaxBatch() int { return p.opts.MaxBatch }

// MaxChars is the most characters per text (0: no limit).
func (p *OpenAI) MaxChars() int { return p.opts.MaxChars }

// Embed sends one POST /embeddings request. A 429 is a throttle; 408 and
// 5xx are retryable; 400, 413 and 422 are bad input; other statuses are
// fatal.
func (p *OpenAI) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	reqBody := struct {
		Model          string   `json:"model"`
		Input          []string `json:"input"`
		EncodingFormat string   `json:"encoding_format"`
		Dimensions     int      `json:"dimensions,omitempty"`
	}{Model: p.opts.Model, Input: texts, EncodingFormat: "float"}
	if p.opts.SendDimensions {
		reqBody.Dimensions = p.opts.Dimensions
	}
	raw, err := json.Marshal(reqBody)
	if err != nil {
		return nil, fmt.Errorf("encode embeddings request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("embeddings request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if p.opts.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+p.opts.APIKey)
	}
	resp, err := p.opts.HTTPClient.Do(req)
	if err != nil {
		// *url.Error names the URL, never the headers.
		return nil, classifyTransport(fmt.Errorf("post embeddings: %w", err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, classifyTransport(fmt.Errorf("read embeddings response: %w", err))
	}
	if resp.StatusCode != http.StatusOK {
		msg := openAIMessage(body)
		e := &Error{
			Code:    fmt.Sprintf("HTTP %d", resp.StatusCode),
			Message: msg,
			class:   statusClass(resp.StatusCode),
			Err:     fmt.Errorf("post embeddings: HTTP %d: %s", resp.StatusCode, msg),
		}
		if e.class == classFatal {
			switch resp.StatusCode {
			case http.StatusUnauthorized, http.StatusForbidden:
				e.Refusal = fmt.Sprintf("%s denies embeddings with %s", p.url, p.opts.Model)
				e.Hint = "check OPENAI_API_KEY and the key's access to the model"
			case http.StatusNotFound:
				e.Refusal = fmt.Sprintf("%s has no model %s (or no /embeddings)", p.url, p.opts.Model)
				e.Hint = "check --model and --openai-url"
			default:
				e.Refusal = fmt.Sprintf("%s refuses embeddings with %s", p.url, p.opts.Model)
			}
		}
		return nil, e
	}
	var out struct {
		Data []openAIDatum `json:"data"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("decode embeddings response: %w", err)
	}
	// data[] is ordered by index; sort anyway, since some compatible
	// servers answer in completion order.
	slices.SortFunc(out.Data, func(a, b openAIDatum) int { return a.Index - b.Index })
	vecs := make([][]float32, len(out.Data))
	for i, d := range out.Data {
		if d.Index != i {
			return nil, fmt.Errorf("decode embeddings response: indexes are not 0..%d", len(out.Data)-1)
		}
		vecs[i] = d.Embedding
	}
	return vecs, nil
}

type openAIDatum struct {
	Index     int       `json:"index"`
	Embedding []float32 `json:"embedding"`
}

// openAIMessage extracts error.message from an OpenAI error body, or a
// short prefix of the body itself.
func openAIMessage(body []byte) string {
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
		return e.Error.Message
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
