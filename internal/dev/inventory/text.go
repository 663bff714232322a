package inventory

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/progress"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// WriteText prints the inventory as a human table.
func (inv *Inventory) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format+"\n", a...) }
	it := inv.Items
	p("table\t%s", inv.Table)
	p("  items\t%d: %d bots, %d aliases, %d conversations, %d other, %d malformed bot items", it.Total, it.Bots, it.Aliases, it.Conversations, it.Other, it.Malformed)
	var st []string
	for _, s := range botstore.Statuses {
		st = append(st, fmt.Sprintf("%s %d", s, inv.Bots.ByStatus[s]))
	}
	p("  bots by status\t%s", strings.Join(st, " · "))
	b := inv.Bots
	p("  knowledge\t%d with, %d without · %d files, %d urls, %d sitemaps", b.WithKnowledge, b.Empty, b.Filenames, b.SourceURLs, b.SitemapURLs)
	p("  vintage\t%d older items without later attributes · %d public · %d published as API", b.Legacy, b.Public, b.Published)
	for _, m := range inv.Malformed {
		p("  malformed\t%s: %s", m.SK, m.Reason)
	}
	p("bucket\t%s", inv.Bucket)
	p("  documents\t%d objects, %s", inv.Files.Objects, progress.Size(inv.Files.Bytes))
	var ext []string
	for _, e := range slices.Sorted(maps.Keys(inv.Files.ByExt)) {
		c := inv.Files.ByExt[e]
		ext = append(ext, fmt.Sprintf("%s %d (%s)", e, c.Files, progress.Size(c.Bytes)))
	}
	p("  by type\t%s", strings.Join(ext, " · "))
	for _, m := range inv.Files.Missing {
		p("  missing\t%s (listed in Knowledge, not in the bucket)", m)
	}
	writeStats(p, "source items", inv.Source)
	writeStats(p, "target items", inv.Target)
	return tw.Flush()
}

func writeStats(p func(string, ...any), name string, st *vectorstore.TableStats) {
	switch {
	case st == nil:
		return
	case !st.Exists:
		p("%s\tno items table (pgvector %s)", name, orNone(st.PgvectorVersion))
		return
	}
	p("%s\t%d rows · %d bots · %d sources · vector(%d) · %s · pgvector %s", name, st.Rows, st.Bots, st.Sources, st.Dimensions, progress.Size(st.TotalBytes), orNone(st.PgvectorVersion))
	if st.OrphanRows > 0 {
		p("  orphans\t%d rows of %d bots that have no bot item", st.OrphanRows, st.OrphanBots)
	}
	for _, ix := range st.Indexes {
		p("  index\t%s", ix)
	}
}

func orNone(s string) string {
	if s == "" {
		return "not installed"
	}
	return s
}
