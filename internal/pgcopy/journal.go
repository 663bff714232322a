package pgcopy

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ragmigrate/ragmigrate/internal/journal"
)

// Kind is the journal's name for copy runs.
const Kind = "copy"

func init() {
	journal.Register(journal.Strategy{Kind: Kind, Schema: partsSQL + mergeBotsSQL, Progress: runProgress})
}

// partsSQL is the copy strategy's table: one row per primary-key range of a table in a run. A
// part's rows and its row here turning done commit in one transaction.
const partsSQL = `CREATE TABLE IF NOT EXISTS ragmigrate.copy_parts (
	run_id      bigint NOT NULL REFERENCES ragmigrate.runs (id) ON DELETE CASCADE,
	table_name  text NOT NULL,             -- target table, schema-qualified
	part        int NOT NULL,
	lower_bound text,                      -- inclusive primary-key bound; NULL = unbounded
	upper_bound text,                      -- exclusive primary-key bound; NULL = unbounded
	est_bytes   bigint NOT NULL DEFAULT 0, -- share of the relation's bytes, TOAST included
	rows        bigint,                    -- set when done
	bytes       bigint,                    -- COPY stream bytes, set when done
	attempts    int NOT NULL DEFAULT 0,
	done_at     timestamptz,
	PRIMARY KEY (run_id, table_name, part)
);`

// runProgress is the status row of a copy run: its parts done, and the rows they hold.
func runProgress(ctx context.Context, db journal.DB, runID int64) (journal.Progress, error) {
	var p journal.Progress
	var parts, done int
	err := db.QueryRow(ctx, `SELECT count(*), count(done_at), coalesce(sum(rows), 0) FROM ragmigrate.copy_parts WHERE run_id = $1`, runID).
		Scan(&parts, &done, &p.Rows)
	if err != nil {
		return p, fmt.Errorf("parts of run %d: %w", runID, err)
	}
	if parts > 0 {
		p.Text = fmt.Sprintf("%d/%d parts", done, parts)
		p.Fields = map[string]any{"parts": parts, "parts_done": done}
		return p, nil
	}
	return mergeProgress(ctx, db, runID)
}

// Part is one primary-key range of a table in a copy run. A nil bound is unbounded.
type Part struct {
	RunID    int64   `json:"-"`
	Table    string  `json:"table"`
	Part     int     `json:"part"`
	Lower    *string `json:"lower,omitempty"`
	Upper    *string `json:"upper,omitempty"`
	EstBytes int64   `json:"est_bytes"`
	Rows     int64   `json:"rows"`
	Bytes    int64   `json:"bytes"`
	Done     bool    `json:"done"`
}

// AddParts records a run's parts for one table, not done.
func AddParts(ctx context.Context, db journal.DB, parts []Part) error {
	for _, p := range parts {
		_, err := db.Exec(ctx, `INSERT INTO ragmigrate.copy_parts (run_id, table_name, part, lower_bound, upper_bound, est_bytes)
			VALUES ($1, $2, $3, $4, $5, $6)`, p.RunID, p.Table, p.Part, p.Lower, p.Upper, p.EstBytes)
		if err != nil {
			return fmt.Errorf("record part %d of %s: %w", p.Part, p.Table, err)
		}
	}
	return nil
}

// Parts lists a run's parts of table in order.
func Parts(ctx context.Context, db journal.DB, runID int64, table string) ([]Part, error) {
	rows, err := db.Query(ctx, `SELECT run_id, table_name, part, lower_bound, upper_bound, est_bytes,
			coalesce(rows, 0), coalesce(bytes, 0), done_at IS NOT NULL
		FROM ragmigrate.copy_parts WHERE run_id = $1 AND table_name = $2 ORDER BY part`, runID, table)
	if err != nil {
		return nil, fmt.Errorf("parts of %s: %w", table, err)
	}
	parts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Part, error) {
		var p Part
		err := r.Scan(&p.RunID, &p.Table, &p.Part, &p.Lower, &p.Upper, &p.EstBytes, &p.Rows, &p.Bytes, &p.Done)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("parts of %s: %w", table, err)
	}
	return parts, nil
}

// ClaimPart locks a part's row inside tx, the transaction that will write the part's rows. It
// returns false if the part is already done: the caller must then roll back, so that each part's
// rows are written exactly once.
func ClaimPart(ctx context.Context, tx pgx.Tx, p Part) (bool, error) {
	var done bool
	err := tx.QueryRow(ctx, `SELECT done_at IS NOT NULL FROM ragmigrate.copy_parts
		WHERE run_id = $1 AND table_name = $2 AND part = $3 FOR UPDATE`,
		p.RunID, p.Table, p.Part).Scan(&done)
	if err != nil {
		return false, fmt.Errorf("claim part %d of %s: %w", p.Part, p.Table, err)
	}
	return !done, nil
}

// MarkPartDone records, inside the part's transaction, that its rows are written, and after how
// many attempts of this process (earlier processes' attempts left nothing behind).
func MarkPartDone(ctx context.Context, tx pgx.Tx, p Part, rows, bytes int64, attempts int) error {
	tag, err := tx.Exec(ctx, `UPDATE ragmigrate.copy_parts SET rows = $4, bytes = $5, attempts = $6, done_at = now()
		WHERE run_id = $1 AND table_name = $2 AND part = $3 AND done_at IS NULL`,
		p.RunID, p.Table, p.Part, rows, bytes, attempts)
	if err != nil {
		return fmt.Errorf("mark part %d of %s done: %w", p.Part, p.Table, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("mark part %d of %s done: the part is unknown or already done", p.Part, p.Table)
	}
	return nil
}
