package bedrocksim

import (
	"math"
	"unicode"
	"unicode/utf8"
)

// FNV-1a, 64-bit.
const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

// Feature kinds, mixed into every feature hash so that the word "abc" and the
// trigram "abc" land in unrelated buckets.
const (
	kindWord    = 0x9e3779b97f4a7c15
	kindBigram  = 0xbf58476d1ce4e5b9
	kindTrigram = 0x94d049bb133111eb
	kindEmpty   = 0xd6e8feb86659fd93
)

// Feature weights. Words carry most of the meaning; bigrams reward shared word
// order; character trigrams make near-spellings and unsegmented scripts (CJK)
// overlap. The values were picked by eye, not tuned.
const (
	weightWord    = 1.0
	weightBigram  = 0.7
	weightTrigram = 0.4
)

// Vector returns the deterministic embedding the double answers with: a unit
// vector of length dims that depends only on model, text and dims.
//
// It is signed feature hashing, not a language model: lowercased word
// unigrams and bigrams plus character trigrams over runes are hashed (FNV-1a
// salted by model) into dims buckets with a hash-chosen sign, then the result
// is L2-normalised. Equal texts therefore give equal vectors, texts sharing
// words or spellings score a higher cosine than unrelated ones, and every CJK
// character counts as a word so Japanese, Chinese and Korean work without a
// segmenter. Empty or whitespace-only text gives a fixed non-zero unit vector.
//
// Vector is safe for concurrent use. dims <= 0 gives nil.
func Vector(model, text string, dims int) []float32 {
	v, _ := vector(model, text, dims)
	return v
}

// vector is [Vector] that also returns the L2 norm of the hashed features
// before normalisation; Titan's normalize=false scales by it.
func vector(model, text string, dims int) ([]float32, float64) {
	if dims <= 0 {
		return nil, 0
	}
	v := make([]float32, dims)
	salt := fnvString(fnvOffset64, model)
	h := hasher{v: v, dims: uint64(dims), salt: salt}

	var (
		word     = uint64(0) // running FNV-1a of the current word
		inWord   bool
		prevWord uint64 // hash of the previous word, for bigrams
		havePrev bool
		// Trigram window over the normalised rune stream: lowercased, with
		// whitespace runs collapsed to one space and one space of padding at
		// either end.
		r1, r2     rune = 0, ' '
		lastSpace       = true
		seenNonSpc bool
	)
	endWord := func() {
		if !inWord {
			return
		}
		h.add(word^kindWord, weightWord)
		if havePrev {
			h.add(mix64(prevWord*31+word)^kindBigram, weightBigram)
		}
		prevWord, havePrev, inWord = word, true, false
	}
	trigram := func(r rune) {
		if r1 != 0 {
			key := uint64(r1)<<42 | uint64(r2)<<21 | uint64(r)
			h.add(mix64(key^salt)^kindTrigram, weightTrigram)
		}
		r1, r2 = r2, r
	}

	for _, r := range text {
		r = toLower(r)
		switch {
		case isSpace(r):
			endWord()
			if !lastSpace {
				trigram(' ')
				lastSpace = true
			}
			continue
		case isCJK(r):
			// Each ideograph or syllable is a word of its own.
			endWord()
			word = fnvRune(salt, r)
			inWord = true
			endWord()
		case isWordRune(r):
			if !inWord {
				word, inWord = salt, true
			}
			word = fnvRune(word, r)
		default:
			// Punctuation ends a word but does not break the bigram chain.
			endWord()
		}
		seenNonSpc = true
		lastSpace = false
		trigram(r)
	}
	endWord()
	if !lastSpace {
		trigram(' ')
	}

	norm := l2(v)
	if !seenNonSpc || norm == 0 {
		// Nothing to hash (or features cancelled out exactly): answer with a
		// fixed vector so that callers never see a zero vector, which has no
		// cosine.
		clear(v)
		for i := range uint64(16) {
			h.add(mix64(salt^kindEmpty^i), 1)
		}
		norm = l2(v)
	}
	inv := float32(1 / norm)
	for i := range v {
		v[i] *= inv
	}
	return v, norm
}

// hasher adds signed features to a vector.
type hasher struct {
	v    []float32
	dims uint64
	salt uint64
}

func (h *hasher) add(feature uint64, w float32) {
	x := mix64(feature ^ h.salt)
	if x>>63 == 1 {
		w = -w
	}
	h.v[(x&0x7fffffffffffffff)%h.dims] += w
}

// mix64 is the splitmix64 finaliser: it spreads every input bit over the
// output so that a bucket index taken modulo dims is uniform.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime64
	}
	return h
}

// fnvRune feeds the rune's code point to FNV-1a, one byte at a time, skipping
// the high zero bytes of ASCII to keep the common case short.
func fnvRune(h uint64, r rune) uint64 {
	if r < 0x80 {
		h ^= uint64(r)
		return h * fnvPrime64
	}
	for _, b := range [3]byte{byte(r >> 16), byte(r >> 8), byte(r)} {
		h ^= uint64(b)
		h *= fnvPrime64
	}
	return h
}

func l2(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

// EstimateTokens is the double's token count for text. It is an
// APPROXIMATION of a subword tokenizer, cheap enough to run on every request,
// and it is what the double's 512- and 8,192-token limits, tokens_per_minute
// budget and Titan's inputTextTokenCount use:
//
//   - each CJK ideograph, Hangul syllable or kana is one token;
//   - each run of letters, digits and combining marks is ceil(runes/4) tokens
//     (so at least one), following the "1 token is about 4 characters" rule
//     of thumb in the Cohere and Titan documentation;
//   - each other non-space symbol is one token;
//   - whitespace is free.
//
// Real tokenizers differ, mostly by counting short common words as one token;
// expect this estimate to be within a small factor, not exact.
func EstimateTokens(text string) int {
	n, run := 0, 0
	for _, r := range text {
		switch {
		case isSpace(r):
			n += (run + 3) / 4
			run = 0
		case isCJK(r):
			n += (run+3)/4 + 1
			run = 0
		case isWordRune(r):
			run++
		default:
			n += (run+3)/4 + 1
			run = 0
		}
	}
	return n + (run+3)/4
}

// span is the byte range of one estimated token.
type span struct{ start, end int }

// tokenSpans splits text into the tokens [EstimateTokens] counts: a run of
// letters is cut every four runes.
func tokenSpans(text string) []span {
	spans := make([]span, 0, len(text)/4+1)
	runStart, runLen := -1, 0
	flush := func(end int) {
		if runStart >= 0 {
			spans = append(spans, span{runStart, end})
		}
		runStart, runLen = -1, 0
	}
	for i, r := range text {
		size := utf8.RuneLen(r)
		if size < 0 {
			size = 1 // invalid UTF-8 decodes as U+FFFD from one byte
		}
		switch {
		case isSpace(r):
			flush(i)
		case isCJK(r):
			flush(i)
			spans = append(spans, span{i, i + size})
		case isWordRune(r):
			if runStart < 0 {
				runStart = i
			}
			runLen++
			if runLen == 4 {
				flush(i + size)
			}
		default:
			flush(i)
			spans = append(spans, span{i, i + size})
		}
	}
	flush(len(text))
	return spans
}

// truncateTokens keeps at most max estimated tokens of text: the first ones
// for Cohere's truncate=END, the last ones for truncate=START.
func truncateTokens(text string, max int, keepEnd bool) string {
	spans := tokenSpans(text)
	if len(spans) <= max {
		return text
	}
	if max <= 0 {
		return ""
	}
	if keepEnd {
		return text[spans[len(spans)-max].start:]
	}
	return text[:spans[max-1].end]
}

func toLower(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}
	return unicode.ToLower(r)
}

func isSpace(r rune) bool {
	if r < utf8.RuneSelf {
		return r == ' ' || ('\t' <= r && r <= '\r')
	}
	return unicode.IsSpace(r)
}

func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.M, r)
}

// isCJK reports whether r is a Han ideograph, Hangul or kana: scripts written
// without spaces, where a subword tokenizer spends about a token per rune.
func isCJK(r rune) bool {
	if r < 0x1100 {
		return false
	}
	return unicode.In(r, unicode.Han, unicode.Hangul, unicode.Hiragana, unicode.Katakana)
}
