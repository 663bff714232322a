package pgcopy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// AppName is the application_name of every session copy opens, so a DBA can see (and a test can
// find) them in pg_stat_activity.
const AppName = "ragmigrate/copy"

// connKind chooses session settings by what a connection does.
type connKind int

const (
	// connMeta runs catalog queries and small writes.
	connMeta connKind = iota
	// connWork streams a part or builds an index: bounded by the run's context, not by a timer,
	// because a part or an HNSW build can legitimately take hours.
	connWork
	// connSnapshot holds the exported snapshot: it stays idle in its transaction for the whole
	// data phase, so the idle-in-transaction timeout must be off whatever the URL says.
	connSnapshot
)

func connect(ctx context.Context, url string, t vectorstore.Timeouts, kind connKind) (*pgx.Conn, error) {
	cfg, err := vectorstore.ParseConfig(url, strings.TrimPrefix(AppName, "ragmigrate/"), t)
	if err != nil {
		return nil, err
	}
	p := cfg.RuntimeParams
	// COPY (SELECT …) cannot take parameters, so part bounds are quoted literals; they rely on
	// standard strings (the default since 9.1, pinned here).
	p["standard_conforming_strings"] = "on"
	switch kind {
	case connWork:
		// ParseConfig filled in the timeout for ordinary statements; a part's COPY is bounded by
		// the run's context instead, unless the URL sets a timeout of its own.
		if raw, err := pgx.ParseConfig(url); err == nil && raw.RuntimeParams["statement_timeout"] == "" {
			p["statement_timeout"] = "0"
		}
	case connSnapshot:
		p["idle_in_transaction_session_timeout"] = "0"
	}
	conn, err := vectorstore.ConnectConfig(ctx, url, cfg)
	if err != nil {
		return nil, vectorstore.ConnectError(ctx, cfg, err)
	}
	// A killed client leaves a long CREATE INDEX (or COPY) running on the server until it next
	// touches the socket, holding locks and the run's advisory lock with it. Since PostgreSQL 14
	// the server can poll the socket during a query and abort the moment the client is gone, so a
	// re-run with --resume does not wait for a dead run's index build to finish.
	if serverMajor(conn) >= 14 {
		if _, err := conn.Exec(ctx, `SET client_connection_check_interval = '1s'`); err != nil {
			conn.Close(ctx)
			return nil, fmt.Errorf("configure session on %s: %w", vectorstore.Describe(cfg), err)
		}
	}
	return conn, nil
}

func serverMajor(conn *pgx.Conn) int {
	v := conn.PgConn().ParameterStatus("server_version")
	major, _, _ := strings.Cut(v, ".")
	n, _ := strconv.Atoi(strings.TrimFunc(major, func(r rune) bool { return r < '0' || r > '9' }))
	return n
}

// retryable tells whether a part that failed with err may succeed on fresh connections: the
// connection was lost or terminated (pg_terminate_backend, a failover, a restart), or the server
// asked to retry. Data errors and cancellations are not retried.
func retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03", // terminated, crash, cannot connect now
			pgErr.Code == "40001", pgErr.Code == "40P01", // serialization failure, deadlock
			pgErr.Code == "53300": // too many connections
			return true
		}
		return false
	}
	var netErr net.Error
	return pgconn.SafeToRetry(err) || errors.As(err, &netErr) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "unexpected EOF")
}

func closeConn(ctx context.Context, c *pgx.Conn) {
	if c != nil {
		c.Close(ctx)
	}
}
