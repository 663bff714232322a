package bedrocksim

import (
	"fmt"
	"math"
	"strconv"
)

// The model IDs the double serves.
const (
	ModelCohereMultilingual = "cohere.embed-multilingual-v3"
	ModelCohereEnglish      = "cohere.embed-english-v3"
	ModelTitanV2            = "amazon.titan-embed-text-v2:0"
)

// parser validates one model's InvokeModel body.
type parser func(modelID string, body []byte) (*request, *apiError)

var models = map[string]parser{
	ModelCohereMultilingual: parseCohere,
	ModelCohereEnglish:      parseCohere,
	ModelTitanV2:            parseTitan,
}

// request is a valid InvokeModel body.
type request struct {
	texts   []string   // the inputs as sent, for fail_on_text and stats
	tokens  int        // estimated input tokens after any truncation
	respond func() any // computes the vectors and the response body
}

// errTooLong is Bedrock's answer to an input over the model's token limit.
func errTooLong() *apiError {
	return newAPIError(errValidation, "Input is too long for requested model.")
}

// Cohere Embed v3 limits, from the Bedrock User Guide.
const (
	cohereDims      = 1024
	cohereMaxTexts  = 96
	cohereMaxChars  = 2048
	cohereMaxTokens = 512
)

var (
	cohereKeys           = []string{"texts", "images", "input_type", "truncate", "embedding_types"}
	cohereInputTypes     = []string{"search_document", "search_query", "classification", "clustering", "image"}
	cohereTruncates      = []string{"NONE", "START", "END"}
	cohereEmbeddingTypes = []string{"float", "int8", "uint8", "binary", "ubinary"}
)

func parseCohere(modelID string, body []byte) (*request, *apiError) {
	obj, aerr := parseObject(body)
	if aerr != nil {
		return nil, aerr
	}
	var v violations
	checkKeys(&v, obj, []string{"texts", "input_type"}, cohereKeys)

	var texts []string
	if raw, ok := obj["texts"]; ok {
		if items, ok := asArray(&v, "#/texts", raw); ok {
			// The User Guide says 0–96 texts; an empty batch embeds nothing
			// and ragmigrate treats it as a bug, so the double refuses it.
			switch {
			case len(items) == 0:
				v.addf("#/texts: expected minimum item count: 1, found: 0")
			case len(items) > cohereMaxTexts:
				v.addf("#/texts: expected maximum item count: %d, found: %d", cohereMaxTexts, len(items))
			}
			texts = make([]string, len(items))
			for i, it := range items {
				p := "#/texts/" + strconv.Itoa(i)
				if s, ok := asString(&v, p, it); ok {
					checkMaxLength(&v, p, s, cohereMaxChars)
					texts[i] = s
				}
			}
		}
	}
	var inputType string
	if raw, ok := obj["input_type"]; ok {
		if s, ok := asString(&v, "#/input_type", raw); ok {
			checkEnum(&v, "#/input_type", s, cohereInputTypes)
			inputType = s
		}
	}
	truncate := "NONE" // the documented default
	if raw, ok := obj["truncate"]; ok {
		if s, ok := asString(&v, "#/truncate", raw); ok && checkEnum(&v, "#/truncate", s, cohereTruncates) {
			truncate = s
		}
	}
	var types []string
	_, byType := obj["embedding_types"]
	if byType {
		types = stringEnumArray(&v, "#/embedding_types", obj["embedding_types"], cohereEmbeddingTypes)
	}
	if aerr := v.err(); aerr != nil {
		return nil, aerr
	}
	if _, ok := obj["images"]; ok || inputType == "image" {
		return nil, newAPIError(errValidation, "Image inputs are not supported by the bedrocksim test double.")
	}

	// The token limit is checked after the schema, as Bedrock does: a text
	// within 2048 characters can still be over 512 tokens.
	inputs := make([]string, len(texts))
	tokens := 0
	for i, t := range texts {
		n := EstimateTokens(t)
		if n > cohereMaxTokens {
			if truncate == "NONE" {
				return nil, errTooLong()
			}
			// START discards from the start, END from the end.
			t = truncateTokens(t, cohereMaxTokens, truncate == "START")
			n = EstimateTokens(t)
		}
		inputs[i] = t
		tokens += n
	}

	respond := func() any {
		floats := make([][]float32, len(inputs))
		for i, t := range inputs {
			floats[i] = Vector(modelID, t, cohereDims)
		}
		id := responseID(modelID, inputType, truncate, texts)
		if !byType {
			return cohereFloatsResponse{ID: id, ResponseType: "embeddings_floats", Texts: texts, Embeddings: floats}
		}
		emb := make(map[string]any, len(types))
		for _, typ := range types {
			emb[typ] = quantizeAll(typ, floats)
		}
		return cohereByTypeResponse{ID: id, ResponseType: "embeddings_by_type", Texts: texts, Embeddings: emb}
	}
	return &request{texts: texts, tokens: tokens, respond: respond}, nil
}

type cohereFloatsResponse struct {
	ID           string      `json:"id"`
	ResponseType string      `json:"response_type"`
	Texts        []string    `json:"texts"`
	Embeddings   [][]float32 `json:"embeddings"`
}

type cohereByTypeResponse struct {
	ID           string         `json:"id"`
	ResponseType string         `json:"response_type"`
	Texts        []string       `json:"texts"`
	Embeddings   map[string]any `json:"embeddings"`
}

// responseID is a deterministic, UUID-shaped id for a Cohere response.
func responseID(parts ...any) string {
	h1, h2 := uint64(fnvOffset64), uint64(kindEmpty)
	for _, p := range parts {
		s := fmt.Sprint(p)
		h1 = fnvString(h1, s)
		h1 = fnvString(h1, "\x00")
		h2 = mix64(h2 ^ h1)
	}
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x",
		h1>>32, h1>>16&0xffff, h1&0xfff, h2>>52&0xfff, h2&0xffffffffffff)
}

// quantizeAll converts float vectors to one of Cohere's embedding types. The
// quantisations are simple stand-ins with the documented shapes and ranges:
//
//	int8:    per-vector scale so the largest magnitude is 127, in [-128, 127]
//	uint8:   int8 + 128, in [0, 255]
//	ubinary: 1 bit per dimension (1 if positive), 8 per byte, high bit first
//	binary:  ubinary - 128, as a signed byte
//
// The integer types are []int because encoding/json writes []uint8 as
// base64.
func quantizeAll(typ string, floats [][]float32) any {
	if typ == "float" {
		return floats
	}
	out := make([][]int, len(floats))
	for i, f := range floats {
		out[i] = quantize(typ, f)
	}
	return out
}

func quantize(typ string, f []float32) []int {
	switch typ {
	case "int8", "uint8":
		var maxAbs float64
		for _, x := range f {
			maxAbs = math.Max(maxAbs, math.Abs(float64(x)))
		}
		scale := 0.0
		if maxAbs > 0 {
			scale = 127 / maxAbs
		}
		q := make([]int, len(f))
		for i, x := range f {
			n := int(math.Round(float64(x) * scale))
			if typ == "uint8" {
				n += 128
			}
			q[i] = n
		}
		return q
	default: // binary, ubinary
		q := make([]int, (len(f)+7)/8)
		for i, x := range f {
			if x > 0 {
				q[i/8] |= 1 << (7 - i%8)
			}
		}
		if typ == "binary" {
			for i := range q {
				q[i] -= 128
			}
		}
		return q
	}
}

// Titan Text Embeddings V2 limits, from the Bedrock User Guide.
const (
	titanMaxChars  = 50000
	titanMaxTokens = 8192
)

var (
	titanKeys           = []string{"inputText", "dimensions", "normalize", "embeddingTypes"}
	titanDimensions     = []string{"256", "512", "1024"}
	titanEmbeddingTypes = []string{"float", "binary"}
)

func parseTitan(modelID string, body []byte) (*request, *apiError) {
	obj, aerr := parseObject(body)
	if aerr != nil {
		return nil, aerr
	}
	var v violations
	checkKeys(&v, obj, []string{"inputText"}, titanKeys)

	var text string
	if raw, ok := obj["inputText"]; ok {
		if s, ok := asString(&v, "#/inputText", raw); ok {
			checkMaxLength(&v, "#/inputText", s, titanMaxChars)
			text = s
		}
	}
	dims := 1024
	if raw, ok := obj["dimensions"]; ok {
		if n, ok := asInt(&v, "#/dimensions", raw); ok {
			if checkEnum(&v, "#/dimensions", strconv.Itoa(n), titanDimensions) {
				dims = n
			}
		}
	}
	normalize := true
	if raw, ok := obj["normalize"]; ok {
		if b, ok := asBool(&v, "#/normalize", raw); ok {
			normalize = b
		}
	}
	binary := false
	if raw, ok := obj["embeddingTypes"]; ok {
		for _, t := range stringEnumArray(&v, "#/embeddingTypes", raw, titanEmbeddingTypes) {
			binary = binary || t == "binary"
		}
	}
	if aerr := v.err(); aerr != nil {
		return nil, aerr
	}
	tokens := EstimateTokens(text)
	if tokens > titanMaxTokens {
		return nil, errTooLong()
	}

	respond := func() any {
		vec, norm := vector(modelID, text, dims)
		if !normalize {
			// Unnormalised vectors are the normalised ones times a positive,
			// text-dependent factor: the norm of the hashed features.
			for i := range vec {
				vec[i] *= float32(norm)
			}
		}
		byType := map[string]any{"float": vec}
		if binary {
			// Guess: Titan's binary type is one 0/1 value per dimension.
			bits := make([]int, dims)
			for i, x := range vec {
				if x > 0 {
					bits[i] = 1
				}
			}
			byType["binary"] = bits
		}
		return titanResponse{Embedding: vec, InputTextTokenCount: tokens, EmbeddingsByType: byType}
	}
	return &request{texts: []string{text}, tokens: tokens, respond: respond}, nil
}

type titanResponse struct {
	Embedding           []float32      `json:"embedding"`
	InputTextTokenCount int            `json:"inputTextTokenCount"`
	EmbeddingsByType    map[string]any `json:"embeddingsByType"`
}
