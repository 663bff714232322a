package vectorstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

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
	poolBeforeConnect(cfg, url)
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
// there. The vector size is the model's (the app's is 1024, Cohere's): a Titan v2 run with
// --dimensions 512 creates vector(512).
const ensureItemsSQL = `CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE IF NOT EXISTS items(id CHAR(26) primary key, botid CHAR(26), content text, source text, embedding vector(%d));
CREATE INDEX IF NOT EXISTS idx_items_embedding ON items USING ivfflat (embedding vector_l2_ops) WITH (lists = 100);
CREATE INDEX IF NOT EXISTS idx_items_botid ON items (botid);`

// ErrSetupMissing is returned (wrapped) when the target lacks the vector extension or the items
// table and creating them was not asked for.
var ErrSetupMissing = errors.New("the app's setup is missing")

// Setup is what of the app's setup a database has.
type Setup struct {
	// Pgvector is the installed extension's version ("" if not installed); Available the
	// version the cluster can install ("" if none).
	Pgvector, Available string
	Items               bool
}

// Missing names what is missing, for messages ("" when nothing is).
func (s Setup) Missing() string {
	var parts []string
	if s.Pgvector == "" {
		parts = append(parts, "the vector extension")
	}
	if !s.Items {
		parts = append(parts, "the items table")
	}
	return strings.Join(parts, " and ")
}

// CheckSetup reads what of the app's setup the database of q has.
func CheckSetup(ctx context.Context, q Querier) (Setup, error) {
	var s Setup
	err := q.QueryRow(ctx, `SELECT coalesce((SELECT extversion FROM pg_extension WHERE extname = 'vector'), ''),
		coalesce((SELECT default_version FROM pg_available_extensions WHERE name = 'vector'), ''),
		to_regclass('items') IS NOT NULL`).Scan(&s.Pgvector, &s.Available, &s.Items)
	if err != nil {
		return s, fmt.Errorf("look up the vector extension and items: %w", err)
	}
	return s, nil
}

// EnsureItems checks that items exists and that its embedding column has dims dimensions. With
// create it first creates what is missing (the extension, items and its indexes) with the app's
// DDL; without, a missing part is an ErrSetupMissing: a database without items is usually not
// the app's (a wrong --target-db), and rows written there would never be read.
func EnsureItems(ctx context.Context, conn *pgx.Conn, dims int, create bool) error {
	if create {
		if _, err := conn.Exec(ctx, fmt.Sprintf(ensureItemsSQL, dims)); err != nil {
			return fmt.Errorf("create items with the app's DDL: %w", err)
		}
	} else {
		s, err := CheckSetup(ctx, conn)
		if err != nil {
			return err
		}
		if m := s.Missing(); m != "" {
			return fmt.Errorf("database %s lacks %s: %w", conn.Config().Database, m, ErrSetupMissing)
		}
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
