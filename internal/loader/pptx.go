package loader

import (
	"encoding/xml"
	"fmt"
	"strings"
)

// pptx reads the slides in presentation order (presentation.xml's sldIdLst, not the part
// names, which keep the order slides were created in): each paragraph of each text frame in
// document order one element, each table row one element with its cells separated by a
// space, then the slide's speaker notes.
func pptx(body []byte) ([]string, error) {
	var ids []string
	pkg, name, err := walkMain(body, "PPTX", "ppt/presentation.xml", 'p', "presentation", func(_ *xml.Decoder, tok xml.Token) error {
		if t, ok := tok.(xml.StartElement); ok && is(t.Name, 'p', "sldId") {
			ids = append(ids, attr(t, 'r', "id"))
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
	var out elements
	for i, id := range ids {
		r, ok := rels[id]
		if !ok || r.typ != "slide" {
			return nil, pkg.corrupt(fmt.Errorf("slide %d: no slide relationship %q in %s", i+1, id, name))
		}
		if !pkg.has(r.target) {
			return nil, pkg.corrupt(fmt.Errorf("slide %d: missing part %s", i+1, r.target))
		}
		if err := pptxText(pkg, r.target, false, &out); err != nil {
			return nil, err
		}
		slideRels, err := pkg.rels(r.target)
		if err != nil {
			return nil, err
		}
		for _, nr := range slideRels {
			// A slide has at most one notes slide; a dangling relationship only loses the notes.
			if nr.typ == "notesSlide" && pkg.has(nr.target) {
				if err := pptxText(pkg, nr.target, true, &out); err != nil {
					return nil, err
				}
				break
			}
		}
	}
	return out, nil
}

// pptxText adds the text of a slide, or of a notes slide: there only the notes placeholder
// (ph type="body") counts, not the slide image or the slide number field.
func pptxText(pkg *ooxmlPackage, name string, notes bool, out *elements) error {
	var (
		para   *strings.Builder
		shapes []bool // per open p:sp: is it the notes body?
		row    []string
		cell   *strings.Builder
		inRow  bool
	)
	keep := func() bool { return !notes || len(shapes) > 0 && shapes[len(shapes)-1] }
	return pkg.walk(name, func(dec *xml.Decoder, tok xml.Token) error {
		switch t := tok.(type) {
		case xml.StartElement:
			switch ns := ooxmlNS[t.Name.Space]; {
			case ns == 'm' && t.Name.Local == "Fallback":
				return dec.Skip()
			case ns == 'p' && t.Name.Local == "sp":
				shapes = append(shapes, false)
			case ns == 'p' && t.Name.Local == "ph":
				if len(shapes) > 0 && attr(t, 0, "type") == "body" {
					shapes[len(shapes)-1] = true
				}
			case ns != 'a':
			case t.Name.Local == "p":
				para = &strings.Builder{}
			case t.Name.Local == "t":
				if para != nil {
					return charData(dec, para)
				}
				return dec.Skip()
			case t.Name.Local == "br":
				if para != nil {
					para.WriteByte('\n')
				}
			case t.Name.Local == "tr":
				row, inRow = row[:0], true
			case t.Name.Local == "tc":
				cell = &strings.Builder{}
			case t.Name.Local == "rPr", t.Name.Local == "pPr", t.Name.Local == "endParaRPr", t.Name.Local == "bodyPr":
				return dec.Skip()
			}
		case xml.EndElement:
			switch ns := ooxmlNS[t.Name.Space]; {
			case ns == 'p' && t.Name.Local == "sp":
				if len(shapes) > 0 {
					shapes = shapes[:len(shapes)-1]
				}
			case ns != 'a':
			case t.Name.Local == "p" && para != nil:
				switch s := para.String(); {
				case cell != nil:
					if s = cleanElement(s); s != "" {
						if cell.Len() > 0 {
							cell.WriteByte('\n')
						}
						cell.WriteString(s)
					}
				case keep():
					out.add(s)
				}
				para = nil
			case t.Name.Local == "tc" && cell != nil:
				if c := cleanElement(cell.String()); c != "" {
					row = append(row, c)
				}
				cell = nil
			case t.Name.Local == "tr" && inRow:
				if keep() {
					out.add(strings.Join(row, " "))
				}
				inRow = false
			}
		}
		return nil
	})
}
