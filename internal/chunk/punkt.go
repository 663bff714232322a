package chunk

import (
	"iter"
	"strings"
	"unicode/utf8"
)

// This file ports the parts of NLTK 3.8.1's nltk/tokenize/punkt.py that an
// untrained PunktSentenceTokenizer() runs in span_tokenize, with the default
// PunktLanguageVars. The Python regular expressions use lookahead, which Go's
// regexp lacks, so each is written out by hand; the comments quote them.
//
// An untrained tokenizer has empty abbrev_types, collocations, sent_starters
// and ortho_context. That collapses most of the algorithm:
//
//   - first pass: a token that is exactly ".", "?" or "!" is a break; a token
//     of two or more periods is an ellipsis (not a break); any other token
//     ending in "." but not ".." is a break (no abbreviation is known);
//   - second pass: only "Token-Based Detection of Initials and Ordinals"
//     can change anything. The orthographic heuristic on an empty context
//     says "not a sentence starter" for single-character punctuation and for
//     lower-case words and "unknown" otherwise, so a break after an initial
//     ("J.") is undone before punctuation, a lower-case word or an
//     upper-case word, and a break after a number ("3.") is undone before
//     punctuation or a lower-case word.
//
// Offsets here are byte offsets into a UTF-8 string. Python works in code
// points, but the two only ever meet where both sides agree: every slice
// boundary falls on a character boundary, and the one place Python tests an
// index for zero (_get_last_whitespace_index) means "position 0" in both.

// span is a sentence as span_tokenize reports it, as byte offsets.
type span struct{ start, stop int }

// splitSentences is llama-index's split_by_sentence_tokenizer_internal: each
// sentence runs from its span's start to the next span's start, and the last
// one to the end of the text, so nothing between spans is lost.
func splitSentences(text string) []string {
	spans := punktSpans(text)
	out := make([]string, 0, len(spans))
	for i, sp := range spans {
		end := len(text)
		if i < len(spans)-1 {
			end = spans[i+1].start
		}
		out = append(out, pySlice(text, sp.start, end))
	}
	return out
}

// pySlice is text[start:stop] with Python's tolerance for start > stop.
func pySlice(text string, start, stop int) string {
	if start >= stop {
		return ""
	}
	return text[start:stop]
}

// punktSpans is PunktSentenceTokenizer().span_tokenize(text) with
// realign_boundaries=True.
func punktSpans(text string) []span {
	return realignBoundaries(text, slicesFromText(text))
}

// endMatch is one match of PunktLanguageVars.period_context_re():
//
//	[\.\?!](?=(?P<after_tok>NonWord|\s+(?P<next_tok>\S+)))
type endMatch struct {
	start    int // match.start(): the sentence-end character
	end      int // match.end()
	afterEnd int // end of the after_tok group
	nextTok  int // match.start("next_tok"), or -1 if next_tok did not take part
}

// periodMatches is period_context_re().finditer(text). Every match is one
// ASCII character, so scanning byte by byte visits the same positions.
func periodMatches(text string) iter.Seq[endMatch] {
	return func(yield func(endMatch) bool) {
		for i := 0; i < len(text); i++ {
			if c := text[i]; c != '.' && c != '?' && c != '!' {
				continue
			}
			j := i + 1
			m := endMatch{start: i, end: j, afterEnd: j + 1, nextTok: -1}
			if j >= len(text) || !isNonWordChar(text[j]) {
				// \s+ is greedy and \S+ must follow, so the lookahead
				// succeeds only if the whitespace run ends before the end
				// of the text; \S+ then takes the whole following
				// non-whitespace run.
				k := skipSpace(text, j)
				if k == j || k == len(text) {
					continue
				}
				m.afterEnd, m.nextTok = skipNonSpace(text, k), k
			}
			if !yield(m) {
				return
			}
		}
	}
}

// slicesFromText is PunktSentenceTokenizer._slices_from_text together with
// _match_potential_end_contexts, which it consumes.
func slicesFromText(text string) []span {
	var slices []span
	lastBreak := 0
	consider := func(m endMatch, ctxStart int) {
		// The context is text[previous_slice] + match.group() +
		// match.group("after_tok"), and previous_slice ends at match.start(),
		// so it is one contiguous piece of the text.
		if !textContainsSentbreak(text[ctxStart:m.afterEnd]) {
			return
		}
		slices = append(slices, span{lastBreak, m.end})
		if m.nextTok >= 0 {
			lastBreak = m.nextTok // the next sentence starts after the whitespace
		} else {
			lastBreak = m.end // it starts at the following punctuation
		}
	}

	// _match_potential_end_contexts: find the word before each match from
	// the end of the previous one, and drop a match whose word overlaps the
	// next match's word ("acting!!!" yields only the last "!").
	var prev endMatch
	havePrev := false
	prevStart, prevStop := 0, 0 // previous_slice
	for m := range periodMatches(text) {
		before := text[prevStop:m.start]
		idx := lastASCIISpace(before)
		if idx != 0 {
			idx += prevStop + 1 // + 1 to exclude the space itself
		} else {
			// Also taken when the only whitespace is at index 0 of
			// before_text: Python tests the index for truthiness.
			idx = prevStart
		}
		if havePrev && prevStop <= idx {
			consider(prev, prevStart)
		}
		prev, havePrev = m, true
		prevStart, prevStop = idx, m.start
	}
	if havePrev {
		consider(prev, prevStart)
	}
	// The last sentence should not contain trailing whitespace.
	return append(slices, span{lastBreak, len(pyRStrip(text))})
}

// lastASCIISpace is _get_last_whitespace_index: the index of the last
// character of s in string.whitespace (ASCII only: " \t\n\r\v\f"), or 0.
func lastASCIISpace(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		switch s[i] {
		case ' ', '\t', '\n', '\r', '\v', '\f':
			return i
		}
	}
	return 0
}

// realignBoundaries is PunktSentenceTokenizer._realign_boundaries: closing
// quotes and brackets after a sentence end move into that sentence, and
// empty sentences are dropped.
func realignBoundaries(text string, slices []span) []span {
	out := make([]span, 0, len(slices))
	realign := 0
	for i, s1 := range slices {
		s1.start += realign
		if i == len(slices)-1 {
			if s1.start < s1.stop {
				out = append(out, s1)
			}
			continue
		}
		s2 := slices[i+1]
		if keep, end, ok := matchBoundaryRealignment(pySlice(text, s2.start, s2.stop)); ok {
			out = append(out, span{s1.start, s2.start + keep})
			realign = end
		} else {
			realign = 0
			if s1.start < s1.stop {
				out = append(out, s1)
			}
		}
	}
	return out
}

// matchBoundaryRealignment is PunktLanguageVars.re_boundary_realignment
// .match(s), that is
//
//	["\')\]}]+?(?:\s+|(?=--)|$)    (re.MULTILINE)
//
// It returns len(m.group(0).rstrip()), which is the length of the closing
// characters, and m.end().
func matchBoundaryRealignment(s string) (keep, end int, ok bool) {
	for k := 0; k < len(s) && isCloser(s[k]); {
		k++ // the lazy +? takes one more closing character
		if ws := skipSpace(s, k); ws > k {
			return k, ws, true
		}
		if strings.HasPrefix(s[k:], "--") || k == len(s) || s[k] == '\n' {
			return k, k, true
		}
	}
	return 0, 0, false
}

func isCloser(c byte) bool {
	return c == '"' || c == '\'' || c == ')' || c == ']' || c == '}'
}

// isNonWordChar is PunktLanguageVars._re_non_word_chars,
// (?:[)\";}\]\*:@\'\({\[?!]): characters that cannot appear within words.
// All of them are ASCII, so testing a byte is exact.
func isNonWordChar(c byte) bool {
	switch c {
	case ')', '"', ';', '}', ']', '*', ':', '@', '\'', '(', '{', '[', '?', '!':
		return true
	}
	return false
}

// isExcludedWordStart reports the characters that _re_word_start,
// [^\(\"\`{\[:;&\#\*@\)}\]\-,], keeps from starting a word token.
func isExcludedWordStart(r rune) bool {
	switch r {
	case '(', '"', '`', '{', '[', ':', ';', '&', '#', '*', '@', ')', '}', ']', '-', ',':
		return true
	}
	return false
}

// textContainsSentbreak is PunktSentenceTokenizer.text_contains_sentbreak:
// whether any token but the last is a sentence break after both annotation
// passes. Like the Python generators, it stops at the first break, which
// keeps long runs such as "!!!!…" from costing a full tokenization per
// candidate.
func textContainsSentbreak(ctx string) bool {
	prev, havePrev := "", false
	for tok := range words(ctx) {
		if havePrev && isSentBreak(prev, tok) {
			return true
		}
		prev, havePrev = tok, true
	}
	return false
}

// words is PunktBaseClass._tokenize_words without the paragraph and
// line-start flags, which only feed the (empty) orthographic context.
func words(s string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for line := range strings.SplitSeq(s, "\n") {
			if pyStrip(line) != "" && !wordTokenize(line, yield) {
				return
			}
		}
	}
}

// wordTokenize yields PunktLanguageVars.word_tokenize(line) and reports
// whether yield always returned true. The pattern, with NonWord and
// MultiChar as above, is
//
//	MultiChar
//	| (?=WordStart)\S+?(?=\s|$|NonWord|MultiChar|,(?=$|\s|NonWord|MultiChar))
//	| \S
//
// line never contains "\n", so $ is the end of the line.
func wordTokenize(line string, yield func(string) bool) bool {
	for pos := 0; pos < len(line); {
		r, size := utf8.DecodeRuneInString(line[pos:])
		if isPySpace(r) {
			pos += size // no alternative can start on whitespace
			continue
		}
		end := pos + size
		if n := multiCharPunct(line, pos); n > 0 {
			end = pos + n
		} else if !isExcludedWordStart(r) {
			// Lazy \S+?: stop at the first position where a word may end.
			// It always ends, at the latest before whitespace or at the end.
			for !wordEndsAt(line, end) {
				_, n := utf8.DecodeRuneInString(line[end:])
				end += n
			}
		}
		if !yield(line[pos:end]) {
			return false
		}
		pos = end
	}
	return true
}

// wordEndsAt is the lookahead after \S+? in the word pattern.
func wordEndsAt(s string, q int) bool {
	if q == len(s) || isPySpaceAt(s, q) || isNonWordChar(s[q]) || multiCharPunct(s, q) > 0 {
		return true
	}
	if s[q] != ',' {
		return false
	}
	q++
	return q == len(s) || isPySpaceAt(s, q) || isNonWordChar(s[q]) || multiCharPunct(s, q) > 0
}

// multiCharPunct is the length of _re_multi_char_punct,
// (?:\-{2,}|\.{2,}|(?:\.\s){2,}\.), matched at s[p:], or 0.
func multiCharPunct(s string, p int) int {
	if p+1 >= len(s) {
		return 0
	}
	switch {
	case s[p] == '-' && s[p+1] == '-':
		return countByte(s[p:], '-')
	case s[p] != '.':
		return 0
	case s[p+1] == '.':
		return countByte(s[p:], '.')
	}
	// (?:\.\s){2,}\. : take as many ". " pairs as possible, then back off
	// until a "." follows. Backing off one pair always finds one, since each
	// pair starts with ".".
	var ends []int // ends[i] is the offset after i+1 pairs
	q := p
	for q+1 < len(s) && s[q] == '.' {
		r, n := utf8.DecodeRuneInString(s[q+1:])
		if !isPySpace(r) {
			break
		}
		q += 1 + n
		ends = append(ends, q)
	}
	for i := len(ends) - 1; i >= 1; i-- {
		if e := ends[i]; e < len(s) && s[e] == '.' {
			return e + 1 - p
		}
	}
	return 0
}

func countByte(s string, c byte) int {
	n := 0
	for n < len(s) && s[n] == c {
		n++
	}
	return n
}

// isSentBreak is whether token tok is marked as a sentence break once both
// annotation passes have run, given the token that follows it.
func isSentBreak(tok, next string) bool {
	// _first_pass_annotation.
	switch {
	case tok == "." || tok == "?" || tok == "!":
		return true // "." is not an initial or a number: the second pass keeps it
	case isEllipsis(tok):
		return false
	case !strings.HasSuffix(tok, ".") || strings.HasSuffix(tok, ".."):
		return false
	}
	// _second_pass_annotation, section 4.3: initials and ordinals.
	initial := isInitial(tok)
	if !initial && typeNoPeriod(tok) != "##number##" {
		return true
	}
	first, _ := utf8.DecodeRuneInString(next)
	// _ortho_heuristic with an empty orthographic context: False for
	// punctuation and lower-case words.
	if isPunctuationToken(next) || pyIsLower(first) {
		return false
	}
	// "unknown": an initial before an upper-case word is an abbreviation.
	return !(initial && pyIsUpper(first))
}

// isEllipsis is PunktToken._RE_ELLIPSIS, \.\.+$, matched at the start.
func isEllipsis(tok string) bool {
	return len(tok) >= 2 && countByte(tok, '.') == len(tok)
}

// isInitial is PunktToken._RE_INITIAL, [^\W\d]\.$, matched at the start:
// one letter-like character and a period.
func isInitial(tok string) bool {
	r, n := utf8.DecodeRuneInString(tok)
	return n > 0 && tok[n:] == "." && pyIsWordNotDigit(r)
}

// isPunctuationToken is `tok in PunktSentenceTokenizer.PUNCTUATION`.
func isPunctuationToken(tok string) bool {
	return len(tok) == 1 && strings.Contains(";:,.!?", tok)
}

// typeNoPeriod is PunktToken.type_no_period: the token lower-cased, with
// numbers replaced by "##number##" and a final period removed.
func typeNoPeriod(tok string) string {
	typ := "##number##"
	if !isNumeric(tok) {
		// Python's str.lower and strings.ToLower differ on a few
		// characters, but the result is only compared with "##number##",
		// which no such difference can produce.
		typ = strings.ToLower(tok)
	}
	if utf8.RuneCountInString(typ) > 1 && strings.HasSuffix(typ, ".") {
		typ = typ[:len(typ)-1]
	}
	return typ
}

// isNumeric is PunktToken._RE_NUMERIC, ^-?[\.,]?\d[\d,\.-]*\.?$, matched
// against the whole token. Lower-casing first, as Python does, changes no
// character the pattern can match.
func isNumeric(tok string) bool {
	s := strings.TrimPrefix(tok, "-")
	if s != "" && (s[0] == '.' || s[0] == ',') {
		s = s[1:]
	}
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 || !pyIsDecimal(r) {
		return false
	}
	// [\d,\.-]* is greedy and includes ".", so \.?$ succeeds exactly when
	// the class covers the rest.
	for _, r := range s[n:] {
		if r != ',' && r != '.' && r != '-' && !pyIsDecimal(r) {
			return false
		}
	}
	return true
}

// isPySpaceAt reports whether the character at byte offset i is whitespace.
func isPySpaceAt(s string, i int) bool {
	r, _ := utf8.DecodeRuneInString(s[i:])
	return isPySpace(r)
}

// skipSpace returns the offset after the run of whitespace starting at i.
func skipSpace(s string, i int) int {
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !isPySpace(r) {
			break
		}
		i += n
	}
	return i
}

// skipNonSpace returns the offset after the run of non-whitespace at i.
func skipNonSpace(s string, i int) int {
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if isPySpace(r) {
			break
		}
		i += n
	}
	return i
}
