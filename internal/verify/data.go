package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/pgcopy"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// DataReport compares the items of source and target.
type DataReport struct {
	// Expect is how the target was filled, which decides what can be compared: "copy" (every
	// row exactly) or "reembed" (each bot's chunks by content); ExpectReason says how it was
	// decided. Compared and NotCompared say it in words.
	Expect       string   `json:"expect"`
	ExpectReason string   `json:"expect_reason"`
	Compared     []string `json:"compared"`
	NotCompared  []string `json:"not_compared,omitempty"`
	Bots         int      `json:"bots"`
	// EqualBots counts bots whose rows (copy) or chunks (reembed) are equal on both sides.
	EqualBots  int           `json:"equal_bots"`
	SourceRows int64         `json:"source_rows"`
	TargetRows int64         `json:"target_rows"`
	Mismatches []BotMismatch `json:"mismatches,omitempty"` // copy
	// Content lists the bots whose chunks differ after a re-embed, expected differences included.
	Content []BotContent `json:"content,omitempty"`
	// MergeRun and LeftToApp, after a copy --merge: the merge run whose journal says which bots
	// it copied (those are compared), and the target's other bots, the app's, not compared.
	MergeRun  int64       `json:"merge_run,omitempty"`
	LeftToApp []LeftToApp `json:"left_to_app,omitempty"`
	// SourceVectors and TargetVectors are each side's embedding column (reembed: the vectors are
	// new, so their dimension and health are what can be checked).
	SourceVectors *vectorstore.VectorHealth `json:"source_vectors,omitempty"`
	TargetVectors *vectorstore.VectorHealth `json:"target_vectors,omitempty"`
	Elapsed       time.Duration             `json:"elapsed_ns"`

	sourceRows map[string]int64 // per bot, for the bot check
	held       []string         // reembed: bots with rows on both sides, for the search check
	equal      map[string]bool  // reembed: bots whose chunks are equal on both sides
	merge      *mergeRecord     // merge: the bots it copied
}

// OK reports whether every bot's rows are equal (copy), or every bot's chunks are equal but for
// the differences a re-embed makes by design and the target's vectors are usable (reembed).
func (d *DataReport) OK() bool {
	if len(d.Mismatches) > 0 || d.Differing() > 0 {
		return false
	}
	v := d.TargetVectors
	// A zero vector is no model's answer: in a re-embedded target it is a defect of the run.
	return v == nil || v.Null == 0 && v.WrongDims == 0 && v.NonFinite == 0 && v.Zero == 0
}

// Differing counts the bots whose chunks differ in a way a re-embed does not explain.
func (d *DataReport) Differing() int {
	n := 0
	for _, c := range d.Content {
		if !c.Expected {
			n++
		}
	}
	return n
}

// BotMismatch is one bot whose rows differ, down to the ids.
type BotMismatch struct {
	BotID      string      `json:"bot_id"`
	SourceRows int64       `json:"source_rows"`
	TargetRows int64       `json:"target_rows"`
	Missing    []string    `json:"missing,omitempty"` // in source, not in target
	Extra      []string    `json:"extra,omitempty"`   // in target, not in source
	Changed    []RowChange `json:"changed,omitempty"`
	MovedOut   []RowMove   `json:"moved_out,omitempty"` // this bot's rows now under another bot
	MovedIn    []RowMove   `json:"moved_in,omitempty"`  // rows of another bot now under this one
	// More counts ids left out of the lists above (Options.MaxDetails).
	More int `json:"more,omitempty"`

	shared int // rows of this bot with the same id on both sides
}

// RowChange is a row present on both sides with different columns.
type RowChange struct {
	ID      string   `json:"id"`
	Columns []string `json:"columns"`
}

// RowMove is a row whose botid differs between the sides.
type RowMove struct {
	ID      string `json:"id"`
	FromBot string `json:"from_bot"`
	ToBot   string `json:"to_bot"`
}

func compareData(ctx context.Context, o Options, bots map[string]*botstore.Bot) (*DataReport, error) {
	r := &DataReport{}
	var err error
	if r.Expect, r.ExpectReason, err = resolveExpect(ctx, o); err != nil {
		return nil, err
	}
	if r.Expect == ExpectReembed {
		r.Compared = []string{
			"per bot, the chunks (source and content) as multisets, and the row counts",
			"each side's embedding column: dimension, and the target's NULL, wrong-dimension, non-finite and zero vectors",
		}
		r.NotCompared = []string{"row ids and vector values: a re-embed writes new ids and new vectors by design"}
		return r, compareContent(ctx, o, r, bots)
	}
	r.Compared = []string{"per bot, every row's id, content, source and embedding bytes, and the row counts"}
	if r.Expect == ExpectMerge {
		run, err := newestMerge(ctx, o)
		if err != nil {
			return nil, err
		}
		runID := run.ID
		m, err := readMerge(ctx, o, runID)
		if err != nil {
			return nil, err
		}
		m.items = bots
		var params pgcopy.MergeParams
		if json.Unmarshal(run.Params, &params) == nil {
			m.includeDeleted = params.IncludeDeleted
		}
		r.MergeRun, r.merge = runID, m
		r.Compared = []string{fmt.Sprintf("per bot the merge run %d copied, every row's id, content, source and embedding bytes, and the row counts", runID)}
		r.NotCompared = []string{"the bots the merge did not copy, listed: the app's (rows in the target, QUEUED or RUNNING, or not in the source), whose rows are the app's to keep, and deleted bots"}
		return r, compareRows(ctx, o, r, m)
	}
	return r, compareRows(ctx, o, r, nil)
}

// compareRows compares every bot's rows, or after a merge (m not nil) the bots it copied.
func compareRows(ctx context.Context, o Options, r *DataReport, m *mergeRecord) error {
	start := time.Now()
	var src, dst map[string]vectorstore.BotDigest
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		err = readOnly(gctx, o.Source, func(tx pgx.Tx) (err error) { src, err = vectorstore.BotDigests(gctx, tx); return err })
		if err != nil {
			return fmt.Errorf("source: %w", err)
		}
		return nil
	})
	g.Go(func() (err error) {
		err = readOnly(gctx, o.Target, func(tx pgx.Tx) (err error) { dst, err = vectorstore.BotDigests(gctx, tx); return err })
		if err != nil {
			return fmt.Errorf("target: %w", err)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return fmt.Errorf("verify data: %w", err)
	}
	r.sourceRows = map[string]int64{}
	var differing []string
	for _, id := range sortedKeys(union(src, dst)) {
		s, d := src[id], dst[id]
		r.Bots++
		r.SourceRows += s.Rows
		r.TargetRows += d.Rows
		r.sourceRows[id] = s.Rows
		if m != nil && !m.copied(id) {
			r.LeftToApp = append(r.LeftToApp, m.leftToApp(id, s.Rows, d.Rows))
			continue
		}
		if s.Equal(d) {
			r.EqualBots++
			continue
		}
		differing = append(differing, id)
	}
	if len(differing) > 0 {
		o.Logger.InfoContext(ctx, "bots differ, comparing their rows", slog.Int("bots", len(differing)))
		mm, err := drillDown(ctx, o, differing, src, dst)
		if err != nil {
			return fmt.Errorf("verify data: %w", err)
		}
		r.Mismatches = mm
		if m != nil {
			r.Mismatches = slices.DeleteFunc(r.Mismatches, func(b BotMismatch) bool {
				if l, ok := m.replaced(b); ok {
					r.LeftToApp = append(r.LeftToApp, l)
					return true
				}
				return false
			})
		}
	}
	r.Elapsed = time.Since(start)
	return nil
}

func union[V any](a, b map[string]V) map[string]struct{} {
	u := make(map[string]struct{}, len(a))
	for k := range a {
		u[k] = struct{}{}
	}
	for k := range b {
		u[k] = struct{}{}
	}
	return u
}

// drillDown fetches per-column hashes of the differing bots' rows on both sides and names each
// difference. A row whose id moved between two differing bots is reported as a move on both.
func drillDown(ctx context.Context, o Options, bots []string, src, dst map[string]vectorstore.BotDigest) ([]BotMismatch, error) {
	var srcRows, dstRows map[string]vectorstore.RowDigest
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return readOnly(gctx, o.Source, func(tx pgx.Tx) (err error) { srcRows, err = vectorstore.BotRows(gctx, tx, bots); return err })
	})
	g.Go(func() error {
		return readOnly(gctx, o.Target, func(tx pgx.Tx) (err error) { dstRows, err = vectorstore.BotRows(gctx, tx, bots); return err })
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	byBot := map[string]*BotMismatch{}
	for _, id := range bots {
		byBot[id] = &BotMismatch{BotID: id, SourceRows: src[id].Rows, TargetRows: dst[id].Rows}
	}
	for _, id := range sortedKeys(union(srcRows, dstRows)) {
		s, inSrc := srcRows[id]
		d, inDst := dstRows[id]
		switch {
		case inSrc && !inDst:
			byBot[s.BotID].Missing = append(byBot[s.BotID].Missing, id)
		case !inSrc && inDst:
			byBot[d.BotID].Extra = append(byBot[d.BotID].Extra, id)
		case s.BotID != d.BotID:
			mv := RowMove{ID: id, FromBot: s.BotID, ToBot: d.BotID}
			byBot[s.BotID].MovedOut = append(byBot[s.BotID].MovedOut, mv)
			byBot[d.BotID].MovedIn = append(byBot[d.BotID].MovedIn, mv)
		default:
			byBot[s.BotID].shared++
			var cols []string
			for _, c := range []struct {
				name string
				a, b string
			}{{"content", s.Content, d.Content}, {"source", s.Source, d.Source}, {"embedding", s.Embedding, d.Embedding}} {
				if c.a != c.b {
					cols = append(cols, c.name)
				}
			}
			if len(cols) > 0 {
				byBot[s.BotID].Changed = append(byBot[s.BotID].Changed, RowChange{ID: id, Columns: cols})
			}
		}
	}
	out := make([]BotMismatch, 0, len(bots))
	for _, id := range bots {
		m := byBot[id]
		var more, n int
		m.Missing, n = limit(m.Missing, o.MaxDetails)
		more += n
		m.Extra, n = limit(m.Extra, o.MaxDetails)
		more += n
		m.Changed, n = limit(m.Changed, o.MaxDetails)
		more += n
		m.MovedOut, n = limit(m.MovedOut, o.MaxDetails)
		more += n
		m.MovedIn, n = limit(m.MovedIn, o.MaxDetails)
		more += n
		m.More = more
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b BotMismatch) int { return strings.Compare(a.BotID, b.BotID) })
	return out, nil
}
