package verify

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
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
	if d := r.Data; d != nil {
		p("data (source vs target)\t%d bots · rows %d → %d · %d/%d bots equal · %s\t%s",
			d.Bots, d.SourceRows, d.TargetRows, d.EqualBots, d.Bots, round(d.Elapsed), verdict(d.OK()))
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
				p("    …\t%d more ids (--json or --max-details for all)", m.More)
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
	if b := r.Bots; b != nil {
		v := b.Vectors
		p("bots (table vs target)\t%d bots, %d with knowledge · %d problems · %d orphan rows of %d deleted bots · %s\t%s",
			b.Bots, b.WithKnowledge, len(b.Problems), b.OrphanRows, len(b.Orphans), round(b.Elapsed), verdict(b.OK()))
		p("  vectors\tvector(%d) · %d NULL · %d wrong dimension · %d non-finite · %d zero", v.Dimensions, v.Null, v.WrongDims, v.NonFinite, v.Zero)
		for _, pr := range b.Problems {
			p("  bot %s\t%q (user %s) %s", pr.BotID, pr.Title, pr.UserID, pr.Problem)
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

func round(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
