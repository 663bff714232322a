package chunk

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// The expected values below were checked against the Python reference
// (llama-index-core 0.10.19 with NLTK 3.8 on CPython 3.11).

func mustNew(t *testing.T, size, overlap int) *Splitter {
	t.Helper()
	s, err := New(size, overlap)
	if err != nil {
		t.Fatalf("New(%d, %d): %v", size, overlap, err)
	}
	return s
}

func requireChunks(t *testing.T, got, want []string) {
	t.Helper()
	if diff := diffChunks(got, want); diff != "" {
		t.Fatal(diff)
	}
}

func TestSplit(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name          string
		size, overlap int
		text          string
		want          []string
	}{
		{"EmptyGivesOneEmptyChunk", 10, 0, "", []string{""}},
		{"WhitespaceOnlyGivesNone", 10, 0, " \t\n\u3000 ", []string{}},
		{"ShortTextIsStripped", 1000, 200, "\n  hello  \n", []string{"hello"}},

		// The paragraph separator is six literal characters and stays at
		// the start of the part after it; real newlines separate nothing.
		{"LiteralParagraphSeparator", 10, 0, `aaaa\n\n\nbbbb`, []string{"aaaa", `\n\n\nbbbb`}},
		{"RealNewlinesAreNotSeparators", 10, 0, "aaaa\n\n\nbbbb", []string{"aaaa\n\n\nbbb", "b"}},
		{"SeparatorAloneIsNotWhitespace", 3, 0, `\n\n\n`, []string{`\n\`, `n\n`}},

		// The secondary regex drops punctuation that does not follow
		// other characters, but only when it yields more than one piece.
		{"RegexLossEllipsis", 3, 0, "a...b", []string{"a.b"}},
		{"RegexLossDoubleComma", 5, 0, "one, two,, three", []string{"one,", "two,", "thre", "e"}},
		{"NoRegexWhenSentencesSplit", 20, 5, "Hello there. How are you?", []string{"Hello there.", "How are you?"}},
		{"FullwidthPunctuationOnlyInRegex", 16, 4,
			"The quick brown fox jumps over the lazy dog. 日本語の文です。次の文！",
			[]string{"The quick brown", "fox jumps over", "the lazy dog.", "日本語の文です。次の文！"}},

		// Sizes are code points: an astral emoji is 1, the family emoji
		// (four people joined by three ZWJ) is 7 and may be cut apart.
		{"AstralEmojiCountsOne", 2, 0, "🍕🍕🍕", []string{"🍕🍕", "🍕"}},
		{"ZWJSequenceFits", 7, 0, "👨\u200d👩\u200d👧\u200d👦", []string{"👨\u200d👩\u200d👧\u200d👦"}},
		{"ZWJSequenceCut", 6, 0, "👨\u200d👩\u200d👧\u200d👦", []string{"👨\u200d👩\u200d👧\u200d", "👦"}},

		// Overlap is made of whole splits: " bbb" (4) fits in 5, "aaa bbb"
		// does not, and 5 characters of text are never cut out.
		{"OverlapIsWholeSplits", 10, 5, "aaa bbb ccc ddd", []string{"aaa bbb", "bbb ccc", "ccc ddd"}},

		// Python's strip removes U+001C..U+001F but not U+200B or U+FEFF.
		{"StripInformationSeparators", 10, 0, "\x1chello\x1f", []string{"hello"}},
		{"KeepZeroWidthAndBOM", 10, 0, "\u200bhello\ufeff", []string{"\u200bhello\ufeff"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			requireChunks(t, mustNew(t, tt.size, tt.overlap).Split(tt.text), tt.want)
		})
	}
}

func TestSplitNeverReturnsNil(t *testing.T) {
	t.Parallel()
	if got := mustNew(t, 10, 0).Split("   "); got == nil {
		t.Fatal("Split of whitespace returned nil, want an empty slice")
	}
}

func TestNew(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name          string
		size, overlap int
		wantErr       bool
	}{
		{"AppDefault", 1000, 200, false},
		{"OverlapEqualsSize", 10, 10, false},
		{"ZeroOverlap", 1, 0, false},
		{"OverlapLargerThanSize", 10, 11, true},
		{"ZeroSize", 0, 0, true},
		{"NegativeSize", -1, 0, true},
		{"NegativeOverlap", 10, -1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := New(tt.size, tt.overlap)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidParams) {
					t.Fatalf("New(%d, %d) error = %v, want ErrInvalidParams", tt.size, tt.overlap, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%d, %d): %v", tt.size, tt.overlap, err)
			}
			if s.ChunkSize != tt.size || s.ChunkOverlap != tt.overlap {
				t.Fatalf("New(%d, %d) = %+v", tt.size, tt.overlap, *s)
			}
		})
	}
}

func TestSplitPanicsOnInvalidSplitter(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Fatal("Split on a zero Splitter did not panic")
		}
	}()
	var s Splitter
	s.Split("hello world")
}

func TestStripDiffersFromTrimSpace(t *testing.T) {
	t.Parallel()

	for r := rune(0x1C); r <= 0x1F; r++ {
		s := fmt.Sprintf("%cx%c", r, r)
		if got := pyStrip(s); got != "x" {
			t.Errorf("pyStrip(%q) = %q, want %q", s, got, "x")
		}
		// The reason pyStrip exists: Go does not treat these as space.
		if got := strings.TrimSpace(s); got != s {
			t.Errorf("strings.TrimSpace(%q) = %q; Go changed, revisit pyStrip", s, got)
		}
	}
	for _, r := range []rune{0x200B, 0x200D, 0x2060, 0xFEFF, 0x180E} {
		if isPySpace(r) {
			t.Errorf("isPySpace(%U) = true, want false", r)
		}
	}
	n := 0
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if isPySpace(r) {
			n++
		}
	}
	if n != 29 {
		t.Errorf("isPySpace holds for %d code points, want 29", n)
	}
}

func TestFindallChunkingRegex(t *testing.T) {
	t.Parallel()

	tests := []struct {
		text string
		want []string
	}{
		{"a...b", []string{"a.", "b"}},
		{"one, two,, three", []string{"one,", " two,", " three"}},
		{",,,", nil},
		{"。前文。後文！終", []string{"前文。", "後文！", "終"}},
		{"no punctuation", []string{"no punctuation"}},
	}
	for _, tt := range tests {
		if got := findallChunkingRegex(tt.text); !slices.Equal(got, tt.want) {
			t.Errorf("findallChunkingRegex(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestSplitKeepSeparator(t *testing.T) {
	t.Parallel()

	got := splitKeepSeparator(`\n\n\na\n\n\n\n\n\nb\n\n\n`, ParagraphSeparator)
	want := []string{`\n\n\na`, `\n\n\n`, `\n\n\nb`, `\n\n\n`}
	if !slices.Equal(got, want) {
		t.Fatalf("splitKeepSeparator = %q, want %q", got, want)
	}
}

func TestSplitSentences(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		text string
		want []string
	}{
		{
			// Untrained: "Dr." is a break, initials and a number before a
			// lower-case word are not.
			"AbbreviationsInitialsNumbers",
			"Dr. Smith arrived. J. R. R. Tolkien wrote 3 books. it is 5. Fine! (Really?) Yes.",
			[]string{"Dr. ", "Smith arrived. ", "J. R. R. Tolkien wrote 3 books. ", "it is 5. ", "Fine! ", "(Really?) ", "Yes."},
		},
		{
			// An ellipsis is not a break; closing quotes move into the
			// sentence they close.
			"EllipsisAndQuotes",
			`Wait... what? "Quoted." Next`,
			[]string{"Wait... what? ", `"Quoted." `, "Next"},
		},
		{"RepeatedExclamation", "Very bad acting!!! I promise.", []string{"Very bad acting!!! ", "I promise."}},
		{"NoSentenceEnd", "日本語の文です。次の文！", []string{"日本語の文です。次の文！"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := splitSentences(tt.text); !slices.Equal(got, tt.want) {
				t.Fatalf("splitSentences(%q)\n got %q\nwant %q", tt.text, got, tt.want)
			}
		})
	}
}

// TestUnicodeVersion guards the correction tables in pyunicode.go, which are
// the difference between Go's tables and CPython 3.11's (Unicode 14.0).
func TestUnicodeVersion(t *testing.T) {
	t.Parallel()

	if unicode.Version != goUnicodeVersion {
		t.Fatalf("Go's unicode tables are version %s, the corrections in pyunicode.go are for %s: "+
			"derive them again by comparing every code point with CPython 3.11",
			unicode.Version, goUnicodeVersion)
	}
	checks := []struct {
		name string
		f    func(rune) bool
		r    rune
		want bool
	}{
		{"islower MODIFIER LETTER CAPITAL C (Other_Lowercase since 15)", pyIsLower, 0xA7F2, false},
		{"islower MODIFIER LETTER SMALL A", pyIsLower, 0x1D43, true},
		{"islower FEMININE ORDINAL INDICATOR", pyIsLower, 'ª', true},
		{"isupper CIRCLED LATIN CAPITAL A", pyIsUpper, 'Ⓐ', true},
		{"isupper LATIN CAPITAL LETTER DZ WITH SMALL Z (Lt)", pyIsUpper, 'ǅ', false},
		{`\d KAWI DIGIT ZERO (new in 15)`, pyIsDecimal, 0x11F50, false},
		{`\d ARABIC-INDIC DIGIT THREE`, pyIsDecimal, '٣', true},
		{`[^\W\d] KAWI LETTER A (new in 15)`, pyIsWordNotDigit, 0x11F04, false},
		{`[^\W\d] SUPERSCRIPT TWO`, pyIsWordNotDigit, '²', true},
		{`[^\W\d] LOW LINE`, pyIsWordNotDigit, '_', true},
		{`[^\W\d] DIGIT ONE`, pyIsWordNotDigit, '1', false},
	}
	for _, c := range checks {
		if got := c.f(c.r); got != c.want {
			t.Errorf("%s (%U) = %v, want %v", c.name, c.r, got, c.want)
		}
	}
}

func ExampleSplitter_Split() {
	s, err := New(20, 5)
	if err != nil {
		panic(err)
	}
	for _, c := range s.Split("Hello there. How are you?") {
		fmt.Printf("%q\n", c)
	}
	// Output:
	// "Hello there."
	// "How are you?"
}
