package reembed

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"

	"github.com/ragmigrate/ragmigrate/internal/embed"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// Reuse takes the vectors of a run's chunks from the old cluster (usually a restored snapshot of
// it) where the old cluster holds exactly that chunk for that bot, embedded by the run's model:
// a re-embed then pays only for the chunks that changed.
//
// A chunk is reused when the bot's old rows hold a row whose content is the chunk's text, byte
// for byte; the new row gets the chunk's own source and the old row's vector, in pgvector's
// binary form both ways, so the row is the one a plain re-embed writes (the model's vectors are
// deterministic: the sample check makes sure). Lookups are per bot (vectorstore.StoredVectors)
// on the app's own index on items(botid): nothing is created on the old cluster, which ragmigrate
// only reads.
//
// Reuse is not among a run's Params: it changes what a run spends, not what it writes, and its
// URL carries credentials the journal must not hold. A resumed run reuses only if asked again.
type Reuse struct {
	// Old is the old cluster. Check and the bot jobs query it concurrently: a pool (the plan's
	// sequential lookups may use one connection).
	Old vectorstore.Querier
	// From names the old database for messages and the report (user@host:port/db, never a
	// password).
	From string
	// OldModel is the model the operator says the old vectors are from (default: the run's).
	OldModel string
	// MaxChars and MaxTokens, when set, are input limits of the model the run would see a chunk
	// rejected by (see Limit): a chunk over either (tokens as EstimateTokens counts them) is not
	// reused but sent, so that the model rejects it as in a plain run, rather than taking a
	// vector the old cluster got by cutting the text.
	MaxChars, MaxTokens int
}

// Takes reports whether a chunk may take its vector from the old cluster: Reusable, and within
// the limits set (see MaxChars).
func (r *Reuse) Takes(text string) bool {
	if !Reusable(text) {
		return false
	}
	if r.MaxChars > 0 && utf8.RuneCountInString(text) > r.MaxChars {
		return false
	}
	return r.MaxTokens == 0 || embed.EstimateTokens(text) <= r.MaxTokens
}

// ReuseReport is what a run's reuse check found (this invocation's).
type ReuseReport struct {
	From     string `json:"from"`
	OldModel string `json:"old_model"`
	// Sampled is how many old chunks were embedded again to check the old vectors' model.
	Sampled int `json:"sampled"`
	// MinCosine is the lowest cosine similarity between an old vector and the new one of the
	// same text, over the sample.
	MinCosine float64 `json:"min_cosine,omitempty"`
	// Refused says why nothing is reused (every chunk is embedded); empty when reuse is on.
	Refused string `json:"refused,omitempty"`
}

// The sample check: how many old chunks are embedded again, spread over the bots in scope, and
// how close each new vector must be to the old one. Cosine alone does not see a scale (Titan's
// normalize=false, a store that multiplied its vectors), and the app searches by L2 distance,
// where a scale matters: the lengths must agree too.
const (
	ReuseSample       = 5
	ReuseMinCosine    = 0.999
	ReuseMaxNormError = 0.01 // |‖old‖/‖new‖ − 1|
)

// ErrReuseSource wraps a failure to read the old cluster during a run: the operator's problem
// (the snapshot went away), which stops the run like a provider that refuses every call, rather
// than silently paying for every chunk.
var ErrReuseSource = errors.New("reuse: the old cluster")

// Precheck tells, without embedding anything, whether the old cluster's vectors can be those of
// model m: the operator's --reuse-model must be m, and the old items.embedding must have m's
// dimensions. refused is why not ("" when they can); err is a failure to read the old cluster.
func (r *Reuse) Precheck(ctx context.Context, m Model) (refused string, err error) {
	if r.OldModel != m.ID {
		return fmt.Sprintf("the old vectors are %s's (--reuse-model) and this run embeds with %s: vectors of another model cannot stand next to the new ones", r.OldModel, m.ID), nil
	}
	dims, err := vectorstore.EmbeddingDimensions(ctx, r.Old)
	switch {
	case errors.Is(err, vectorstore.ErrNoItems):
		return fmt.Sprintf("%s has no items table", r.From), nil
	case err != nil:
		return "", fmt.Errorf("reuse: %s: %w", r.From, err)
	case dims != m.Dimensions:
		return fmt.Sprintf("the old vectors have %d dimensions and %s gives %d here (--dimensions)", dims, m.ID, m.Dimensions), nil
	}
	return "", nil
}

// Limit sets MaxChars and MaxTokens for a run of model m with truncation t: under NONE a chunk
// over either limit is rejected; a model that cannot cut (Titan) rejects a chunk over its token
// window whatever --truncate says; otherwise the model cuts, as it did for the old vectors.
func (r *Reuse) Limit(m embed.Model, t embed.Truncate) {
	switch {
	case t == embed.TruncateNone:
		r.MaxChars, r.MaxTokens = m.MaxChars, m.MaxTokens
	case !m.Truncates:
		r.MaxChars, r.MaxTokens = 0, m.MaxTokens
	default:
		r.MaxChars, r.MaxTokens = 0, 0
	}
}

// ChunksOf returns the texts of a bot's chunks as its job will make them (Job.Chunks).
type ChunksOf func(ctx context.Context, botID string) ([]string, error)

// Check decides, before any bot is done, whether the old vectors may be reused for a run of
// model m over bots: Precheck, then a sample of hits embedded again through emb and compared
// with their stored vectors. The sample is ReuseSample chunks, one per bot, of bots spread over
// the list (their sources are read for it, and again by their jobs), each a chunk of today's
// that the old cluster holds: what reuse would take, not an old row that no chunk matches any
// more. At most 4×ReuseSample bots are read for it, up to ReuseSample at once; chunksOf is
// called concurrently.
//
// The report's Refused says why reuse is off; the run then embeds everything. err is only what
// stops the run: the old cluster unreadable, or the provider refusing every call.
func (r *Reuse) Check(ctx context.Context, m Model, emb Embedder, bots []string, chunksOf ChunksOf) (ReuseReport, error) {
	rep := ReuseReport{From: r.From, OldModel: r.OldModel}
	refused, err := r.Precheck(ctx, m)
	if err != nil || refused != "" {
		rep.Refused = refused
		return rep, err
	}
	// The bots are read a round at a time, each round as many bots at once as hits are still
	// missing: reading sources (downloads, PDFs) takes seconds a bot, and the run waits.
	var sample []hit
	order := spread(len(bots), ReuseSample)
	tried := 0
	for len(sample) < ReuseSample && tried < min(len(order), 4*ReuseSample) {
		round := order[tried:min(tried+ReuseSample-len(sample), len(order), 4*ReuseSample)]
		tried += len(round)
		hits := make([]*hit, len(round))
		g, gctx := errgroup.WithContext(ctx)
		for k, i := range round {
			g.Go(func() error {
				h, err := r.hitOf(gctx, bots[i], chunksOf)
				hits[k] = h
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return rep, err
		}
		for _, h := range hits {
			if h != nil {
				sample = append(sample, *h)
			}
		}
	}
	if len(sample) == 0 {
		rep.Refused = fmt.Sprintf("%s holds no chunk of the %d bots read for the check", r.From, tried)
		return rep, nil
	}
	texts := make([]string, len(sample))
	for i, s := range sample {
		texts[i] = s.text
	}
	vecs, _, err := emb.EmbedAll(ctx, texts)
	rep.Sampled = len(sample)
	switch {
	case errors.Is(err, embed.ErrProviderFatal) || ctx.Err() != nil:
		return rep, err
	case err != nil:
		rep.Refused = fmt.Sprintf("the chunks sampled could not be embedded again to check the old vectors' model: %v", err)
		return rep, nil
	}
	rep.MinCosine = 1
	for i, s := range sample {
		cos, normErr := compareVectors(s.old, vecs[i])
		rep.MinCosine = min(rep.MinCosine, cos)
		if cos < ReuseMinCosine || normErr > ReuseMaxNormError {
			rep.Refused = fmt.Sprintf("a chunk of bot %s embedded again with %s is not the vector the old cluster holds for it (cosine %.4f, want ≥ %g; length off by %.1f%%, want ≤ %g%%): the old vectors are another model's, or scaled otherwise",
				s.bot, m.ID, cos, ReuseMinCosine, 100*normErr, 100*ReuseMaxNormError)
			return rep, nil
		}
	}
	return rep, nil
}

// hit is a chunk of today's that the old cluster holds, with its stored vector.
type hit struct {
	bot, text string
	old       []float32
}

// hitOf reads bot's chunks and returns one the old cluster holds (the middle one of those it
// holds), nil if it holds none or the bot cannot be read (its job fails it, naming the source).
func (r *Reuse) hitOf(ctx context.Context, bot string, chunksOf ChunksOf) (*hit, error) {
	texts, err := chunksOf(ctx, bot)
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case err != nil:
		return nil, nil
	}
	keys := make([]string, 0, len(texts))
	for _, t := range texts {
		if r.Takes(t) {
			keys = append(keys, t)
		}
	}
	found, err := vectorstore.StoredVectors(ctx, r.Old, bot, keys)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrReuseSource, r.From, err)
	}
	var held []string
	for _, t := range keys {
		if _, ok := found[t]; ok {
			held = append(held, t)
		}
	}
	if len(held) == 0 {
		return nil, nil
	}
	t := held[len(held)/2]
	return &hit{bot: bot, text: t, old: found[t]}, nil
}

// spread orders the indexes 0..n-1 so that the first k are spread evenly over them (every
// n/k-th), and the others follow in order.
func spread(n, k int) []int {
	if n == 0 {
		return nil
	}
	step := max(1, n/max(k, 1))
	out := make([]int, 0, n)
	first := make([]bool, n)
	for i := 0; i < n; i += step {
		out = append(out, i)
		first[i] = true
	}
	for i := range n {
		if !first[i] {
			out = append(out, i)
		}
	}
	return out
}

// compareVectors returns the cosine similarity of old and cur and how far old's length is from
// cur's, relatively. Vectors of different sizes, or a zero vector, compare as unrelated.
func compareVectors(old, cur []float32) (cosine, normErr float64) {
	if len(old) != len(cur) || len(old) == 0 {
		return 0, math.Inf(1)
	}
	var dot, no, nc float64
	for i := range old {
		a, b := float64(old[i]), float64(cur[i])
		dot += a * b
		no += a * a
		nc += b * b
	}
	if no == 0 || nc == 0 {
		return 0, math.Inf(1)
	}
	return dot / math.Sqrt(no*nc), math.Abs(math.Sqrt(no/nc) - 1)
}

// Reusable reports whether a chunk is looked up in the old cluster at all. A chunk with a NUL
// is not: PostgreSQL text holds none, so it was stored without it, and the vector stored with
// that text need not be the one the chunk as sent gets.
func Reusable(text string) bool {
	return text != "" && !strings.ContainsRune(text, 0)
}
