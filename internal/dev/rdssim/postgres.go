package rdssim

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// cluster is the source PostgreSQL cluster snapshots and restored clusters live on.
//
// Every operation opens its own short connection instead of keeping a pool: CREATE DATABASE ...
// TEMPLATE fails while any session is connected to the template, so an idle pooled connection
// to the database being snapshotted would make the snapshot fail.
type cluster struct {
	adminURL string
}

// endpoint is the host and port clients reach the cluster at.
func (c *cluster) endpoint() (string, int) {
	cfg, err := pgconn.ParseConfig(c.adminURL)
	if err != nil {
		return "", 0
	}
	return cfg.Host, int(cfg.Port)
}

// connect opens an admin session on database db ("" for the admin URL's own).
func (c *cluster) connect(ctx context.Context, db string) (*pgx.Conn, error) {
	if c.adminURL == "" {
		return nil, errors.New("no source cluster: 'dev serve aws' needs --rds-source-db")
	}
	cfg, err := pgx.ParseConfig(c.adminURL)
	if err != nil {
		return nil, fmt.Errorf("source cluster URL: %w", err)
	}
	if db != "" {
		cfg.Database = db
	}
	cfg.RuntimeParams["application_name"] = "ragmigrate/rdssim"
	return pgx.ConnectConfig(ctx, cfg)
}

// maintenanceDB is a database to run CREATE DATABASE ... TEMPLATE template from: not the template
// itself, whose copy a session connected to it would block.
func (c *cluster) maintenanceDB(template string) string {
	cfg, err := pgconn.ParseConfig(c.adminURL)
	if err == nil && cfg.Database == template {
		return "template1"
	}
	return ""
}

// exec runs statements on database db, retrying while another session uses a template database
// (SQLSTATE 55006, object_in_use): on the shared cluster, someone may briefly be connected to the
// database being copied.
func (c *cluster) exec(ctx context.Context, db string, stmts ...string) error {
	conn, err := c.connect(ctx, db)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, st := range stmts {
		for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
			_, err = conn.Exec(ctx, st)
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "55006" {
				break
			}
			select {
			case <-ctx.Done():
				return err
			case <-time.After(wait):
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// snapshot records database's content as the template database template, replacing one of that
// name. ALLOW_CONNECTIONS false keeps sessions out of it, so restoring from it never waits.
func (c *cluster) snapshot(ctx context.Context, database, template string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return c.exec(ctx, c.maintenanceDB(database),
		"DROP DATABASE IF EXISTS "+ident(template),
		"CREATE DATABASE "+ident(template)+" TEMPLATE "+ident(database)+" ALLOW_CONNECTIONS false")
}

// restore creates database name from template and its master user, a login role of the same
// name (no password until setPassword) that owns the database, its schemas and their tables, as
// an Aurora master user can do anything in its cluster.
func (c *cluster) restore(ctx context.Context, template, name string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	role := ident(name)
	if err := c.exec(ctx, "",
		"CREATE DATABASE "+ident(name)+" TEMPLATE "+ident(template),
		"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "+vectorstore.QuoteLiteral(name)+") THEN CREATE ROLE "+role+" LOGIN; END IF; END $$",
		"ALTER DATABASE "+ident(name)+" OWNER TO "+role,
	); err != nil {
		return err
	}
	conn, err := c.connect(ctx, name)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `SELECT nspname FROM pg_namespace
		WHERE nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema'`)
	if err != nil {
		return err
	}
	schemas, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, s := range schemas {
		for _, st := range []string{
			"GRANT ALL ON SCHEMA " + ident(s) + " TO " + role,
			"GRANT ALL ON ALL TABLES IN SCHEMA " + ident(s) + " TO " + role,
			"GRANT ALL ON ALL SEQUENCES IN SCHEMA " + ident(s) + " TO " + role,
		} {
			if _, err := conn.Exec(ctx, st); err != nil {
				return fmt.Errorf("%s: %w", st, err)
			}
		}
	}
	return nil
}

// setPassword gives the master user of cluster name a password.
func (c *cluster) setPassword(ctx context.Context, name, password string) error {
	return c.exec(ctx, "", "ALTER ROLE "+ident(name)+" PASSWORD "+vectorstore.QuoteLiteral(password))
}

// drop removes a restored cluster: its database (ending its sessions) and its master user.
func (c *cluster) drop(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return c.exec(ctx, "",
		"DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)",
		"DROP ROLE IF EXISTS "+ident(name))
}

func (c *cluster) dropDatabase(ctx context.Context, name string) error {
	return c.exec(ctx, "", "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)")
}

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// SourceURL is the URL of restored cluster id's database as its master user with password, for
// tests and the development rig (a client reads the password from the secret).
func SourceURL(adminURL, id, password string) (string, error) {
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", err
	}
	u.User = url.UserPassword(id, password)
	u.Path = "/" + id
	return u.String(), nil
}
