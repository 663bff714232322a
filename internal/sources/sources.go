// Package sources loads a bot's knowledge as the app's embedding task did, and splits it with
// the app's splitter. reembed embeds what it returns and plan --exact counts it, so that the
// plan's chunks, limits and failures are the run's by construction.
package sources

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/chunk"
	"github.com/ragmigrate/ragmigrate/internal/docstore"
	"github.com/ragmigrate/ragmigrate/internal/loader"
)

// Chunk is one piece of a bot's knowledge, ready to embed.
type Chunk struct {
	Source string // s3://bucket/key or the URL as entered
	Text   string
}

// Load reads every source of a bot and splits it as the app does. The app loads URLs first,
// then files; so do we, which keeps the row order of a bot the app's. A source that cannot be
// read fails the whole bot (before anything is embedded), with the source named — unless
// skipSources is set: then it is left out and returned in skipped, and only a bot none of whose
// sources can be read fails. Files and pages count against limits, one by one and per bot.
func Load(ctx context.Context, b *botstore.Bot, docs *docstore.Store, fetch *loader.Fetcher, limits loader.Limits, skipSources bool) (out []Chunk, skipped []string, err error) {
	p := FailBot
	if skipSources {
		p = SkipAny
	}
	return LoadWith(ctx, b, docs, fetch, limits, p)
}

// Policy says which unreadable sources a bot is loaded without.
type Policy int

const (
	// FailBot stops the bot at its first unreadable source.
	FailBot Policy = iota
	// SkipAny leaves out every unreadable source.
	SkipAny
	// SkipURLs leaves out unreadable URLs (source URLs, sitemaps and their pages) and stops the
	// bot at an unreadable file: what the app's loaders did (continue_on_failure for URLs; a
	// file's error failed the task).
	SkipURLs
)

// LoadWith is Load under policy p.
func LoadWith(ctx context.Context, b *botstore.Bot, docs *docstore.Store, fetch *loader.Fetcher, limits loader.Limits, p Policy) (out []Chunk, skipped []string, err error) {
	splitter, err := chunk.New(b.EmbeddingParams.ChunkSize, b.EmbeddingParams.ChunkOverlap)
	if err != nil {
		return nil, nil, fmt.Errorf("embedding params: %w", err)
	}
	sources := 0
	// failed decides what an unreadable source does: stop the bot, or be skipped.
	failed := func(err error, url bool) error {
		if p == FailBot || p == SkipURLs && !url || ctx.Err() != nil {
			return err
		}
		skipped = append(skipped, err.Error())
		return nil
	}
	budget := limits.NewBotBudget()
	// add takes one loaded source, or its error, and says whether the bot must stop.
	add := func(doc loader.Document, err error, url bool) error {
		if err == nil {
			err = budget.Spend(doc.Source, doc.Bytes)
		}
		if err != nil {
			return failed(err, url)
		}
		for _, c := range splitter.Split(doc.Text) {
			if c != "" {
				out = append(out, Chunk{Source: doc.Source, Text: c})
			}
		}
		return nil
	}
	// A page is loaded once per bot however many times it is listed: as a source URL, in a
	// sitemap, and again in a sitemap index's child sitemap. The first listing names it.
	seen := URLSet{}
	for _, u := range b.Knowledge.SourceURLs {
		if !seen.Add(u) {
			continue
		}
		sources++
		doc, err := fetch.URL(ctx, u)
		if err := add(doc, err, true); err != nil {
			return nil, nil, err
		}
	}
	// The app never loaded sitemaps (NotImplementedError); ragmigrate loads every page they list,
	// each page's source being its URL, like a source URL's.
	for _, u := range b.Knowledge.SitemapURLs {
		sources++
		pages, err := fetch.SitemapPages(ctx, u)
		if err != nil {
			if err := failed(err, true); err != nil {
				return nil, nil, err
			}
			continue
		}
		for _, p := range pages {
			if !seen.Add(p) {
				continue
			}
			doc, err := fetch.URL(ctx, p)
			if err != nil {
				err = fmt.Errorf("sitemap %s: %w", u, err)
			}
			if err := add(doc, err, true); err != nil {
				return nil, nil, err
			}
		}
	}
	for _, name := range b.Knowledge.Filenames {
		sources++
		key := docstore.DocumentKey(b.UserID, b.ID, name)
		doc, err := loadFile(ctx, docs, key, docstore.SourceURI(docs.Bucket(), key), name, limits.File())
		if err := add(doc, err, false); err != nil {
			return nil, nil, err
		}
	}
	if sources > 0 && len(skipped) == sources {
		if sources == 1 {
			return nil, skipped, fmt.Errorf("the bot's only source could not be read: %s", strings.Join(skipped, "; "))
		}
		return nil, skipped, fmt.Errorf("none of the bot's %d sources could be read: %s", sources, strings.Join(skipped, "; "))
	}
	return out, skipped, nil
}

// URLSet holds a bot's URLs by their normalised form (NormalizeURL).
type URLSet map[string]bool

// Add records u and reports whether it is new: false when the same page is already in the set.
func (s URLSet) Add(u string) bool {
	n := NormalizeURL(u)
	if s[n] {
		return false
	}
	s[n] = true
	return true
}

// NormalizeURL is the form under which two spellings of one page compare equal: scheme and host
// in lower case, the scheme's default port and the fragment (never sent to the server) dropped,
// an empty path written "/". The query is kept as it is: servers may read it in any way. A
// string that does not parse as a URL is its own form.
func NormalizeURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return raw
	}
	u.Scheme = strings.ToLower(u.Scheme)
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		port = ""
	}
	u.Host = host
	if port != "" {
		u.Host = net.JoinHostPort(host, port)
	}
	u.Fragment, u.RawFragment = "", ""
	if u.Path == "" && u.RawPath == "" {
		u.Path = "/"
	}
	return u.String()
}

func loadFile(ctx context.Context, docs *docstore.Store, key, uri, name string, maxBytes int64) (loader.Document, error) {
	if err := loader.Readable(uri, name); err != nil {
		return loader.Document{}, err
	}
	body, err := docs.ReadAll(ctx, key, maxBytes)
	if err != nil {
		return loader.Document{}, err // names the s3:// source
	}
	return loader.File(uri, name, body)
}
