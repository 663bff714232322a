package pgcopy

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
)

// exportSnapshot opens one REPEATABLE READ transaction that exports a snapshot and stays open
// until release; each part's transaction imports it, so all parts see one consistent source.
func exportSnapshot(ctx context.Context, cfg Config) (string, func(), error) {
	cleanup := context.WithoutCancel(ctx)
	snapConn, err := connect(ctx, cfg.SourceURL, cfg.Timeouts, connSnapshot)
	if err != nil {
		return "", nil, fmt.Errorf("source: %w", err)
	}
	snapTx, err := snapConn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		closeConn(cleanup, snapConn)
		return "", nil, fmt.Errorf("source: begin snapshot: %w", err)
	}
	release := func() {
		snapTx.Rollback(cleanup)
		closeConn(cleanup, snapConn)
	}
	var snapshot string
	if err := snapTx.QueryRow(ctx, `SELECT pg_export_snapshot()`).Scan(&snapshot); err != nil {
		release()
		return "", nil, fmt.Errorf("source: export snapshot: %w", err)
	}
	cfg.Logger.DebugContext(ctx, "snapshot exported", slog.String("snapshot", snapshot))
	return snapshot, release, nil
}
