package embed

import (
	"context"
	"fmt"
	"math"
	"strings"
	"unicode"
)

// Hash is an offline provider for runs with no model at all (demos, load
// tests of the rest of the pipeline). It is a feature hash: each lower-cased
// word, and each character bigram of text without spaces such as CJK, adds
// ±1 to one dimension picked by its FNV-1a hash, and the result is scaled to
// unit length. Equal texts get equal vectors, texts sharing words get
// similar ones; nothing about it is semantic.
type Hash struct {
	dims int
}

// NewHash returns a hash provider of dims dimensions.
func NewHash(dims int) (*Hash, error) {
	if dims <= 0 {
		return nil, fmt.Errorf("hash dimensions %d: want a positive number", dims)
	}
	return &Hash{dims: dims}, nil
}

// Model names the model.
func (h *Hash) Model() string { return fmt.Sprintf("hash-%d", h.dims) }

// Dimensions is the length of every vector.
func (h *Hash) Dimensions() int { return h.dims }

// MaxBatch is the most texts per request.
func (h *Hash) MaxBatch() int { return hashMaxBatch }

// MaxChars is the most characters per text (0: no limit).
func (h *Hash) MaxChars() int { return 0 }

// Embed hashes each text; it never fails unless ctx is done.
func (h *Hash) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	vecs := make([][]float32, len(texts))
	for i, t := range texts {
		vecs[i] = h.vector(t)
	}
	return vecs, nil
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func (h *Hash) vector(text string) []float32 {
	v := make([]float32, h.dims)
	add := func(feature string) {
		x := uint64(fnvOffset)
		for i := 0; i < len(feature); i++ {
			x ^= uint64(feature[i])
			x *= fnvPrime
		}
		sign := float32(1)
		if x>>63 == 1 {
			sign = -1
		}
		v[x%uint64(h.dims)] += sign
	}
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r)
	}) {
		add("w:" + w)
		if rs := []rune(w); len(rs) > 1 && !isSpaced(rs) {
			for i := 0; i+1 < len(rs); i++ {
				add("b:" + string(rs[i:i+2]))
			}
		}
	}
	var norm float64
	for _, x := range v {
		norm += float64(x) * float64(x)
	}
	if norm == 0 {
		// An empty text still gets a unit vector: a zero vector has no
		// cosine distance to anything.
		v[0] = 1
		return v
	}
	scale := float32(1 / math.Sqrt(norm))
	for i := range v {
		v[i] *= scale
	}
	return v
}

// isSpaced reports whether a word's script separates words with spaces; for
// Han, kana and Hangul runs the word is the whole run, so bigrams stand in
// for words.
func isSpaced(rs []rune) bool {
	for _, r := range rs {
		if unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul) {
			return false
		}
	}
	return true
}
