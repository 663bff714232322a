package loader_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ragmigrate/ragmigrate/internal/dev/corpus"
	"github.com/ragmigrate/ragmigrate/internal/loader"
)

// BenchmarkFile reads the seed's documents in each upload type, and the web site's pages as
// HTML: the first 10 corpus documents of seed 1 (seven languages, CJK among them, every fifth
// one long with a table of over a hundred rows). MB/s is of the files as stored; text-MB/s of
// what comes out.
func BenchmarkFile(b *testing.B) {
	formats := append(corpus.Extensions(), ".html")
	for _, ext := range formats {
		var bodies [][]byte
		if ext == ".html" {
			site := corpus.NewSite(1)
			for _, p := range site.Pages() {
				rec := httptest.NewRecorder()
				site.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
				bodies = append(bodies, rec.Body.Bytes())
			}
		} else {
			for n := range 10 {
				body, err := corpus.Encode(corpus.Generate(1, n), ext)
				if err != nil {
					b.Fatal(err)
				}
				bodies = append(bodies, body)
			}
		}
		size := 0
		for _, body := range bodies {
			size += len(body)
		}
		b.Run(strings.ToUpper(ext[1:]), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			text := 0
			for b.Loop() {
				text = 0
				for _, body := range bodies {
					doc, err := loader.File("s", "f"+ext, body)
					if err != nil {
						b.Fatal(err)
					}
					text += len(doc.Text)
				}
			}
			b.ReportMetric(float64(text)*float64(b.N)/b.Elapsed().Seconds()/1e6, "text-MB/s")
			b.ReportMetric(float64(len(bodies)), "files")
		})
	}
}
