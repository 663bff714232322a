package corpus

// Large returns one document of about minText bytes of plain text (its sources' sum): the
// sections of the corpus documents in lang, in order, and their data tables' rows as one table
// in the last section (a CSV holds only the last table, so it grows too). Memory and throughput
// measurements on big uploads start from it; any seed and language give the same shape.
func Large(seed int64, lang string, minText int) Document {
	out := Document{Lang: lang}
	var table [][]string
	text := 0
	for n := 0; text < minText; n++ {
		d := Generate(seed, n)
		if d.Lang != lang {
			continue
		}
		if out.Title == "" {
			out.Title = d.Title + " (collected edition)"
		}
		for _, s := range d.Sections {
			if t := rectangle(s.Table); t != nil {
				if table == nil {
					table = append(table, t[0]) // the first table's header, once
				}
				table = append(table, t[1:]...)
				s.Table = nil
			}
			out.Sections = append(out.Sections, s)
		}
		text += len(d.PlainText())
	}
	out.Sections[len(out.Sections)-1].Table = table
	return out
}
