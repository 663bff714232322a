package replicate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	neturl "net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// slotConn is the replication connection that created the slot. The snapshot it exported lives
// as long as the connection stays open and runs no other command.
type slotConn struct {
	conn     *pgconn.PgConn
	Snapshot string
	LSN      string
}

func (s *slotConn) Close(ctx context.Context) {
	if s != nil && s.conn != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		s.conn.Close(cctx)
	}
}

// createSlot opens a replication connection (replication=database) to url and creates the
// logical slot name for pgoutput, exporting its snapshot.
func createSlot(ctx context.Context, url, name string, t vectorstore.Timeouts) (*slotConn, error) {
	cfg, err := pgconn.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", err)
	}
	cfg.RuntimeParams["replication"] = "database"
	cfg.RuntimeParams["application_name"] = AppName
	if cfg.ConnectTimeout == 0 && t.Connect > 0 {
		cfg.ConnectTimeout = t.Connect
	}
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open a replication connection to %s@%s:%d/%s: %w", cfg.User, cfg.Host, cfg.Port, cfg.Database, err)
	}
	res, err := conn.Exec(ctx, `CREATE_REPLICATION_SLOT `+ident(name)+` LOGICAL pgoutput (SNAPSHOT 'export')`).ReadAll()
	if err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("create replication slot %s: %w", name, err)
	}
	if len(res) != 1 || len(res[0].Rows) != 1 || len(res[0].Rows[0]) < 3 {
		conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("create replication slot %s: unexpected answer", name)
	}
	row := res[0].Rows[0]
	return &slotConn{conn: conn, LSN: string(row[1]), Snapshot: string(row[2])}, nil
}

// subscriptionConninfo is the libpq connection string the target's subscription uses to reach
// the source, built from url (postgres:// or key=value), and the password it holds, which the
// caller removes from any error it passes on.
func subscriptionConninfo(url string) (info, password string, err error) {
	cfg, err := pgconn.ParseConfig(url)
	if err != nil {
		return "", "", fmt.Errorf("parse publisher URL: %w", err)
	}
	sslmode := ""
	if u, perr := neturl.Parse(url); perr == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		sslmode = u.Query().Get("sslmode")
	} else {
		for _, f := range strings.Fields(url) {
			if v, ok := strings.CutPrefix(f, "sslmode="); ok {
				sslmode = strings.Trim(v, `'`)
			}
		}
	}
	quote := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	kv := func(k, v string) string { return k + "='" + quote.Replace(v) + "'" }
	parts := []string{kv("host", cfg.Host), kv("port", fmt.Sprint(cfg.Port)), kv("user", cfg.User), kv("dbname", cfg.Database)}
	if cfg.Password != "" {
		parts = append(parts, kv("password", cfg.Password))
	}
	if sslmode != "" {
		parts = append(parts, kv("sslmode", sslmode))
	}
	parts = append(parts, kv("application_name", "ragmigrate/subscription"))
	return strings.Join(parts, " "), cfg.Password, nil
}

// Dropped says what happened to each replication object of a run.
type Dropped struct {
	Subscription string `json:"subscription"` // dropped, absent
	Slot         string `json:"slot"`
	Publication  string `json:"publication"`
}

// dropAll removes the run's subscription (on dst), slot and publication (on src), whichever
// exist; it is idempotent. dst may be nil when the target is unreachable: the slot and
// publication are still dropped, the subscription is reported as not checked.
func dropAll(ctx context.Context, src, dst *pgx.Conn, n Names, log *slog.Logger) (Dropped, error) {
	var d Dropped
	var errs []error
	if dst != nil && n.Subscription != "" {
		var err error
		if d.Subscription, err = dropSubscription(ctx, dst, n.Subscription, log); err != nil {
			errs = append(errs, fmt.Errorf("target: %w", err))
		}
	} else if n.Subscription != "" {
		d.Subscription = "not checked (no target connection)"
	}
	if n.Slot != "" {
		var err error
		if d.Slot, err = dropSlot(ctx, src, n.Slot, log); err != nil {
			errs = append(errs, fmt.Errorf("source: %w", err))
		}
		if d.Slot == "absent" && d.Subscription == "dropped" {
			d.Slot = "dropped with the subscription"
		}
	}
	if n.Publication != "" {
		var exists bool
		if err := src.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)`, n.Publication).Scan(&exists); err != nil {
			errs = append(errs, fmt.Errorf("source: look up publication %s: %w", n.Publication, err))
		} else if !exists {
			d.Publication = "absent"
		} else if _, err := src.Exec(ctx, `DROP PUBLICATION IF EXISTS `+ident(n.Publication)); err != nil {
			errs = append(errs, fmt.Errorf("source: drop publication %s: %w", n.Publication, err))
		} else {
			d.Publication = "dropped"
			log.InfoContext(ctx, "publication dropped", slog.String("publication", n.Publication))
		}
	}
	return d, errors.Join(errs...)
}

// dropSubscription drops the subscription normally, which drops its slot on the source too. When
// the target cannot reach the source (the publisher is gone or unreachable), it detaches the
// slot (SET slot_name = NONE) to drop the subscription, and dropSlot removes the slot from
// ragmigrate's own source connection.
func dropSubscription(ctx context.Context, dst *pgx.Conn, name string, log *slog.Logger) (string, error) {
	var exists bool
	if err := dst.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid
		WHERE s.subname = $1 AND d.datname = current_database())`, name).Scan(&exists); err != nil {
		return "", fmt.Errorf("look up subscription %s: %w", name, err)
	}
	if !exists {
		return "absent", nil
	}
	_, err := dst.Exec(ctx, `DROP SUBSCRIPTION `+ident(name))
	if err == nil {
		log.InfoContext(ctx, "subscription dropped (with its slot on the source)", slog.String("subscription", name))
		return "dropped", nil
	}
	log.WarnContext(ctx, "subscription not dropped with its slot; detaching the slot to drop it from the source directly",
		slog.String("subscription", name), slog.String("error", err.Error()))
	for _, stmt := range []string{
		`ALTER SUBSCRIPTION ` + ident(name) + ` DISABLE`,
		`ALTER SUBSCRIPTION ` + ident(name) + ` SET (slot_name = NONE)`,
		`DROP SUBSCRIPTION ` + ident(name),
	} {
		if _, err := dst.Exec(ctx, stmt); err != nil {
			return "", fmt.Errorf("drop subscription %s: %w", name, err)
		}
	}
	log.InfoContext(ctx, "subscription dropped", slog.String("subscription", name))
	return "dropped", nil
}

// dropSlot drops the slot once no walsender uses it. The walsender of a dropped subscription or
// of a killed ragmigrate exits by itself within moments; one still active after slotRelease is
// terminated, so that a slot is never left behind.
func dropSlot(ctx context.Context, src *pgx.Conn, name string, log *slog.Logger) (string, error) {
	const slotRelease = 10 * time.Second
	start := time.Now()
	for {
		var active bool
		var pid *int32
		err := src.QueryRow(ctx, `SELECT active, active_pid FROM pg_replication_slots WHERE slot_name = $1`, name).Scan(&active, &pid)
		if errors.Is(err, pgx.ErrNoRows) {
			return "absent", nil
		}
		if err != nil {
			return "", fmt.Errorf("look up slot %s: %w", name, err)
		}
		if !active {
			_, err := src.Exec(ctx, `SELECT pg_drop_replication_slot($1)`, name)
			if err == nil {
				log.InfoContext(ctx, "replication slot dropped", slog.String("slot", name))
				return "dropped", nil
			}
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || (pgErr.Code != "55006" && pgErr.Code != "42704") { // in use (taken meanwhile), gone meanwhile
				return "", fmt.Errorf("drop slot %s: %w", name, err)
			}
		} else if time.Since(start) > slotRelease && pid != nil {
			log.WarnContext(ctx, "slot still in use; terminating its walsender", slog.String("slot", name), slog.Int("pid", int(*pid)))
			if _, err := src.Exec(ctx, `SELECT pg_terminate_backend($1)`, *pid); err != nil {
				return "", fmt.Errorf("terminate the walsender of slot %s: %w", name, err)
			}
		}
		if time.Since(start) > 3*slotRelease {
			return "", fmt.Errorf("drop slot %s: still in use after %s", name, 3*slotRelease)
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("drop slot %s: %w", name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
