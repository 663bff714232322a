package vectorstore

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PasswordSource supplies the password of a database whose URL carries none: one read from
// Secrets Manager (which rotates) or an RDS IAM token (valid 15 minutes). Sessions ask it at
// every connect, never keep a password of their own, and after an authentication failure ask
// again, once, naming the password that was refused.
type PasswordSource interface {
	// Password returns the password to log in with. refused is the one a login just refused
	// ("" on a first try): the source must not answer it again from a cache. Sessions refused
	// at the same moment all name the same password, so one fresh read serves them all.
	Password(ctx context.Context, refused string) (string, error)
}

// passwordSources maps a database URL to the source of its password. A URL is the one handle
// every command, strategy and package passes around, so registering the source against it
// reaches Connect, NewPool and pgcopy's sessions without a new parameter in each.
var passwordSources sync.Map

// UsePasswordSource makes every session ragmigrate opens on url take its password from src.
func UsePasswordSource(url string, src PasswordSource) { passwordSources.Store(url, src) }

func passwordSource(url string) PasswordSource {
	if v, ok := passwordSources.Load(url); ok {
		return v.(PasswordSource)
	}
	return nil
}

// IsAuthFailure tells whether err is the server refusing the credentials: a wrong password
// (28P01, what a rotated password gets) or a refused authorization (28000, what an expired IAM
// token gets).
func IsAuthFailure(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "28P01" || pgErr.Code == "28000")
}

// ConnectConfig opens a session with cfg, parsed from url. When url has a password source it
// supplies the password, and an authentication failure reads it again and retries once, so a
// password rotated since the last read does not fail the run.
func ConnectConfig(ctx context.Context, url string, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	src := passwordSource(url)
	if src == nil {
		return pgx.ConnectConfig(ctx, cfg)
	}
	refused := ""
	for {
		pw, err := src.Password(ctx, refused)
		if err != nil {
			return nil, fmt.Errorf("connect to %s: %w", Describe(cfg), err)
		}
		cfg.Password = pw
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil || refused != "" || !IsAuthFailure(err) {
			return conn, err
		}
		refused = pw
	}
}

// beforeConnect is the pool's hook for a url with a password source. pgxpool connects right
// after it with no hook for a retry, so it checks the password with a bare login first and
// reads a fresh one when that is refused: a pool's new connection after a rotation then logs in
// with the new password instead of failing the work that needed it.
func beforeConnect(url string) func(context.Context, *pgx.ConnConfig) error {
	src := passwordSource(url)
	if src == nil {
		return nil
	}
	return func(ctx context.Context, cfg *pgx.ConnConfig) error {
		pw, err := src.Password(ctx, "")
		if err != nil {
			return fmt.Errorf("connect to %s: %w", Describe(cfg), err)
		}
		cfg.Password = pw
		probe, err := pgconn.ConnectConfig(ctx, &cfg.Config)
		if err == nil {
			_ = probe.Close(ctx)
			return nil
		}
		if !IsAuthFailure(err) {
			return nil // the pool's own connect reports it
		}
		if cfg.Password, err = src.Password(ctx, pw); err != nil {
			return fmt.Errorf("connect to %s: %w", Describe(cfg), err)
		}
		return nil
	}
}

// poolBeforeConnect sets cfg's BeforeConnect for url's password source, if it has one.
func poolBeforeConnect(cfg *pgxpool.Config, url string) {
	if hook := beforeConnect(url); hook != nil {
		cfg.BeforeConnect = hook
	}
}
