package corpus

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Cell styles in xlsxStyles' cellXfs.
const (
	xfDefault = 0
	xfBold    = 1
	xfWrap    = 2
)

// encodeXLSX writes d as a SpreadsheetML workbook with one sheet per
// section: the heading in bold, the paragraphs one per row, then the table
// with a bold header. Cells that look like plain numbers are numbers;
// everything else goes to the shared string table.
func encodeXLSX(d Document) ([]byte, error) {
	sst := &sharedStrings{index: map[string]int{}}
	var sheets []part
	var names []string
	used := map[string]bool{}
	for i, s := range d.Sections {
		names = append(names, sheetName(s.Heading, i+1, used))
		sheets = append(sheets, part{fmt.Sprintf("xl/worksheets/sheet%d.xml", i+1), xlsxSheet(s, sst)})
	}

	var wb strings.Builder
	wb.WriteString(xmlHeader)
	wb.WriteString(`<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">`)
	wb.WriteString(`<bookViews><workbookView activeTab="0"/></bookViews><sheets>`)
	var rels []rel
	overrides := [][2]string{{"xl/workbook.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"}}
	for i, name := range names {
		fmt.Fprintf(&wb, `<sheet name="%s" sheetId="%d" r:id="rId%d"/>`, xmlEscape(name), i+1, i+1)
		rels = append(rels, rel{fmt.Sprintf("rId%d", i+1), "worksheet", fmt.Sprintf("worksheets/sheet%d.xml", i+1)})
		overrides = append(overrides, [2]string{sheets[i].name, "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"})
	}
	wb.WriteString(`</sheets></workbook>`)
	rels = append(rels,
		rel{fmt.Sprintf("rId%d", len(names)+1), "styles", "styles.xml"},
		rel{fmt.Sprintf("rId%d", len(names)+2), "sharedStrings", "sharedStrings.xml"})
	overrides = append(overrides,
		[2]string{"xl/styles.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"},
		[2]string{"xl/sharedStrings.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"},
		[2]string{"docProps/core.xml", ctCore},
		[2]string{"docProps/app.xml", ctApp})

	parts := []part{
		{"[Content_Types].xml", contentTypes(overrides)},
		{"_rels/.rels", packageRels("xl/workbook.xml")},
		{"xl/workbook.xml", wb.String()},
		{"xl/_rels/workbook.xml.rels", relationships(rels)},
	}
	parts = append(parts, sheets...)
	parts = append(parts,
		part{"xl/styles.xml", xlsxStyles},
		part{"xl/sharedStrings.xml", sst.xml()},
		part{"docProps/core.xml", coreProps(d)},
		part{"docProps/app.xml", appProps("Microsoft Excel")})
	return zipParts(parts)
}

type sharedStrings struct {
	list  []string
	index map[string]int
	count int
}

func (s *sharedStrings) add(v string) int {
	s.count++
	if i, ok := s.index[v]; ok {
		return i
	}
	s.index[v] = len(s.list)
	s.list = append(s.list, v)
	return len(s.list) - 1
}

func (s *sharedStrings) xml() string {
	var b strings.Builder
	b.WriteString(xmlHeader)
	fmt.Fprintf(&b, `<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="%d" uniqueCount="%d">`, s.count, len(s.list))
	for _, v := range s.list {
		b.WriteString(`<si><t xml:space="preserve">` + xmlEscape(v) + `</t></si>`)
	}
	b.WriteString(`</sst>`)
	return b.String()
}

func xlsxSheet(s Section, sst *sharedStrings) string {
	var rows [][]string
	var styles []int
	rows = append(rows, []string{s.Heading})
	styles = append(styles, xfBold)
	for _, p := range s.Paragraphs {
		if item, ok := bullet(p); ok {
			p = "• " + item
		}
		rows = append(rows, []string{p})
		styles = append(styles, xfDefault)
	}
	if t := rectangle(s.Table); t != nil {
		rows = append(rows, nil)
		styles = append(styles, xfDefault)
		for i, r := range t {
			rows = append(rows, r)
			if i == 0 {
				styles = append(styles, xfBold)
			} else {
				styles = append(styles, xfDefault)
			}
		}
	}
	width := 1
	for _, r := range rows {
		width = max(width, len(r))
	}

	var b strings.Builder
	b.WriteString(xmlHeader)
	b.WriteString(`<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">`)
	fmt.Fprintf(&b, `<dimension ref="A1:%s%d"/>`, columnName(width-1), len(rows))
	b.WriteString(`<sheetViews><sheetView workbookViewId="0"/></sheetViews><sheetFormatPr defaultRowHeight="15"/>`)
	fmt.Fprintf(&b, `<cols><col min="1" max="%d" width="24" customWidth="1"/></cols><sheetData>`, width)
	for i, r := range rows {
		fmt.Fprintf(&b, `<row r="%d">`, i+1)
		for j, v := range r {
			if v == "" {
				continue
			}
			ref := fmt.Sprintf("%s%d", columnName(j), i+1)
			style := styles[i]
			if style == xfDefault && strings.Contains(v, "\n") {
				style = xfWrap
			}
			sAttr := ""
			if style != xfDefault {
				sAttr = fmt.Sprintf(` s="%d"`, style)
			}
			if isNumber(v) && styles[i] != xfBold {
				fmt.Fprintf(&b, `<c r="%s"%s><v>%s</v></c>`, ref, sAttr, v)
				continue
			}
			fmt.Fprintf(&b, `<c r="%s"%s t="s"><v>%d</v></c>`, ref, sAttr, sst.add(v))
		}
		b.WriteString(`</row>`)
	}
	b.WriteString(`</sheetData><pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/></worksheet>`)
	return b.String()
}

var numberRE = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?$`)

// isNumber reports whether v is written as a plain decimal number, so that
// it round-trips through a numeric cell unchanged ("007" and "1,5" do not).
func isNumber(v string) bool {
	if !numberRE.MatchString(v) || len(v) > 15 {
		return false
	}
	_, err := strconv.ParseFloat(v, 64)
	return err == nil
}

// columnName returns the letters of zero-based column i: A … Z, AA, ….
func columnName(i int) string {
	name := ""
	for i++; i > 0; i = (i - 1) / 26 {
		name = string(rune('A'+(i-1)%26)) + name
	}
	return name
}

// sheetName makes a valid, unique sheet name from a heading: at most 31
// characters, none of []:*?/\, not starting or ending with an apostrophe.
func sheetName(heading string, n int, used map[string]bool) string {
	name := strings.Map(func(r rune) rune {
		if strings.ContainsRune(`[]:*?/\`, r) {
			return ' '
		}
		return r
	}, heading)
	name = strings.Trim(strings.Join(strings.Fields(name), " "), "'")
	name = truncateRunes(name, 31)
	if name == "" || strings.EqualFold(name, "History") {
		name = fmt.Sprintf("Sheet%d", n)
	}
	base := name
	for k := 2; used[strings.ToLower(name)]; k++ {
		suffix := fmt.Sprintf(" (%d)", k)
		name = truncateRunes(base, 31-len(suffix)) + suffix
	}
	used[strings.ToLower(name)] = true
	return name
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return strings.TrimSpace(string([]rune(s)[:n]))
}

const xlsxStyles = xmlHeader + `<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">` +
	`<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>` +
	`<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>` +
	`<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>` +
	`<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>` +
	`<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>` +
	`<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>` +
	`<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>` +
	`<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" applyAlignment="1"><alignment wrapText="1" vertical="top"/></xf></cellXfs>` +
	`<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>` +
	`</styleSheet>`
