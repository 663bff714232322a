package corpus

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf16"
)

// PDF layout, in points on an A4 page.
const (
	pdfPageW    = 595.28
	pdfPageH    = 841.89
	pdfMargin   = 56.0
	pdfBodySize = 10.5
	pdfCellSize = 9.0
)

// The font resource names in content streams.
const (
	fontRegular = "F1" // Helvetica, WinAnsiEncoding
	fontBold    = "F2" // Helvetica-Bold, WinAnsiEncoding
	fontCID     = "F3" // Type0, Identity-H, code = Unicode BMP code point
)

// cidFontName is the BaseFont of the Type0 font. No font program is
// embedded: viewers substitute a font, text extractors use the ToUnicode CMap.
const cidFontName = "NotoSansCJK-Regular"

// encodePDF writes d as PDF 1.4: text flowed onto A4 pages, tables as ruled
// rows, content streams compressed with FlateDecode.
func encodePDF(d Document) ([]byte, error) {
	l := &pdfLayout{cids: map[rune]bool{}}
	l.newPage()
	l.paragraph(d.Title, 20, true, 0)
	l.y -= 6
	for _, s := range d.Sections {
		l.y -= 8
		l.keep(14 * 1.4 * 3) // no heading alone at the bottom of a page
		l.paragraph(s.Heading, 14, true, 0)
		l.y -= 2
		for _, p := range s.Paragraphs {
			if item, ok := bullet(p); ok {
				l.item(item)
				continue
			}
			l.paragraph(p, pdfBodySize, false, 0)
			l.y -= 4
		}
		if t := rectangle(s.Table); t != nil {
			l.y -= 4
			l.table(t)
		}
	}
	l.endPage()
	return l.write(d)
}

// pdfLayout turns text into page content streams.
type pdfLayout struct {
	pages [][]byte
	cur   bytes.Buffer
	y     float64       // baseline of the next line
	cids  map[rune]bool // runes drawn with the Type0 font, for ToUnicode
}

func (l *pdfLayout) newPage() {
	l.cur.Reset()
	l.y = pdfPageH - pdfMargin
}

func (l *pdfLayout) endPage() {
	l.pages = append(l.pages, bytes.Clone(l.cur.Bytes()))
}

// keep starts a new page unless h points still fit on this one.
func (l *pdfLayout) keep(h float64) {
	if l.y-h < pdfMargin {
		l.endPage()
		l.newPage()
	}
}

func (l *pdfLayout) paragraph(text string, size float64, bold bool, indent float64) {
	lead := size * 1.4
	for _, line := range wrapText(text, pdfPageW-2*pdfMargin-indent, size, bold) {
		l.keep(lead)
		l.y -= size
		l.text(pdfMargin+indent, l.y, size, bold, line)
		l.y -= lead - size
	}
}

func (l *pdfLayout) item(text string) {
	const indent = 16.0
	lead := pdfBodySize * 1.4
	for i, line := range wrapText(text, pdfPageW-2*pdfMargin-indent, pdfBodySize, false) {
		l.keep(lead)
		l.y -= pdfBodySize
		if i == 0 {
			l.text(pdfMargin+4, l.y, pdfBodySize, false, "•")
		}
		l.text(pdfMargin+indent, l.y, pdfBodySize, false, line)
		l.y -= lead - pdfBodySize
	}
	l.y -= 2
}

// table draws t with columns sized by content; the header row is bold and
// repeated on every page the table runs onto.
func (l *pdfLayout) table(t [][]string) {
	const pad = 4.0
	width := pdfPageW - 2*pdfMargin
	n := len(t[0])
	natural := make([]float64, n)
	for _, row := range t {
		for j, c := range row {
			for _, line := range strings.Split(c, "\n") {
				natural[j] = max(natural[j], textWidth(line, pdfCellSize, true)+2*pad)
			}
		}
	}
	cols := make([]float64, n)
	total := 0.0
	for j := range natural {
		cols[j] = min(max(natural[j], 36), width/2)
		total += cols[j]
	}
	for j := range cols {
		cols[j] *= width / total // fill the text width exactly
	}
	lead := pdfCellSize * 1.35
	drawRow := func(row []string, bold bool) {
		cells := make([][]string, n)
		lines := 1
		for j, c := range row {
			for _, part := range strings.Split(c, "\n") {
				cells[j] = append(cells[j], wrapText(part, cols[j]-2*pad, pdfCellSize, bold)...)
			}
			lines = max(lines, len(cells[j]))
		}
		top := l.y
		x := pdfMargin
		for j := range cells {
			for k, line := range cells[j] {
				l.text(x+pad, top-pad-pdfCellSize-float64(k)*lead, pdfCellSize, bold, line)
			}
			x += cols[j]
		}
		l.y = top - 2*pad - float64(lines)*lead
		fmt.Fprintf(&l.cur, "0.6 G 0.5 w %.2f %.2f m %.2f %.2f l S\n", pdfMargin, l.y, pdfMargin+width, l.y)
	}
	rowHeight := func(row []string, bold bool) float64 {
		lines := 1
		for j, c := range row {
			k := 0
			for _, part := range strings.Split(c, "\n") {
				k += len(wrapText(part, cols[j]-2*pad, pdfCellSize, bold))
			}
			lines = max(lines, k)
		}
		return 2*pad + float64(lines)*lead
	}
	l.keep(rowHeight(t[0], true) + rowHeight(t[min(1, len(t)-1)], false))
	drawRow(t[0], true)
	for _, row := range t[1:] {
		if h := rowHeight(row, false); l.y-h < pdfMargin {
			l.endPage()
			l.newPage()
			drawRow(t[0], true)
		}
		drawRow(row, false)
	}
	l.y -= 6
}

// text draws one line at (x, y), switching between Helvetica for what
// WinAnsiEncoding can encode and the Type0 font for everything else.
func (l *pdfLayout) text(x, y, size float64, bold bool, s string) {
	if s == "" {
		return
	}
	latin := fontRegular
	if bold {
		latin = fontBold
	}
	fmt.Fprintf(&l.cur, "BT %.2f %.2f Td\n", x, y)
	font := ""
	var run []byte
	flush := func() {
		if len(run) == 0 {
			return
		}
		if font == fontCID {
			fmt.Fprintf(&l.cur, "<%X> Tj\n", run)
		} else {
			l.cur.WriteString("(")
			l.cur.Write(pdfEscape(run))
			l.cur.WriteString(") Tj\n")
		}
		run = run[:0]
	}
	for _, r := range s {
		if r == '\t' {
			r = ' '
		}
		want := latin
		c, ok := winAnsi(r)
		if !ok {
			want = fontCID
			if r > 0xFFFF || !unicode.IsPrint(r) {
				r = 0xFFFD
			}
			l.cids[r] = true
		}
		if want != font {
			flush()
			font = want
			fmt.Fprintf(&l.cur, "/%s %.1f Tf\n", font, size)
		}
		if font == fontCID {
			run = append(run, byte(r>>8), byte(r))
		} else {
			run = append(run, c)
		}
	}
	flush()
	l.cur.WriteString("ET\n")
}

// pdfEscape escapes a literal string: ( ) \ and bytes outside printable ASCII.
func pdfEscape(b []byte) []byte {
	var out []byte
	for _, c := range b {
		switch {
		case c == '(' || c == ')' || c == '\\':
			out = append(out, '\\', c)
		case c < 0x20 || c >= 0x7f:
			out = fmt.Appendf(out, "\\%03o", c)
		default:
			out = append(out, c)
		}
	}
	return out
}

// write serialises the document: catalog, page tree, info, fonts, pages,
// then the cross-reference table with the byte offset of every object.
func (l *pdfLayout) write(d Document) ([]byte, error) {
	type object struct{ dict, stream string }
	var objs []object
	add := func(o object) int { objs = append(objs, o); return len(objs) }
	ref := func(n int) string { return fmt.Sprintf("%d 0 R", n) }

	catalog := add(object{})
	pagesObj := add(object{})
	info := add(object{dict: fmt.Sprintf("<< /Title %s /Producer (ragmigrate corpus) /CreationDate (D:20240301120000Z) >>", pdfTextString(d.Title))})
	fonts := fmt.Sprintf("/%s %s /%s %s",
		fontRegular, ref(add(object{dict: "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"})),
		fontBold, ref(add(object{dict: "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>"})))
	if len(l.cids) > 0 {
		desc := add(object{dict: "<< /Type /FontDescriptor /FontName /" + cidFontName +
			" /Flags 4 /FontBBox [-1000 -300 2000 1100] /ItalicAngle 0 /Ascent 880 /Descent -120 /CapHeight 733 /StemV 80 >>"})
		cid := add(object{dict: "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /" + cidFontName +
			" /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /FontDescriptor " + ref(desc) +
			" /DW 1000 /CIDToGIDMap /Identity >>"})
		cmap := add(object{stream: toUnicodeCMap(l.cids)})
		type0 := add(object{dict: "<< /Type /Font /Subtype /Type0 /BaseFont /" + cidFontName +
			" /Encoding /Identity-H /DescendantFonts [" + ref(cid) + "] /ToUnicode " + ref(cmap) + " >>"})
		fonts += fmt.Sprintf(" /%s %s", fontCID, ref(type0))
	}
	resources := add(object{dict: "<< /Font << " + fonts + " >> /ProcSet [/PDF /Text] >>"})
	var kids []string
	for _, content := range l.pages {
		c := add(object{stream: string(content)})
		p := add(object{dict: fmt.Sprintf("<< /Type /Page /Parent %s /MediaBox [0 0 %.2f %.2f] /Resources %s /Contents %s >>",
			ref(pagesObj), pdfPageW, pdfPageH, ref(resources), ref(c))})
		kids = append(kids, ref(p))
	}
	objs[catalog-1].dict = fmt.Sprintf("<< /Type /Catalog /Pages %s /Lang (%s) >>", ref(pagesObj), langTag(d.Lang))
	objs[pagesObj-1].dict = fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), len(kids))

	var buf bytes.Buffer
	buf.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = buf.Len()
		fmt.Fprintf(&buf, "%d 0 obj\n", i+1)
		if o.stream == "" {
			buf.WriteString(o.dict)
		} else {
			var z bytes.Buffer
			zw := zlib.NewWriter(&z)
			if _, err := zw.Write([]byte(o.stream)); err != nil {
				return nil, fmt.Errorf("compress object %d: %w", i+1, err)
			}
			if err := zw.Close(); err != nil {
				return nil, fmt.Errorf("compress object %d: %w", i+1, err)
			}
			fmt.Fprintf(&buf, "<< /Length %d /Filter /FlateDecode >>\nstream\n", z.Len())
			buf.Write(z.Bytes())
			buf.WriteString("\nendstream")
		}
		buf.WriteString("\nendobj\n")
	}
	xref := buf.Len()
	fmt.Fprintf(&buf, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&buf, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&buf, "trailer\n<< /Size %d /Root %s /Info %s >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, ref(catalog), ref(info), xref)
	return buf.Bytes(), nil
}

// pdfTextString encodes a text string (PDF 1.4, 3.8.1): plain ASCII as a
// literal string, anything else as UTF-16BE with a byte order mark.
func pdfTextString(s string) string {
	ascii := true
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			ascii = false
			break
		}
	}
	if ascii {
		return "(" + string(pdfEscape([]byte(s))) + ")"
	}
	var b strings.Builder
	b.WriteString("<FEFF")
	for _, u := range utf16.Encode([]rune(s)) {
		fmt.Fprintf(&b, "%04X", u)
	}
	b.WriteString(">")
	return b.String()
}

// toUnicodeCMap maps each 2-byte code (the rune itself) back to Unicode.
func toUnicodeCMap(used map[rune]bool) string {
	runes := make([]rune, 0, len(used))
	for r := range used {
		runes = append(runes, r)
	}
	slices.Sort(runes)
	var b strings.Builder
	b.WriteString("/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n" +
		"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n" +
		"/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n" +
		"1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n")
	for len(runes) > 0 {
		chunk := runes[:min(100, len(runes))] // at most 100 entries per block
		runes = runes[len(chunk):]
		fmt.Fprintf(&b, "%d beginbfchar\n", len(chunk))
		for _, r := range chunk {
			fmt.Fprintf(&b, "<%04X> <%04X>\n", r, r)
		}
		b.WriteString("endbfchar\n")
	}
	b.WriteString("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n")
	return b.String()
}

// wrapText breaks s into lines no wider than width. Latin and Hangul text
// breaks at spaces; Han and kana may break between any two characters,
// except before closing and after opening punctuation. A word wider than a
// line is split by characters.
func wrapText(s string, width, size float64, bold bool) []string {
	var lines []string
	var line strings.Builder
	lineW := 0.0
	for _, seg := range segments(s) {
		text := seg.text
		if seg.space && line.Len() > 0 {
			text = " " + text
		}
		w := textWidth(text, size, bold)
		if lineW+w > width && line.Len() > 0 {
			lines = append(lines, line.String())
			line.Reset()
			lineW = 0
			text = seg.text
			w = textWidth(text, size, bold)
		}
		if w > width { // split an over-long word
			for _, r := range text {
				rw := textWidth(string(r), size, bold)
				if lineW+rw > width && line.Len() > 0 {
					lines = append(lines, line.String())
					line.Reset()
					lineW = 0
				}
				line.WriteRune(r)
				lineW += rw
			}
			continue
		}
		line.WriteString(text)
		lineW += w
	}
	if line.Len() > 0 {
		lines = append(lines, line.String())
	}
	return lines
}

type segment struct {
	text  string
	space bool // preceded by white space
}

const (
	noLineStart = "、。，．：；！？）」』】〕〉》〜ー…・％,.:;!?)]}%"
	noLineEnd   = "（「『【〔〈《([{"
)

func segments(s string) []segment {
	var segs []segment
	var cur []rune
	space := false
	flush := func() {
		if len(cur) > 0 {
			segs = append(segs, segment{string(cur), space})
			cur = cur[:0]
			space = false
		}
	}
	runes := []rune(s)
	for i, r := range runes {
		switch {
		case unicode.IsSpace(r):
			flush()
			space = true
		case breakAnywhere(r):
			if len(cur) > 0 && !strings.ContainsRune(noLineEnd, cur[len(cur)-1]) && !strings.ContainsRune(noLineStart, r) {
				flush()
			}
			cur = append(cur, r)
			// attach following closing punctuation
			if i+1 < len(runes) && strings.ContainsRune(noLineStart, runes[i+1]) {
				continue
			}
			if !strings.ContainsRune(noLineEnd, r) {
				flush()
			}
		default:
			if len(cur) > 0 && breakAnywhere(cur[len(cur)-1]) && !strings.ContainsRune(noLineEnd, cur[len(cur)-1]) &&
				!strings.ContainsRune(noLineStart, r) {
				flush()
			}
			cur = append(cur, r)
		}
	}
	flush()
	return segs
}

// breakAnywhere reports whether a line may break next to r (Han, kana and
// CJK punctuation; Hangul is written with spaces and breaks at them).
func breakAnywhere(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana) ||
		(r >= 0x3000 && r <= 0x303f) || (r >= 0xff00 && r <= 0xffef)
}

// textWidth is the advance of s in points: Helvetica metrics for WinAnsi
// characters, 1000 units (the Type0 font's /DW) for everything else.
func textWidth(s string, size float64, bold bool) float64 {
	units := 0.0
	for _, r := range s {
		if c, ok := winAnsi(r); ok {
			w := float64(helveticaWidths[c])
			if bold {
				w *= 1.08 // Helvetica-Bold is a little wider; only wrapping depends on it
			}
			units += w
		} else {
			units += 1000
		}
	}
	return units * size / 1000
}

// winAnsi returns the WinAnsiEncoding code of r.
func winAnsi(r rune) (byte, bool) {
	switch {
	case r >= 0x20 && r <= 0x7e, r >= 0xa0 && r <= 0xff:
		return byte(r), true
	}
	for i, u := range winAnsi80 {
		if u == r && u != 0 {
			return byte(0x80 + i), true
		}
	}
	return 0, false
}

// winAnsi80 maps codes 0x80–0x9F of WinAnsiEncoding to Unicode (0: unused).
var winAnsi80 = [32]rune{
	0x20ac, 0, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017d, 0,
	0, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0, 0x017e, 0x0178,
}

// helveticaWidths are the Helvetica advance widths (AFM, 1/1000 em) by
// WinAnsiEncoding code.
var helveticaWidths = func() [256]int {
	var w [256]int
	for i := range w {
		w[i] = 556
	}
	ascii := []int{
		278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // 0x20
		556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // 0x30
		1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // 0x40
		667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // 0x50
		333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // 0x60
		556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, 350, // 0x70
		556, 350, 222, 556, 333, 1000, 556, 556, 333, 1000, 667, 333, 1000, 350, 611, 350, // 0x80
		350, 222, 222, 333, 333, 350, 556, 1000, 333, 1000, 500, 333, 944, 350, 500, 667, // 0x90
		278, 333, 556, 556, 556, 556, 260, 556, 333, 737, 370, 556, 584, 333, 737, 333, // 0xA0
		400, 584, 333, 333, 333, 556, 537, 278, 333, 333, 365, 556, 834, 834, 834, 611, // 0xB0
		667, 667, 667, 667, 667, 667, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278, // 0xC0
		722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611, // 0xD0
		556, 556, 556, 556, 556, 556, 889, 500, 556, 556, 556, 556, 278, 278, 278, 278, // 0xE0
		556, 556, 556, 556, 556, 556, 556, 584, 611, 556, 556, 556, 556, 500, 556, 500, // 0xF0
	}
	copy(w[0x20:], ascii)
	return w
}()
