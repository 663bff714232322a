package pgcopy

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"

	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// partCount is how many parts a table of relBytes (heap + TOAST) and rows splits into.
func partCount(relBytes, rows, partBytes int64) int {
	n := (relBytes + partBytes - 1) / partBytes
	n = min(max(n, 1), maxParts, max(rows, 1))
	return int(n)
}

// split cuts a table into primary-key ranges of about cfg.PartBytes each. The count comes from
// the relation's total bytes including TOAST, because a vector table keeps most of its bytes in
// TOAST: sizing from the heap (relpages), as pgcopydb's CTID split does, makes one huge part.
// Boundaries are percentiles of the key, so parts hold about equal numbers of rows, on a sample of
// the table when it is large. Bounds are half-open [lower, upper) with open ends, so the parts
// cover every key whatever the sample missed.
func split(ctx context.Context, cfg Config, j *tableJob, runID int64) ([]Part, error) {
	t := j.src
	n := partCount(t.RelationBytes, t.Rows, cfg.PartBytes)
	if t.Key == "" && n > 1 {
		cfg.Logger.WarnContext(ctx, "no single-column primary key: the table is copied as one part", slog.String("table", t.Schema+"."+t.Name))
		n = 1
	}
	var bounds []string
	if n > 1 {
		src, err := connect(ctx, cfg.SourceURL, cfg.Timeouts, connMeta)
		if err != nil {
			return nil, fmt.Errorf("source: %w", err)
		}
		defer closeConn(context.WithoutCancel(ctx), src)
		fractions := make([]float64, n-1)
		for i := range fractions {
			fractions[i] = float64(i+1) / float64(n)
		}
		sample := ""
		if t.Rows > 500_000 {
			sample = fmt.Sprintf(" TABLESAMPLE SYSTEM (%g)", min(100, 100*500_000/float64(t.Rows)))
		}
		key := pgx.Identifier{t.Key}.Sanitize()
		rows, err := src.Query(ctx, `SELECT b::text FROM unnest((SELECT percentile_disc($1::float8[]) WITHIN GROUP (ORDER BY `+key+`)
			FROM `+t.Qualified()+sample+`)) AS b WHERE b IS NOT NULL`, fractions)
		if err != nil {
			return nil, fmt.Errorf("source: split %s: %w", t.Qualified(), err)
		}
		all, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, fmt.Errorf("source: split %s: %w", t.Qualified(), err)
		}
		for _, b := range all {
			if len(bounds) == 0 || bounds[len(bounds)-1] != b {
				bounds = append(bounds, b)
			}
		}
	}
	parts := make([]Part, len(bounds)+1)
	for i := range parts {
		p := Part{RunID: runID, Table: j.targetRaw, Part: i + 1, EstBytes: t.RelationBytes / int64(len(parts))}
		if i > 0 {
			p.Lower = &bounds[i-1]
		}
		if i < len(bounds) {
			p.Upper = &bounds[i]
		}
		parts[i] = p
	}
	cfg.Logger.InfoContext(ctx, "table split", slog.String("table", t.Schema+"."+t.Name), slog.Int("parts", len(parts)),
		slog.Int64("relation_bytes", t.RelationBytes), slog.Int64("rows", t.Rows))
	return parts, nil
}

// copyOutSQL reads one part of t from the source.
func copyOutSQL(t *Table, p Part) string {
	if p.Lower == nil && p.Upper == nil {
		return `COPY ` + t.Qualified() + ` (` + t.ColumnList() + `) TO STDOUT (FORMAT binary)`
	}
	key := pgx.Identifier{t.Key}.Sanitize()
	where := ""
	if p.Lower != nil {
		where = key + ` >= ` + vectorstore.QuoteLiteral(*p.Lower) + `::` + t.KeyType
	}
	if p.Upper != nil {
		if where != "" {
			where += ` AND `
		}
		where += key + ` < ` + vectorstore.QuoteLiteral(*p.Upper) + `::` + t.KeyType
	}
	return `COPY (SELECT ` + t.ColumnList() + ` FROM ONLY ` + t.Qualified() + ` WHERE ` + where + `) TO STDOUT (FORMAT binary)`
}

// copyInSQL writes one part into the target table.
func copyInSQL(t *Table, target string) string {
	return `COPY ` + target + ` (` + t.ColumnList() + `) FROM STDIN (FORMAT binary)`
}
