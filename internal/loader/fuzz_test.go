package loader_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ragmigrate/ragmigrate/internal/dev/corpus"
	"github.com/ragmigrate/ragmigrate/internal/loader"
)

// requireCleanText: whatever a reader returns is valid UTF-8 without NUL bytes, which PostgreSQL
// text cannot hold, or an error with no text.
func requireCleanText(t *testing.T, text string, err error) {
	t.Helper()
	if err != nil {
		if text != "" {
			t.Fatalf("text %q beside error %v", text, err)
		}
		return
	}
	if !utf8.ValidString(text) || strings.Contains(text, "\x00") {
		t.Fatalf("unclean text %q", text)
	}
}

// FuzzHTML covers the page reader: charset detection, parsing, main-content selection.
func FuzzHTML(f *testing.F) {
	site := corpus.NewSite(1)
	for _, p := range site.Pages()[:3] {
		rec := httptest.NewRecorder()
		site.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
		f.Add(rec.Body.Bytes(), rec.Header().Get("Content-Type"))
	}
	f.Add([]byte("<meta charset=shift_jis><p>\x82\xa0</p>"), "")
	f.Add([]byte("\xff\xfe<\x00p\x00>\x00"), "text/html")
	f.Add([]byte("<main><table><tr><td>a<td>b</table></main>"), "text/html; charset=bogus")
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		text, err := loader.HTML(body, contentType)
		requireCleanText(t, text, err)
	})
}

// FuzzText covers the text formats through File: sniffing, decoding, Markdown and CSV.
func FuzzText(f *testing.F) {
	d := corpus.Generate(1, 3)
	for i, ext := range []string{".txt", ".md", ".csv"} {
		body, err := corpus.Encode(d, ext)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body, uint8(i))
	}
	f.Add([]byte("a,\"b\nc\",d\r\n\"\"\"x\"\"\"\n"), uint8(2))
	f.Add([]byte("# T\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```\ncode\n```\n- [x] item\x00"), uint8(1))
	f.Add([]byte("\xfe\xff\x00h\x00i"), uint8(0))
	f.Fuzz(func(t *testing.T, body []byte, kind uint8) {
		ext := []string{".txt", ".md", ".csv"}[int(kind)%3]
		doc, err := loader.File("fuzz", "f"+ext, body)
		requireCleanText(t, doc.Text, err)
	})
}
