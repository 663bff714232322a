package sources_test

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/dev/corpus"
	"github.com/ragmigrate/ragmigrate/internal/loader"
	"github.com/ragmigrate/ragmigrate/internal/sources"
)

func TestNormalizeURL(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"http://Example.COM:80/a#top":    "http://example.com/a",
		"HTTPS://example.com:443":        "https://example.com/",
		"https://example.com:8443/a?q=B": "https://example.com:8443/a?q=B",
		"http://example.com/A":           "http://example.com/A",
		"not a url":                      "not a url",
	} {
		require.Equal(t, want, sources.NormalizeURL(raw), raw)
	}
	s := sources.URLSet{}
	require.True(t, s.Add("http://example.com/a"))
	require.False(t, s.Add("http://EXAMPLE.com:80/a#b"))
	require.True(t, s.Add("http://example.com/a?x=1"))
}

// TestLoadEachPageOnce is the seeded sitemap bot: a sitemap and a sitemap index listing the same
// pages, plus a source URL that is one of them spelled differently. Each page is loaded once,
// named by its first listing, in the same order every time.
func TestLoadEachPageOnce(t *testing.T) {
	t.Parallel()
	site := corpus.NewSite(1)
	srv := httptest.NewServer(site)
	t.Cleanup(srv.Close)
	fetch := &loader.Fetcher{AllowPrivate: true}
	params := botstore.EmbeddingParams{ChunkSize: 1000, ChunkOverlap: 200}
	load := func(k botstore.Knowledge) []sources.Chunk {
		t.Helper()
		b := &botstore.Bot{ID: "b", UserID: "u", EmbeddingParams: params, Knowledge: k}
		out, skipped, err := sources.Load(t.Context(), b, nil, fetch, loader.Limits{}, false)
		require.NoError(t, err)
		require.Empty(t, skipped)
		return out
	}
	once := load(botstore.Knowledge{SitemapURLs: []string{srv.URL + "/sitemap.xml"}})
	require.NotEmpty(t, once)

	first := srv.URL + site.Pages()[0] + "#intro"
	k := botstore.Knowledge{SourceURLs: []string{first}, SitemapURLs: []string{srv.URL + "/sitemap.xml", srv.URL + "/sitemap-index.xml"}}
	both := load(k)
	require.Equal(t, len(once), len(both), "every page once, not once per listing")
	type key struct{ source, text string }
	seen := map[key]bool{}
	pages := map[string]bool{}
	for _, c := range both {
		require.False(t, seen[key{c.Source, c.Text}], "chunk of %s loaded twice", c.Source)
		seen[key{c.Source, c.Text}] = true
		pages[sources.NormalizeURL(c.Source)] = true
	}
	require.Equal(t, len(site.Pages()), len(pages))
	require.Equal(t, first, both[0].Source, "the source URL, listed first, names its page")
	require.Equal(t, both, load(k), "the order is deterministic")
}
