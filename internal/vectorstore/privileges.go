package vectorstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Privileges is what the connected role may do in a database, read for the statements ragmigrate
// runs there. PostgreSQL checks some of them even when IF NOT EXISTS finds the object present:
// CREATE TABLE IF NOT EXISTS needs CREATE on the schema, CREATE INDEX IF NOT EXISTS ownership of
// the table, and CREATE SCHEMA IF NOT EXISTS CREATE on the database. EnsureItems (ensureItemsSQL)
// and journal.Migrate run such statements on every run.
type Privileges struct {
	Role      string `json:"role"`
	Superuser bool   `json:"superuser"`
	// CreateInDatabase allows CREATE SCHEMA (the journal's) and trusted extensions.
	CreateInDatabase bool `json:"create_in_database"`
	// Schema is the current schema, where items is; CreateInSchema allows CREATE TABLE there.
	Schema         string `json:"schema"`
	CreateInSchema bool   `json:"create_in_schema"`
	// VectorTrusted says whether pgvector may be created without superuser (a trusted extension).
	VectorTrusted bool `json:"vector_trusted"`
	// Items privileges; all false when items does not exist.
	ItemsOwner    bool `json:"items_owner"`
	ItemsSelect   bool `json:"items_select"`
	ItemsInsert   bool `json:"items_insert"`
	ItemsDelete   bool `json:"items_delete"`
	ItemsTruncate bool `json:"items_truncate"`
	// JournalExists says whether the schema ragmigrate exists; JournalOwner whether the role owns
	// its runs table (re-running journal.Migrate's CREATE INDEX IF NOT EXISTS needs that), or the
	// schema when the table is missing.
	JournalExists bool `json:"journal_exists"`
	JournalOwner  bool `json:"journal_owner"`
}

// ReadPrivileges reads the connected role's privileges. has_table_privilege answers true when any
// one of several listed privileges is held, so each is asked on its own.
func ReadPrivileges(ctx context.Context, conn *pgx.Conn) (*Privileges, error) {
	p := &Privileges{}
	var schema *string
	err := conn.QueryRow(ctx, `SELECT current_user, r.rolsuper,
			has_database_privilege(current_database(), 'CREATE'),
			current_schema(),
			coalesce(has_schema_privilege(current_schema(), 'CREATE'), false),
			coalesce((SELECT v.trusted FROM pg_available_extension_versions v
				JOIN pg_available_extensions e ON e.name = v.name AND e.default_version = v.version
				WHERE v.name = 'vector'), false),
			coalesce((SELECT pg_has_role(c.relowner, 'USAGE') FROM pg_class c WHERE c.oid = to_regclass('items')), false),
			coalesce(has_table_privilege(to_regclass('items'), 'SELECT'), false),
			coalesce(has_table_privilege(to_regclass('items'), 'INSERT'), false),
			coalesce(has_table_privilege(to_regclass('items'), 'DELETE'), false),
			coalesce(has_table_privilege(to_regclass('items'), 'TRUNCATE'), false),
			to_regnamespace('ragmigrate') IS NOT NULL,
			coalesce((SELECT pg_has_role(c.relowner, 'USAGE') FROM pg_class c WHERE c.oid = to_regclass('ragmigrate.runs')),
				(SELECT pg_has_role(n.nspowner, 'USAGE') FROM pg_namespace n WHERE n.nspname = 'ragmigrate'), false)
		FROM pg_roles r WHERE r.rolname = current_user`).Scan(&p.Role, &p.Superuser, &p.CreateInDatabase, &schema, &p.CreateInSchema,
		&p.VectorTrusted, &p.ItemsOwner, &p.ItemsSelect, &p.ItemsInsert, &p.ItemsDelete, &p.ItemsTruncate, &p.JournalExists, &p.JournalOwner)
	if err != nil {
		return nil, fmt.Errorf("read the role's privileges: %w", err)
	}
	if schema != nil {
		p.Schema = *schema
	}
	return p, nil
}
