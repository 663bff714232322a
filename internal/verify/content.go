package verify

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/journal"
	"github.com/ragmigrate/ragmigrate/internal/pgcopy"
	"github.com/ragmigrate/ragmigrate/internal/sources"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// What the operator expects the target to hold (Options.Expect).
const (
	// ExpectAuto reads the target's journal: the kind of its newest run.
	ExpectAuto = "auto"
	// ExpectCopy: the rows are the source's, byte for byte (copy or replication).
	ExpectCopy = "copy"
	// ExpectReembed: the chunks are the source's, under new ids and with new vectors.
	ExpectReembed = "reembed"
)

// resolveExpect turns ExpectAuto into what the target's journal says filled it, and says why.
func resolveExpect(ctx context.Context, o Options) (expect, why string, err error) {
	switch o.Expect {
	case ExpectCopy, ExpectReembed, ExpectMerge:
		return o.Expect, "--expect " + o.Expect, nil
	case "", ExpectAuto:
	default:
		return "", "", fmt.Errorf("verify: unknown expectation %q (auto, copy, merge or reembed)", o.Expect)
	}
	run, err := journal.NewestRun(ctx, o.Target)
	switch {
	case errors.Is(err, journal.ErrNoJournal), errors.Is(err, journal.ErrNoRun):
		return ExpectCopy, "the target has no ragmigrate run in its journal, so its rows are taken to be copied " +
			"(give --expect reembed if it was re-embedded and the journal since dropped)", nil
	case err != nil:
		return "", "", fmt.Errorf("verify: target: %w", err)
	case run.Kind == ExpectReembed:
		return ExpectReembed, fmt.Sprintf("the target's journal: its newest run (%d) is a reembed", run.ID), nil
	case pgcopy.IsMerge(run):
		return ExpectMerge, fmt.Sprintf("the target's journal: its newest run (%d) is a copy --merge", run.ID), nil
	default:
		return ExpectCopy, fmt.Sprintf("the target's journal: its newest run (%d) is a %s", run.ID, run.Kind), nil
	}
}

// BotContent is one bot whose chunks differ between the old cluster and a re-embedded target.
type BotContent struct {
	BotID      string `json:"bot_id"`
	SourceRows int64  `json:"source_rows"`
	TargetRows int64  `json:"target_rows"`
	// OnlyInSource and OnlyInTarget count chunks (rows) present on one side only, by source and
	// content; a chunk held twice on one side and once on the other counts once.
	OnlyInSource int64 `json:"only_in_source"`
	OnlyInTarget int64 `json:"only_in_target"`
	// For a bot held on both sides: the sources (s3:// or URL) with rows on one side only, and
	// those whose text differs (compared as letters and digits, so layout does not count).
	SourcesOnlyInSource []string `json:"sources_only_in_source,omitempty"`
	SourcesOnlyInTarget []string `json:"sources_only_in_target,omitempty"`
	SourcesTextDiffers  []string `json:"sources_text_differs,omitempty"`
	// SourceExamples and TargetExamples are chunks holding text the other side lacks.
	SourceExamples []ChunkExample `json:"source_examples,omitempty"`
	TargetExamples []ChunkExample `json:"target_examples,omitempty"`
	// Reloaded is the target's chunks checked against the bot's sources loaded again (with
	// --table and --bucket), for a bot whose text differs from the old cluster's or that the old
	// cluster lacks.
	Reloaded *ReloadCheck `json:"reloaded,omitempty"`
	// Expected is set when the difference is what a re-embed does by design; Why says why, or
	// what may explain a difference that is not expected.
	Expected bool   `json:"expected"`
	Why      string `json:"why"`
}

// ChunkExample is a chunk holding text the other side lacks.
type ChunkExample struct {
	Source string `json:"source"`
	// Content is about 100 characters of the chunk: where its text first departs from the other
	// side's text of the same source, or its start.
	Content string `json:"content"`
}

// Why texts, shared by the report and its tests.
const (
	whyNeverEmbedded = "the old cluster has no rows for this bot: v0 never embedded it (v0 could not load sitemaps; " +
		"its sync failed or never ran), the re-embed did"
	whyDeletedBot = "the bot has no item in the table (the app deleted it and left its rows behind): " +
		"re-embed embeds only existing bots"
	whyNoKnowledge = "the bot has no knowledge now: its old rows are stale and re-embed wrote none"
	whyMissing     = "the target has none of this bot's chunks"
	whyContent     = "the text differs: sources whose words are not the same on both sides, or that the target " +
		"lost. A source changed or replaced since v0 embedded it explains this; anything else is a defect of the target"
	whyLayout = "the same text in every source, laid out or split differently: v0's loader laid out lists, tables and " +
		"line breaks otherwise (text compared as letters and digits, without whitespace, punctuation or symbols)"
	whyNewSources    = "sources with no rows in the old cluster: v0 could not load them, or they were added since"
	whyReloaded      = "its chunks are exactly what its sources give when loaded again"
	whyLoaderChanged = "the text differs from the old cluster's, but the target's chunks are exactly what the bot's " +
		"sources give when loaded again: v0's loaders extracted the text otherwise (tables, slides, sheets, PDF pages), " +
		"or the sources changed since v0 embedded them"
	whyTargetDiffers = "the target's chunks are neither the old cluster's nor what the bot's sources give when loaded " +
		"again: the target was changed, or a source changed since the re-embed"
)

// compareContent is the data check after a re-embed: per bot, the multiset of chunks (source,
// content) on both sides, row counts, and the target's vectors. Ids and vector values are new by
// design and are not compared. bots is the table's bots by id (nil without --table): it tells a
// deleted bot's leftover rows from a bot the target lacks.
func compareContent(ctx context.Context, o Options, r *DataReport, bots map[string]*botstore.Bot) error {
	start := time.Now()
	var src, dst map[string]vectorstore.BotDigest
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return readOnly(gctx, o.Source, func(tx pgx.Tx) (err error) {
			if src, err = vectorstore.BotContentDigests(gctx, tx); err != nil {
				return fmt.Errorf("source: %w", err)
			}
			if r.SourceVectors, err = vectorstore.CheckVectors(gctx, tx); err != nil {
				return fmt.Errorf("source: %w", err)
			}
			return nil
		})
	})
	g.Go(func() error {
		return readOnly(gctx, o.Target, func(tx pgx.Tx) (err error) {
			if dst, err = vectorstore.BotContentDigests(gctx, tx); err != nil {
				return fmt.Errorf("target: %w", err)
			}
			if r.TargetVectors, err = vectorstore.CheckVectors(gctx, tx); err != nil {
				return fmt.Errorf("target: %w", err)
			}
			return nil
		})
	})
	if err := g.Wait(); err != nil {
		return fmt.Errorf("verify data: %w", err)
	}
	r.sourceRows, r.equal = map[string]int64{}, map[string]bool{}
	var both, fresh []string // bots held on both sides whose chunks differ; bots to load again
	for _, id := range sortedKeys(union(src, dst)) {
		s, d := src[id], dst[id]
		r.Bots++
		r.SourceRows += s.Rows
		r.TargetRows += d.Rows
		r.sourceRows[id] = s.Rows
		if s.Rows > 0 && d.Rows > 0 {
			r.held = append(r.held, id)
		}
		if s.Equal(d) {
			r.EqualBots++
			r.equal[id] = true
			continue
		}
		c := BotContent{BotID: id, SourceRows: s.Rows, TargetRows: d.Rows, OnlyInSource: s.Rows, OnlyInTarget: d.Rows}
		switch b, known := bots[id]; {
		case s.Rows == 0:
			c.Expected, c.Why = true, whyNeverEmbedded
			if known && o.Docs != nil {
				fresh = append(fresh, id)
			}
		case d.Rows > 0: // classified by textDiff
			both = append(both, id)
		case bots == nil:
			c.Why = whyMissing + " (give --table to tell a deleted bot's leftover rows apart)"
		case !known:
			c.Expected, c.Why = true, whyDeletedBot
		case b.Knowledge.Empty():
			c.Expected, c.Why = true, whyNoKnowledge
		default:
			c.Why = whyMissing + fmt.Sprintf(" (SyncStatus %s%s)", b.SyncStatus, reasonSuffix(b.SyncStatusReason))
		}
		r.Content = append(r.Content, c)
	}
	if len(both) > 0 {
		o.Logger.InfoContext(ctx, "bots' chunks differ, comparing their text", slog.Int("bots", len(both)))
		if err := textDiff(ctx, o, r.Content, both); err != nil {
			return fmt.Errorf("verify data: %w", err)
		}
		for i := range r.Content {
			if c := &r.Content[i]; !c.Expected && c.TargetRows > 0 && c.SourceRows > 0 {
				if _, known := bots[c.BotID]; known && o.Docs != nil {
					fresh = append(fresh, c.BotID)
				} else {
					c.Why += " (give --table and --bucket to check the target against the bot's sources, loaded again)"
				}
			}
		}
	}
	if len(fresh) > 0 {
		o.Logger.InfoContext(ctx, "loading bots' sources again to check the target's chunks", slog.Int("bots", len(fresh)))
		if err := reloadDiff(ctx, o, r.Content, fresh, bots); err != nil {
			return fmt.Errorf("verify data: %w", err)
		}
	}
	r.Elapsed = time.Since(start)
	return nil
}

// reloadDiff loads the given bots' sources again, as reembed does, and compares the chunks with
// the target's exactly: a bot whose target chunks are what its sources give now was re-embedded
// right, whatever the old cluster holds; any other difference is the target's.
func reloadDiff(ctx context.Context, o Options, content []BotContent, ids []string, bots map[string]*botstore.Bot) error {
	byBot := map[string]*BotContent{}
	for i := range content {
		byBot[content[i].BotID] = &content[i]
	}
	return readOnly(ctx, o.Target, func(tx pgx.Tx) error {
		for _, id := range ids {
			c := byBot[id]
			// Unreadable sources are left out, as reembed --skip-unreadable-sources does: what
			// the target then holds of them is reported as a difference.
			chunks, skipped, err := sources.Load(ctx, bots[id], o.Docs, o.Fetcher, o.Limits, true)
			if err != nil && ctx.Err() != nil {
				return err
			}
			dst, derr := botTexts(ctx, tx, id)
			if derr != nil {
				return derr
			}
			loaded := make([]chunkRow, len(chunks))
			for i, ch := range chunks {
				loaded[i] = chunkRow{source: vectorstore.StripNUL(ch.Source), content: vectorstore.StripNUL(ch.Text)}
			}
			c.Reloaded = &ReloadCheck{Chunks: int64(len(loaded)), Skipped: skipped}
			if err != nil {
				c.Reloaded.Error = err.Error()
			}
			want := map[chunkRow]int64{}
			for _, r := range loaded {
				want[r]++
			}
			have := map[chunkRow]int64{}
			for _, r := range dst {
				have[r]++
			}
			// Examples show where a chunk departs from the other side's text of its source.
			wantGrams, haveGrams := gramsBySource(loaded), gramsBySource(dst)
			for r, n := range have {
				if extra := n - want[r]; extra > 0 {
					c.Reloaded.OnlyInTarget += extra
					if len(c.Reloaded.TargetExamples) < o.MaxDetails {
						c.Reloaded.TargetExamples = append(c.Reloaded.TargetExamples, ChunkExample{Source: r.source, Content: excerpt(r.content, wantGrams[r.source])})
					}
				}
			}
			for r, n := range want {
				if lack := n - have[r]; lack > 0 {
					c.Reloaded.OnlyInSources += lack
					if len(c.Reloaded.SourcesExamples) < o.MaxDetails {
						c.Reloaded.SourcesExamples = append(c.Reloaded.SourcesExamples, ChunkExample{Source: r.source, Content: excerpt(r.content, haveGrams[r.source])})
					}
				}
			}
			sortExamples(c.Reloaded.TargetExamples)
			sortExamples(c.Reloaded.SourcesExamples)
			switch {
			case c.Reloaded.OnlyInTarget == 0 && c.Reloaded.OnlyInSources == 0 && c.SourceRows == 0:
				c.Why = whyNeverEmbedded + "; " + whyReloaded
			case c.Reloaded.OnlyInTarget == 0 && c.Reloaded.OnlyInSources == 0:
				c.Expected, c.Why = true, whyLoaderChanged
			default:
				c.Expected, c.Why = false, whyTargetDiffers
			}
		}
		return nil
	})
}

func sortExamples(e []ChunkExample) {
	slices.SortFunc(e, func(a, b ChunkExample) int {
		return cmp.Or(strings.Compare(a.Source, b.Source), strings.Compare(a.Content, b.Content))
	})
}

// ReloadCheck is a bot's target chunks against its sources loaded again.
type ReloadCheck struct {
	Chunks  int64    `json:"chunks"`            // chunks the sources give now
	Skipped []string `json:"skipped,omitempty"` // sources that could not be read
	Error   string   `json:"error,omitempty"`   // none of the sources could be read
	// OnlyInTarget counts target chunks the sources do not give; OnlyInSources the reverse.
	OnlyInTarget    int64          `json:"only_in_target"`
	OnlyInSources   int64          `json:"only_in_sources"`
	TargetExamples  []ChunkExample `json:"target_examples,omitempty"`
	SourcesExamples []ChunkExample `json:"sources_examples,omitempty"`
}

// textGram is the length, in letters and digits, of the pieces the two sides' texts of a source
// are compared by.
const textGram = 8

// grams adds to set every run of textGram letters and digits of s, whitespace, punctuation and
// symbols left out. A loader's layout (list markers, table cells joined by tabs or by spaces,
// line breaks) and where the splitter cut do not change the set; a changed, added or lost word
// does. With the app's chunk overlap every run lies inside some chunk, so chunk boundaries do not
// hide one.
func grams(set map[uint64]struct{}, s string) {
	eachGram(s, func(h uint64, _ int) bool { set[h] = struct{}{}; return true })
}

// eachGram calls fn with every gram of s (see grams) and the rune offset in s where it starts,
// until fn returns false.
func eachGram(s string, fn func(h uint64, at int) bool) {
	var rs []rune
	var at []int
	for i, r := range []rune(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			rs, at = append(rs, r), append(at, i)
		}
	}
	hash := func(w []rune) uint64 {
		h := fnv.New64a()
		for _, r := range w {
			var b [4]byte
			binary.LittleEndian.PutUint32(b[:], uint32(r))
			h.Write(b[:])
		}
		return h.Sum64()
	}
	if len(rs) < textGram {
		fn(hash(rs), 0)
		return
	}
	for i := 0; i+textGram <= len(rs); i++ {
		if !fn(hash(rs[i:i+textGram]), at[i]) {
			return
		}
	}
}

// excerpt shows the part of s where its text first departs from other's grams (about 100
// characters), or the start of s when every gram of s is in other.
func excerpt(s string, other map[uint64]struct{}) string {
	from := -1
	eachGram(s, func(h uint64, at int) bool {
		if _, ok := other[h]; !ok {
			from = at
			return false
		}
		return true
	})
	r := []rune(s)
	if from < 0 {
		return preview(s)
	}
	lo, hi := max(0, from-40), min(len(r), from+60)
	out := string(r[lo:hi])
	if lo > 0 {
		out = "…" + out
	}
	if hi < len(r) {
		out += "…"
	}
	return out
}

type chunkRow struct{ source, content string }

func botTexts(ctx context.Context, tx pgx.Tx, botID string) ([]chunkRow, error) {
	rows, err := tx.Query(ctx, `SELECT coalesce(source, ''), coalesce(content, '') FROM items WHERE botid = $1`, botID)
	if err != nil {
		return nil, fmt.Errorf("chunks of bot %s: %w", botID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (c chunkRow, err error) {
		err = r.Scan(&c.source, &c.content)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("chunks of bot %s: %w", botID, err)
	}
	return out, nil
}

// textDiff compares, for the bots held on both sides whose chunks differ, each source's text on
// both sides (see grams), one bot at a time, and classifies each bot.
func textDiff(ctx context.Context, o Options, content []BotContent, bots []string) error {
	byBot := map[string]*BotContent{}
	for i := range content {
		byBot[content[i].BotID] = &content[i]
	}
	return readOnly(ctx, o.Source, func(stx pgx.Tx) error {
		return readOnly(ctx, o.Target, func(dtx pgx.Tx) error {
			for _, id := range bots {
				src, err := botTexts(ctx, stx, id)
				if err != nil {
					return fmt.Errorf("source: %w", err)
				}
				dst, err := botTexts(ctx, dtx, id)
				if err != nil {
					return fmt.Errorf("target: %w", err)
				}
				diffBot(byBot[id], src, dst, o.MaxDetails)
			}
			return nil
		})
	})
}

func diffBot(c *BotContent, src, dst []chunkRow, maxDetails int) {
	count := func(rows []chunkRow) map[chunkRow]int64 {
		m := map[chunkRow]int64{}
		for _, r := range rows {
			m[r]++
		}
		return m
	}
	sc, dc := count(src), count(dst)
	c.OnlyInSource, c.OnlyInTarget = 0, 0
	for r, n := range sc {
		c.OnlyInSource += max(0, n-dc[r])
	}
	for r, n := range dc {
		c.OnlyInTarget += max(0, n-sc[r])
	}
	sg, dg := gramsBySource(src), gramsBySource(dst)
	// examples are the chunks of a differing source that hold text the other side lacks.
	examples := func(rows []chunkRow, source string, other map[uint64]struct{}, out *[]ChunkExample) {
		for _, r := range rows {
			if r.source != source || len(*out) >= maxDetails {
				continue
			}
			novel := false
			eachGram(r.content, func(h uint64, _ int) bool {
				_, ok := other[h]
				novel = !ok
				return ok
			})
			if novel {
				*out = append(*out, ChunkExample{Source: r.source, Content: excerpt(r.content, other)})
			}
		}
	}
	for _, source := range sortedKeys(union(sg, dg)) {
		s, inSrc := sg[source]
		d, inDst := dg[source]
		switch {
		case !inSrc:
			c.SourcesOnlyInTarget = append(c.SourcesOnlyInTarget, source)
		case !inDst:
			c.SourcesOnlyInSource = append(c.SourcesOnlyInSource, source)
			examples(src, source, nil, &c.SourceExamples)
		case !maps.EqualFunc(s, d, func(struct{}, struct{}) bool { return true }):
			c.SourcesTextDiffers = append(c.SourcesTextDiffers, source)
			examples(src, source, d, &c.SourceExamples)
			examples(dst, source, s, &c.TargetExamples)
		}
	}
	if len(c.SourcesOnlyInSource)+len(c.SourcesTextDiffers) > 0 {
		c.Why = whyContent
		return
	}
	c.Expected, c.Why = true, whyLayout
	if len(c.SourcesOnlyInTarget) > 0 {
		c.Why += "; " + whyNewSources
	}
}

func preview(s string) string {
	if r := []rune(s); len(r) > 100 {
		return string(r[:100])
	}
	return s
}

// gramsBySource is the set of text grams of each source's chunks.
func gramsBySource(rows []chunkRow) map[string]map[uint64]struct{} {
	m := map[string]map[uint64]struct{}{}
	for _, r := range rows {
		if m[r.source] == nil {
			m[r.source] = map[uint64]struct{}{}
		}
		grams(m[r.source], r.content)
	}
	return m
}
