package reembed

import (
	"context"
	"fmt"

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

// maxFileBytes bounds one document in memory.
const maxFileBytes = 256 << 20

// loadChunks reads every source of a bot and splits it as the app does. The app loads URLs first,
// then files; so do we, which keeps the row order of a bot the app's. Any source that cannot be
// read fails the whole bot (before anything is embedded), with the source named.
func loadChunks(ctx context.Context, b *botstore.Bot, docs *docstore.Store, fetch *loader.Fetcher) ([]Chunk, error) {
	splitter, err := chunk.New(b.EmbeddingParams.ChunkSize, b.EmbeddingParams.ChunkOverlap)
	if err != nil {
		return nil, fmt.Errorf("embedding params: %w", err)
	}
	var out []Chunk
	add := func(doc loader.Document) {
		for _, c := range splitter.Split(doc.Text) {
			if c != "" {
				out = append(out, Chunk{Source: doc.Source, Text: c})
			}
		}
	}
	for _, u := range b.Knowledge.SourceURLs {
		doc, err := fetch.URL(ctx, u)
		if err != nil {
			return nil, err
		}
		add(doc)
	}
	// The app never loaded sitemaps (NotImplementedError); ragmigrate loads every page they list,
	// each page's source being its URL, like a source URL's.
	for _, u := range b.Knowledge.SitemapURLs {
		pages, err := fetch.SitemapPages(ctx, u)
		if err != nil {
			return nil, err
		}
		for _, p := range pages {
			doc, err := fetch.URL(ctx, p)
			if err != nil {
				return nil, fmt.Errorf("sitemap %s: %w", u, err)
			}
			add(doc)
		}
	}
	for _, name := range b.Knowledge.Filenames {
		key := docstore.DocumentKey(b.UserID, b.ID, name)
		uri := docstore.SourceURI(docs.Bucket(), key)
		if err := loader.Readable(uri, name); err != nil {
			return nil, err
		}
		body, err := docs.ReadAll(ctx, key, maxFileBytes)
		if err != nil {
			return nil, err // names the s3:// source
		}
		doc, err := loader.File(uri, name, body)
		if err != nil {
			return nil, err
		}
		add(doc)
	}
	return out, nil
}
