package corpus

import (
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestGenerateIsDeterministic(t *testing.T) {
	t.Parallel()

	for n := range 12 {
		a, b := Generate(42, n), Generate(42, n)
		require.Equal(t, a, b, "document %d", n)
		for _, ext := range Extensions() {
			x, err := Encode(a, ext)
			require.NoError(t, err)
			y, err := Encode(b, ext)
			require.NoError(t, err)
			require.Equal(t, x, y, "document %d as %s", n, ext)
		}
	}
}

func TestGenerateDependsOnSeed(t *testing.T) {
	t.Parallel()

	for n := range 10 {
		require.NotEqual(t, Generate(1, n).PlainText(), Generate(2, n).PlainText(), "document %d", n)
	}
	// Same language, different seed: the generated table still differs.
	require.NotEqual(t, Generate(3, 0).PlainText(), Generate(10, 0).PlainText())
}

func TestGenerateCoversLanguagesAndScripts(t *testing.T) {
	t.Parallel()

	for _, seed := range []int64{0, 1, 7, -5, 1 << 40} {
		var langs []string
		var text strings.Builder
		for n := range len(Languages()) {
			d := Generate(seed, n)
			langs = append(langs, d.Lang)
			text.WriteString(d.PlainText())
		}
		slices.Sort(langs)
		want := Languages()
		slices.Sort(want)
		require.Equal(t, want, langs, "seed %d", seed)

		s := text.String()
		for name, table := range map[string]*unicode.RangeTable{
			"Han": unicode.Han, "Hiragana": unicode.Hiragana, "Katakana": unicode.Katakana, "Hangul": unicode.Hangul,
		} {
			require.True(t, strings.ContainsFunc(s, func(r rune) bool { return unicode.Is(table, r) }), "seed %d: no %s", seed, name)
		}
		for _, r := range "éçœäüßñí" {
			require.True(t, strings.ContainsRune(s, r), "seed %d: no %q", seed, r)
		}
	}
}

func TestGenerateShapes(t *testing.T) {
	t.Parallel()

	sizes := map[string]int{}
	for n := range 40 {
		d := Generate(9, n)
		require.NotEmpty(t, d.Title)
		require.GreaterOrEqual(t, len(d.Sections), 2, "document %d", n)
		require.True(t, utf8.ValidString(d.PlainText()))
		last := d.Sections[len(d.Sections)-1]
		require.Greater(t, len(last.Table), 1, "document %d: the data table", n)
		require.True(t, slices.ContainsFunc(d.Sections, func(s Section) bool { return s.Notes != "" }), "document %d: notes", n)
		for _, s := range d.Sections {
			require.NotEmpty(t, s.Heading)
		}
		words := len(strings.Fields(d.PlainText()))
		switch {
		case n%5 == 4:
			sizes["long"]++
			require.Greater(t, utf8.RuneCountInString(d.PlainText()), 5000, "document %d", n)
		case words < 400:
			sizes["short"]++
		default:
			sizes["medium"]++
		}
	}
	require.Len(t, sizes, 3, "sizes: %v", sizes)
}

func TestPlainText(t *testing.T) {
	t.Parallel()

	d := Document{Title: "T", Lang: "en", Sections: []Section{{
		Heading:    "H",
		Paragraphs: []string{"First.", "- item"},
		Table:      [][]string{{"a", "b"}, {"1", "x\ny"}},
		Notes:      "not in the text",
	}}}
	require.Equal(t, "T\n\nH\n\nFirst.\n\n- item\n\na\tb\n1\tx y\n", d.PlainText())
}

func TestSourcesParse(t *testing.T) {
	t.Parallel()

	for _, lang := range Languages() {
		srcs := sources()[lang]
		require.GreaterOrEqual(t, len(srcs), 3, lang)
		for _, src := range srcs {
			require.GreaterOrEqual(t, len(src.sections), 3, "%s/%s", lang, src.theme)
			for _, s := range src.sections {
				for _, row := range s.Table {
					require.Len(t, row, len(s.Table[0]), "%s/%s: %q", lang, src.theme, s.Heading)
				}
			}
		}
	}
}
