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
	m := merger{s: s}
	s.split(text, m.add)
	return m.finish()
}

// piece is llama-index's _Split. Its is_sentence flag is left out: in _merge
// it sits in a condition that is always true where it is tested.
type piece struct {
	text string
	size int // code points
}

// split is SentenceSplitter._split: break text into pieces no longer than
// the chunk size, trying ever finer split functions and recursing into
// pieces that are still too long. Pieces go to emit in order as they are
// found rather than into a list: a long text splits into millions of
// words, and merging them as they come keeps only one chunk's worth.
func (s *Splitter) split(text string, emit func(piece)) {
	size := utf8.RuneCountInString(text)
	if size <= s.ChunkSize {
		emit(piece{text, size})
		return
	}
	for _, t := range splitByFns(text) {
		if n := utf8.RuneCountInString(t); n <= s.ChunkSize {
			emit(piece{t, n})
		} else {
			s.split(t, emit)
		}
	}
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

// merger is SentenceSplitter._merge followed by _postprocess_chunks, fed one
// piece at a time.
type merger struct {
	s       *Splitter
	chunks  []string
	cur     []piece
	curLen  int
	started bool // cur holds a piece of its own, not only the overlap
}

func (m *merger) add(p piece) {
	if m.curLen+p.size > m.s.ChunkSize && m.started {
		m.closeChunk()
	}
	// A new chunk always takes at least one piece, even if the overlap
	// already carried over makes it too long.
	m.curLen += p.size
	m.cur = append(m.cur, p)
	m.started = true
}

func (m *merger) closeChunk() {
	m.chunks = append(m.chunks, joinPieces(m.cur))
	m.curLen, m.started = 0, false
	// The overlap is the longest run of whole pieces from the end of the
	// closed chunk that fits in ChunkOverlap. It moves to the front of cur,
	// whose array is reused: one per text, not one per chunk.
	i := len(m.cur) - 1
	for i >= 0 && m.curLen+m.cur[i].size <= m.s.ChunkOverlap {
		m.curLen += m.cur[i].size
		i--
	}
	m.cur = m.cur[:copy(m.cur, m.cur[i+1:])]
}

func (m *merger) finish() []string {
	if m.started {
		m.chunks = append(m.chunks, joinPieces(m.cur))
	}
	// _postprocess_chunks, in place. The result is never nil, so that "no
	// chunks" encodes as [] like Python's empty list.
	out := m.chunks[:0]
	if out == nil {
		out = []string{}
	}
	for _, c := range m.chunks {
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
	n := 0
	for _, p := range ps {
		n += len(p.text)
	}
	var b strings.Builder
	b.Grow(n)
	for _, p := range ps {
		b.WriteString(p.text)
	}
	return b.String()
}
