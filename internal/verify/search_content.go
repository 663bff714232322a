package verify

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"
	"golang.org/x/sync/errgroup"
)

// ContentSearchReport is the search check after a re-embed. Row ids are new and the vectors may
// come from another model, so results are named by chunk (source and content), and each side
// searches with its own vector of the same chunk.
type ContentSearchReport struct {
	// Bots are sampled among the bots with rows on both sides.
	Bots int `json:"bots_sampled"`
	TopK int `json:"top_k"`
	// SelfExact is the share of sampled bots whose target chunk is found in the target's exact
	// top-k when its own vector is the query: below 1 means vectors search cannot use. SelfANN
	// is the same through the ANN index as configured (reported, not failed).
	SelfExact float64 `json:"self_retrieval_exact"`
	SelfANN   float64 `json:"self_retrieval_ann"`
	// Compared counts the sampled bots with a chunk held on both sides, whose top-k were
	// compared; NoCommonChunk those without one among the chunks tried.
	Compared      int `json:"compared"`
	NoCommonChunk int `json:"no_common_chunk"`
	// SameVectors counts the compared bots whose chunk has identical vectors on both sides (the
	// same model). Where such a bot's chunks are also equal on both sides, exact search must
	// return the same chunks; elsewhere recall is information, not a verdict.
	SameVectors int `json:"same_vectors"`
	// RecallExact and RecallANN are the mean recall@k, by chunk, of the target's results against
	// the source's, over the compared bots.
	RecallExact float64         `json:"recall_exact_by_content"`
	RecallANN   float64         `json:"recall_ann_by_content"`
	Worst       []ContentRecall `json:"worst,omitempty"`
	// Failed counts the sampled bots that fail the check (see ContentRecall).
	Failed  int           `json:"failed"`
	Elapsed time.Duration `json:"elapsed_ns"`
}

// ContentRecall is one sampled bot's result. It fails the check when the target chunk's own
// vector does not find it with exact search, or when exact search disagrees although the bot's
// chunks are equal on both sides and the vectors are the same (Binding).
type ContentRecall struct {
	BotID     string `json:"bot_id"`
	SelfExact bool   `json:"self_exact"`
	SelfANN   bool   `json:"self_ann"`
	// Compared is false when no chunk of the bot is held on both sides (no recall).
	Compared    bool    `json:"compared"`
	SameVectors bool    `json:"same_vectors"`
	Binding     bool    `json:"binding"`
	Exact       float64 `json:"exact"`
	ANN         float64 `json:"ann"`
}

func (c ContentRecall) failing() bool { return !c.SelfExact || c.Binding && c.Exact < 1 }

// OK is true when no sampled bot fails.
func (s *ContentSearchReport) OK() bool { return s.Failed == 0 }

// commonTries bounds the source chunks tried, per bot, to find one the target holds too.
const commonTries = 50

// compareSearchByContent samples n bots among held (bots with rows on both sides); equal names
// those whose chunks are equal on both sides.
func compareSearchByContent(ctx context.Context, o Options, held []string, equal map[string]bool) (*ContentSearchReport, error) {
	start := time.Now()
	r := &ContentSearchReport{TopK: o.TopK}
	picked := held
	if len(held) > o.Queries {
		picked = nil
		for i := range o.Queries {
			picked = append(picked, held[i*len(held)/o.Queries])
		}
	}
	var all []ContentRecall
	var selfExact, selfANN int
	for _, id := range picked {
		cr, err := searchBot(ctx, o, id)
		if err != nil {
			return nil, fmt.Errorf("verify search: bot %s: %w", id, err)
		}
		cr.Binding = cr.Compared && cr.SameVectors && equal[id]
		if cr.SelfExact {
			selfExact++
		}
		if cr.SelfANN {
			selfANN++
		}
		if cr.Compared {
			r.Compared++
			r.RecallExact += cr.Exact
			r.RecallANN += cr.ANN
			if cr.SameVectors {
				r.SameVectors++
			}
		} else {
			r.NoCommonChunk++
		}
		if cr.failing() {
			r.Failed++
		}
		all = append(all, cr)
	}
	r.Bots = len(all)
	r.SelfExact, r.SelfANN = 1, 1
	if r.Bots > 0 {
		r.SelfExact, r.SelfANN = float64(selfExact)/float64(r.Bots), float64(selfANN)/float64(r.Bots)
	}
	if r.Compared > 0 {
		r.RecallExact, r.RecallANN = r.RecallExact/float64(r.Compared), r.RecallANN/float64(r.Compared)
	} else {
		r.RecallExact, r.RecallANN = 1, 1
	}
	// Failures first, then the lowest recall.
	slices.SortStableFunc(all, func(a, b ContentRecall) int {
		if a.failing() != b.failing() {
			if a.failing() {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Exact+a.ANN, b.Exact+b.ANN)
	})
	for _, cr := range all {
		if cr.failing() || !cr.SelfANN || cr.Compared && (cr.Exact < 1 || cr.ANN < 1) {
			r.Worst = append(r.Worst, cr)
		}
	}
	r.Worst, _ = limit(r.Worst, o.MaxDetails)
	r.Elapsed = time.Since(start)
	return r, nil
}

// searchBot runs the target's self-retrieval for one of the bot's target chunks, then compares
// both sides' top-k for a chunk held on both sides, if one is found.
func searchBot(ctx context.Context, o Options, botID string) (ContentRecall, error) {
	cr := ContentRecall{BotID: botID}
	self := query{botID: botID}
	var selfKey string
	err := o.Target.QueryRow(ctx, `SELECT `+byContent+`, embedding FROM items WHERE botid = $1 AND embedding IS NOT NULL
		ORDER BY md5(id) LIMIT 1`, botID).Scan(&selfKey, &self.vec)
	if errors.Is(err, pgx.ErrNoRows) { // every vector NULL: the data check fails it
		return cr, nil
	}
	if err != nil {
		return cr, fmt.Errorf("target: %w", err)
	}
	res, err := search(ctx, o.Target, self, o.TopK, byContent)
	if err != nil {
		return cr, fmt.Errorf("target: %w", err)
	}
	cr.SelfExact, cr.SelfANN = found(res[0], selfKey), found(res[1], selfKey)

	rows, err := o.Source.Query(ctx, `SELECT `+byContent+`, embedding FROM items WHERE botid = $1 AND embedding IS NOT NULL
		ORDER BY md5(id) LIMIT $2`, botID, commonTries)
	if err != nil {
		return cr, fmt.Errorf("source: %w", err)
	}
	type keyed struct {
		key string
		vec pgvector.Vector
	}
	tried, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (k keyed, err error) {
		err = r.Scan(&k.key, &k.vec)
		return k, err
	})
	if err != nil {
		return cr, fmt.Errorf("source: %w", err)
	}
	keys := make([]string, len(tried))
	for i, k := range tried {
		keys[i] = k.key
	}
	rows, err = o.Target.Query(ctx, `SELECT DISTINCT ON (k) `+byContent+` AS k, embedding FROM items
		WHERE botid = $1 AND embedding IS NOT NULL AND `+byContent+` = ANY($2::text[])`, botID, keys)
	if err != nil {
		return cr, fmt.Errorf("target: %w", err)
	}
	inTarget := map[string]pgvector.Vector{}
	var k string
	var v pgvector.Vector
	if _, err := pgx.ForEachRow(rows, []any{&k, &v}, func() error { inTarget[k] = v; return nil }); err != nil {
		return cr, fmt.Errorf("target: %w", err)
	}
	for _, t := range tried { // the first chunk, in the source's order, that the target holds
		tv, ok := inTarget[t.key]
		if !ok {
			continue
		}
		var src, dst [2][]hit // [exact, ann]
		g, gctx := errgroup.WithContext(ctx)
		g.Go(func() (err error) {
			src, err = search(gctx, o.Source, query{botID, t.vec}, o.TopK, byContent)
			return err
		})
		g.Go(func() (err error) { dst, err = search(gctx, o.Target, query{botID, tv}, o.TopK, byContent); return err })
		if err := g.Wait(); err != nil {
			return cr, err
		}
		cr.Compared, cr.SameVectors = true, sameVector(t.vec, tv)
		cr.Exact, cr.ANN = recall(src[0], dst[0]), recall(src[1], dst[1])
		break
	}
	return cr, nil
}

func found(hits []hit, key string) bool {
	return slices.ContainsFunc(hits, func(h hit) bool { return h.id == key })
}

func sameVector(a, b pgvector.Vector) bool { return slices.Equal(a.Slice(), b.Slice()) }
