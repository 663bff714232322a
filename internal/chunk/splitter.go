package chunk

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ParagraphSeparator is the paragraph separator Bedrock Chat passes to the
// splitter: the raw string r"\n\n\n", six characters (backslash, n, three
// times). Real newlines never separate paragraphs.
const ParagraphSeparator = `\n\n\n`

// wordSeparator is SentenceSplitter's default separator.
const wordSeparator = " "

// ErrInvalidParams is wrapped by New for a chunk size or overlap that
// llama-index would reject.
var ErrInvalidParams = errors.New("invalid chunking parameters")

// Splitter reproduces llama-index 0.10.19 SentenceSplitter as Bedrock Chat v1
// configures it. ChunkSize and ChunkOverlap are counted in Unicode code
// points. Build it with New; a Splitter is safe for concurrent use.
type Splitter struct{ ChunkSize, ChunkOverlap int }

// New returns a Splitter. Like the Python constructor it rejects an overlap
// larger than the chunk size (ValueError), and like its pydantic fields a
// chunk size below 1 (gt=0) or a negative overlap (ge=0).
func New(chunkSize, chunkOverlap int) (*Splitter, error) {
	if err := validate(chunkSize, chunkOverlap); err != nil {
		return nil, err
	}
	return &Splitter{ChunkSize: chunkSize, ChunkOverlap: chunkOverlap}, nil
}

func validate(chunkSize, chunkOverlap int) error {
	switch {
	case chunkSize < 1:
		return fmt.Errorf("%w: chunk size %d is below 1", ErrInvalidParams, chunkSize)
	case chunkOverlap < 0:
		return fmt.Errorf("%w: chunk overlap %d is negative", ErrInvalidParams, chunkOverlap)
	case chunkOverlap > chunkSize:
		return fmt.Errorf("%w: chunk overlap %d is larger than chunk size %d",
			ErrInvalidParams, chunkOverlap, chunkSize)
	}
	return nil
}

// Split returns exactly what SentenceSplitter.split_text returns for text.
// The empty text gives one empty chunk; text that is only whitespace gives
// none. Split panics if the Splitter's fields are ones New would reject,
// since a chunk size below 1 would never finish.
func (s *Splitter) Split(text string) []string {
	if err := validate(s.ChunkSize, s.ChunkOverlap); err != nil {
		panic("chunk: Split on an invalid Splitter: " + err.Error())
	}
	if text == "" {
		// _split_text returns before post-processing.
		return []string{""}
	}
	return s.merge(s.split(text, nil))
}

// piece is llama-index's _Split. Its is_sentence flag is left out: in _merge
// it sits in a condition that is always true where it is tested.
type piece struct {
	text string
	size int // code points
}

// split is SentenceSplitter._split: break text into pieces no longer than
// the chunk size, trying ever finer split functions and recursing into
// pieces that are still too long.
func (s *Splitter) split(text string, out []piece) []piece {
	size := utf8.RuneCountInString(text)
	if size <= s.ChunkSize {
		return append(out, piece{text, size})
	}
	for _, t := range splitByFns(text) {
		if n := utf8.RuneCountInString(t); n <= s.ChunkSize {
			out = append(out, piece{t, n})
		} else {
			out = s.split(t, out)
		}
	}
	return out
}

// splitByFns is SentenceSplitter._get_splits_by_fns: the first split function
// that yields more than one piece wins; splitting into characters is the
// last resort and is returned whatever it yields.
func splitByFns(text string) []string {
	if parts := splitKeepSeparator(text, ParagraphSeparator); len(parts) > 1 {
		return parts
	}
	if parts := splitSentences(text); len(parts) > 1 {
		return parts
	}
	if parts := findallChunkingRegex(text); len(parts) > 1 {
		return parts
	}
	if parts := splitKeepSeparator(text, wordSeparator); len(parts) > 1 {
		return parts
	}
	return splitChars(text)
}

// splitKeepSeparator is llama-index's split_text_keep_separator: split on
// sep, put sep back at the start of every part but the first, and drop empty
// parts.
func splitKeepSeparator(text, sep string) []string {
	parts := strings.Split(text, sep)
	out := parts[:0]
	for i, p := range parts {
		if i > 0 {
			p = sep + p
		}
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// isChunkingPunct is the character class of llama-index 0.10.19's
// CHUNKING_REGEX, "[^,.;。？！]+[,.;。？！]?".
func isChunkingPunct(r rune) bool {
	switch r {
	case ',', '.', ';', '。', '？', '！':
		return true
	}
	return false
}

// findallChunkingRegex is re.findall(CHUNKING_REGEX, text). Each match is a
// run of non-punctuation and at most one punctuation character after it;
// punctuation that starts a match position is skipped, which is where text
// gets lost.
func findallChunkingRegex(text string) []string {
	var out []string
	for pos := 0; pos < len(text); {
		r, n := utf8.DecodeRuneInString(text[pos:])
		if isChunkingPunct(r) {
			pos += n
			continue
		}
		end := pos + n
		for end < len(text) {
			r, n = utf8.DecodeRuneInString(text[end:])
			if isChunkingPunct(r) {
				end += n // the optional trailing punctuation character
				break
			}
			end += n
		}
		out = append(out, text[pos:end])
		pos = end
	}
	return out
}

// splitChars is list(text): one piece per code point.
func splitChars(text string) []string {
	out := make([]string, 0, len(text))
	for pos := 0; pos < len(text); {
		_, n := utf8.DecodeRuneInString(text[pos:])
		out = append(out, text[pos:pos+n])
		pos += n
	}
	return out
}

// merge is SentenceSplitter._merge followed by _postprocess_chunks.
func (s *Splitter) merge(splits []piece) []string {
	var (
		chunks   []string
		cur      []piece
		curLen   int
		newChunk = true
	)
	closeChunk := func() {
		chunks = append(chunks, joinPieces(cur))
		last := cur
		cur, curLen, newChunk = nil, 0, true
		// The overlap is the longest run of whole pieces from the end of
		// the closed chunk that fits in ChunkOverlap.
		i := len(last) - 1
		for i >= 0 && curLen+last[i].size <= s.ChunkOverlap {
			curLen += last[i].size
			i--
		}
		cur = append(cur, last[i+1:]...)
	}
	for i := 0; i < len(splits); {
		p := splits[i]
		if curLen+p.size > s.ChunkSize && !newChunk {
			closeChunk()
			continue
		}
		// A new chunk always takes at least one piece, even if the overlap
		// already carried over makes it too long.
		curLen += p.size
		cur = append(cur, p)
		newChunk = false
		i++
	}
	if !newChunk {
		chunks = append(chunks, joinPieces(cur))
	}

	// _postprocess_chunks. The result is never nil, so that "no chunks"
	// encodes as [] like Python's empty list.
	out := make([]string, 0, len(chunks))
	for _, c := range chunks {
		if c = pyStrip(c); c != "" {
			out = append(out, c)
		}
	}
	return out
}

func joinPieces(ps []piece) string {
	if len(ps) == 1 {
		return ps[0].text
	}
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.text)
	}
	return b.String()
}
