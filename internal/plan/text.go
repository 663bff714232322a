package plan

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/progress"
)

// WriteText prints the plan for people; EveryBot adds a line for every bot, not only for the
// bots that will fail.
func (p *Plan) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	pr := func(format string, a ...any) { fmt.Fprintf(tw, format+"\n", a...) }
	var st []string
	for _, s := range botstore.Statuses {
		st = append(st, fmt.Sprintf("%s %d", s, p.Bots.ByStatus[s]))
	}
	pr("bots\t%d (with knowledge %d, without %d) · %s · %s", p.Bots.Total, p.Bots.WithKnowledge, p.Bots.Empty, strings.Join(st, " · "), progress.Plural(len(p.Malformed), "malformed item", "malformed items"))
	var ext []string
	for _, e := range slices.Sorted(maps.Keys(p.Sources.ByExt)) {
		ext = append(ext, fmt.Sprintf("%s %d", e, p.Sources.ByExt[e]))
	}
	s := p.Sources
	pr("sources\t%s (%s: %s) · %d missing · %s · %s", progress.Plural(s.Files, "file", "files"), progress.Size(s.FileBytes), strings.Join(ext, " "), s.Missing,
		progress.Plural(s.URLs, "url", "urls"), progress.Plural(s.Sitemaps, "sitemap", "sitemaps"))
	e := p.Reembed
	kind := "estimate (--exact downloads and splits every source)"
	approx := "~"
	if p.Exact {
		kind, approx = "exact: every source read and split", ""
	}
	if b := e.Budget; b.Source != "" {
		pr("budget\t%s (%s)", budgetText(b), b.Source)
	}
	pr("re-embed\t%s%s · %s%s · %s$%.4f (%s at $%.2f/1M tokens) · %s of ≤%d texts · %s",
		approx, progress.Plural(e.Chunks, "chunk", "chunks"), approx, progress.Plural(e.Tokens, "token", "tokens"), approx, e.CostUSD, p.Model.ID, p.Model.PricePerMTok,
		progress.Plural(e.Requests, "request", "requests"), p.Model.MaxBatch, duration(e))
	pr("\t%s", kind)
	if r := p.Reuse; r != nil {
		if r.Refused != "" {
			pr("reuse\tnothing reused from %s, every chunk embedded: %s", r.From, r.Refused)
		} else {
			pr("reuse\t%d of %d chunks held by %s (by bot and exact text) · %d to embed · %d tokens · $%.4f ($%.4f saved)",
				r.Reused, r.Reused+r.Embedded, r.From, r.Embedded, r.EmbeddedTokens, r.CostUSD, r.SavedUSD)
			pr("\tthe run first embeds again up to %d of these chunks, of as many bots, to check the old vectors are %s's; if not, it embeds every chunk", r.Sample, r.OldModel)
		}
	}
	if p.Bots.StatusFixes > 0 {
		pr("  status\t%s without knowledge will be set SUCCEEDED (%q), as the app's task would", progress.Plural(p.Bots.StatusFixes, "bot", "bots"), botstore.ReasonNoContents)
	}
	// Only a model that truncates itself (Cohere) embeds them cut; --truncate cuts the others'
	// texts to their character limit only, which a chunk over the token window may be within.
	rejects := "with --truncate NONE, the app's setting, the model rejects them and their bots fail; --truncate END embeds them cut"
	short := "--truncate NONE; END embeds them cut"
	if !p.Model.Truncates {
		rejects = "the model rejects them and their bots fail, whatever --truncate says: a smaller chunk_size avoids them"
		short = p.Model.ID + " cannot cut them"
	}
	if e.LongChunks > 0 {
		are := "are"
		if e.LongChunks == 1 {
			are = "is"
		}
		pr("  long chunks\t%s in %s %s estimated over %s's %d-token input (dense CJK text): %s",
			progress.Plural(e.LongChunks, "chunk", "chunks"), progress.Plural(e.LongChunkBots, "bot", "bots"), are, p.Model.ID, p.Model.MaxTokens, rejects)
	}
	if c := p.Bots; c.WillFail > 0 {
		// The count is the list below: every bot listed fails a run with the defaults.
		var why []string
		if n := c.WillFail - c.WillFailLongChunks; n > 0 {
			why = append(why, fmt.Sprintf("%d with a source that cannot be read (--on-source-error fail-bot)", n))
		}
		if c.WillFailLongChunks > 0 {
			why = append(why, fmt.Sprintf("%d with chunks over the model's input (%s)", c.WillFailLongChunks, short))
		}
		seen := ""
		if !p.Exact {
			seen = ", seen without reading the sources (--exact reads them all)"
		}
		pr("  will fail\t%s with the defaults%s: %s", progress.Plural(c.WillFail, "bot", "bots"), seen, strings.Join(why, ", "))
	}
	for _, b := range p.PerBot {
		if len(b.Problems) == 0 && b.LongChunks == 0 && !p.EveryBot {
			continue
		}
		long := ""
		if b.LongChunks > 0 {
			long = fmt.Sprintf(" (%d long)", b.LongChunks)
		}
		reused := ""
		if p.Reuse != nil && p.Reuse.Refused == "" && len(b.Problems) == 0 {
			reused = fmt.Sprintf(" (%d reused, %d to embed)", b.Reused, b.Embedded)
		}
		pr("  bot %s\t%q %s · %s %s · %s · %s · %s%s%s", b.BotID, b.Title, b.Status, progress.Plural(b.Files, "file", "files"), progress.Size(b.Bytes),
			progress.Plural(b.URLs, "url", "urls"), progress.Plural(b.Sitemaps, "sitemap", "sitemaps"), progress.Plural(b.Chunks, "chunk", "chunks"), long, reused)
		for _, prob := range b.Problems {
			pr("    ✗\t%s", prob)
		}
	}
	for _, m := range p.Malformed {
		pr("  malformed\t%s: %s", m.SK, m.Reason)
	}
	if p.ECS != nil {
		ecsText(pr, p.ECS, p.Model.ID, approx)
	}
	if c := p.Copy; c != nil {
		pr("copy\t%d rows · %s incl. TOAST and indexes · vector(%d) · ~%s", c.Rows, progress.Size(c.Bytes), c.Dimensions, c.Duration)
		for _, ix := range c.Indexes {
			pr("  index\t%s", ix)
		}
		for _, prob := range c.Problems {
			pr("  ✗\t%s", prob)
		}
	}
	if t := p.Target; t != nil {
		state := "no items table"
		if t.ItemsExists {
			state = fmt.Sprintf("items: %d rows, vector(%d)", t.ItemsRows, t.Dimensions)
		}
		pr("target\tpgvector %s · %s · role %s", cmpOr(t.PgvectorVersion, "not installed"), state, t.Privileges.Role)
		// One verdict per strategy: "ready" only for the one that would proceed as it is.
		for _, s := range []struct {
			name string
			r    Readiness
		}{{"reembed", t.Reembed}, {"copy", t.Copy}} {
			verdict := "ready"
			if !s.r.Ready {
				verdict = "NOT READY"
			}
			pr("  %s\t%s", s.name, verdict)
			for _, n := range s.r.Notes {
				pr("    note\t%s", n)
			}
			for _, prob := range s.r.Problems {
				pr("    ✗\t%s", prob)
			}
		}
	}
	if m := p.CopyModes; m != nil {
		writeCopyModes(pr, m, p.EveryBot)
	}
	pr("recommendation\t%s: %s", p.Recommendation, p.Reason)
	return tw.Flush()
}

func duration(e Estimate) string {
	switch e.Bound {
	case "requests":
		return fmt.Sprintf("~%s at the requests/min budget", fmtDuration(e.Duration))
	case "tokens":
		return fmt.Sprintf("~%s at the tokens/min budget", fmtDuration(e.Duration))
	default:
		return "no budget known: the pace is found adaptively (--rpm, --tpm)"
	}
}

// budgetText is the budget's figures, or what happens without them.
func budgetText(b Budget) string {
	var parts []string
	if b.RequestsPerMinute > 0 {
		parts = append(parts, fmt.Sprintf("%d requests/min", b.RequestsPerMinute))
	}
	if b.TokensPerMinute > 0 {
		parts = append(parts, fmt.Sprintf("%d tokens/min", b.TokensPerMinute))
	}
	if len(parts) == 0 {
		return "none known: the run takes what the provider accepts until its first throttle, then paces at that"
	}
	return strings.Join(parts, ", ")
}

func fmtDuration(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
}

func cmpOr(a, b string) string {
	if a == "" {
		return b
	}
	return a
}
