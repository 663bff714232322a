package corpus

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// extensions are the upload types the Bedrock Chat frontend accepts.
var extensions = []string{".txt", ".text", ".md", ".csv", ".pdf", ".docx", ".xlsx", ".pptx"}

// Extensions returns the eight file extensions Encode supports, with dots.
func Extensions() []string { return append([]string(nil), extensions...) }

// Encode writes d in the format of ext (".pdf", ".docx", …; see Extensions).
// The output depends only on d and ext.
//
// ".csv" holds a single table, the document's data table (its last section),
// with a header row: the loaders that read CSV (pandas among them) reject a
// file whose rows change width, so the other tables are left out.
func Encode(d Document, ext string) ([]byte, error) {
	var (
		b   []byte
		err error
	)
	switch ext {
	case ".txt", ".text":
		b = []byte(d.PlainText())
	case ".md":
		b = encodeMarkdown(d)
	case ".csv":
		b, err = encodeCSV(d)
	case ".pdf":
		b, err = encodePDF(d)
	case ".docx":
		b, err = encodeDOCX(d)
	case ".xlsx":
		b, err = encodeXLSX(d)
	case ".pptx":
		b, err = encodePPTX(d)
	default:
		return nil, fmt.Errorf("encode %q: unsupported extension %q", d.Title, ext)
	}
	if err != nil {
		return nil, fmt.Errorf("encode %q as %s: %w", d.Title, ext, err)
	}
	return b, nil
}

func encodeMarkdown(d Document) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n", d.Title)
	for _, s := range d.Sections {
		fmt.Fprintf(&b, "\n## %s\n", s.Heading)
		inList := false
		for _, p := range s.Paragraphs {
			if item, ok := bullet(p); ok {
				if !inList {
					b.WriteString("\n")
				}
				fmt.Fprintf(&b, "- %s\n", item)
				inList = true
				continue
			}
			inList = false
			fmt.Fprintf(&b, "\n%s\n", p)
		}
		if t := rectangle(s.Table); t != nil {
			b.WriteString("\n")
			for i, row := range t {
				cells := make([]string, len(row))
				for j, c := range row {
					c = strings.ReplaceAll(c, "|", `\|`)
					cells[j] = strings.ReplaceAll(c, "\n", "<br>")
				}
				fmt.Fprintf(&b, "| %s |\n", strings.Join(cells, " | "))
				if i == 0 {
					b.WriteString("|" + strings.Repeat(" --- |", len(row)) + "\n")
				}
			}
		}
	}
	return []byte(b.String())
}

func encodeCSV(d Document) ([]byte, error) {
	ts := d.tables()
	if len(ts) == 0 {
		return nil, fmt.Errorf("document has no table")
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.WriteAll(ts[len(ts)-1]); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// xmlEscape escapes s for XML text and attribute values and drops the
// characters XML 1.0 does not allow at all (most C0 controls, surrogates,
// U+FFFE and U+FFFF). Newlines and tabs are kept.
func xmlEscape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '"':
			b.WriteString("&quot;")
		case r == '\'':
			b.WriteString("&apos;")
		case r == '\t' || r == '\n' || r == '\r':
			b.WriteRune(r)
		case r == utf8.RuneError:
			// invalid UTF-8 is dropped too: the part must decode
		case r < 0x20 || (r >= 0xD800 && r <= 0xDFFF) || r == 0xFFFE || r == 0xFFFF:
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

const xmlHeader = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n"

// packageTime is the fixed timestamp of every zip entry and every created or
// modified date, so that encoding is deterministic.
var packageTime = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// part is one file of an Office Open XML package.
type part struct {
	name string
	data string
}

// zipParts writes parts in order with a fixed timestamp. [Content_Types].xml
// should come first, as Office writes it.
func zipParts(parts []part) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, p := range parts {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: p.name, Method: zip.Deflate, Modified: packageTime})
		if err != nil {
			return nil, fmt.Errorf("zip %s: %w", p.name, err)
		}
		if _, err := w.Write([]byte(p.data)); err != nil {
			return nil, fmt.Errorf("zip %s: %w", p.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("zip: %w", err)
	}
	return buf.Bytes(), nil
}

// contentTypes builds [Content_Types].xml: defaults for rels and xml, one
// override per named part.
func contentTypes(overrides [][2]string) string {
	var b strings.Builder
	b.WriteString(xmlHeader)
	b.WriteString(`<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">`)
	b.WriteString(`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>`)
	b.WriteString(`<Default Extension="xml" ContentType="application/xml"/>`)
	for _, o := range overrides {
		fmt.Fprintf(&b, `<Override PartName="/%s" ContentType="%s"/>`, o[0], o[1])
	}
	b.WriteString(`</Types>`)
	return b.String()
}

// rel is one relationship: id, type (the last path element of the
// officeDocument relationship namespace, or a full URI) and target.
type rel struct{ id, typ, target string }

const relNS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"

func relationships(rels []rel) string {
	var b strings.Builder
	b.WriteString(xmlHeader)
	b.WriteString(`<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">`)
	for _, r := range rels {
		typ := r.typ
		if !strings.HasPrefix(typ, "http") {
			typ = relNS + typ
		}
		fmt.Fprintf(&b, `<Relationship Id="%s" Type="%s" Target="%s"/>`, r.id, typ, xmlEscape(r.target))
	}
	b.WriteString(`</Relationships>`)
	return b.String()
}

const (
	ctCore = "application/vnd.openxmlformats-package.core-properties+xml"
	ctApp  = "application/vnd.openxmlformats-officedocument.extended-properties+xml"
)

// packageRels is _rels/.rels: the main part plus core and app properties.
func packageRels(mainPart string) string {
	return relationships([]rel{
		{"rId1", "officeDocument", mainPart},
		{"rId2", "http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties", "docProps/core.xml"},
		{"rId3", "extended-properties", "docProps/app.xml"},
	})
}

func coreProps(d Document) string {
	ts := packageTime.Format(time.RFC3339)
	return xmlHeader + `<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"` +
		` xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"` +
		` xmlns:dcmitype="http://purl.org/dc/dcmitype/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">` +
		`<dc:title>` + xmlEscape(d.Title) + `</dc:title>` +
		`<dc:creator>Nimbus Air Systems</dc:creator>` +
		`<dc:language>` + langTag(d.Lang) + `</dc:language>` +
		`<dcterms:created xsi:type="dcterms:W3CDTF">` + ts + `</dcterms:created>` +
		`<dcterms:modified xsi:type="dcterms:W3CDTF">` + ts + `</dcterms:modified>` +
		`</cp:coreProperties>`
}

func appProps(application string) string {
	return xmlHeader + `<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"` +
		` xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">` +
		`<Application>` + xmlEscape(application) + `</Application></Properties>`
}
