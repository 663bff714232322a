package plan

import (
	"fmt"
	"slices"
	"strings"
)

// Model is what the estimate needs to know about an embedding model.
type Model struct {
	ID         string `json:"id"`
	Dimensions int    `json:"dimensions"`
	MaxBatch   int    `json:"max_batch"` // texts per request
	// PricePerMTok is the on-demand price in USD per million input tokens.
	PricePerMTok float64 `json:"price_per_mtok_usd"`
}

// Models are the embedding models ragmigrate knows, with their on-demand prices
// (docs/embedding-and-chunking.md §1.5: Cohere Embed v3 $0.10 per 1M tokens, Titan Text
// Embeddings V2 $0.02; confirm for the region, and override with --price-per-mtok).
var Models = []Model{
	{ID: "cohere.embed-multilingual-v3", Dimensions: 1024, MaxBatch: 96, PricePerMTok: 0.10},
	{ID: "cohere.embed-english-v3", Dimensions: 1024, MaxBatch: 96, PricePerMTok: 0.10},
	{ID: "amazon.titan-embed-text-v2:0", Dimensions: 1024, MaxBatch: 1, PricePerMTok: 0.02},
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
