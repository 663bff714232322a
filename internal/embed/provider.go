package embed

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Provider embeds texts with one model. Implementations are safe for
// concurrent use.
type Provider interface {
	// Embed sends one request for texts and returns one vector per text, in
	// order, each of Dimensions() values. The caller keeps len(texts) ≤
	// MaxBatch() and every text within MaxChars(). Embed does not retry;
	// its errors are *Error (or wrap one) whenever the provider answered.
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	// Model names the model, for logs and the journal.
	Model() string
	// Dimensions is the length of every vector.
	Dimensions() int
	// MaxBatch is the most texts one Embed call accepts.
	MaxBatch() int
	// MaxChars is the most characters (Unicode code points) one text may
	// have; 0 means no limit.
	MaxChars() int
}

// Truncate says what happens to a text over the model's limits: NONE fails,
// START drops its beginning and END its end. It is Cohere's request
// parameter, and the Batcher applies the same choice to the character limit
// before sending (Bedrock checks the 2048 characters before it looks at
// truncate, so the parameter alone does not avoid that error).
type Truncate string

// The Truncate values.
const (
	TruncateNone  Truncate = "NONE"
	TruncateStart Truncate = "START"
	TruncateEnd   Truncate = "END"
)

// ParseTruncate parses NONE, START or END (any case); "" means NONE.
func ParseTruncate(s string) (Truncate, error) {
	switch t := Truncate(strings.ToUpper(s)); t {
	case "":
		return TruncateNone, nil
	case TruncateNone, TruncateStart, TruncateEnd:
		return t, nil
	default:
		return "", fmt.Errorf("truncate %q is not one of NONE, START, END", s)
	}
}

// truncator is implemented by providers that have a truncation setting, so
// that the Batcher follows it unless told otherwise.
type truncator interface {
	Truncation() Truncate
}

// cut keeps the first (END) or last (START) n code points of s.
func cut(s string, n int, t Truncate) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if t == TruncateStart {
		drop := utf8.RuneCountInString(s) - n
		for i := range s {
			if drop == 0 {
				return s[i:]
			}
			drop--
		}
		return ""
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

// prefix is the first 80 code points of s, for naming a text in an error.
func prefix(s string) string {
	const n = 80
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return cut(s, n, TruncateEnd) + "…"
}
