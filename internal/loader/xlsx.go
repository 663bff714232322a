package loader

import (
	"encoding/xml"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// xlsx reads every worksheet in workbook order: the sheet's name, then each non-empty row as
// one element, its cell values separated by a space. Values are as stored: shared and inline
// strings, numbers exactly as written in the file (no float formatting; dates stay serial
// numbers, as no number format is applied), TRUE/FALSE for booleans, error codes as #N/A etc.
func xlsx(body []byte) ([]string, error) {
	type sheet struct{ name, rid string }
	var sheets []sheet
	pkg, name, err := walkMain(body, "XLSX", "xl/workbook.xml", 's', "workbook", func(_ *xml.Decoder, tok xml.Token) error {
		if t, ok := tok.(xml.StartElement); ok && is(t.Name, 's', "sheet") {
			sheets = append(sheets, sheet{name: attr(t, 0, "name"), rid: attr(t, 'r', "id")})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	rels, err := pkg.rels(name)
	if err != nil {
		return nil, err
	}
	var sst []string
	for _, r := range rels {
		if r.typ == "sharedStrings" && pkg.has(r.target) {
			if sst, err = sharedStrings(pkg, r.target); err != nil {
				return nil, err
			}
			break
		}
	}
	var out elements
	for _, s := range sheets {
		r, ok := rels[s.rid]
		if !ok || r.typ != "worksheet" {
			continue // chart and dialog sheets hold no cells
		}
		if !pkg.has(r.target) {
			return nil, pkg.corrupt(fmt.Errorf("missing part %s of sheet %q", r.target, s.name))
		}
		out.add(s.name)
		if err := worksheet(pkg, r.target, sst, &out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// sharedStrings reads the shared string table: each si's text, its rich-text runs joined and
// its phonetic guides (rPh, the furigana of Japanese workbooks) left out.
func sharedStrings(pkg *ooxmlPackage, name string) ([]string, error) {
	var out []string
	var si strings.Builder
	err := pkg.walk(name, func(dec *xml.Decoder, tok xml.Token) error {
		switch t := tok.(type) {
		case xml.StartElement:
			switch {
			case is(t.Name, 's', "si"):
				si.Reset()
			case is(t.Name, 's', "rPh"), is(t.Name, 's', "phoneticPr"):
				return dec.Skip()
			case is(t.Name, 's', "t"):
				return charData(dec, &si)
			}
		case xml.EndElement:
			if is(t.Name, 's', "si") {
				out = append(out, unescapeXString(si.String()))
			}
		}
		return nil
	})
	return out, err
}

// worksheet adds the non-empty rows of one sheet.
func worksheet(pkg *ooxmlPackage, name string, sst []string, out *elements) error {
	var (
		row      []string
		typ      string
		value    strings.Builder // <v>
		inline   strings.Builder // <is>
		isInline bool
	)
	return pkg.walk(name, func(dec *xml.Decoder, tok xml.Token) error {
		switch t := tok.(type) {
		case xml.StartElement:
			switch {
			case is(t.Name, 's', "row"):
				row = row[:0]
			case is(t.Name, 's', "c"):
				typ = attr(t, 0, "t")
				value.Reset()
				inline.Reset()
				isInline = false
			case is(t.Name, 's', "v"):
				return charData(dec, &value)
			case is(t.Name, 's', "is"):
				isInline = true
			case is(t.Name, 's', "t"):
				return charData(dec, &inline)
			case is(t.Name, 's', "rPh"), is(t.Name, 's', "f"), is(t.Name, 's', "extLst"):
				return dec.Skip()
			}
		case xml.EndElement:
			switch {
			case is(t.Name, 's', "c"):
				if v := cellValue(typ, value.String(), inline.String(), isInline, sst); v != "" {
					row = append(row, v)
				}
			case is(t.Name, 's', "row"):
				out.add(strings.Join(row, " "))
			}
		}
		return nil
	})
}

func cellValue(typ, v, inline string, isInline bool, sst []string) string {
	switch typ {
	case "s":
		i, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || i < 0 || i >= len(sst) {
			return ""
		}
		return sst[i]
	case "b":
		switch strings.TrimSpace(v) {
		case "1", "true":
			return "TRUE"
		case "0", "false":
			return "FALSE"
		}
		return v
	case "inlineStr":
		return unescapeXString(inline)
	case "str":
		return unescapeXString(v)
	}
	if isInline && v == "" {
		return unescapeXString(inline)
	}
	return strings.TrimSpace(v)
}

// charData appends the text directly inside the element just started and consumes it.
func charData(dec *xml.Decoder, b *strings.Builder) error {
	for depth := 1; depth > 0; {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.CharData:
			if depth == 1 {
				b.Write(t)
			}
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		}
	}
	return nil
}

var xStringEscape = regexp.MustCompile(`_x([0-9A-Fa-f]{4})_`)

// unescapeXString decodes the _xHHHH_ escapes of SpreadsheetML strings (ST_Xstring): Excel
// writes a carriage return as _x000D_ and a literal "_x" as _x005F_x.
func unescapeXString(s string) string {
	if !strings.Contains(s, "_x") {
		return s
	}
	return xStringEscape.ReplaceAllStringFunc(s, func(m string) string {
		n, _ := strconv.ParseUint(m[2:6], 16, 32)
		return string(rune(n))
	})
}
