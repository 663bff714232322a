package corpus

import (
	"encoding/xml"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/japanese"
)

func TestSite(t *testing.T) {
	t.Parallel()

	type testBundle struct {
		site *Site
		srv  *httptest.Server
	}
	setup := func(t *testing.T) *testBundle {
		t.Helper()
		site := NewSite(7)
		srv := httptest.NewServer(site)
		t.Cleanup(srv.Close)
		return &testBundle{site: site, srv: srv}
	}
	get := func(t *testing.T, url string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get(url)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, string(b)
	}
	type urlset struct {
		Locs []string `xml:"url>loc"`
	}

	t.Run("Pages", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		pages := b.site.Pages()
		require.GreaterOrEqual(t, len(pages), 14)
		require.Contains(t, pages, "/docs/nimbus-n3-manual.html")
		langs := map[string]bool{}
		for _, p := range pages {
			resp, body := get(t, b.srv.URL+p)
			require.Equal(t, http.StatusOK, resp.StatusCode, p)
			require.True(t, strings.HasPrefix(body, "<!DOCTYPE html>"))
			if strings.HasSuffix(p, "-ja.html") {
				// Shift_JIS, said only in the page: the loader must read the meta tag.
				require.Equal(t, "text/html", resp.Header.Get("Content-Type"), p)
				require.Contains(t, body, `<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">`)
				require.False(t, utf8.ValidString(body), "Japanese text in Shift_JIS is no UTF-8")
				decoded, err := japanese.ShiftJIS.NewDecoder().String(body)
				require.NoError(t, err)
				d, _ := b.site.Page(p)
				require.Contains(t, html.UnescapeString(decoded), strings.TrimPrefix(d.Sections[0].Paragraphs[0], "- "))
			} else {
				require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"), p)
				require.Contains(t, body, `<meta charset="utf-8">`)
			}
			for _, want := range []string{"<nav", "<article lang=", "<h2>", "<p>", "<table>", "<li>", "<footer>"} {
				require.Contains(t, body, want, p)
			}
			i := strings.Index(body, `<article lang="`) + len(`<article lang="`)
			langs[body[i:i+2]] = true
		}
		require.Len(t, langs, len(Languages()))
	})

	t.Run("Head", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		resp, err := http.Head(b.srv.URL + b.site.Pages()[0])
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))

		resp, err = http.Post(b.srv.URL+"/", "text/plain", strings.NewReader("x"))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	})

	t.Run("Index", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		resp, body := get(t, b.srv.URL+"/")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
		for _, p := range append(b.site.Pages(), b.site.Files()...) {
			require.Contains(t, body, `href="`+p+`"`)
		}
	})

	t.Run("Sitemap", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		require.Equal(t, []string{"/sitemap.xml", "/sitemap-index.xml"}, b.site.Sitemaps())
		resp, body := get(t, b.srv.URL+"/sitemap.xml")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, resp.Header.Get("Content-Type"), "xml")
		var set urlset
		require.NoError(t, xml.Unmarshal([]byte(body), &set))
		var want []string
		for _, p := range b.site.Pages() {
			want = append(want, b.srv.URL+p)
		}
		require.Equal(t, want, set.Locs)
		require.True(t, strings.HasPrefix(b.srv.URL, "http://127.0.0.1:"))
	})

	t.Run("SitemapIndex", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		resp, body := get(t, b.srv.URL+"/sitemap-index.xml")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var index struct {
			Locs []string `xml:"sitemap>loc"`
		}
		require.NoError(t, xml.Unmarshal([]byte(body), &index))
		require.Equal(t, []string{b.srv.URL + "/sitemaps/part-1.xml", b.srv.URL + "/sitemaps/part-2.xml"}, index.Locs)
		var all []string
		for _, loc := range index.Locs {
			resp, body := get(t, loc)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			var set urlset
			require.NoError(t, xml.Unmarshal([]byte(body), &set))
			require.InDelta(t, len(b.site.Pages())/2, len(set.Locs), 1)
			all = append(all, set.Locs...)
		}
		for i, p := range b.site.Pages() {
			require.Equal(t, b.srv.URL+p, all[i])
		}
		require.Len(t, all, len(b.site.Pages()))
	})

	t.Run("RobotsAndPDF", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		resp, body := get(t, b.srv.URL+"/robots.txt")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, "Sitemap: "+b.srv.URL+"/sitemap.xml\n")

		resp, body = get(t, b.srv.URL+b.site.Files()[0])
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "application/pdf", resp.Header.Get("Content-Type"))
		require.GreaterOrEqual(t, parsePDF(t, []byte(body)).pageCount(t), 2)
	})

	t.Run("Redirect", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Get(b.srv.URL + "/redirect")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusMovedPermanently, resp.StatusCode)
		require.Equal(t, b.site.Pages()[0], resp.Header.Get("Location"))

		resp, body := get(t, b.srv.URL+"/redirect")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, b.site.Pages()[0], resp.Request.URL.Path)
		require.Contains(t, body, "<article")
	})

	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		for _, p := range []string{"/missing.html", "/docs/", "/docs/nope.html", "/files/other.pdf", "/sitemaps/part-3.xml"} {
			resp, body := get(t, b.srv.URL+p)
			require.Equal(t, http.StatusNotFound, resp.StatusCode, p)
			require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
			require.Contains(t, body, "Page not found")
		}
	})

	t.Run("Deterministic", func(t *testing.T) {
		t.Parallel()
		a, b := NewSite(7), NewSite(7)
		require.Equal(t, a.Pages(), b.Pages())
		for _, p := range a.Pages() {
			require.Equal(t, a.byPath[p].html, b.byPath[p].html)
		}
		require.Equal(t, a.pdf, b.pdf)
		require.NotEqual(t, a.byPath[a.Pages()[0]].html, NewSite(8).byPath[a.Pages()[0]].html)
	})
}
