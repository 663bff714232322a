package verify

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"
)

// TableReport compares one table other than items, which has no bot to group by. Rows are
// grouped into buckets by a hash of their primary key rather than by key ranges: a range needs
// an order both clusters agree on, and text keys sort by each cluster's collation, which a
// migration may change. A hash bucket holds the same keys on both sides whatever the collation.
type TableReport struct {
	Table      string        `json:"table"`
	PrimaryKey []string      `json:"primary_key"`
	SourceRows int64         `json:"source_rows"`
	TargetRows int64         `json:"target_rows"`
	Buckets    int           `json:"buckets"`
	Differing  int           `json:"differing_buckets"`
	Missing    []string      `json:"missing,omitempty"` // primary keys, as row text
	Extra      []string      `json:"extra,omitempty"`
	Changed    []string      `json:"changed,omitempty"`
	More       int           `json:"more,omitempty"`
	Elapsed    time.Duration `json:"elapsed_ns"`
}

// OK reports whether the table is equal on both sides.
func (t *TableReport) OK() bool { return t.Differing == 0 && t.SourceRows == t.TargetRows }

const tableBuckets = 1024

func compareTable(ctx context.Context, o Options, table string) (*TableReport, error) {
	start := time.Now()
	r := &TableReport{Table: table, Buckets: tableBuckets}
	var err error
	if r.PrimaryKey, err = primaryKey(ctx, o.Source, table); err != nil {
		return nil, err
	}
	ident := pgx.Identifier(strings.Split(table, ".")).Sanitize()
	var cols []string
	for _, c := range r.PrimaryKey {
		cols = append(cols, pgx.Identifier{c}.Sanitize())
	}
	key := "ROW(" + strings.Join(cols, ", ") + ")::text"
	bucket := fmt.Sprintf("abs(hashtextextended(%s, 0) %% %d)", key, tableBuckets)
	rowHash := "md5(t::text)"
	digestSQL := fmt.Sprintf(`SELECT %s AS b, count(*), sum(('x' || substr(%s, 1, 16))::bit(64)::bigint)::text
		FROM %s t GROUP BY 1`, bucket, rowHash, ident)

	type digest struct {
		rows int64
		sum  string
	}
	digests := func(conn *pgx.Conn) (map[int64]digest, error) {
		out := map[int64]digest{}
		err := readOnly(ctx, conn, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, digestSQL)
			if err != nil {
				return err
			}
			var b int64
			var d digest
			_, err = pgx.ForEachRow(rows, []any{&b, &d.rows, &d.sum}, func() error { out[b] = d; return nil })
			return err
		})
		return out, err
	}
	var src, dst map[int64]digest
	g, _ := errgroup.WithContext(ctx)
	g.Go(func() (err error) { src, err = digests(o.Source); return err })
	g.Go(func() (err error) { dst, err = digests(o.Target); return err })
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("verify table %s: %w", table, err)
	}
	var differing []int64
	for b := range int64(tableBuckets) {
		s, d := src[b], dst[b]
		r.SourceRows += s.rows
		r.TargetRows += d.rows
		if s.rows != d.rows || s.sum != d.sum { // numeric text is canonical
			differing = append(differing, b)
		}
	}
	r.Differing = len(differing)
	if len(differing) == 0 {
		r.Elapsed = time.Since(start)
		return r, nil
	}
	rowsSQL := fmt.Sprintf(`SELECT %s, %s FROM %s t WHERE %s = ANY($1)`, key, rowHash, ident, bucket)
	keyed := func(conn *pgx.Conn) (map[string]string, error) {
		out := map[string]string{}
		err := readOnly(ctx, conn, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, rowsSQL, differing)
			if err != nil {
				return err
			}
			var k, h string
			_, err = pgx.ForEachRow(rows, []any{&k, &h}, func() error { out[k] = h; return nil })
			return err
		})
		return out, err
	}
	var srcRows, dstRows map[string]string
	g, _ = errgroup.WithContext(ctx)
	g.Go(func() (err error) { srcRows, err = keyed(o.Source); return err })
	g.Go(func() (err error) { dstRows, err = keyed(o.Target); return err })
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("verify table %s: %w", table, err)
	}
	for _, k := range sortedKeys(union(srcRows, dstRows)) {
		s, inSrc := srcRows[k]
		d, inDst := dstRows[k]
		switch {
		case !inDst:
			r.Missing = append(r.Missing, k)
		case !inSrc:
			r.Extra = append(r.Extra, k)
		case s != d:
			r.Changed = append(r.Changed, k)
		}
	}
	var n int
	r.Missing, n = limit(r.Missing, o.MaxDetails)
	r.More += n
	r.Extra, n = limit(r.Extra, o.MaxDetails)
	r.More += n
	r.Changed, n = limit(r.Changed, o.MaxDetails)
	r.More += n
	r.Elapsed = time.Since(start)
	return r, nil
}

// primaryKey returns the table's primary key columns in key order.
func primaryKey(ctx context.Context, conn *pgx.Conn, table string) ([]string, error) {
	rows, err := conn.Query(ctx, `SELECT a.attname FROM pg_index i
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
		WHERE i.indrelid = to_regclass($1) AND i.indisprimary
		ORDER BY array_position(i.indkey::int2[], a.attnum)`, table)
	if err != nil {
		return nil, fmt.Errorf("primary key of %s: %w", table, err)
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("primary key of %s: %w", table, err)
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("table %s: not found or without a primary key in the source; verify compares rows by primary key", table)
	}
	return cols, nil
}
