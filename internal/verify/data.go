package verify

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// DataReport compares the items of source and target.
type DataReport struct {
	Bots       int           `json:"bots"`
	EqualBots  int           `json:"equal_bots"`
	SourceRows int64         `json:"source_rows"`
	TargetRows int64         `json:"target_rows"`
	Mismatches []BotMismatch `json:"mismatches,omitempty"`
	Elapsed    time.Duration `json:"elapsed_ns"`
}

// OK reports whether every bot's rows are equal.
func (d *DataReport) OK() bool { return len(d.Mismatches) == 0 }

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

func compareData(ctx context.Context, o Options) (*DataReport, error) {
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
		return nil, fmt.Errorf("verify data: %w", err)
	}
	r := &DataReport{}
	var differing []string
	for _, id := range sortedKeys(union(src, dst)) {
		s, d := src[id], dst[id]
		r.Bots++
		r.SourceRows += s.Rows
		r.TargetRows += d.Rows
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
			return nil, fmt.Errorf("verify data: %w", err)
		}
		r.Mismatches = mm
	}
	r.Elapsed = time.Since(start)
	return r, nil
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
