package vectorstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// rowHash is an md5 over every column of a row in a form that cannot collide across columns:
// each text column is length-prefixed, and the embedding contributes its exact binary form
// (vector_send: dims, then big-endian float4s), so -0 vs 0 or a one-ulp change is a difference.
// NULLs hash differently from empty strings.
const rowHash = `md5(
	convert_to(coalesce(length(id::text)::text || ':' || id::text, '~'), 'UTF8') ||
	convert_to(coalesce(length(botid::text)::text || ':' || botid::text, '~'), 'UTF8') ||
	convert_to(coalesce(length(content)::text || ':' || content, '~'), 'UTF8') ||
	convert_to(coalesce(length(source)::text || ':' || source, '~'), 'UTF8') ||
	coalesce(vector_send(embedding), '\x7e'::bytea))`

// BotDigest is an order-independent digest of one bot's rows: the count and the sums of the two
// 64-bit halves of every row's md5. Equal rows in any order give equal digests; one changed,
// missing, extra or moved row changes it (up to a 2^-64-ish chance).
type BotDigest struct {
	Rows int64
	Sum1 string // numeric, as text: sums of 64-bit values overflow bigint
	Sum2 string
}

// BotDigests computes every bot's digest on the server, so only one line per bot crosses the
// wire. Run it inside a REPEATABLE READ transaction for a consistent view.
func BotDigests(ctx context.Context, q Querier) (map[string]BotDigest, error) {
	return botDigests(ctx, q, rowHash, "items")
}

// RowDigest is one row's per-column hashes, for pinpointing a difference.
type RowDigest struct {
	ID        string
	BotID     string
	Content   string
	Source    string
	Embedding string
}

// BotRows returns the per-column hashes of the rows of the given bots, keyed by id.
func BotRows(ctx context.Context, q Querier, botIDs []string) (map[string]RowDigest, error) {
	rows, err := q.Query(ctx, `SELECT rtrim(id), coalesce(rtrim(botid), ''),
			coalesce(md5(content), 'NULL'), coalesce(md5(source), 'NULL'), coalesce(md5(vector_send(embedding)), 'NULL')
		FROM items WHERE coalesce(rtrim(botid), '') = ANY($1::text[])`, botIDs)
	if err != nil {
		return nil, fmt.Errorf("row digests: %w", err)
	}
	out := map[string]RowDigest{}
	var r RowDigest
	_, err = pgx.ForEachRow(rows, []any{&r.ID, &r.BotID, &r.Content, &r.Source, &r.Embedding}, func() error {
		out[r.ID] = r
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("row digests: %w", err)
	}
	return out, nil
}

// Querier is a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Equal reports whether two digests are the same.
func (d BotDigest) Equal(o BotDigest) bool {
	// PostgreSQL prints an integral numeric canonically, so equal sums have equal text.
	return d.Rows == o.Rows && d.Sum1 == o.Sum1 && d.Sum2 == o.Sum2
}

// ChunkKey is an md5 over a row's source and content only, length-prefixed as in rowHash: what
// a re-embed must reproduce of the old cluster, whose ids and vectors it replaces by design. It is
// an SQL expression over items' columns.
const ChunkKey = `md5(
	convert_to(coalesce(length(source)::text || ':' || source, '~'), 'UTF8') ||
	convert_to(coalesce(length(content)::text || ':' || content, '~'), 'UTF8'))`

// BotContentDigests is BotDigests over (source, content) only: equal when each bot has the same
// multiset of chunks on both sides, whatever the ids and vectors.
func BotContentDigests(ctx context.Context, q Querier) (map[string]BotDigest, error) {
	return botDigests(ctx, q, ChunkKey, "chunks")
}

// botDigests sums the 128-bit hash expression hash over each bot's rows, in two 64-bit halves.
func botDigests(ctx context.Context, q Querier, hash, what string) (map[string]BotDigest, error) {
	rows, err := q.Query(ctx, `SELECT coalesce(rtrim(botid), ''), count(*),
			sum(('x' || substr(h, 1, 16))::bit(64)::bigint)::text,
			sum(('x' || substr(h, 17, 16))::bit(64)::bigint)::text
		FROM (SELECT botid, `+hash+` AS h FROM items) r
		GROUP BY botid`)
	if err != nil {
		return nil, fmt.Errorf("digest %s per bot: %w", what, err)
	}
	out := map[string]BotDigest{}
	var id string
	var d BotDigest
	_, err = pgx.ForEachRow(rows, []any{&id, &d.Rows, &d.Sum1, &d.Sum2}, func() error {
		out[id] = d
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("digest %s per bot: %w", what, err)
	}
	return out, nil
}
