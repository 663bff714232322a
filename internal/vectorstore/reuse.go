package vectorstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"
)

// fetchBatch is how many rows one query fetches by id: about 4 MB of vector(1024).
const fetchBatch = 1000

// StoredVectors looks up, among the rows of bot botID in an old cluster's items, those whose
// content is exactly one of contents, and returns their vectors by content (one per content: the
// row with the smallest id when the bot holds the same text twice). Vectors come in pgvector's
// binary form and go back out the same way (CopyRows): their float32 bits are the stored ones.
//
// The old cluster is usually a restored snapshot, which ragmigrate only reads: nothing is
// created there. The lookup reads the bot's rows once, on the app's own index on items(botid)
// (idx_items_botid, in every version's DDL), as a SHA-256 of each row's content and its id
// (contentDigests), matches them to the chunks in memory, then fetches the matching rows by
// primary key, their content compared again byte for byte. So a bot costs one scan of its old
// rows whatever its number of chunks (a query per batch of chunks with content = ANY(...)
// scans the bot's rows once per batch, comparing each row with every text of the batch), and
// only the hits' vectors travel.
func StoredVectors(ctx context.Context, q Querier, botID string, contents []string) (map[string][]float32, error) {
	ids, err := contentDigests(ctx, q, botID)
	if err != nil {
		return nil, err
	}
	want := map[string]string{} // row id → the content it must hold
	for _, c := range contents {
		if id, ok := ids[sha256.Sum256([]byte(c))]; ok {
			want[id] = c
		}
	}
	out := map[string][]float32{}
	fetch := slices.Sorted(maps.Keys(want))
	for start := 0; start < len(fetch); start += fetchBatch {
		batch := fetch[start:min(start+fetchBatch, len(fetch))]
		rows, err := q.Query(ctx, `SELECT id, content, embedding FROM items WHERE id = ANY($1::bpchar[])`, batch)
		if err != nil {
			return nil, fmt.Errorf("read stored vectors of bot %s: %w", botID, err)
		}
		var id, content string
		var v pgvector.Vector
		_, err = pgx.ForEachRow(rows, []any{&id, &content, &v}, func() error {
			if want[id] == content {
				out[content] = v.Slice()
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read stored vectors of bot %s: %w", botID, err)
		}
	}
	return out, nil
}

// StoredContents is StoredVectors without the vectors: which of contents bot botID's old rows
// hold (with a vector), by their SHA-256, for the plan.
func StoredContents(ctx context.Context, q Querier, botID string, contents []string) (map[string]bool, error) {
	ids, err := contentDigests(ctx, q, botID)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, c := range contents {
		if _, ok := ids[sha256.Sum256([]byte(c))]; ok {
			out[c] = true
		}
	}
	return out, nil
}

// contentDigests reads the SHA-256 of the content of each of a bot's rows that has a vector,
// with the smallest id holding it. (sha256, not md5: a FIPS-mode server refuses md5.)
func contentDigests(ctx context.Context, q Querier, botID string) (map[[32]byte]string, error) {
	rows, err := q.Query(ctx, `SELECT sha256(convert_to(content, 'UTF8')), id FROM items
		WHERE botid = $1 AND embedding IS NOT NULL AND content IS NOT NULL`, botID)
	if err != nil {
		return nil, fmt.Errorf("look up stored chunks of bot %s: %w", botID, err)
	}
	out := map[[32]byte]string{}
	var digest []byte
	var id string
	_, err = pgx.ForEachRow(rows, []any{&digest, &id}, func() error {
		var k [32]byte
		copy(k[:], digest)
		if have, ok := out[k]; !ok || id < have {
			out[k] = id
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("look up stored chunks of bot %s: %w", botID, err)
	}
	return out, nil
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
