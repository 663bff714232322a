package replicate

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Check is one preflight condition: OK, or what is wrong and how to fix it.
type Check struct {
	Side   string `json:"side"` // source or target
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Preflight is every check; Ready when all pass.
type Preflight struct {
	Ready  bool    `json:"ready"`
	Checks []Check `json:"checks"`
}

// Failed lists the failing checks, each with its fix, for an error message.
func (p *Preflight) Failed() string {
	var out []string
	for _, c := range p.Checks {
		if !c.OK {
			out = append(out, fmt.Sprintf("%s %s: %s (fix: %s)", c.Side, c.Name, c.Detail, c.Fix))
		}
	}
	return strings.Join(out, "; ")
}

func (p *Preflight) add(c Check) {
	p.Checks = append(p.Checks, c)
	p.Ready = p.Ready && c.OK
}

// privilege adds the check that the role has a privilege the run needs: may says what it allows;
// without it, lacks says what the role lacks and fix how to grant it.
func (p *Preflight) privilege(side, name string, has bool, may, lacks, fix string) {
	c := Check{Side: side, Name: name, OK: has, Detail: may}
	if !has {
		c.Detail, c.Fix = lacks, fix
	}
	p.add(c)
}

// free adds the check that the run's one more of a cluster's limited resource is free: used of
// the setting's max are taken. fix says how to free one, when none is.
func (p *Preflight) free(side, name, setting string, max, used int, fix string) {
	c := Check{Side: side, Name: name, OK: max-used >= 1,
		Detail: fmt.Sprintf("%d of %s=%d in use; the run needs 1", used, setting, max)}
	if !c.OK {
		c.Fix = fix
	}
	p.add(c)
}

// CheckAll runs the read-only preflight of a replication of tables from src to dst.
// createMissing says whether start would create a missing extension or table on the target.
func CheckAll(ctx context.Context, src, dst *pgx.Conn, tables []string, createMissing bool) (*Preflight, error) {
	p := &Preflight{Ready: true}
	if err := checkSource(ctx, src, tables, p); err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	if dst != nil {
		if err := checkTarget(ctx, dst, tables, createMissing, p); err != nil {
			return nil, fmt.Errorf("target: %w", err)
		}
	}
	return p, nil
}

func checkSource(ctx context.Context, src *pgx.Conn, tables []string, p *Preflight) error {
	var walLevel, rdsLogical string
	var maxSlots, usedSlots, maxSenders, usedSenders int
	var privileged bool
	err := src.QueryRow(ctx, `SELECT current_setting('wal_level'),
			coalesce((SELECT setting FROM pg_settings WHERE name = 'rds.logical_replication'), ''),
			current_setting('max_replication_slots')::int, (SELECT count(*) FROM pg_replication_slots)::int,
			current_setting('max_wal_senders')::int, (SELECT count(*) FROM pg_stat_replication)::int,
			(SELECT rolsuper OR rolreplication FROM pg_roles WHERE rolname = current_user)
			OR EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname IN ('rds_replication', 'rds_superuser')
				AND pg_has_role(current_user, r.oid, 'member'))`).
		Scan(&walLevel, &rdsLogical, &maxSlots, &usedSlots, &maxSenders, &usedSenders, &privileged)
	if err != nil {
		return fmt.Errorf("read replication settings: %w", err)
	}
	c := Check{Side: "source", Name: "wal_level", OK: walLevel == "logical", Detail: "wal_level=" + walLevel}
	if !c.OK {
		c.Fix = "set wal_level = logical and restart PostgreSQL"
		if rdsLogical != "" {
			c.Detail += ", rds.logical_replication=" + rdsLogical
			c.Fix = "set rds.logical_replication = 1 in the cluster's custom DB cluster parameter group, then reboot the writer instance (the parameter is static: it takes effect only after the reboot)"
		}
	}
	p.add(c)
	p.privilege("source", "replication privilege", privileged, "the role may create replication slots and publications",
		"the role has neither REPLICATION nor superuser (nor rds_replication / rds_superuser)",
		"ALTER ROLE <user> REPLICATION (on RDS/Aurora: GRANT rds_replication TO <user>), or connect as the master user")
	p.free("source", "replication slots", "max_replication_slots", maxSlots, usedSlots,
		"drop unused slots (SELECT slot_name, active FROM pg_replication_slots) or raise max_replication_slots and restart")
	p.free("source", "WAL senders", "max_wal_senders", maxSenders, usedSenders,
		"raise max_wal_senders and restart, or stop an idle replication client (pg_stat_replication)")
	var vec string
	if err := src.QueryRow(ctx, `SELECT coalesce((SELECT extversion FROM pg_extension WHERE extname = 'vector'), '')`).Scan(&vec); err != nil {
		return fmt.Errorf("look up pgvector: %w", err)
	}
	c = Check{Side: "source", Name: "pgvector", OK: vec != "", Detail: "vector " + vec}
	if vec == "" {
		c.Detail, c.Fix = "the vector extension is not installed", "check --source-db: the old cluster's database holds the extension and items"
	}
	p.add(c)
	for _, t := range tables {
		var found bool
		var ident string
		var hasPK bool
		err := src.QueryRow(ctx, `SELECT c.oid IS NOT NULL, coalesce(c.relreplident::text, ''),
				coalesce(EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary), false)
			FROM (SELECT to_regclass($1) AS oid) r LEFT JOIN pg_class c ON c.oid = r.oid`, t).Scan(&found, &ident, &hasPK)
		if err != nil {
			return fmt.Errorf("look up table %s: %w", t, err)
		}
		c := Check{Side: "source", Name: "table " + t}
		switch {
		case !found:
			c.Detail, c.Fix = "does not exist", "check --source-db and --tables"
		case ident == "f":
			c.OK, c.Detail = true, "replica identity FULL (updates and deletes match on every column: slow on the target)"
		case ident == "i":
			c.OK, c.Detail = true, "replica identity USING INDEX"
		case ident == "d" && hasPK:
			c.OK, c.Detail = true, "primary key (the default replica identity)"
		default:
			c.Detail = "no primary key and no replica identity: its UPDATEs and DELETEs cannot be replicated"
			c.Fix = fmt.Sprintf("ALTER TABLE %s ADD PRIMARY KEY (…), or ALTER TABLE %s REPLICA IDENTITY FULL", t, t)
		}
		p.add(c)
	}
	return nil
}

func checkTarget(ctx context.Context, dst *pgx.Conn, tables []string, createMissing bool, p *Preflight) error {
	var installed, available string
	var maxWorkers, usedWorkers int
	var super bool
	err := dst.QueryRow(ctx, `SELECT coalesce((SELECT extversion FROM pg_extension WHERE extname = 'vector'), ''),
			coalesce((SELECT default_version FROM pg_available_extensions WHERE name = 'vector'), ''),
			current_setting('max_logical_replication_workers')::int,
			(SELECT count(*) FROM pg_stat_subscription WHERE pid IS NOT NULL)::int,
			(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
			OR EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = 'rds_superuser' AND pg_has_role(current_user, r.oid, 'member'))`).
		Scan(&installed, &available, &maxWorkers, &usedWorkers, &super)
	if err != nil {
		return fmt.Errorf("read subscription settings: %w", err)
	}
	c := Check{Side: "target", Name: "pgvector", OK: installed != "", Detail: "vector " + installed}
	switch {
	case installed == "" && available != "" && createMissing:
		c.OK, c.Detail = true, "vector "+available+" will be created (--create-missing)"
	case installed == "" && available != "":
		c.Detail, c.Fix = "the vector extension is not installed (the cluster offers "+available+")", "CREATE EXTENSION vector, or pass --create-missing"
	case installed == "":
		c.Detail, c.Fix = "the cluster does not offer the vector extension", "install pgvector on the target cluster"
	}
	p.add(c)
	p.privilege("target", "subscription privilege", super, "the role may create subscriptions",
		"CREATE SUBSCRIPTION needs a superuser on PostgreSQL 15 (rds_superuser on RDS/Aurora)",
		"connect to the target as the master user")
	p.free("target", "logical replication workers", "max_logical_replication_workers", maxWorkers, usedWorkers,
		"raise max_logical_replication_workers (and max_worker_processes) and restart")
	for _, t := range tables {
		var found, rows bool
		if err := dst.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL, CASE WHEN to_regclass($1) IS NULL THEN false ELSE
			(xpath('/row/c/text()', query_to_xml(format('SELECT EXISTS (SELECT 1 FROM %s) AS c', to_regclass($1)), false, true, '')))[1]::text::bool END`, t).Scan(&found, &rows); err != nil {
			return fmt.Errorf("look up table %s: %w", t, err)
		}
		c := Check{Side: "target", Name: "table " + t, OK: found, Detail: "exists, empty"}
		switch {
		case found && rows:
			c.Detail = "exists and holds rows: start refuses it unless --empty-target (which deletes them)"
		case !found && createMissing:
			c.OK, c.Detail = true, "will be created with the source's columns (--create-missing)"
		case !found:
			c.Detail, c.Fix = "does not exist", "check --target-db (a v1 deploy creates items), or pass --create-missing"
		}
		p.add(c)
	}
	return nil
}
