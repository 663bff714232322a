package pgcopy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ErrSchemaMismatch is returned (wrapped) when an existing target table differs from its source.
var ErrSchemaMismatch = errors.New("target table does not match the source")

// ErrTargetNotEmpty is returned (wrapped) when the target table holds rows and neither --resume
// nor --empty-target says what to do with them.
var ErrTargetNotEmpty = errors.New("target table is not empty")

// ErrNoTargetTable is returned (wrapped) when a target table does not exist and creating it was
// not asked for.
var ErrNoTargetTable = errors.New("target table does not exist")

// ErrNoPgvector is returned (wrapped) when a side lacks the vector extension.
var ErrNoPgvector = errors.New("pgvector is not installed")

// Column is one column of a table, with its type as format_type prints it (vector(1024)).
type Column struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	NotNull bool   `json:"not_null"`
	// Dims is the typmod of a vector column: its dimensions.
	Dims int `json:"dims,omitempty"`
}

// Index is one index of a source table.
type Index struct {
	Name string `json:"name"`
	// Definition is pg_get_indexdef's text on the source.
	Definition string `json:"definition"`
	Method     string `json:"method"`
	// Constraint names the PRIMARY KEY or UNIQUE constraint the index backs, if any.
	Constraint     string `json:"constraint,omitempty"`
	ConstraintType string `json:"constraint_type,omitempty"`
}

// ANN tells whether the index is pgvector's (ivfflat, hnsw).
func (ix Index) ANN() bool { return ix.Method == "ivfflat" || ix.Method == "hnsw" }

// Table is a source table as introspected.
type Table struct {
	Schema string `json:"schema"`
	Name   string `json:"name"`
	// DefName is the table's name as pg_get_indexdef prints it (quoted only where needed).
	DefName string   `json:"-"`
	Columns []Column `json:"columns"`
	Indexes []Index  `json:"indexes"`
	// Key is the single-column primary key parts are split on; empty when there is none.
	Key     string `json:"key,omitempty"`
	KeyType string `json:"key_type,omitempty"`
	// RelationBytes is pg_table_size: heap, TOAST (where vectors live), free space and visibility
	// maps, no indexes. Parts are sized from it: the heap alone under-splits a vector table.
	RelationBytes int64 `json:"relation_bytes"`
	IndexBytes    int64 `json:"index_bytes"`
	Rows          int64 `json:"rows"`
	// EstStreamBytes estimates the COPY BINARY stream from a sample of rows.
	EstStreamBytes int64 `json:"est_stream_bytes"`
}

// Qualified is the quoted schema-qualified name.
func (t *Table) Qualified() string { return pgx.Identifier{t.Schema, t.Name}.Sanitize() }

// ColumnList is the quoted column list in table order.
func (t *Table) ColumnList() string {
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = pgx.Identifier{c.Name}.Sanitize()
	}
	return strings.Join(names, ", ")
}

// VectorDims is the largest dimension of the table's vector columns (0 without any).
func (t *Table) VectorDims() int {
	d := 0
	for _, c := range t.Columns {
		d = max(d, c.Dims)
	}
	return d
}

// pgvectorVersion is the vector extension's version in conn's database ("" if not installed) and
// the version available to install.
func pgvectorVersion(ctx context.Context, conn *pgx.Conn) (installed, available string, err error) {
	err = conn.QueryRow(ctx, `SELECT coalesce((SELECT extversion FROM pg_extension WHERE extname = 'vector'), ''),
		coalesce((SELECT default_version FROM pg_available_extensions WHERE name = 'vector'), '')`).Scan(&installed, &available)
	if err != nil {
		return "", "", fmt.Errorf("look up pgvector: %w", err)
	}
	return installed, available, nil
}

// resolve finds name (optionally schema-qualified, resolved by the session's search_path) and
// returns its schema and name; found is false when it does not exist.
func resolve(ctx context.Context, conn *pgx.Conn, name string) (schema, rel string, found bool, err error) {
	err = conn.QueryRow(ctx, `SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p')`, name).Scan(&schema, &rel)
	if errors.Is(err, pgx.ErrNoRows) {
		if strings.Contains(name, ".") {
			schema, rel, _ = strings.Cut(name, ".")
			return schema, rel, false, nil
		}
		err = conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema)
		return schema, name, false, err
	}
	if err != nil {
		return "", "", false, fmt.Errorf("look up table %s: %w", name, err)
	}
	return schema, rel, true, nil
}

// introspect reads a table's columns, indexes, primary key and size.
func introspect(ctx context.Context, conn *pgx.Conn, schema, name string) (*Table, error) {
	t := &Table{Schema: schema, Name: name}
	q := t.Qualified()
	var err error
	if t.Columns, err = columns(ctx, conn, q); err != nil {
		return nil, err
	}
	if err := conn.QueryRow(ctx, `SELECT quote_ident($1) || '.' || quote_ident($2)`, schema, name).Scan(&t.DefName); err != nil {
		return nil, fmt.Errorf("name of %s: %w", q, err)
	}
	rows, err := conn.Query(ctx, `SELECT ic.relname, pg_get_indexdef(i.indexrelid), am.amname,
			coalesce(con.conname, ''), coalesce(con.contype::text, '')
		FROM pg_index i
		JOIN pg_class ic ON ic.oid = i.indexrelid
		JOIN pg_am am ON am.oid = ic.relam
		LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u')
		WHERE i.indrelid = $1::regclass
		ORDER BY i.indisprimary DESC, am.amname IN ('ivfflat', 'hnsw'), ic.relname`, q)
	if err != nil {
		return nil, fmt.Errorf("indexes of %s: %w", q, err)
	}
	t.Indexes, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Index, error) {
		var ix Index
		err := r.Scan(&ix.Name, &ix.Definition, &ix.Method, &ix.Constraint, &ix.ConstraintType)
		return ix, err
	})
	if err != nil {
		return nil, fmt.Errorf("indexes of %s: %w", q, err)
	}
	err = conn.QueryRow(ctx, `SELECT coalesce((SELECT a.attname || '|' || format_type(a.atttypid, a.atttypmod)
			FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
			WHERE i.indrelid = $1::regclass AND i.indisprimary AND i.indnkeyatts = 1), ''),
		pg_table_size($1::regclass), pg_indexes_size($1::regclass)`, q).Scan(&t.Key, &t.RelationBytes, &t.IndexBytes)
	if err != nil {
		return nil, fmt.Errorf("size of %s: %w", q, err)
	}
	t.Key, t.KeyType, _ = strings.Cut(t.Key, "|")
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+q).Scan(&t.Rows); err != nil {
		return nil, fmt.Errorf("count rows of %s: %w", q, err)
	}
	// The COPY BINARY stream carries each value's stored size (pg_column_size: uncompressed for
	// pgvector's external storage) plus a 4-byte length word, and 2 bytes per row.
	sizes := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		sizes[i] = "coalesce(pg_column_size(" + pgx.Identifier{c.Name}.Sanitize() + "), 0)"
	}
	var sample, sampleBytes int64
	err = conn.QueryRow(ctx, `SELECT count(*), coalesce(sum(`+strings.Join(sizes, " + ")+`), 0)::bigint
		FROM (SELECT * FROM `+q+` LIMIT 1000) s`).Scan(&sample, &sampleBytes)
	if err != nil {
		return nil, fmt.Errorf("sample rows of %s: %w", q, err)
	}
	if sample > 0 {
		perRow := float64(sampleBytes)/float64(sample) + float64(4*len(t.Columns)+2)
		t.EstStreamBytes = int64(perRow*float64(t.Rows)) + 21
	}
	return t, nil
}

func columns(ctx context.Context, conn *pgx.Conn, qualified string) ([]Column, error) {
	rows, err := conn.Query(ctx, `SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
			CASE WHEN t.typname = 'vector' THEN greatest(a.atttypmod, 0) ELSE 0 END
		FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
		WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, qualified)
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", qualified, err)
	}
	cols, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Column, error) {
		var c Column
		err := r.Scan(&c.Name, &c.Type, &c.NotNull, &c.Dims)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", qualified, err)
	}
	return cols, nil
}

// compareColumns refuses a target whose columns differ from the source's in name, order or type
// (binary COPY is type-exact: a vector(1024) stream cannot load into vector(1536)).
func compareColumns(target string, src, dst []Column) error {
	var diffs []string
	for i := range max(len(src), len(dst)) {
		switch {
		case i >= len(dst):
			diffs = append(diffs, fmt.Sprintf("column %s %s is missing", src[i].Name, src[i].Type))
		case i >= len(src):
			diffs = append(diffs, fmt.Sprintf("column %s %s is not in the source", dst[i].Name, dst[i].Type))
		case src[i].Name != dst[i].Name:
			diffs = append(diffs, fmt.Sprintf("column %d is %s, the source's is %s", i+1, dst[i].Name, src[i].Name))
		case src[i].Type != dst[i].Type:
			diffs = append(diffs, fmt.Sprintf("column %s is %s, the source's is %s", dst[i].Name, dst[i].Type, src[i].Type))
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("%s: %w: %s", target, ErrSchemaMismatch, strings.Join(diffs, "; "))
	}
	return nil
}

// createTableSQL creates the target table with the source's columns and no index or constraint:
// those come after the load. Defaults are not carried (the app's table has none; a sequence
// default would need its sequence).
func createTableSQL(target string, cols []Column) string {
	defs := make([]string, len(cols))
	for i, c := range cols {
		defs[i] = pgx.Identifier{c.Name}.Sanitize() + " " + c.Type
		if c.NotNull {
			defs[i] += " NOT NULL"
		}
	}
	return "CREATE TABLE " + target + " (" + strings.Join(defs, ", ") + ")"
}

// targetIndex is an index already on the target table.
type targetIndex struct {
	Name, Definition, Constraint string
	Valid                        bool
}

func targetIndexes(ctx context.Context, conn *pgx.Conn, qualified string) ([]targetIndex, error) {
	rows, err := conn.Query(ctx, `SELECT ic.relname, pg_get_indexdef(i.indexrelid), coalesce(con.conname, ''), i.indisvalid
		FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
		LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u')
		WHERE i.indrelid = $1::regclass ORDER BY ic.relname`, qualified)
	if err != nil {
		return nil, fmt.Errorf("indexes of target %s: %w", qualified, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (targetIndex, error) {
		var ix targetIndex
		err := r.Scan(&ix.Name, &ix.Definition, &ix.Constraint, &ix.Valid)
		return ix, err
	})
	if err != nil {
		return nil, fmt.Errorf("indexes of target %s: %w", qualified, err)
	}
	return out, nil
}

// retarget rewrites a source index definition (whose table pg_get_indexdef prints as srcName) to
// build on the target table.
func retarget(def, srcName, dstQualified string) string {
	for _, on := range []string{" ON ONLY ", " ON "} {
		if i := strings.Index(def, on+srcName+" "); i >= 0 {
			return def[:i] + on + dstQualified + def[i+len(on)+len(srcName):]
		}
	}
	return def
}
