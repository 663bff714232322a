package loader

import (
	"strings"
	"unicode/utf16"

	"github.com/ledongthuc/pdf"
)

// pdfFont turns the bytes of a shown string into character codes, text and advance widths.
type pdfFont struct {
	// composite is a Type0 font: codes of one to four bytes through a CMap, two for Identity-H/V.
	composite bool
	// space splits strings into codes when the font's Encoding (or, failing that, its ToUnicode
	// CMap) declares code space ranges; nil means fixed-width codes.
	space []pdfCodeRange
	// toUnicode is the font's ToUnicode CMap, the one reliable way back to text for composite fonts.
	toUnicode *pdfCMap
	// utf16 is a composite font whose predefined encoding (Uni…-UCS2-H, Uni…-UTF16-H) already
	// holds UTF-16BE codes.
	utf16 bool
	// identity is a composite font with Identity-H/V: codes are CIDs, widths come from /W.
	identity bool
	// simple decodes single-byte codes through the font's Encoding (WinAnsi, MacRoman,
	// Differences) when ToUnicode is missing or lacks a code.
	simple pdf.TextEncoding

	firstChar    int
	widths       []float64 // from FirstChar, in glyph units
	missingWidth float64
	cidWidths    map[uint32]float64
	cidRanges    []pdfWidthRange
	scale        float64 // glyph units to text space: 1/1000, or a Type3 font's FontMatrix
}

type pdfWidthRange struct {
	lo, hi uint32
	w      float64
}

// pdfMaxCMap bounds the bytes of a ToUnicode or encoding CMap stream.
const pdfMaxCMap = 4 << 20

// newPDFFont reads a font dictionary. Problems in optional parts (a broken ToUnicode stream,
// odd widths) degrade the text rather than fail the document.
func newPDFFont(v pdf.Value, budget *pdfBudget) *pdfFont {
	f := &pdfFont{scale: 0.001}
	subtype := v.Key("Subtype").Name()
	if tu := v.Key("ToUnicode"); tu.Kind() == pdf.Stream {
		if b, err := budget.read(tu, pdfMaxCMap); err == nil {
			f.toUnicode = parsePDFCMap(b)
		}
	}
	if subtype == "Type0" {
		f.composite = true
		enc := v.Key("Encoding")
		desc := v.Key("DescendantFonts").Index(0)
		switch enc.Kind() {
		case pdf.Name:
			name := enc.Name()
			switch {
			case strings.HasPrefix(name, "Identity-"):
				f.identity = true
			case strings.HasPrefix(name, "Uni") && (strings.Contains(name, "-UCS2-") || strings.Contains(name, "-UTF16-")):
				f.utf16 = true
			default:
				if f.toUnicode != nil {
					f.space = f.toUnicode.space
				}
			}
		case pdf.Stream:
			if b, err := budget.read(enc, pdfMaxCMap); err == nil {
				f.space = parsePDFCMap(b).space
			}
		}
		f.missingWidth = 1000
		if dw := desc.Key("DW"); dw.Kind() == pdf.Integer || dw.Kind() == pdf.Real {
			f.missingWidth = dw.Float64()
		}
		if f.identity {
			f.readCIDWidths(desc.Key("W"))
		}
		return f
	}

	if subtype == "Type3" {
		if m := v.Key("FontMatrix"); m.Len() == 6 && m.Index(0).Float64() != 0 {
			f.scale = m.Index(0).Float64()
		}
	}
	if f.toUnicode == nil || v.Key("Encoding").Kind() != pdf.Null {
		f.simple = (&pdf.Font{V: v}).Encoder()
	}
	f.firstChar = int(v.Key("FirstChar").Int64())
	if w := v.Key("Widths"); w.Kind() == pdf.Array {
		n := min(w.Len(), 256)
		f.widths = make([]float64, n)
		for i := range n {
			f.widths[i] = w.Index(i).Float64()
		}
	}
	f.missingWidth = v.Key("FontDescriptor").Key("MissingWidth").Float64()
	if f.widths == nil && f.missingWidth == 0 {
		// The standard 14 fonts may omit their widths; Helvetica's stand in for all but Courier.
		f.missingWidth = -1
		if strings.Contains(v.Key("BaseFont").Name(), "Courier") {
			f.missingWidth = 600
		}
	}
	return f
}

// readCIDWidths reads a CIDFont's /W array: c [w1 w2 …] and c1 c2 w entries.
func (f *pdfFont) readCIDWidths(w pdf.Value) {
	const maxEntries = 1 << 16
	f.cidWidths = map[uint32]float64{}
	n := w.Len()
	for i := 0; i < n && len(f.cidWidths)+len(f.cidRanges) < maxEntries; {
		c := w.Index(i)
		if i+1 >= n {
			return
		}
		next := w.Index(i + 1)
		if next.Kind() == pdf.Array {
			first := uint32(c.Int64())
			for j := 0; j < next.Len() && j < maxEntries; j++ {
				f.cidWidths[first+uint32(j)] = next.Index(j).Float64()
			}
			i += 2
			continue
		}
		if i+2 >= n {
			return
		}
		f.cidRanges = append(f.cidRanges, pdfWidthRange{uint32(c.Int64()), uint32(next.Int64()), w.Index(i + 2).Float64()})
		i += 3
	}
}

// width is the advance of a code in text space units (before the font size).
func (f *pdfFont) width(code uint32) float64 {
	if f.composite {
		if w, ok := f.cidWidths[code]; ok {
			return w * f.scale
		}
		for _, r := range f.cidRanges {
			if r.lo <= code && code <= r.hi {
				return r.w * f.scale
			}
		}
		return f.missingWidth * f.scale
	}
	if i := int(code) - f.firstChar; i >= 0 && i < len(f.widths) && f.widths[i] > 0 {
		return f.widths[i] * f.scale
	}
	if f.missingWidth < 0 {
		return float64(pdfHelveticaWidth(byte(code))) * f.scale
	}
	if f.missingWidth == 0 {
		return 500 * f.scale
	}
	return f.missingWidth * f.scale
}

// each calls fn for each code of raw with the code's byte length and text.
func (f *pdfFont) each(raw string, fn func(code uint32, n int, text string)) {
	for len(raw) > 0 {
		n := f.codeLen(raw)
		var code uint32
		for i := range n {
			code = code<<8 | uint32(raw[i])
		}
		fn(code, n, f.text(code, n, raw[:n]))
		raw = raw[n:]
	}
}

func (f *pdfFont) codeLen(raw string) int {
	if !f.composite {
		return 1
	}
	for _, r := range f.space {
		if r.n <= len(raw) && r.contains(raw[:r.n]) {
			return r.n
		}
	}
	return min(2, len(raw))
}

func (f *pdfFont) text(code uint32, n int, raw string) string {
	if f.toUnicode != nil {
		if s, ok := f.toUnicode.lookup(code, n); ok {
			return s
		}
	}
	switch {
	case f.utf16:
		if code < 0xD800 || code > 0xDFFF {
			return string(rune(code))
		}
		return ""
	case f.composite:
		return "" // a CID without ToUnicode: the glyph's meaning is not in the file
	case f.simple != nil:
		return f.simple.Decode(raw)
	}
	if code >= 0x20 && code < 0x7f {
		return raw
	}
	return ""
}

// pdfCodeRange is one codespace range of n bytes, each byte bounded separately.
type pdfCodeRange struct {
	n      int
	lo, hi [4]byte
}

func (r pdfCodeRange) contains(code string) bool {
	for i := range r.n {
		if code[i] < r.lo[i] || code[i] > r.hi[i] {
			return false
		}
	}
	return true
}

// pdfCMap is a ToUnicode CMap (Adobe TN 5411): code space ranges, bfchar and bfrange.
type pdfCMap struct {
	space  []pdfCodeRange
	chars  map[uint64]string // key: byte length << 32 | code
	ranges []pdfCMapRange
}

type pdfCMapRange struct {
	n      int
	lo, hi uint32
	base   []uint16 // destination of lo, as UTF-16; the last unit counts up through the range
	array  []string // or one destination per code
}

func pdfCode(s string) (uint32, int, bool) {
	if len(s) == 0 || len(s) > 4 {
		return 0, 0, false
	}
	var c uint32
	for i := 0; i < len(s); i++ {
		c = c<<8 | uint32(s[i])
	}
	return c, len(s), true
}

// pdfUTF16 decodes a bfchar/bfrange destination: UTF-16BE, as TN 5411 prescribes.
func pdfUTF16(s string) string {
	units := make([]uint16, 0, len(s)/2)
	for i := 0; i+1 < len(s); i += 2 {
		units = append(units, uint16(s[i])<<8|uint16(s[i+1]))
	}
	if len(s)%2 == 1 { // a one-byte destination: producers mean the character itself
		units = append(units, uint16(s[len(s)-1]))
	}
	return string(utf16.Decode(units))
}

func parsePDFCMap(b []byte) *pdfCMap {
	const maxEntries = 1 << 18
	m := &pdfCMap{chars: map[uint64]string{}}
	strs := func(args []pdfOperand) []pdfOperand {
		var out []pdfOperand
		for _, a := range args {
			if a.kind == pdfString || a.kind == pdfArray || a.kind == pdfName {
				out = append(out, a)
			}
		}
		return out
	}
	pdfInterpret(b, true, func(op string, args []pdfOperand) bool {
		if len(m.chars)+len(m.ranges) >= maxEntries {
			return false
		}
		switch op {
		case "endcodespacerange":
			a := strs(args)
			for i := 0; i+1 < len(a); i += 2 {
				lo, hi := a[i].s, a[i+1].s
				if len(lo) == 0 || len(lo) > 4 || len(lo) != len(hi) {
					continue
				}
				r := pdfCodeRange{n: len(lo)}
				copy(r.lo[:], lo)
				copy(r.hi[:], hi)
				m.space = append(m.space, r)
			}
		case "endbfchar":
			a := strs(args)
			for i := 0; i+1 < len(a); i += 2 {
				c, n, ok := pdfCode(a[i].s)
				if !ok {
					continue
				}
				dst := a[i+1]
				switch dst.kind {
				case pdfString:
					m.chars[uint64(n)<<32|uint64(c)] = pdfUTF16(dst.s)
				case pdfName: // a glyph name; only uniXXXX names are worth reading
					if r, ok := pdfGlyphName(dst.s); ok {
						m.chars[uint64(n)<<32|uint64(c)] = string(r)
					}
				}
			}
		case "endbfrange":
			a := strs(args)
			for i := 0; i+2 < len(a); i += 3 {
				lo, n, ok1 := pdfCode(a[i].s)
				hi, n2, ok2 := pdfCode(a[i+1].s)
				if !ok1 || !ok2 || n != n2 || hi < lo {
					continue
				}
				r := pdfCMapRange{n: n, lo: lo, hi: hi}
				switch dst := a[i+2]; dst.kind {
				case pdfString:
					r.base = utf16.Encode([]rune(pdfUTF16(dst.s)))
					if len(r.base) == 0 {
						continue
					}
				case pdfArray:
					for _, d := range dst.arr {
						r.array = append(r.array, pdfUTF16(d.s))
					}
				default:
					continue
				}
				m.ranges = append(m.ranges, r)
			}
		}
		return true
	})
	return m
}

func (m *pdfCMap) lookup(code uint32, n int) (string, bool) {
	if s, ok := m.chars[uint64(n)<<32|uint64(code)]; ok {
		return s, true
	}
	for i := range m.ranges {
		r := &m.ranges[i]
		if r.n != n || code < r.lo || code > r.hi {
			continue
		}
		off := code - r.lo
		if r.array != nil {
			if int(off) < len(r.array) {
				return r.array[off], true
			}
			return "", true
		}
		units := append([]uint16(nil), r.base...)
		units[len(units)-1] += uint16(off)
		return string(utf16.Decode(units)), true
	}
	return "", false
}

// pdfTextString decodes a text string (§7.9.2.2), as an ActualText is written: UTF-16BE or
// UTF-8 after their byte order marks, otherwise PDFDocEncoding.
func pdfTextString(s string) string {
	switch {
	case strings.HasPrefix(s, "\xfe\xff"):
		return pdfUTF16(s[2:])
	case strings.HasPrefix(s, "\xef\xbb\xbf"):
		return strings.ToValidUTF8(s[3:], "\uFFFD")
	}
	r := make([]rune, len(s))
	for i := range len(s) {
		c := s[i]
		switch {
		case c >= 0x18 && c < 0x20:
			r[i] = rune(pdfDocAccents[c-0x18])
		case c >= 0x80 && c <= 0xa0:
			r[i] = rune(pdfDocPunctuation[c-0x80])
		default:
			r[i] = rune(c) // Latin-1 elsewhere
		}
	}
	return string(r)
}

// PDFDocEncoding where it differs from Latin-1 (PDF 32000-1 Annex D.2).
var (
	pdfDocAccents     = [8]uint16{0x02d8, 0x02c7, 0x02c6, 0x02d9, 0x02dd, 0x02db, 0x02da, 0x02dc}
	pdfDocPunctuation = [33]uint16{
		0x2022, 0x2020, 0x2021, 0x2026, 0x2014, 0x2013, 0x0192, 0x2044,
		0x2039, 0x203a, 0x2212, 0x2030, 0x201e, 0x201c, 0x201d, 0x2018,
		0x2019, 0x201a, 0x2122, 0xfb01, 0xfb02, 0x0141, 0x0152, 0x0160,
		0x0178, 0x017d, 0x0131, 0x0142, 0x0153, 0x0161, 0x017e, 0xfffd, 0x20ac,
	}
)

// pdfGlyphName reads the uniXXXX glyph names of the Adobe Glyph List convention.
func pdfGlyphName(name string) (rune, bool) {
	hex, ok := strings.CutPrefix(name, "uni")
	if !ok || len(hex) != 4 {
		return 0, false
	}
	var r rune
	for i := 0; i < 4; i++ {
		d, ok := pdfUnhex(hex[i])
		if !ok {
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}

// pdfHelveticaWidth is Helvetica's advance (AFM, 1/1000 em) for a WinAnsiEncoding code.
func pdfHelveticaWidth(c byte) int {
	if c < 0x20 || c > 0x7e {
		return 556
	}
	return int(pdfHelveticaASCII[c-0x20])
}

var pdfHelveticaASCII = [95]uint16{
	278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
	556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
	1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
	667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
	333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
	556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
}
