package vectorstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// NewPool opens a pool with the same session settings as Connect, sized for workers.
func NewPool(ctx context.Context, url, purpose string, maxConns int32, t Timeouts) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", err)
	}
	configure(cfg.ConnConfig, purpose, t)
	cfg.MaxConns = max(maxConns, 2)
	cfg.AfterConnect = RegisterVector
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, ConnectError(ctx, cfg.ConnConfig, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, ConnectError(ctx, cfg.ConnConfig, err)
	}
	return pool, nil
}

// ensureItemsSQL is the app's DDL without its DROP: it creates what is missing and keeps what is
// there.
const ensureItemsSQL = `CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE IF NOT EXISTS items(id CHAR(26) primary key, botid CHAR(26), content text, source text, embedding vector(1024));
CREATE INDEX IF NOT EXISTS idx_items_embedding ON items USING ivfflat (embedding vector_l2_ops) WITH (lists = 100);
CREATE INDEX IF NOT EXISTS idx_items_botid ON items (botid);`

// EnsureItems creates items with the app's DDL if it is missing and checks that its embedding
// column has dims dimensions.
func EnsureItems(ctx context.Context, conn *pgx.Conn, dims int) error {
	if _, err := conn.Exec(ctx, ensureItemsSQL); err != nil {
		return fmt.Errorf("create items with the app's DDL: %w", err)
	}
	if err := RegisterVector(ctx, conn); err != nil {
		return err
	}
	var have int
	err := conn.QueryRow(ctx, `SELECT atttypmod FROM pg_attribute WHERE attrelid = 'items'::regclass AND attname = 'embedding'`).Scan(&have)
	if err != nil {
		return fmt.Errorf("items.embedding: %w", err)
	}
	if have != dims {
		return fmt.Errorf("items.embedding is vector(%d) but the model gives %d dimensions", have, dims)
	}
	return nil
}

// ReplaceBotRows deletes a bot's rows and writes rows in their place, inside tx — the app's
// per-bot DELETE + INSERT, with binary COPY.
func ReplaceBotRows(ctx context.Context, tx pgx.Tx, botID string, rows []Row) (int64, error) {
	if _, err := tx.Exec(ctx, `DELETE FROM items WHERE botid = $1`, botID); err != nil {
		return 0, fmt.Errorf("delete rows of bot %s: %w", botID, err)
	}
	return CopyRows(ctx, tx, rows)
}
