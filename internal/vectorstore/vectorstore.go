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
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

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

// Timeouts bound the waits of every session ragmigrate opens. The zero value means the defaults.
type Timeouts struct {
	// Connect bounds establishing a connection: TCP, TLS, authentication and the first answer,
	// so that a host that accepts and never answers fails instead of hanging. Default 15s; a
	// connect_timeout in the URL wins.
	Connect time.Duration
	// Statement is the server's statement_timeout for ordinary statements. Default 30 minutes; a
	// statement_timeout in the URL (or its options) wins.
	Statement time.Duration
}

// The Timeouts defaults.
const (
	DefaultConnectTimeout   = 15 * time.Second
	DefaultStatementTimeout = 30 * time.Minute
)

// ParseConfig is the one way ragmigrate configures a session: it parses url and sets
// application_name "ragmigrate/<purpose>", the connect timeout, the statement timeout and an
// idle-in-transaction timeout, each unless the URL already sets it. Connect, NewPool and pgcopy
// all go through it.
func ParseConfig(url, purpose string, t Timeouts) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", err)
	}
	configure(cfg, purpose, t)
	return cfg, nil
}

// configure applies ParseConfig's settings to a parsed configuration.
func configure(cfg *pgx.ConnConfig, purpose string, t Timeouts) {
	// pgconn reads connect_timeout (or PGCONNECT_TIMEOUT); zero means neither was set. It bounds
	// the whole connection process, dial to ready, for each host tried.
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = cmp.Or(t.Connect, DefaultConnectTimeout)
	}
	params := cfg.RuntimeParams
	params["application_name"] = cmp.Or(params["application_name"], "ragmigrate/"+purpose)
	params["statement_timeout"] = cmp.Or(params["statement_timeout"], Milliseconds(cmp.Or(t.Statement, DefaultStatementTimeout)))
	params["idle_in_transaction_session_timeout"] = cmp.Or(params["idle_in_transaction_session_timeout"], "10min")
}

// Milliseconds writes d as a PostgreSQL duration setting (an integer of milliseconds, at least 1).
func Milliseconds(d time.Duration) string {
	return strconv.FormatInt(max(d.Milliseconds(), 1), 10)
}

// QuoteLiteral quotes s as an SQL string literal, for the statements that take no parameters
// (ALTER ROLE … PASSWORD, CREATE SUBSCRIPTION … CONNECTION, SET TRANSACTION SNAPSHOT) and for
// key bounds written into COPY queries. It relies on standard_conforming_strings, on by
// default since PostgreSQL 9.1: a backslash is an ordinary character.
func QuoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// ConnectError names the server and, when the connect timeout ran out (rather than ctx), the
// timeout; never the password (pgconn's errors name host and user only).
func ConnectError(ctx context.Context, cfg *pgx.ConnConfig, err error) error {
	if ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || isTimeout(err)) {
		return fmt.Errorf("connect to %s: no answer within the connect timeout of %s (--db-connect-timeout): %w",
			Describe(cfg), cfg.ConnectTimeout, err)
	}
	return fmt.Errorf("connect to %s: %w", Describe(cfg), err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Connect opens a connection for a purpose, configured by ParseConfig, with pgvector's types
// registered when the extension exists.
func Connect(ctx context.Context, url, purpose string, t Timeouts) (*pgx.Conn, error) {
	cfg, err := ParseConfig(url, purpose, t)
	if err != nil {
		return nil, err
	}
	conn, err := ConnectConfig(ctx, url, cfg)
	if err != nil {
		return nil, ConnectError(ctx, cfg, err)
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
