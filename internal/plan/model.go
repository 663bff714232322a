package plan

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// Model is what the estimate needs to know about an embedding model.
type Model struct {
	ID         string `json:"id"`
	Dimensions int    `json:"dimensions"`
	MaxBatch   int    `json:"max_batch"` // texts per request
	// PricePerMTok is the on-demand price in USD per million input tokens.
	PricePerMTok float64 `json:"price_per_mtok_usd"`
	// MaxTokens is the longest input the model takes without truncation; 0 for no limit.
	MaxTokens int `json:"max_tokens,omitempty"`
}

// Models are the embedding models ragmigrate knows, with their on-demand prices
// (docs/embedding-and-chunking.md §1.5: Cohere Embed v3 $0.10 per 1M tokens, Titan Text
// Embeddings V2 $0.02; confirm for the region, and override with --price-per-mtok).
var Models = []Model{
	{ID: "cohere.embed-multilingual-v3", Dimensions: 1024, MaxBatch: 96, PricePerMTok: 0.10, MaxTokens: 512},
	{ID: "cohere.embed-english-v3", Dimensions: 1024, MaxBatch: 96, PricePerMTok: 0.10, MaxTokens: 512},
	{ID: "amazon.titan-embed-text-v2:0", Dimensions: 1024, MaxBatch: 1, PricePerMTok: 0.02, MaxTokens: 8192},
	{ID: "hash", Dimensions: 1024, MaxBatch: 1024, PricePerMTok: 0},
}

// LookupModel finds a known model by id.
func LookupModel(id string) (Model, error) {
	i := slices.IndexFunc(Models, func(m Model) bool { return m.ID == id })
	if i < 0 {
		var ids []string
		for _, m := range Models {
			ids = append(ids, m.ID)
		}
		return Model{}, fmt.Errorf("unknown model %q: known are %s", id, strings.Join(ids, ", "))
	}
	return Models[i], nil
}

// EstimateTokens estimates a subword tokenizer's count for text: a word of letters or digits
// costs a token per four characters (the Cohere guidance, "1 token is about 4 characters"),
// while every CJK character and every punctuation mark or symbol costs one. Latin text comes
// out near chars/4; dense Chinese or Japanese near one token per character, which is why a
// 1000-character CJK chunk can pass Cohere's 512-token window.
func EstimateTokens(text string) int64 {
	var n, word int64
	for _, r := range text {
		switch {
		case unicode.IsSpace(r):
			n, word = n+(word+3)/4, 0
		case unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul) ||
			!unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r):
			n, word = n+(word+3)/4+1, 0
		default:
			word++
		}
	}
	return n + (word+3)/4
}

// MaxDimensions is the largest vector pgvector's vector type stores.
const MaxDimensions = 16000

// dimensionChoices are the output sizes a model can be asked for, the first its default.
// Models not listed give any size asked for (hash) or only their Dimensions.
var dimensionChoices = map[string][]int{
	// Titan Text Embeddings V2 takes "dimensions": 1024, 512 or 256.
	"amazon.titan-embed-text-v2:0": {1024, 512, 256},
	// Cohere Embed v3 has no such parameter: its vectors always have 1024 values.
	"cohere.embed-multilingual-v3": {1024},
	"cohere.embed-english-v3":      {1024},
}

// WithDimensions returns m giving vectors of dims values, or an error naming the sizes the model
// can give: a size it cannot give would create a target column its vectors never fit.
func (m Model) WithDimensions(dims int) (Model, error) {
	choices, fixed := dimensionChoices[m.ID]
	switch {
	case fixed && !slices.Contains(choices, dims):
		var s []string
		for _, c := range choices {
			s = append(s, fmt.Sprint(c))
		}
		return m, fmt.Errorf("%s gives vectors of %s dimensions, not %d", m.ID, strings.Join(s, ", "), dims)
	case dims < 1 || dims > MaxDimensions:
		return m, fmt.Errorf("%d dimensions: want 1 to %d", dims, MaxDimensions)
	}
	m.Dimensions = dims
	return m, nil
}
