package vectorstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// TableStats describes one cluster's items table.
type TableStats struct {
	Exists          bool   `json:"exists"`
	PgvectorVersion string `json:"pgvector_version,omitempty"`
	Rows            int64  `json:"rows"`
	Bots            int64  `json:"bots"`
	Sources         int64  `json:"sources"`
	// OrphanRows belong to no bot of the table (the app's deletion handler leaves them).
	OrphanRows int64 `json:"orphan_rows"`
	OrphanBots int64 `json:"orphan_bots"`
	Dimensions int   `json:"dimensions"`
	// TotalBytes includes TOAST, where every vector(1024) lives, and indexes.
	TotalBytes int64    `json:"total_bytes"`
	Indexes    []string `json:"indexes"`
}

// Stats reads items' statistics; botIDs are the bots that exist, for counting orphans.
func Stats(ctx context.Context, conn *pgx.Conn, botIDs []string) (*TableStats, error) {
	st := &TableStats{}
	err := conn.QueryRow(ctx, `SELECT coalesce((SELECT extversion FROM pg_extension WHERE extname = 'vector'), ''),
		to_regclass('items') IS NOT NULL`).Scan(&st.PgvectorVersion, &st.Exists)
	if err != nil {
		return nil, fmt.Errorf("items stats: %w", err)
	}
	if !st.Exists {
		return st, nil
	}
	err = conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT botid), count(DISTINCT source),
			count(*) FILTER (WHERE NOT (rtrim(botid) = ANY($1::text[]))),
			count(DISTINCT botid) FILTER (WHERE NOT (rtrim(botid) = ANY($1::text[]))),
			pg_total_relation_size('items'),
			(SELECT atttypmod FROM pg_attribute WHERE attrelid = 'items'::regclass AND attname = 'embedding')
		FROM items`, botIDs).
		Scan(&st.Rows, &st.Bots, &st.Sources, &st.OrphanRows, &st.OrphanBots, &st.TotalBytes, &st.Dimensions)
	if err != nil {
		return nil, fmt.Errorf("items stats: %w", err)
	}
	rows, err := conn.Query(ctx, `SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'items' ORDER BY indexname`)
	if err != nil {
		return nil, fmt.Errorf("items indexes: %w", err)
	}
	st.Indexes, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("items indexes: %w", err)
	}
	return st, nil
}

// RowsPerBot counts items rows per bot id.
func RowsPerBot(ctx context.Context, conn Querier) (map[string]int64, error) {
	rows, err := conn.Query(ctx, `SELECT rtrim(botid), count(*) FROM items GROUP BY botid`)
	if err != nil {
		return nil, fmt.Errorf("rows per bot: %w", err)
	}
	out := map[string]int64{}
	var id string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&id, &n}, func() error { out[id] = n; return nil })
	if err != nil {
		return nil, fmt.Errorf("rows per bot: %w", err)
	}
	return out, nil
}

// VectorHealth counts embeddings search cannot use. pgvector rejects NaN and infinities on input,
// but a corrupted page or a bad binary COPY can still leave them; the norm catches both.
type VectorHealth struct {
	Dimensions int   `json:"dimensions"` // the column's declared dimension
	Null       int64 `json:"null"`
	WrongDims  int64 `json:"wrong_dimensions"`
	NonFinite  int64 `json:"non_finite"`
	Zero       int64 `json:"zero"`
}

// CheckVectors scans every embedding once.
func CheckVectors(ctx context.Context, q Querier) (*VectorHealth, error) {
	h := &VectorHealth{}
	err := q.QueryRow(ctx, `SELECT
			(SELECT atttypmod FROM pg_attribute WHERE attrelid = 'items'::regclass AND attname = 'embedding'),
			count(*) FILTER (WHERE embedding IS NULL),
			count(*) FILTER (WHERE embedding IS NOT NULL AND vector_dims(embedding) <> (SELECT atttypmod FROM pg_attribute WHERE attrelid = 'items'::regclass AND attname = 'embedding')),
			count(*) FILTER (WHERE embedding IS NOT NULL AND NOT (vector_norm(embedding) < 'Infinity'::float8)),
			count(*) FILTER (WHERE embedding IS NOT NULL AND vector_norm(embedding) = 0)
		FROM items`).Scan(&h.Dimensions, &h.Null, &h.WrongDims, &h.NonFinite, &h.Zero)
	if err != nil {
		return nil, fmt.Errorf("check vectors: %w", err)
	}
	return h, nil
}

// DeleteBots deletes every row of the given bots and returns how many went.
func DeleteBots(ctx context.Context, q Querier, botIDs []string) (int64, error) {
	tag, err := q.Exec(ctx, `DELETE FROM items WHERE rtrim(botid) = ANY($1::text[])`, botIDs)
	if err != nil {
		return 0, fmt.Errorf("delete rows of %d bots: %w", len(botIDs), err)
	}
	return tag.RowsAffected(), nil
}
