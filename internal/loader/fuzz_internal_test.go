package loader

import (
	"testing"
)

// FuzzSitemap: any bytes parse to a sitemap or an error, never a panic, and a sitemap is one of
// the two kinds with trimmed locations.
func FuzzSitemap(f *testing.F) {
	f.Add([]byte(`<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc> https://example.com/a </loc></url></urlset>`))
	f.Add([]byte(`<sitemapindex><sitemap><loc>https://example.com/s1.xml</loc></sitemap><sitemap><loc>/s2.xml.gz</loc></sitemap></sitemapindex>`))
	f.Add([]byte(`<rss><channel/></rss>`))
	f.Add([]byte("<urlset><url><loc>\x00</loc>"))
	f.Fuzz(func(t *testing.T, body []byte) {
		doc, err := parseSitemap(body)
		if err != nil {
			return
		}
		if k := doc.XMLName.Local; k != "urlset" && k != "sitemapindex" {
			t.Fatalf("kind %q accepted", k)
		}
		for _, l := range append(doc.URLs, doc.Sitemaps...) {
			if len(l) > 0 && (l[0] == ' ' || l[len(l)-1] == ' ') {
				t.Fatalf("location %q not trimmed", l)
			}
		}
	})
}

// FuzzSniff: the reader a file's bytes go to is an upload type, its own name, or an error.
func FuzzSniff(f *testing.F) {
	f.Add(".pdf", []byte("%PDF-1.7\n"))
	f.Add(".txt", []byte("PK\x03\x04"))
	f.Add(".docx", []byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"))
	f.Add(".csv", []byte("\xef\xbb\xbf <!doctype html>"))
	f.Fuzz(func(t *testing.T, named string, body []byte) {
		ext, err := readAs(named, body)
		if err != nil {
			return
		}
		switch ext {
		case named, ".pdf", ".docx", ".xlsx", ".pptx", ".html":
		default:
			t.Fatalf("%s read as %q", named, ext)
		}
	})
}
