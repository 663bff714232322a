package corpus

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestEncodeRejectsUnknownExtension(t *testing.T) {
	t.Parallel()

	for _, ext := range []string{"", ".doc", "pdf", ".PDF", ".html"} {
		_, err := Encode(Generate(1, 0), ext)
		require.Error(t, err, ext)
	}
	require.Equal(t, []string{".txt", ".text", ".md", ".csv", ".pdf", ".docx", ".xlsx", ".pptx"}, Extensions())
}

func TestEncodeText(t *testing.T) {
	t.Parallel()

	for n := range 7 {
		d := Generate(5, n)
		for _, ext := range []string{".txt", ".text"} {
			b, err := Encode(d, ext)
			require.NoError(t, err)
			require.True(t, utf8.Valid(b))
			require.Equal(t, d.PlainText(), string(b))
		}
	}
}

func TestEncodeMarkdown(t *testing.T) {
	t.Parallel()

	for n := range 7 {
		d := Generate(5, n)
		b, err := Encode(d, ".md")
		require.NoError(t, err)
		md := string(b)
		require.True(t, strings.HasPrefix(md, "# "+d.Title+"\n"))
		require.Equal(t, len(d.Sections), strings.Count(md, "\n## "))
		require.Equal(t, len(d.tables()), strings.Count(md, "\n| --- |"))
		require.Contains(t, md, "<br>", "the newline in the data table")
		for _, s := range d.Sections {
			for _, p := range s.Paragraphs {
				item, isItem := bullet(p)
				if isItem {
					require.Contains(t, md, "\n- "+item+"\n")
				} else {
					require.Contains(t, md, "\n\n"+p+"\n")
				}
			}
		}
	}
}

func TestEncodeCSVRoundTrips(t *testing.T) {
	t.Parallel()

	for n := range 14 {
		d := Generate(11, n)
		b, err := Encode(d, ".csv")
		require.NoError(t, err)
		records, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
		require.NoError(t, err)
		want := d.Sections[len(d.Sections)-1].Table
		require.Equal(t, want, records)
		require.Equal(t, loc[d.Lang].header, records[0])

		tricky := records[1][len(records[1])-1]
		require.Contains(t, tricky, ",")
		require.Contains(t, tricky, `"`)
		require.Contains(t, tricky, "\n")
		require.Contains(t, string(b), `""`, "quotes are doubled")
	}
}

func TestXMLEscape(t *testing.T) {
	t.Parallel()

	tests := []struct{ in, want string }{
		{"a & b", "a &amp; b"},
		{`<"x">'`, "&lt;&quot;x&quot;&gt;&apos;"},
		{"bell\a tab\t nl\n", "bell tab\t nl\n"},
		{"nul\x00 ok", "nul ok"},
		{"bad \xff utf8", "bad  utf8"},
		{"\ufffe\uffff日本", "日本"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, xmlEscape(tt.in), "%q", tt.in)
	}
}
