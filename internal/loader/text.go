package loader

import (
	"encoding/csv"
	"fmt"
	"io"
	"regexp"
	"strings"
)

var (
	blankLines   = regexp.MustCompile(`\n[ \t]*\n\s*`)
	mdHeading    = regexp.MustCompile(`^#{1,6}[ \t]+(.*?)[ \t#]*$`)
	mdListItem   = regexp.MustCompile(`^[ \t]*(?:[-*+]|\d+[.)])[ \t]+(.*)$`)
	mdTableRule  = regexp.MustCompile(`^\|?[ \t]*:?-{2,}:?[ \t]*(\|[ \t]*:?-{2,}:?[ \t]*)*\|?$`)
	mdEmphasis   = regexp.MustCompile("(\\*\\*|__|`)")
	mdLink       = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
	mdFenceStart = regexp.MustCompile("^(```|~~~)")
)

// markdown renders Markdown to the elements its HTML would hold: headings, paragraphs, list
// items and table rows, without the markup (the app converted Markdown to HTML first).
func markdown(s string) []string {
	var out []string
	var para []string
	flush := func() {
		if len(para) > 0 {
			out = append(out, strings.Join(para, " "))
			para = nil
		}
	}
	inFence := false
	var fence []string
	for _, line := range strings.Split(s, "\n") {
		trimmed := strings.TrimSpace(line)
		if (strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~")) && mdFenceStart.MatchString(trimmed) {
			if inFence {
				out = append(out, strings.Join(fence, "\n"))
				fence = nil
			} else {
				flush()
			}
			inFence = !inFence
			continue
		}
		if inFence {
			fence = append(fence, line)
			continue
		}
		switch {
		case trimmed == "":
			flush()
		// Each pattern is tried only when the line's first character allows it: Go's regexps
		// cost far more than the prefix checks, and most lines are plain paragraphs.
		case trimmed[0] == '#' && mdHeading.MatchString(trimmed):
			flush()
			out = append(out, inline(mdHeading.FindStringSubmatch(trimmed)[1]))
		case strings.ContainsRune("|-:", rune(trimmed[0])) && strings.Contains(trimmed, "--") && mdTableRule.MatchString(trimmed):
			// the header rule of a pipe table carries no text
		case strings.HasPrefix(trimmed, "|"):
			flush()
			// \| is a literal bar inside a cell; <br> a line break inside a cell.
			row := strings.ReplaceAll(trimmed, `\|`, "\x00")
			cells := strings.Split(strings.Trim(row, "|"), "|")
			for i := range cells {
				c := strings.ReplaceAll(strings.ReplaceAll(cells[i], "\x00", "|"), "<br>", " ")
				cells[i] = inline(strings.TrimSpace(c))
			}
			if row := strings.TrimSpace(strings.Join(cells, " ")); row != "" {
				out = append(out, row) // pandoc writes an empty header row for headerless tables
			}
		case mdListStart(trimmed[0]) && mdListItem.MatchString(line):
			flush()
			out = append(out, inline(mdListItem.FindStringSubmatch(line)[1]))
		default:
			para = append(para, inline(strings.TrimLeft(trimmed, "> ")))
		}
	}
	flush()
	if len(fence) > 0 {
		out = append(out, strings.Join(fence, "\n"))
	}
	return out
}

func mdListStart(c byte) bool { return c == '-' || c == '*' || c == '+' || c >= '0' && c <= '9' }

func inline(s string) string {
	if strings.Contains(s, "](") {
		s = mdLink.ReplaceAllString(s, "$1")
	}
	if strings.ContainsAny(s, "*_`") {
		s = mdEmphasis.ReplaceAllString(s, "")
	}
	return strings.TrimSpace(s)
}

// csvRows reads a CSV (quoted fields may hold commas and newlines) into one element per row,
// cells separated by a space, as the text of the table unstructured builds from it; the rows
// are joined as elements are.
func csvRows(s string) (string, error) {
	r := csv.NewReader(strings.NewReader(s))
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	r.ReuseRecord = true // rows go straight into the text: a large CSV is not held twice
	var out strings.Builder
	out.Grow(len(s))
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return out.String(), nil
		}
		if err != nil {
			return "", fmt.Errorf("read CSV: %w", err)
		}
		line := strings.TrimSpace(strings.Join(rec, " "))
		if line == "" {
			continue
		}
		if out.Len() > 0 {
			out.WriteString(elementSeparator)
		}
		out.WriteString(line)
	}
}
