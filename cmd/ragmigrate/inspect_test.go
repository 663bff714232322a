package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/chunk"
	"github.com/ragmigrate/ragmigrate/internal/dev/corpus"
	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/docstore"
)

func TestInspect(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d := corpus.Generate(1, 4) // a long document
	for _, ext := range []string{".pdf", ".docx", ".pptx", ".md"} {
		t.Run(strings.TrimPrefix(ext, "."), func(t *testing.T) {
			body, err := corpus.Encode(d, ext)
			require.NoError(t, err)
			path := filepath.Join(dir, "doc"+ext)
			require.NoError(t, os.WriteFile(path, body, 0o644))
			r := ragmigrate(t, nil, "inspect", path, "--json", "--chunk-size", "500", "--chunk-overlap", "50")
			require.Zero(t, r.code, r.stderr)
			var in inspection
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &in))
			require.Equal(t, strings.TrimPrefix(ext, "."), strings.TrimPrefix(strings.Replace(in.Format, "markdown", "md", 1), "."))
			sp, _ := chunk.New(500, 50)
			require.Equal(t, sp.Split(in.Text), in.Chunks, "the chunks are the app's splitter's")
			require.Contains(t, strings.Join(strings.Fields(in.Text), ""), strings.Join(strings.Fields(d.Sections[0].Heading), ""))
		})
	}

	t.Run("Stdin", func(t *testing.T) {
		r := ragmigrateStdin(t, nil, strings.NewReader("Hello there. How are you? Fine."), "inspect", "-", "--chunk-size", "20", "--chunk-overlap", "5")
		require.Zero(t, r.code, r.stderr)
		require.Contains(t, r.stdout, "--- chunk 1 · 18 characters · ~6 tokens\nHow are you? Fine.")
	})

	t.Run("URLGuard", func(t *testing.T) {
		page := stacktest.Getenv(t, "RAGMIGRATE_DEV_WEB_URL") + corpus.NewSite(1).Pages()[0]
		r := ragmigrate(t, nil, "inspect", page, "--text-only")
		require.Equal(t, exitFailure, r.code)
		require.Contains(t, r.stderr, "address not allowed", "loopback is refused by default")
		r = ragmigrate(t, nil, "inspect", page, "--text-only", "--allow-private-urls")
		require.Zero(t, r.code, r.stderr)
		require.NotContains(t, r.stdout, "All rights reserved", "the page's main content only")
	})

	t.Run("LongChunks", func(t *testing.T) {
		// 900 characters of Japanese: one chunk, near a token per character.
		r := ragmigrateStdin(t, nil, strings.NewReader(strings.Repeat("日当は三千円です。", 100)), "inspect", "-", "--json")
		require.Zero(t, r.code, r.stderr)
		var in inspection
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &in))
		require.Len(t, in.Chunks, 1)
		require.Greater(t, in.ChunkTokens[0], int64(512))
		require.Equal(t, 1, in.LongChunks, "over Cohere's 512 tokens")

		r = ragmigrateStdin(t, nil, strings.NewReader(strings.Repeat("日当は三千円です。", 100)), "inspect", "-", "--model", "amazon.titan-embed-text-v2:0")
		require.Zero(t, r.code, r.stderr)
		require.NotContains(t, r.stdout, "over the model's limit", "Titan takes 8192 tokens")
	})

	t.Run("S3", func(t *testing.T) {
		clients := stacktest.AWS(t)
		bucket := stacktest.Bucket(t, clients.S3)
		body, err := corpus.Encode(d, ".docx")
		require.NoError(t, err)
		key := "user-1/01BOT/documents/Policy (final) é.docx"
		store := docstore.New(clients.S3, bucket)
		require.NoError(t, store.EnsureBucket(t.Context()))
		require.NoError(t, store.Put(t.Context(), key, body, ""))
		uri := docstore.SourceURI(bucket, key)

		r := ragmigrate(t, stackEnv(t), "inspect", uri, "--json")
		require.Zero(t, r.code, r.stderr)
		var in inspection
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &in))
		require.Equal(t, uri, in.Source, "the source is named as reembed names it")
		require.Equal(t, "docx", in.Format)
		require.Contains(t, strings.Join(strings.Fields(in.Text), ""), strings.Join(strings.Fields(d.Sections[0].Heading), ""))

		r = ragmigrate(t, stackEnv(t), "inspect", docstore.SourceURI(bucket, "user-1/01BOT/documents/gone.pdf"))
		require.Equal(t, exitFailure, r.code)
		require.Contains(t, r.stderr, "s3://"+bucket+"/user-1/01BOT/documents/gone.pdf")
		require.Contains(t, r.stderr, "NoSuchKey")

		r = ragmigrate(t, stackEnv(t), "inspect", "s3://"+bucket)
		require.Equal(t, exitUsage, r.code, "a bucket without a key")
	})

	t.Run("ContentOverName", func(t *testing.T) {
		site := corpus.NewSite(1)
		path := filepath.Join(dir, "saved page.pdf")
		require.NoError(t, os.WriteFile(path, site.HTML(site.Pages()[0]), 0o644))
		r := ragmigrate(t, nil, "inspect", path)
		require.Zero(t, r.code, r.stderr)
		require.Contains(t, r.stdout, "format  html (by its content; the name says .pdf)\n")
		r = ragmigrate(t, nil, "inspect", path, "--json")
		require.Zero(t, r.code, r.stderr)
		var in inspection
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &in))
		require.Equal(t, "html", in.Format)
		require.Equal(t, ".pdf", in.Named)

		r = ragmigrate(t, nil, "inspect", path, "--max-file-bytes", "100")
		require.Equal(t, exitFailure, r.code)
		require.Contains(t, r.stderr, "larger than the 100-byte limit for one file (--max-file-bytes)")
	})

	t.Run("Unreadable", func(t *testing.T) {
		path := filepath.Join(dir, "broken.pdf")
		require.NoError(t, os.WriteFile(path, []byte("%PDF-1.4\nnot really"), 0o644))
		r := ragmigrate(t, nil, "inspect", path)
		require.Equal(t, exitFailure, r.code)
		require.Contains(t, r.stderr, path)
		require.Contains(t, r.stderr, "PDF")
	})
}
