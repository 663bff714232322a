package vectorstore

import (
	"context"
	"fmt"
)

// RowCheck is what a bot's rows in items hold: how many, how many lack a vector, and the
// smallest and largest vector size. reembed --runner ecs checks it after the app's task wrote
// the bot, before the bot counts as done.
type RowCheck struct {
	Rows, NullVectors int64
	MinDims, MaxDims  int
}

// CheckBotRows reads the RowCheck for botID.
func CheckBotRows(ctx context.Context, q Querier, botID string) (RowCheck, error) {
	var r RowCheck
	err := q.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE embedding IS NULL),
			coalesce(min(vector_dims(embedding)), 0), coalesce(max(vector_dims(embedding)), 0)
		FROM items WHERE botid = $1`, botID).Scan(&r.Rows, &r.NullVectors, &r.MinDims, &r.MaxDims)
	if err != nil {
		return r, fmt.Errorf("check rows of bot %s: %w", botID, err)
	}
	return r, nil
}
