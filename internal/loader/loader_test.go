package loader_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/unicode"

	"github.com/ragmigrate/ragmigrate/internal/corpus"
	"github.com/ragmigrate/ragmigrate/internal/loader"
)

// passages are the texts a reader must find, in order: title, headings, paragraphs, list items.
func passages(d corpus.Document, withTitle bool) []string {
	var out []string
	if withTitle {
		out = append(out, d.Title)
	}
	for _, s := range d.Sections {
		out = append(out, s.Heading)
		for _, p := range s.Paragraphs {
			out = append(out, strings.TrimPrefix(p, "- "))
		}
	}
	return out
}

func requireInOrder(t *testing.T, text string, want []string) {
	t.Helper()
	pos := 0
	for _, w := range want {
		i := strings.Index(text[pos:], w)
		require.GreaterOrEqual(t, i, 0, "%q missing or out of order", w)
		pos += i + len(w)
	}
}

func TestTextFormatsFromCorpus(t *testing.T) {
	t.Parallel()
	for n := range 14 { // two of each language
		d := corpus.Generate(1, n)
		for _, ext := range []string{".txt", ".text", ".md"} {
			body, err := corpus.Encode(d, ext)
			require.NoError(t, err)
			doc, err := loader.File("s3://b/k"+ext, "doc"+ext, body)
			require.NoError(t, err, "%d%s", n, ext)
			requireInOrder(t, doc.Text, passages(d, true))
			require.NotContains(t, doc.Text, "\n\n\n", "elements are joined by exactly one blank line")
			if ext == ".md" {
				require.NotContains(t, doc.Text, "## ", "Markdown markup is gone")
				require.NotContains(t, doc.Text, "| --- |")
			}
		}
		body, err := corpus.Encode(d, ".csv")
		require.NoError(t, err)
		doc, err := loader.File("s3://b/k.csv", "data.csv", body)
		require.NoError(t, err)
		table := d.Sections[len(d.Sections)-1].Table
		require.Len(t, strings.Split(doc.Text, "\n\n"), len(table), "one element per CSV row; quoted newlines stay inside their row")
		require.Contains(t, doc.Text, strings.Join(table[0], " "))
	}
}

func TestFileRefusesWhatItCannotRead(t *testing.T) {
	t.Parallel()
	pdf, err := corpus.Encode(corpus.Generate(1, 0), ".pdf")
	require.NoError(t, err)
	for name, tc := range map[string]struct {
		file        string
		body        []byte
		want        string
		unsupported bool // the error wraps ErrUnsupported
	}{
		"LegacyWord":    {"Manual.doc", []byte("x"), "unsupported format .doc", true},
		"PDFNamedTxt":   {"notes.txt", pdf, "PDF file named .txt", true},
		"UnknownFormat": {"photo.heic", []byte("x"), `unsupported format ".heic"`, true},
		"CorruptDocx":   {"Policy.docx", []byte("PK\x03\x04rest"), "corrupt or not a DOCX file", false},
		"CorruptPDF":    {"Manual.pdf", pdf[:len(pdf)/2], "corrupt PDF", false},
		"ZipNamedCSV":   {"data.csv", []byte("PK\x03\x04rest"), "a ZIP file named .csv", true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := loader.File("s3://bucket/u/b/documents/"+tc.file, tc.file, tc.body)
			if tc.unsupported {
				require.ErrorIs(t, err, loader.ErrUnsupported)
			}
			var se *loader.SourceError
			require.ErrorAs(t, err, &se)
			require.Equal(t, "s3://bucket/u/b/documents/"+tc.file, se.Source)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// TestEveryUploadTypeReads: a document in each of the eight types the app accepts comes out with
// its passages in order.
func TestEveryUploadTypeReads(t *testing.T) {
	t.Parallel()
	for n := range 7 {
		d := corpus.Generate(1, n)
		for _, ext := range corpus.Extensions() {
			if ext == ".csv" {
				continue // a CSV holds only the document's table (TestTextFormatsFromCorpus)
			}
			body, err := corpus.Encode(d, ext)
			require.NoError(t, err)
			doc, err := loader.File("s3://b/k"+ext, "doc"+ext, body)
			require.NoError(t, err, "%d%s", n, ext)
			for _, s := range d.Sections {
				require.Contains(t, strings.Join(strings.Fields(doc.Text), ""), strings.Join(strings.Fields(s.Heading), ""), "%d%s", n, ext)
			}
		}
	}
}

func TestTextCleaning(t *testing.T) {
	t.Parallel()
	doc, err := loader.File("s", "a.txt", []byte("Größe\x00 und Maß\xff.\r\n\r\nZweiter Absatz."))
	require.NoError(t, err)
	require.Equal(t, "Größe und Maß\uFFFD.\n\nZweiter Absatz.", doc.Text, "NUL dropped, invalid UTF-8 replaced, CRLF paragraphs")

	utf16, err := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().String("出張規程\n\n第1条")
	require.NoError(t, err)
	doc, err = loader.File("s", "a.txt", []byte(utf16))
	require.NoError(t, err)
	require.Equal(t, "出張規程\n\n第1条", doc.Text)
}

func TestURLsFromTheSite(t *testing.T) {
	t.Parallel()
	site := corpus.NewSite(1)
	srv := httptest.NewServer(site)
	t.Cleanup(srv.Close)
	f := &loader.Fetcher{AllowPrivate: true} // the test server is on loopback
	for _, path := range site.Pages() {
		d, ok := site.Page(path)
		require.True(t, ok)
		doc, err := f.URL(t.Context(), srv.URL+path)
		require.NoError(t, err, path)
		require.Equal(t, srv.URL+path, doc.Source, "the URL as entered")
		require.Equal(t, "html", doc.Format)
		requireInOrder(t, doc.Text, passages(d, false))
		require.NotContains(t, doc.Text, "We use cookies", "cookie banner is not content")
		require.NotContains(t, doc.Text, "All rights reserved", "footer is not content")
	}

	doc, err := f.URL(t.Context(), srv.URL+"/redirect")
	require.NoError(t, err, "redirects are followed")
	require.NotEmpty(t, doc.Text)

	_, err = f.URL(t.Context(), srv.URL+"/missing.html")
	var se *loader.SourceError
	require.ErrorAs(t, err, &se)
	require.Equal(t, srv.URL+"/missing.html", se.Source)
	require.ErrorContains(t, err, "HTTP 404")

	_, err = f.URL(t.Context(), srv.URL+site.Files()[0])
	require.ErrorIs(t, err, loader.ErrUnsupported)
	require.ErrorContains(t, err, "application/pdf")

	_, err = f.URL(t.Context(), "https://www.youtube.com/watch?v=dQw4w9WgXcQ")
	require.ErrorIs(t, err, loader.ErrUnsupported)
	require.ErrorContains(t, err, "YouTube")
}

func TestURLCharsetFromHeaderAndMeta(t *testing.T) {
	t.Parallel()
	page := "<html><head><title>案内</title></head><body><nav>メニュー</nav><main><h1>出張の手引き</h1><p>日当は三千円です。</p></main></body></html>"
	sjis, err := japanese.ShiftJIS.NewEncoder().String(page)
	require.NoError(t, err)
	metaPage, err := japanese.ShiftJIS.NewEncoder().String(strings.Replace(page, "<head>", `<head><meta charset="Shift_JIS">`, 1))
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.HandleFunc("/header", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=Shift_JIS")
		w.Write([]byte(sjis))
	})
	mux.HandleFunc("/meta", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(metaPage))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f := &loader.Fetcher{Timeout: 300e6, AllowPrivate: true}
	for _, p := range []string{"/header", "/meta"} {
		doc, err := f.URL(t.Context(), srv.URL+p)
		require.NoError(t, err)
		require.Equal(t, "出張の手引き\n\n日当は三千円です。", doc.Text, p)
	}
	_, err = f.URL(t.Context(), srv.URL+"/slow")
	require.Regexp(t, "timeout|deadline exceeded", err.Error(), "the timeout bounds a fetch")
	require.ErrorContains(t, err, srv.URL+"/slow")
}
