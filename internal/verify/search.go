package verify

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"
	"golang.org/x/sync/errgroup"

	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// SearchReport compares the app's search on both sides.
type SearchReport struct {
	Bots int `json:"bots_sampled"`
	TopK int `json:"top_k"`
	// RecallExact is the mean recall@k of the target's exact search against the source's: below
	// 1 means the data differs.
	RecallExact float64 `json:"recall_exact"`
	// RecallANN is the same with each side's ANN index as configured (ivfflat.probes at its
	// default, as the app leaves it): below 1 with RecallExact 1 means the indexes differ, not
	// the data.
	RecallANN float64       `json:"recall_ann"`
	Worst     []BotRecall   `json:"worst,omitempty"`
	Elapsed   time.Duration `json:"elapsed_ns"`
}

// BotRecall is one sampled bot's result.
type BotRecall struct {
	BotID string  `json:"bot_id"`
	Exact float64 `json:"exact"`
	ANN   float64 `json:"ann"`
}

// OK is true when exact search agrees everywhere; ANN differences are reported, not failed.
func (s *SearchReport) OK() bool { return s.RecallExact == 1 }

type hit struct {
	id   string
	dist float64
}

// keep, when not nil, limits the sampled bots (after a merge: the bots it copied).
func compareSearch(ctx context.Context, o Options, keep func(botID string) bool) (*SearchReport, error) {
	start := time.Now()
	r := &SearchReport{TopK: o.TopK}
	queries, err := sampleQueries(ctx, o.Source, o.Queries, keep)
	if err != nil {
		return nil, fmt.Errorf("verify search: %w", err)
	}
	var all []BotRecall
	for _, q := range queries {
		var src, dst [2][]hit // [exact, ann]
		g, gctx := errgroup.WithContext(ctx)
		g.Go(func() (err error) { src, err = search(gctx, o.Source, q, o.TopK, byID); return err })
		g.Go(func() (err error) { dst, err = search(gctx, o.Target, q, o.TopK, byID); return err })
		if err := g.Wait(); err != nil {
			return nil, fmt.Errorf("verify search: bot %s: %w", q.botID, err)
		}
		br := BotRecall{BotID: q.botID, Exact: recall(src[0], dst[0]), ANN: recall(src[1], dst[1])}
		all = append(all, br)
		r.RecallExact += br.Exact
		r.RecallANN += br.ANN
	}
	r.Bots = len(all)
	if r.Bots > 0 {
		r.RecallExact /= float64(r.Bots)
		r.RecallANN /= float64(r.Bots)
	} else {
		r.RecallExact, r.RecallANN = 1, 1
	}
	slices.SortStableFunc(all, func(a, b BotRecall) int { return cmp.Compare(a.Exact+a.ANN, b.Exact+b.ANN) })
	for _, br := range all {
		if br.Exact < 1 || br.ANN < 1 {
			r.Worst = append(r.Worst, br)
		}
	}
	r.Worst, _ = limit(r.Worst, o.MaxDetails)
	r.Elapsed = time.Since(start)
	return r, nil
}

type query struct {
	botID string
	vec   pgvector.Vector
}

// sampleQueries picks n bots evenly over the source's bot ids and, for each, one stored vector
// (the row with the smallest md5(id): deterministic, and not biased towards old rows).
func sampleQueries(ctx context.Context, src *pgx.Conn, n int, keep func(string) bool) ([]query, error) {
	rows, err := src.Query(ctx, `SELECT DISTINCT rtrim(botid) FROM items WHERE botid IS NOT NULL ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	bots, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	if keep != nil {
		bots = slices.DeleteFunc(bots, func(id string) bool { return !keep(id) })
	}
	var picked []string
	if len(bots) <= n {
		picked = bots
	} else {
		for i := range n {
			picked = append(picked, bots[i*len(bots)/n])
		}
	}
	out := make([]query, 0, len(picked))
	for _, id := range picked {
		q := query{botID: id}
		err := src.QueryRow(ctx, `SELECT embedding FROM items WHERE botid = $1 AND embedding IS NOT NULL ORDER BY md5(id) LIMIT 1`, id).Scan(&q.vec)
		if err != nil {
			return nil, fmt.Errorf("query vector of bot %s: %w", id, err)
		}
		out = append(out, q)
	}
	return out, nil
}

// Search hits are named by row id (byID), or by chunk (source and content) where ids differ by
// design (after a re-embed).
const (
	byID      = `rtrim(id)`
	byContent = vectorstore.ChunkKey
)

// search runs the app's query (app/vector_search.py) exactly, then with index scans disabled.
// key names each hit.
func search(ctx context.Context, conn *pgx.Conn, q query, k int, key string) (res [2][]hit, err error) {
	sql := `SELECT ` + key + `, embedding <-> $2 FROM items WHERE botid = $1 ORDER BY embedding <-> $2 LIMIT $3`
	err = readOnly(ctx, conn, func(tx pgx.Tx) error {
		if res[1], err = hits(ctx, tx, sql, q, k); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off`); err != nil {
			return err
		}
		res[0], err = hits(ctx, tx, sql, q, k)
		return err
	})
	return res, err
}

func hits(ctx context.Context, tx pgx.Tx, sql string, q query, k int) ([]hit, error) {
	rows, err := tx.Query(ctx, sql, q.botID, q.vec, k)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (h hit, err error) {
		var dist *float64 // NULL for a row without an embedding: it sorts last, as in the app
		err = row.Scan(&h.id, &dist)
		h.dist = math.Inf(1)
		if dist != nil {
			h.dist = *dist
		}
		return h, err
	})
}

// recall is |got ∩ want| / |want|. Rows tied at want's last distance are interchangeable (equal
// chunks have equal vectors, and either side may return either), so they count as hits.
func recall(want, got []hit) float64 {
	if len(want) == 0 {
		if len(got) == 0 {
			return 1
		}
		return 0
	}
	in := make(map[string]bool, len(want))
	for _, h := range want {
		in[h.id] = true
	}
	last := want[len(want)-1].dist
	n := 0
	for _, h := range got {
		if in[h.id] || math.Abs(h.dist-last) <= 1e-9*math.Max(1, last) {
			n++
		}
	}
	return math.Min(1, float64(n)/float64(len(want)))
}
