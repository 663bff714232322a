package loader

import (
	"encoding/xml"
	"strings"
)

// docxSkipped are WordprocessingML elements whose content is not document text: properties,
// tracked deletions and moves away, and the fallback copy of alternate content (the text box
// it holds is already read from mc:Choice).
var docxSkipped = map[string]bool{
	"pPr": true, "rPr": true, "tblPr": true, "tblGrid": true, "trPr": true, "tcPr": true, "sectPr": true,
	"del": true, "moveFrom": true, "sdtEndPr": true, "instrText": true, "delText": true,
}

// docx reads the body of a WordprocessingML document in order: each paragraph (headings and
// list items included) one element, each table row one element with its cells separated by a
// space. A nested table's rows go into the text of the cell that holds it.
func docx(body []byte) ([]string, error) {
	r := &docxReader{}
	_, _, err := walkMain(body, "DOCX", "word/document.xml", 'w', "document", func(dec *xml.Decoder, tok xml.Token) error {
		switch t := tok.(type) {
		case xml.StartElement:
			return r.start(dec, t)
		case xml.EndElement:
			r.end(t)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r.out, nil
}

// docxReader is the state of one pass over document.xml.
type docxReader struct {
	out elements
	// paras are the open paragraphs, innermost last: a text box inside a paragraph holds
	// paragraphs of its own.
	paras  []*strings.Builder
	tables []*docxTable
	// placeholder is set by a content control showing its placeholder text ("Click or tap
	// here to enter text."), which is not the document's text.
	placeholder bool
}

type docxTable struct {
	row  []string
	cell *strings.Builder // nil outside a cell
}

func (r *docxReader) start(dec *xml.Decoder, t xml.StartElement) error {
	if ooxmlNS[t.Name.Space] == 'm' && t.Name.Local == "Fallback" {
		return dec.Skip()
	}
	if ooxmlNS[t.Name.Space] != 'w' {
		return nil
	}
	if docxSkipped[t.Name.Local] {
		return dec.Skip()
	}
	switch t.Name.Local {
	case "p":
		r.paras = append(r.paras, &strings.Builder{})
	case "t":
		return r.text(dec)
	case "tab", "ptab":
		r.write("\t")
	case "br", "cr":
		r.write("\n")
	case "noBreakHyphen":
		r.write("-")
	case "tbl":
		r.tables = append(r.tables, &docxTable{})
	case "tr":
		if tb := r.table(); tb != nil {
			tb.row = tb.row[:0]
		}
	case "tc":
		if tb := r.table(); tb != nil {
			tb.cell = &strings.Builder{}
		}
	case "sdtPr":
		return r.sdtProperties(dec)
	case "sdtContent":
		if r.placeholder {
			r.placeholder = false
			return dec.Skip()
		}
	}
	return nil
}

func (r *docxReader) end(t xml.EndElement) {
	if ooxmlNS[t.Name.Space] != 'w' {
		return
	}
	switch t.Name.Local {
	case "p":
		if n := len(r.paras); n > 0 {
			p := r.paras[n-1]
			r.paras = r.paras[:n-1]
			r.emit(p.String())
		}
	case "tc":
		if tb := r.table(); tb != nil && tb.cell != nil {
			if c := cleanElement(tb.cell.String()); c != "" {
				tb.row = append(tb.row, c)
			}
			tb.cell = nil
		}
	case "tr":
		if tb := r.table(); tb != nil {
			r.emit(strings.Join(tb.row, " "))
			tb.row = tb.row[:0]
		}
	case "tbl":
		if n := len(r.tables); n > 0 {
			r.tables = r.tables[:n-1]
		}
	}
}

func (r *docxReader) table() *docxTable {
	if n := len(r.tables); n > 0 {
		return r.tables[n-1]
	}
	return nil
}

// text appends the character data of a w:t to the innermost paragraph.
func (r *docxReader) text(dec *xml.Decoder) error {
	var b strings.Builder
	err := charData(dec, &b)
	r.write(b.String())
	return err
}

// sdtProperties reads a content control's properties for w:showingPlcHdr.
func (r *docxReader) sdtProperties(dec *xml.Decoder) error {
	for depth := 1; depth > 0; {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if is(t.Name, 'w', "showingPlcHdr") && attr(t, 'w', "val") != "0" && attr(t, 'w', "val") != "false" {
				r.placeholder = true
			}
		case xml.EndElement:
			depth--
		}
	}
	return nil
}

func (r *docxReader) write(s string) {
	if n := len(r.paras); n > 0 {
		r.paras[n-1].WriteString(s)
	}
}

// emit sends a finished paragraph or table row to the innermost open table cell, or to the
// document when no cell is open. A row of a nested table finds its own table's cell closed
// and so lands in the enclosing table's cell.
func (r *docxReader) emit(s string) {
	for i := len(r.tables) - 1; i >= 0; i-- {
		if c := r.tables[i].cell; c != nil {
			if s = cleanElement(s); s != "" {
				if c.Len() > 0 {
					c.WriteByte('\n')
				}
				c.WriteString(s)
			}
			return
		}
	}
	r.out.add(s)
}
