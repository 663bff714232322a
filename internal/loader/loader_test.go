package loader_test

import (
	"archive/zip"
	"bytes"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/unicode"

	"github.com/ragmigrate/ragmigrate/internal/dev/corpus"
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
	inOrder(t, func(s string) string { return s }, text, want)
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
		"LegacyWord":         {"Manual.doc", []byte("x"), "unsupported format .doc", true},
		"TextNamedPDF":       {"Manual.pdf", []byte("Just some notes.\n"), "the file named .pdf holds plain text, not a PDF", true},
		"OLENamedPDF":        {"Policy.pdf", []byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest"), "an OLE compound file named .pdf", true},
		"ZipNamedPptx":       {"Deck.pptx", zipWith(t, "notes.txt"), "corrupt or not a PPTX file: missing main part", false},
		"HTMLNamedPDFBroken": {"Page.pdf", []byte("<!DOCTYPE html><html><body><script>x</script></body></html>"), "read as .html (the file is named .pdf)", false},
		"UnknownFormat":      {"photo.heic", []byte("x"), `unsupported format ".heic"`, true},
		"CorruptDocx":        {"Policy.docx", []byte("PK\x03\x04rest"), "corrupt or not a DOCX file", false},
		"CorruptPDF":         {"Manual.pdf", pdf[:len(pdf)/2], "corrupt PDF", false},
		"ZipNamedCSV":        {"data.csv", []byte("PK\x03\x04rest"), "a ZIP file named .csv", true},
		"ArchiveNamedCSV":    {"data.csv", zipWith(t, "data.csv"), "a ZIP file named .csv, and no Office document", true},
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

// zipWith makes a zip archive holding the named empty files.
func zipWith(t *testing.T, names ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range names {
		_, err := zw.Create(n)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// TestFileReadsWhatTheContentIs: the content, not the name, decides among the upload types.
func TestFileReadsWhatTheContentIs(t *testing.T) {
	t.Parallel()
	d := corpus.Generate(1, 1)
	encode := func(ext string) []byte {
		b, err := corpus.Encode(d, ext)
		require.NoError(t, err)
		return b
	}
	page := []byte("\xef\xbb\xbf\n<!DOCTYPE html><html><body><nav>Menu</nav><p>Saved from the browser.</p></body></html>")
	for name, tc := range map[string]struct {
		file   string
		body   []byte
		format string
	}{
		"HTMLNamedPDF":  {"Manual.pdf", page, "html"},
		"HTMLNamedTxt":  {"page.txt", page, "html"},
		"DOCXNamedXLSX": {"Budget.xlsx", encode(".docx"), "docx"},
		"PDFNamedDOCX":  {"Policy.docx", encode(".pdf"), "pdf"},
		"PPTXNamedTxt":  {"deck.txt", encode(".pptx"), "pptx"},
		"PDFNamedPDF":   {"Manual.PDF", encode(".pdf"), "pdf"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			doc, err := loader.File("s3://b/"+tc.file, tc.file, tc.body)
			require.NoError(t, err)
			require.Equal(t, tc.format, doc.Format)
			named := strings.ToLower(path.Ext(tc.file))
			if named[1:] == tc.format {
				named = ""
			}
			require.Equal(t, named, doc.Named, "Named tells a disguised file")
			if tc.format == "html" {
				require.Equal(t, "Saved from the browser.", doc.Text)
			} else {
				require.Contains(t, strings.Join(strings.Fields(doc.Text), " "), strings.Join(strings.Fields(d.Sections[0].Heading), " "))
			}
		})
	}
}

// TestFileWithoutText: an empty file, or one whose content holds no text, is a source error.
func TestFileWithoutText(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		file string
		body []byte
		want string
	}{
		"Empty":      {"notes.txt", nil, "no text: the file is empty"},
		"WhiteSpace": {"notes.md", []byte(" \n\n\t\n"), "no text: the MARKDOWN content (5 bytes) holds no text"},
		"NULs":       {"notes.txt", []byte("\x00\x00\x00"), "no text: the TEXT content (3 bytes) holds no text"},
		"EmptyCSV":   {"data.csv", []byte("\n"), "no text"},
		"EmptyPage":  {"page.html", []byte("<html><body><script>x()</script></body></html>"), "no text: the HTML content"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := loader.File("s3://b/"+tc.file, tc.file, tc.body)
			require.ErrorIs(t, err, loader.ErrNoText)
			require.ErrorContains(t, err, "s3://b/"+tc.file+": "+tc.want)
		})
	}
}

// TestURLDocuments: documents served over HTTP go to the file readers by Content-Type, or by
// the URL's extension when the server says only application/octet-stream.
func TestURLDocuments(t *testing.T) {
	t.Parallel()
	d := corpus.Generate(1, 2)
	mux := http.NewServeMux()
	for _, ext := range []string{".pdf", ".docx", ".xlsx", ".pptx", ".md", ".txt"} {
		body, err := corpus.Encode(d, ext)
		require.NoError(t, err)
		mux.HandleFunc("/typed/doc"+ext, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", mime.TypeByExtension(ext))
			w.Write(body)
		})
		mux.HandleFunc("/generic/doc"+ext, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(body)
		})
	}
	mux.HandleFunc("/generic/blob", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write([]byte("\x89PNG\r\n\x1a\n\x00\x00"))
	})
	mux.HandleFunc("/empty", func(w http.ResponseWriter, _ *http.Request) { w.Header().Set("Content-Type", "text/html") })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f := &loader.Fetcher{AllowPrivate: true}
	for _, ext := range []string{".pdf", ".docx", ".xlsx", ".pptx", ".md", ".txt"} {
		for _, dir := range []string{"/typed/", "/generic/"} {
			doc, err := f.URL(t.Context(), srv.URL+dir+"doc"+ext)
			require.NoError(t, err, dir+ext)
			require.Equal(t, srv.URL+dir+"doc"+ext, doc.Source)
			if ext != ".xlsx" { // a workbook holds the document's table only
				require.Contains(t, strings.Join(strings.Fields(doc.Text), ""), strings.Join(strings.Fields(d.Sections[0].Heading), ""), dir+ext)
			}
		}
	}
	_, err := f.URL(t.Context(), srv.URL+"/generic/blob")
	require.ErrorIs(t, err, loader.ErrUnsupported)
	require.ErrorContains(t, err, "image/png")
	_, err = f.URL(t.Context(), srv.URL+"/empty")
	require.ErrorIs(t, err, loader.ErrNoText)
	require.ErrorContains(t, err, srv.URL+"/empty: no text: the file is empty")
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

	doc, err = f.URL(t.Context(), srv.URL+site.Files()[0])
	require.NoError(t, err, "a PDF served over HTTP goes through the PDF reader")
	require.Equal(t, "pdf", doc.Format)
	require.NotEmpty(t, doc.Text)

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

// TestURLRetries: a site that answers 503 or 429, or drops the connection mid-body, is tried
// again (waiting at least what Retry-After asks); a 404 is not, and a site that keeps failing
// fails the source with the attempts counted.
func TestURLRetries(t *testing.T) {
	t.Parallel()
	page := "<html><body><main><h1>Status</h1><p>All systems normal.</p></main></body></html>"
	var mu sync.Mutex
	hits := map[string]int{}
	seen := map[string][]time.Time{}
	mux := http.NewServeMux()
	count := func(r *http.Request) int {
		mu.Lock()
		defer mu.Unlock()
		hits[r.URL.Path]++
		seen[r.URL.Path] = append(seen[r.URL.Path], time.Now())
		return hits[r.URL.Path]
	}
	// flaky serves path with fail for its first failures requests, then the page.
	flaky := func(path string, failures int, fail func(http.ResponseWriter)) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			if count(r) <= failures {
				fail(w)
				return
			}
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, page)
		})
	}
	flaky("/busy", 2, func(w http.ResponseWriter) { w.WriteHeader(http.StatusServiceUnavailable) })
	flaky("/slow-down", 1, func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	flaky("/cut", 1, func(w http.ResponseWriter) {
		// Promise 1000 bytes, send 20, drop the connection.
		conn, buf, err := w.(http.Hijacker).Hijack()
		require.NoError(t, err)
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1000\r\n\r\n<html><body><main>")
		buf.Flush()
		conn.Close()
	})
	mux.HandleFunc("/gone", func(w http.ResponseWriter, r *http.Request) {
		count(r)
		http.NotFound(w, r)
	})
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) {
		count(r)
		w.WriteHeader(http.StatusBadGateway)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f := &loader.Fetcher{AllowPrivate: true, RetryWait: 10 * time.Millisecond}

	for _, p := range []string{"/busy", "/slow-down", "/cut"} {
		doc, err := f.URL(t.Context(), srv.URL+p)
		require.NoError(t, err, p)
		require.Equal(t, "Status\n\nAll systems normal.", doc.Text, p)
	}
	_, err := f.URL(t.Context(), srv.URL+"/gone")
	require.ErrorContains(t, err, "HTTP 404")
	require.NotContains(t, err.Error(), "attempts")
	_, err = f.URL(t.Context(), srv.URL+"/down")
	require.ErrorContains(t, err, srv.URL+"/down: fetch: HTTP 502 Bad Gateway (3 attempts)")
	_, err = (&loader.Fetcher{AllowPrivate: true, Retries: -1}).URL(t.Context(), srv.URL+"/down")
	require.ErrorContains(t, err, "HTTP 502 Bad Gateway")
	require.NotContains(t, err.Error(), "attempts", "Retries < 0: one attempt")

	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, map[string]int{"/busy": 3, "/slow-down": 2, "/cut": 2, "/gone": 1, "/down": 4}, hits)
	require.GreaterOrEqual(t, seen["/slow-down"][1].Sub(seen["/slow-down"][0]), time.Second, "Retry-After: 1 is honoured")
}
