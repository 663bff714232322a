package verify

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ragmigrate/ragmigrate/internal/pgcopy"
	"github.com/ragmigrate/ragmigrate/internal/progress"
)

// WriteText prints the report for people: a summary line per check, then every difference.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format+"\n", a...) }
	verdict := func(ok bool) string {
		if ok {
			return "OK"
		}
		return "MISMATCH"
	}
	if d := r.Data; d != nil && d.Expect == ExpectReembed {
		writeContent(p, d, verdict(d.OK()))
	} else if d != nil {
		if d.Expect == ExpectMerge {
			writeMerge(p, d, verdict(d.OK()))
		} else {
			p("data (source vs target)\t%d bots · rows %d → %d · %d/%d bots equal · %s\t%s",
				d.Bots, d.SourceRows, d.TargetRows, d.EqualBots, d.Bots, round(d.Elapsed), verdict(d.OK()))
		}
		p("  expect\t%s: %s", d.Expect, d.ExpectReason)
		for _, c := range d.Compared {
			p("  compared\t%s", c)
		}
		for _, c := range d.NotCompared {
			p("  not compared\t%s", c)
		}
		for _, l := range d.LeftToApp {
			what := "left to the app"
			if l.Outcome == pgcopy.BotDeleted {
				what = "not copied"
			}
			p("  bot %s\t%s (%s: %s) · %d rows in source, %d in target", l.BotID, what, l.Outcome, l.Reason, l.SourceRows, l.TargetRows)
		}
		for _, m := range d.Mismatches {
			p("  bot %s\t%d rows in source, %d in target", m.BotID, m.SourceRows, m.TargetRows)
			list := func(what string, ids []string) {
				if len(ids) > 0 {
					p("    %s\t%s", what, strings.Join(ids, " "))
				}
			}
			switch {
			case m.TargetRows == 0:
				p("    missing in target\tall %d rows", m.SourceRows)
			case m.SourceRows == 0:
				p("    extra in target\tall %d rows (no such bot in the source)", m.TargetRows)
			default:
				list("missing in target", m.Missing)
				list("extra in target", m.Extra)
			}
			for _, c := range m.Changed {
				p("    changed\t%s (%s)", c.ID, strings.Join(c.Columns, ", "))
			}
			for _, mv := range m.MovedOut {
				p("    moved out\t%s to bot %s", mv.ID, mv.ToBot)
			}
			for _, mv := range m.MovedIn {
				p("    moved in\t%s from bot %s", mv.ID, mv.FromBot)
			}
			if m.More > 0 && m.TargetRows != 0 && m.SourceRows != 0 {
				p("    …\t%s (--json or --max-details for all)", progress.Plural(m.More, "more id", "more ids"))
			}
		}
	}
	for _, t := range r.Tables {
		p("table %s\trows %d → %d · %d of %d key-hash buckets differ · %s\t%s",
			t.Table, t.SourceRows, t.TargetRows, t.Differing, t.Buckets, round(t.Elapsed), verdict(t.OK()))
		for _, k := range t.Missing {
			p("  missing in target\t%s", k)
		}
		for _, k := range t.Extra {
			p("  extra in target\t%s", k)
		}
		for _, k := range t.Changed {
			p("  changed\t%s", k)
		}
		if t.More > 0 {
			p("  …\t%d more keys", t.More)
		}
	}
	if s := r.Search; s != nil {
		p("search (top-%d)\t%d bots sampled · recall exact %.3f · recall with ANN index %.3f · %s\t%s",
			s.TopK, s.Bots, s.RecallExact, s.RecallANN, round(s.Elapsed), verdict(s.OK()))
		if s.RecallExact == 1 && s.RecallANN < 1 {
			p("  note\tthe data agrees; the ANN indexes answer differently (e.g. ivfflat lists trained on other data)")
		}
		for _, b := range s.Worst {
			p("  bot %s\trecall exact %.3f, ANN %.3f", b.BotID, b.Exact, b.ANN)
		}
	}
	if s := r.ContentSearch; s != nil {
		p("search by content (top-%d)\t%d bots sampled · self-retrieval exact %.3f, ANN %.3f · %d compared, %d with the same vectors · recall by chunk exact %.3f, ANN %.3f · %s\t%s",
			s.TopK, s.Bots, s.SelfExact, s.SelfANN, s.Compared, s.SameVectors, s.RecallExact, s.RecallANN, round(s.Elapsed), verdict(s.OK()))
		p("  compared\tself-retrieval: for a chunk of each sampled bot, the target's search with the chunk's own vector must find it with exact search")
		p("  compared\tfor a chunk held on both sides, each side's top-%d with its own vector of it, by chunk (source, content): a verdict only for a bot "+
			"whose chunks are equal on both sides and whose vectors are the same (the same model); otherwise information", s.TopK)
		if s.NoCommonChunk > 0 {
			p("  not compared\t%d sampled bots hold none of their first %d source chunks in the target (see the data check)", s.NoCommonChunk, commonTries)
		}
		for _, b := range s.Worst {
			if !b.Compared {
				p("  bot %s\tself-retrieval exact %t, ANN %t · no chunk held on both sides", b.BotID, b.SelfExact, b.SelfANN)
				continue
			}
			p("  bot %s\tself-retrieval exact %t, ANN %t · same vectors %t · recall exact %.3f, ANN %.3f%s",
				b.BotID, b.SelfExact, b.SelfANN, b.SameVectors, b.Exact, b.ANN, map[bool]string{true: " (must agree)", false: " (information)"}[b.Binding])
		}
	}
	if b := r.Bots; b != nil {
		v := b.Vectors
		problems := progress.Plural(len(b.Problems), "problem", "problems")
		var pre, left int
		for _, pr := range b.Problems {
			switch {
			case pr.LeftToApp != "":
				left++
			case pr.Preexisting:
				pre++
			}
		}
		var notes []string
		if pre > 0 {
			notes = append(notes, fmt.Sprintf("%d not served by the source either", pre))
		}
		if left > 0 {
			notes = append(notes, fmt.Sprintf("%d the app's: left to it by the merge", left))
		}
		if len(notes) > 0 {
			problems += " (" + strings.Join(notes, "; ") + ")"
		}
		p("bots (table vs target)\t%s, %d with knowledge · %s · %s of %s · %s\t%s",
			progress.Plural(b.Bots, "bot", "bots"), b.WithKnowledge, problems, progress.Plural(b.OrphanRows, "orphan row", "orphan rows"),
			progress.Plural(len(b.Orphans), "deleted bot", "deleted bots"), round(b.Elapsed), verdict(b.OK()))
		p("  vectors\tvector(%d) · %d NULL · %d wrong dimension · %d non-finite · %d zero", v.Dimensions, v.Null, v.WrongDims, v.NonFinite, v.Zero)
		for _, pr := range b.Problems {
			pre := ""
			if pr.Preexisting {
				pre = " · the source has no rows for it either: not a difference the migration made"
			}
			if pr.LeftToApp != "" {
				pre = " · " + pr.LeftToApp
			}
			p("  bot %s\t%q (user %s) %s%s", pr.BotID, pr.Title, pr.UserID, pr.Problem, pre)
		}
		for _, o := range b.Orphans {
			ghost := ""
			if o.Ghost {
				ghost = " (a partial ghost item has this id)"
			}
			p("  orphan %s\t%d rows, no bot item%s; --delete-orphans removes them", o.BotID, o.Rows, ghost)
		}
		for _, m := range b.Malformed {
			p("  malformed\t%s: %s", m.SK, m.Reason)
		}
	}
	p("result\t%s", verdict(r.OK))
	return tw.Flush()
}

// writeContent prints the data check after a re-embed: what was compared, then every bot whose
// chunks differ, expected or not.
func writeContent(p func(string, ...any), d *DataReport, verdict string) {
	expected := len(d.Content) - d.Differing()
	p("data (source vs target, by content)\t%d bots · rows %d → %d · %d/%d bots with the same chunks · %d differ as a re-embed does by design · %d differ · %s\t%s",
		d.Bots, d.SourceRows, d.TargetRows, d.EqualBots, d.Bots, expected, d.Differing(), round(d.Elapsed), verdict)
	p("  expect\treembed: %s", d.ExpectReason)
	for _, c := range d.Compared {
		p("  compared\t%s", c)
	}
	for _, c := range d.NotCompared {
		p("  not compared\t%s", c)
	}
	if s, t := d.SourceVectors, d.TargetVectors; s != nil && t != nil {
		p("  vectors\tvector(%d) → vector(%d) · target: %d NULL · %d wrong dimension · %d non-finite · %d zero",
			s.Dimensions, t.Dimensions, t.Null, t.WrongDims, t.NonFinite, t.Zero)
	}
	for _, c := range d.Content {
		kind := "differs"
		if c.Expected {
			kind = "expected"
		}
		p("  bot %s\t%d rows in source, %d in target · %s: %d chunks only in source, %d only in target",
			c.BotID, c.SourceRows, c.TargetRows, kind, c.OnlyInSource, c.OnlyInTarget)
		if c.Expected { // the why says it all; --json has the sources and chunks
			p("    why\t%s", c.Why)
			continue
		}
		for _, s := range c.SourcesOnlyInSource {
			p("    source lost\t%s: rows in the old cluster, none in the target", s)
		}
		for _, s := range c.SourcesOnlyInTarget {
			p("    source new\t%s: rows in the target, none in the old cluster", s)
		}
		for _, s := range c.SourcesTextDiffers {
			p("    text differs\t%s", s)
		}
		for _, e := range c.SourceExamples {
			p("    only in source\t%s: %q", e.Source, e.Content)
		}
		for _, e := range c.TargetExamples {
			p("    only in target\t%s: %q", e.Source, e.Content)
		}
		if rl := c.Reloaded; rl != nil {
			p("    loaded again\tthe bot's sources give %d chunks · %d target chunks they do not give · %d they give that the target lacks",
				rl.Chunks, rl.OnlyInTarget, rl.OnlyInSources)
			for _, sk := range rl.Skipped {
				p("    unreadable\t%s", sk)
			}
			if rl.Error != "" {
				p("    unreadable\t%s", rl.Error)
			}
			for _, e := range rl.TargetExamples {
				p("    not from the sources\t%s: %q", e.Source, e.Content)
			}
			for _, e := range rl.SourcesExamples {
				p("    not in the target\t%s: %q", e.Source, e.Content)
			}
		}
		p("    why\t%s", c.Why)
	}
}

func round(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
