package embed

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Kind is how a model is reached, and so which Provider Open builds for it.
type Kind string

// The Kinds.
const (
	KindBedrockCohere Kind = "bedrock-cohere" // Cohere Embed v3 on Bedrock InvokeModel
	KindBedrockTitan  Kind = "bedrock-titan"  // Titan Text Embeddings V2 on Bedrock InvokeModel
	KindHash          Kind = "hash"           // the offline feature hash, no model at all
	KindOpenAI        Kind = "openai"         // any OpenAI-compatible /embeddings endpoint
)

// Model is what ragmigrate knows about an embedding model: how to reach it,
// the vectors it gives, what one request may carry and what it costs. It is
// the one place these facts live: plan estimates with them, and Open gives
// the run a Provider whose limits are these (see TestCatalogueIsWhatOpenGives).
type Model struct {
	ID   string `json:"id"`
	Kind Kind   `json:"kind"`
	// Dimensions is the length of the vectors asked for: the model's default
	// until WithDimensions picks another of its sizes.
	Dimensions int `json:"dimensions"`
	// DimensionChoices are the sizes the model can give, the first its
	// default; nil means any size from 1 to MaxDimensions (the hash, or an
	// OpenAI-compatible model, whose size the operator names).
	DimensionChoices []int `json:"-"`
	// MaxBatch is the most texts one request carries.
	MaxBatch int `json:"max_batch"`
	// MaxChars is the most characters (code points) one text may have; 0 for
	// no limit. The Batcher fails or cuts longer texts before sending.
	MaxChars int `json:"max_chars,omitempty"`
	// MaxTokens is the longest input, in EstimateTokens' tokens, the model
	// takes without truncation; 0 for no limit (or unknown).
	MaxTokens int `json:"max_tokens,omitempty"`
	// PricePerMTok is the on-demand price in USD per million input tokens.
	PricePerMTok float64 `json:"price_per_mtok_usd"`
	// Truncates says the model itself cuts a text over MaxTokens when asked
	// (Cohere's "truncate"); for the others --truncate only cuts to MaxChars.
	Truncates bool `json:"truncates"`
	// QuotaNames are the names Service Quotas gives the model in its quota
	// names ("On-demand InvokeModel tokens per minute for ${model}"); nil
	// for a model with no Bedrock quotas.
	QuotaNames []string `json:"-"`
}

// MaxDimensions is the largest vector pgvector's vector type stores.
const MaxDimensions = 16000

// The limits the catalogue and the providers share, so that they cannot
// disagree (embedding-and-chunking.md §1.1, §1.2).
const (
	cohereMaxBatch  = 96
	cohereMaxChars  = 2048
	cohereMaxTokens = 512
	cohereDims      = 1024
	titanMaxBatch   = 1 // InvokeModel takes one inputText
	titanMaxChars   = 50_000
	titanMaxTokens  = 8192
	// hashMaxBatch has no API behind it; it is Cohere's, so that a run with
	// the hash sends the requests a Cohere run would.
	hashMaxBatch = cohereMaxBatch
	// openAIMaxBatch is what ragmigrate sends an OpenAI-compatible endpoint
	// per request (OpenAI takes up to 2048 inputs; smaller servers less).
	openAIMaxBatch = 96
)

// titanDimensions are the sizes Titan Text Embeddings V2 takes as
// "dimensions", its default first.
var titanDimensions = []int{1024, 512, 256}

// Models are the embedding models ragmigrate knows, with their on-demand
// prices (embedding-and-chunking.md §1.5: Cohere Embed v3 $0.10 per 1M
// tokens, Titan Text Embeddings V2 $0.02; confirm for the region, and
// override with --price-per-mtok). A model of an OpenAI-compatible endpoint
// is not listed: OpenAIModel describes one.
var Models = []Model{
	cohere(ModelCohereMultilingualV3, "Cohere Embed Multilingual"),
	cohere("cohere.embed-english-v3", "Cohere Embed English"),
	{ID: ModelTitanV2, Kind: KindBedrockTitan, Dimensions: titanDimensions[0], DimensionChoices: titanDimensions,
		MaxBatch: titanMaxBatch, MaxChars: titanMaxChars, MaxTokens: titanMaxTokens, PricePerMTok: 0.02,
		QuotaNames: []string{"Titan Text Embeddings V2", "Amazon Titan Text Embeddings V2", ModelTitanV2}},
	{ID: "hash", Kind: KindHash, Dimensions: 1024, MaxBatch: hashMaxBatch, PricePerMTok: 0},
}

func cohere(id, name string) Model {
	// Cohere Embed v3 has no dimensions parameter: its vectors always have 1024 values.
	return Model{ID: id, Kind: KindBedrockCohere, Dimensions: cohereDims, DimensionChoices: []int{cohereDims},
		MaxBatch: cohereMaxBatch, MaxChars: cohereMaxChars, MaxTokens: cohereMaxTokens, PricePerMTok: 0.10, Truncates: true,
		QuotaNames: []string{name, id}}
}

// ModelIDs are the ids of Models, in order.
func ModelIDs() []string {
	ids := make([]string, len(Models))
	for i, m := range Models {
		ids[i] = m.ID
	}
	return ids
}

// LookupModel finds a known model by id.
func LookupModel(id string) (Model, error) {
	i := slices.IndexFunc(Models, func(m Model) bool { return m.ID == id })
	if i < 0 {
		return Model{}, fmt.Errorf("unknown model %q: known are %s", id, strings.Join(ModelIDs(), ", "))
	}
	m := Models[i]
	m.DimensionChoices = slices.Clone(m.DimensionChoices)
	m.QuotaNames = slices.Clone(m.QuotaNames)
	return m, nil
}

// OpenAIModel describes model id of an OpenAI-compatible endpoint. Nothing is
// known about it but its name: its vector size comes from WithDimensions, its
// price from the operator, its batch is what the OpenAI provider sends.
func OpenAIModel(id string) (Model, error) {
	if id == "" {
		return Model{}, errors.New("name the model of the OpenAI-compatible endpoint")
	}
	return Model{ID: id, Kind: KindOpenAI, MaxBatch: openAIMaxBatch}, nil
}

// WithDimensions returns m giving vectors of dims values, or an error naming
// the sizes the model can give: a size it cannot give would create a target
// column its vectors never fit.
func (m Model) WithDimensions(dims int) (Model, error) {
	switch {
	case m.DimensionChoices != nil && !slices.Contains(m.DimensionChoices, dims):
		var s []string
		for _, c := range m.DimensionChoices {
			s = append(s, fmt.Sprint(c))
		}
		return m, fmt.Errorf("%s gives vectors of %s dimensions, not %d", m.ID, strings.Join(s, ", "), dims)
	case dims < 1 || dims > MaxDimensions:
		what := ""
		if m.Kind == KindOpenAI {
			what = " (the size of the endpoint's vectors)"
		}
		return m, fmt.Errorf("%d dimensions: want 1 to %d%s", dims, MaxDimensions, what)
	}
	m.Dimensions = dims
	return m, nil
}

// OpenOptions are what Open needs besides the model: how to reach it, and
// what to do with texts over its limits.
type OpenOptions struct {
	// AWS is the SDK configuration for the Bedrock models (awsclient's);
	// its endpoints are followed, so AWS_ENDPOINT_URL_BEDROCK_RUNTIME
	// reaches the local contract server.
	AWS aws.Config
	// OpenAIURL is the API root of an OpenAI-compatible endpoint (KindOpenAI).
	OpenAIURL string
	// OpenAIKey is sent as its bearer token; it never appears in errors.
	OpenAIKey string
	// HTTPClient is the OpenAI provider's; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Truncate is sent to models that truncate themselves (Cohere); the
	// Batcher applies it to MaxChars for every model.
	Truncate Truncate
}

// Open builds the Provider for m (as LookupModel or OpenAIModel, and
// WithDimensions, gave it): the Provider's Dimensions, MaxBatch and MaxChars
// are m's.
func Open(m Model, o OpenOptions) (Provider, error) {
	switch m.Kind {
	case KindBedrockCohere:
		return NewBedrockCohere(NewBedrockClient(o.AWS), CohereOptions{Model: m.ID, Truncate: o.Truncate}), nil
	case KindBedrockTitan:
		return NewBedrockTitan(NewBedrockClient(o.AWS), TitanOptions{Model: m.ID, Dimensions: m.Dimensions})
	case KindHash:
		return NewHash(m.Dimensions)
	case KindOpenAI:
		return NewOpenAI(OpenAIOptions{BaseURL: o.OpenAIURL, APIKey: o.OpenAIKey, Model: m.ID, Dimensions: m.Dimensions,
			MaxBatch: m.MaxBatch, MaxChars: m.MaxChars, HTTPClient: o.HTTPClient})
	default:
		return nil, fmt.Errorf("model %q: no provider for kind %q", m.ID, m.Kind)
	}
}
