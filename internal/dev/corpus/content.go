package corpus

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
)

//go:embed text
var textFS embed.FS

// source is one hand-written document from text/<lang>/<theme>.txt.
type source struct {
	lang     string
	theme    string
	title    string
	sections []Section
}

// languages is the fixed order of Languages; Generate depends on it.
var languages = []string{"en", "fr", "de", "es", "ja", "zh", "ko"}

// sources returns the parsed source texts by language, each list sorted by
// theme. The files are embedded, so a parse error is a programming error.
var sources = sync.OnceValue(func() map[string][]source {
	byLang := make(map[string][]source)
	for _, lang := range languages {
		entries, err := fs.ReadDir(textFS, path.Join("text", lang))
		if err != nil {
			panic(fmt.Sprintf("corpus: read text/%s: %v", lang, err))
		}
		for _, e := range entries {
			name := path.Join("text", lang, e.Name())
			b, err := fs.ReadFile(textFS, name)
			if err != nil {
				panic(fmt.Sprintf("corpus: read %s: %v", name, err))
			}
			src, err := parseSource(string(b))
			if err != nil {
				panic(fmt.Sprintf("corpus: parse %s: %v", name, err))
			}
			src.lang = lang
			src.theme = strings.TrimSuffix(e.Name(), ".txt")
			byLang[lang] = append(byLang[lang], src)
		}
		sort.Slice(byLang[lang], func(i, j int) bool { return byLang[lang][i].theme < byLang[lang][j].theme })
	}
	return byLang
})

func parseSource(text string) (source, error) {
	var src source
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "title: ") {
		return src, fmt.Errorf("first line must be %q", "title: ...")
	}
	src.title = strings.TrimSpace(strings.TrimPrefix(lines[0], "title: "))
	var cur *Section
	for i, line := range lines[1:] {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if h, ok := strings.CutPrefix(line, "## "); ok {
			src.sections = append(src.sections, Section{Heading: h})
			cur = &src.sections[len(src.sections)-1]
			continue
		}
		if cur == nil {
			return src, fmt.Errorf("line %d: text before the first section", i+2)
		}
		switch {
		case strings.HasPrefix(line, "| "):
			row := strings.Split(strings.Trim(line, "| "), " | ")
			for j := range row {
				row[j] = strings.ReplaceAll(strings.TrimSpace(row[j]), `\n`, "\n")
			}
			cur.Table = append(cur.Table, row)
		case strings.HasPrefix(line, "> "):
			cur.Notes = strings.TrimSpace(cur.Notes + " " + strings.TrimPrefix(line, "> "))
		default:
			cur.Paragraphs = append(cur.Paragraphs, line)
		}
	}
	if len(src.sections) == 0 {
		return src, fmt.Errorf("no sections")
	}
	return src, nil
}
