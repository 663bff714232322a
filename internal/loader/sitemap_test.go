package loader_test

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/corpus"
	"github.com/ragmigrate/ragmigrate/internal/loader"
)

func TestSitemaps(t *testing.T) {
	t.Parallel()
	site := corpus.NewSite(1)
	mux := http.NewServeMux()
	mux.Handle("/", site)
	mux.HandleFunc("/sitemap.xml.gz", func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/sitemap.xml"
		site.ServeHTTP(rec, r2)
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(rec.Body.Bytes())
		zw.Close()
		w.Header().Set("Content-Type", "application/gzip")
		w.Write(buf.Bytes())
	})
	mux.HandleFunc("/foreign.xml", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>https://elsewhere.example/a</loc></url></urlset>`))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f := &loader.Fetcher{AllowPrivate: true}
	var want []string
	for _, p := range site.Pages() {
		want = append(want, srv.URL+p)
	}

	for _, sm := range []string{"/sitemap.xml", "/sitemap-index.xml", "/sitemap.xml.gz"} {
		got, err := f.SitemapPages(t.Context(), srv.URL+sm)
		require.NoError(t, err, sm)
		require.ElementsMatch(t, want, got, "%s lists every page once", sm)
	}
	capped := &loader.Fetcher{AllowPrivate: true, MaxSitemapPages: 5}
	got, err := capped.SitemapPages(t.Context(), srv.URL+"/sitemap-index.xml")
	require.NoError(t, err)
	require.Len(t, got, 5)

	_, err = f.SitemapPages(t.Context(), srv.URL+"/foreign.xml")
	require.ErrorContains(t, err, "no page on its host", "pages on other hosts are not followed by default")
	anyHost := &loader.Fetcher{AllowPrivate: true, SitemapAnyHost: true}
	got, err = anyHost.SitemapPages(t.Context(), srv.URL+"/foreign.xml")
	require.NoError(t, err)
	require.Equal(t, []string{"https://elsewhere.example/a"}, got)

	_, err = f.SitemapPages(t.Context(), srv.URL+"/docs/"+strings.TrimPrefix(site.Pages()[0], "/docs/"))
	require.ErrorContains(t, err, "not a sitemap")
	_, err = f.SitemapPages(t.Context(), srv.URL+"/missing.xml")
	var se *loader.SourceError
	require.ErrorAs(t, err, &se)
	require.ErrorContains(t, err, "HTTP 404")
	require.False(t, slices.Contains(want, ""))
}
