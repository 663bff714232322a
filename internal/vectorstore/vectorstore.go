// Package vectorstore is the app's pgvector table `items`, reached through pgx. All SQL that
// touches items lives here.
//
// # Overview
//
// The table is exactly what Bedrock Chat's setup-pgvector custom resource creates (identical from
// v0.4.0 to v1.0.0): CHAR(26) ULID ids, the bot id, the chunk text, its source and a vector(1024).
// Vectors travel in pgvector's binary format through COPY and the extended protocol, never as
// decimal text.
package vectorstore

import (
	"cmp"
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"
	pgxvec "github.com/pgvector/pgvector-go/pgx"
)

// AppSetupSQL is the app's setUp (cdk/custom-resources/setup-pgvector/index.js), statement for
// statement. It DROPs items: v1.0.0 runs it on every Create *and* Update of the stack.
const AppSetupSQL = `CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE EXTENSION IF NOT EXISTS vector;
DROP TABLE IF EXISTS items;
CREATE TABLE IF NOT EXISTS items(id CHAR(26) primary key, botid CHAR(26), content text, source text, embedding vector(1024));
CREATE INDEX idx_items_embedding ON items USING ivfflat (embedding vector_l2_ops) WITH (lists = 100);
CREATE INDEX idx_items_botid ON items (botid);`

// Dimensions is the app's vector size (Cohere Embed v3).
const Dimensions = 1024

// Row is one chunk as stored in items.
type Row struct {
	ID        string
	BotID     string
	Content   string
	Source    string
	Embedding []float32
}

// Connect opens a connection for a purpose (it becomes application_name "ragmigrate/<purpose>"),
// with a statement timeout and an idle-in-transaction timeout unless the URL already sets them,
// and with pgvector's types registered when the extension exists.
func Connect(ctx context.Context, url, purpose string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", err)
	}
	params := cfg.RuntimeParams
	params["application_name"] = cmp.Or(params["application_name"], "ragmigrate/"+purpose)
	params["statement_timeout"] = cmp.Or(params["statement_timeout"], "30min")
	params["idle_in_transaction_session_timeout"] = cmp.Or(params["idle_in_transaction_session_timeout"], "10min")
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", Describe(cfg), err)
	}
	if err := RegisterVector(ctx, conn); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	return conn, nil
}

// RegisterVector teaches conn pgvector's binary codecs, if the extension is installed in its
// database (it may not be yet: the setup creates it).
func RegisterVector(ctx context.Context, conn *pgx.Conn) error {
	var installed bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector')`).Scan(&installed); err != nil {
		return fmt.Errorf("look up pgvector: %w", err)
	}
	if !installed {
		return nil
	}
	if err := pgxvec.RegisterTypes(ctx, conn); err != nil {
		return fmt.Errorf("register pgvector types: %w", err)
	}
	return nil
}

// Describe names a database for logs and errors without its credentials.
func Describe(cfg *pgx.ConnConfig) string {
	return fmt.Sprintf("%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}

// SetupApp runs the app's setup on conn: extensions, a fresh empty items table, its indexes.
func SetupApp(ctx context.Context, conn *pgx.Conn) error {
	if _, err := conn.Exec(ctx, AppSetupSQL); err != nil {
		return fmt.Errorf("create items with the app's DDL: %w", err)
	}
	return RegisterVector(ctx, conn)
}

// StripNUL removes NUL bytes, which PostgreSQL text rejects ("invalid byte sequence for encoding
// UTF8: 0x00", Bedrock Chat issue #308).
func StripNUL(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "")
}

// Copier is what CopyRows needs: a connection or a transaction.
type Copier interface {
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
}

// CopyRows inserts rows with binary COPY.
func CopyRows(ctx context.Context, c Copier, rows []Row) (int64, error) {
	return CopyRowsFrom(ctx, c, len(rows), func(i int) Row { return rows[i] })
}

// CopyRowsFrom streams n rows produced by row(i) with binary COPY, holding one row at a time.
func CopyRowsFrom(ctx context.Context, c Copier, n int, row func(i int) Row) (int64, error) {
	i := -1
	src := pgx.CopyFromFunc(func() ([]any, error) {
		i++
		if i >= n {
			return nil, nil
		}
		r := row(i)
		return []any{r.ID, r.BotID, StripNUL(r.Content), StripNUL(r.Source), pgvector.NewVector(r.Embedding)}, nil
	})
	written, err := c.CopyFrom(ctx, pgx.Identifier{"items"}, []string{"id", "botid", "content", "source", "embedding"}, src)
	if err != nil {
		return written, fmt.Errorf("copy into items: %w", err)
	}
	return written, nil
}
