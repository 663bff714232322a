package vectorstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"
)

// lookupBatch is how many chunk texts one lookup query carries: a bot's chunks go in a few
// queries of a bounded size (about a megabyte of text at the app's chunk size), not one query
// per chunk nor one query as large as the bot.
const lookupBatch = 1000

// StoredVectors looks up, among the rows of bot botID in an old cluster's items, those whose
// content is exactly one of contents, and returns their vectors by content (one per content: the
// row with the smallest id when the bot holds the same text twice). Vectors come in pgvector's
// binary form and go back out the same way (CopyRows): their float32 bits are the stored ones.
//
// The lookup uses the app's own index on items(botid) (idx_items_botid, in every version's
// DDL), so it needs nothing created on the old cluster, which is usually a restored snapshot
// used read-only; content is compared by the server within the bot's rows. Only the matching
// rows travel, so memory follows the hits, not the bot's old rows.
func StoredVectors(ctx context.Context, q Querier, botID string, contents []string) (map[string][]float32, error) {
	out := map[string][]float32{}
	err := lookup(ctx, q, botID, contents, true, func(content string, v pgvector.Vector) { out[content] = v.Slice() })
	return out, err
}

// StoredContents is StoredVectors without the vectors: which of contents bot botID's old rows
// hold (with a vector), for the plan.
func StoredContents(ctx context.Context, q Querier, botID string, contents []string) (map[string]bool, error) {
	out := map[string]bool{}
	err := lookup(ctx, q, botID, contents, false, func(content string, _ pgvector.Vector) { out[content] = true })
	return out, err
}

func lookup(ctx context.Context, q Querier, botID string, contents []string, vectors bool, found func(string, pgvector.Vector)) error {
	cols := "content"
	if vectors {
		cols = "content, embedding"
	}
	for start := 0; start < len(contents); start += lookupBatch {
		batch := contents[start:min(start+lookupBatch, len(contents))]
		rows, err := q.Query(ctx, `SELECT DISTINCT ON (content) `+cols+` FROM items
			WHERE botid = $1 AND content = ANY($2::text[]) AND embedding IS NOT NULL
			ORDER BY content, id`, botID, batch)
		if err != nil {
			return fmt.Errorf("look up stored vectors of bot %s: %w", botID, err)
		}
		var content string
		var v pgvector.Vector
		scan := []any{&content}
		if vectors {
			scan = append(scan, &v)
		}
		_, err = pgx.ForEachRow(rows, scan, func() error {
			found(content, v)
			return nil
		})
		if err != nil {
			return fmt.Errorf("look up stored vectors of bot %s: %w", botID, err)
		}
	}
	return nil
}

// ErrNoItems is returned when a database has no items table.
var ErrNoItems = errors.New("the database has no items table")

// EmbeddingDimensions returns the vector size of items.embedding (0 when the column has none),
// or an error when the database has no items table.
func EmbeddingDimensions(ctx context.Context, q Querier) (int, error) {
	var exists bool
	var dims int
	err := q.QueryRow(ctx, `SELECT to_regclass('items') IS NOT NULL,
		coalesce((SELECT atttypmod FROM pg_attribute WHERE attrelid = to_regclass('items') AND attname = 'embedding'), 0)`).Scan(&exists, &dims)
	if err != nil {
		return 0, fmt.Errorf("items.embedding: %w", err)
	}
	if !exists {
		return 0, ErrNoItems
	}
	return max(dims, 0), nil
}
