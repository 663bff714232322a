package loader

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// maxSitemapDepth bounds sitemap indexes pointing at sitemap indexes.
const maxSitemapDepth = 3

// SitemapPages reads a sitemap or sitemap index (plain or gzip) and returns the page URLs it
// lists, in order, without duplicates. The app never implemented sitemaps (its task raised
// NotImplementedError); ragmigrate loads each listed page as a URL source.
func (f *Fetcher) SitemapPages(ctx context.Context, raw string) ([]string, error) {
	maxPages := cmp.Or(f.MaxSitemapPages, 500)
	root, err := url.Parse(raw)
	if err != nil {
		return nil, &SourceError{Source: raw, Err: fmt.Errorf("not a URL: %w", err)}
	}
	seen := map[string]bool{}
	var pages []string
	var walk func(u string, depth int) error
	walk = func(u string, depth int) error {
		if depth > maxSitemapDepth {
			return fmt.Errorf("sitemap indexes nested deeper than %d", maxSitemapDepth)
		}
		body, err := f.get(ctx, u)
		if err != nil {
			return fmt.Errorf("%s: %w", u, err)
		}
		doc, err := parseSitemap(body)
		if err != nil {
			return fmt.Errorf("%s: %w", u, err)
		}
		switch doc.XMLName.Local {
		case "sitemapindex":
			for _, s := range doc.Sitemaps {
				if err := walk(s, depth+1); err != nil {
					return err
				}
				if len(pages) >= maxPages {
					return nil
				}
			}
		case "urlset":
			for _, p := range doc.URLs {
				pu, err := url.Parse(p)
				if err != nil || seen[p] || (pu.Scheme != "http" && pu.Scheme != "https") {
					continue
				}
				if !f.SitemapAnyHost && !strings.EqualFold(pu.Host, root.Host) {
					continue
				}
				seen[p] = true
				pages = append(pages, p)
				if len(pages) >= maxPages {
					return nil
				}
			}
		}
		return nil
	}
	if err := walk(raw, 0); err != nil {
		return nil, &SourceError{Source: raw, Err: err}
	}
	if len(pages) == 0 {
		return nil, &SourceError{Source: raw, Err: errors.New("the sitemap lists no page on its host")}
	}
	return pages, nil
}

// sitemap is a parsed sitemap (urlset) or sitemap index.
type sitemap struct {
	XMLName  xml.Name
	URLs     []string `xml:"url>loc"`
	Sitemaps []string `xml:"sitemap>loc"`
}

// parseSitemap reads a sitemap's XML; the locations come trimmed.
func parseSitemap(body []byte) (sitemap, error) {
	var doc sitemap
	if err := xml.Unmarshal(body, &doc); err != nil {
		return sitemap{}, fmt.Errorf("not a sitemap: %w", err)
	}
	switch doc.XMLName.Local {
	case "urlset", "sitemapindex":
	default:
		return sitemap{}, fmt.Errorf("<%s> is neither a urlset nor a sitemapindex", doc.XMLName.Local)
	}
	for i := range doc.URLs {
		doc.URLs[i] = strings.TrimSpace(doc.URLs[i])
	}
	for i := range doc.Sitemaps {
		doc.Sitemaps[i] = strings.TrimSpace(doc.Sitemaps[i])
	}
	return doc, nil
}

// get fetches a body under the Fetcher's limits, gunzipping gzip content.
func (f *Fetcher) get(ctx context.Context, u string) ([]byte, error) {
	body, _, err := f.fetch(ctx, u, "application/xml,text/xml;q=0.9,*/*;q=0.5")
	if err != nil {
		return nil, err
	}
	if bytes.HasPrefix(body, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("gunzip: %w", err)
		}
		if body, err = readLimited(io.Reader(zr), cmp.Or(f.MaxBytes, defaultMaxBytes)); err != nil {
			return nil, fmt.Errorf("gunzip: %w", err)
		}
	}
	return body, nil
}
