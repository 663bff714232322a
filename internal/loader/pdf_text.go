package loader

import (
	"math"
	"strings"
	"unicode"

	"github.com/ledongthuc/pdf"
)

// This file runs a page's content stream far enough to know where each string lands
// (PDF 32000-1 §9.4), then rebuilds lines and blocks from those positions.

// pdfMatrix is [a b c d e f], the PDF form of a 3×3 affine matrix.
type pdfMatrix [6]float64

var pdfIdentity = pdfMatrix{1, 0, 0, 1, 0, 0}

// mul returns m × n: m applied first.
func (m pdfMatrix) mul(n pdfMatrix) pdfMatrix {
	return pdfMatrix{
		m[0]*n[0] + m[1]*n[2], m[0]*n[1] + m[1]*n[3],
		m[2]*n[0] + m[3]*n[2], m[2]*n[1] + m[3]*n[3],
		m[4]*n[0] + m[5]*n[2] + n[4], m[4]*n[1] + m[5]*n[3] + n[5],
	}
}

// pdfGState is the part of the graphics state that places text.
type pdfGState struct {
	ctm                    pdfMatrix
	font                   *pdfFont
	size, tc, tw, tl, rise float64
	th                     float64 // horizontal scaling, 1 = 100 %
}

const (
	pdfMaxFormDepth = 8
	pdfMaxOps       = 20_000_000 // operators per document
	pdfMaxStack     = 256        // nested q
	pdfMaxContent   = 64 << 20   // decoded bytes of one content stream
)

// pdfPageReader extracts one page's text.
type pdfPageReader struct {
	budget *pdfBudget
	fonts  *pdfFontCache
	layout pdfLayout
}

// run interprets content with the resources res.
func (p *pdfPageReader) run(content []byte, res pdf.Value, g pdfGState, depth int) {
	fonts := map[string]*pdfFont{}
	tm, tlm := pdfIdentity, pdfIdentity
	var saved []pdfGState
	fallback := &pdfFont{scale: 0.001, missingWidth: -1}
	// Marked content (§14.9.4): a span's /ActualText replaces the text its glyphs show. Producers
	// write it where ToUnicode cannot say what a glyph means, as LibreOffice does for a ligature
	// glyph whose ToUnicode entry already stands for another text.
	type span struct {
		actual     string
		has, shown bool
	}
	var spans []span
	outer := -1 // index in spans of the outermost span with an ActualText, which holds the text
	lost := 0   // spans opened beyond pdfMaxStack, still to be closed

	show := func(s string) {
		f := g.font
		if f == nil {
			f = fallback
		}
		m := tm.mul(g.ctm)
		x0, y0 := m[4]+g.rise*m[2], m[5]+g.rise*m[3]
		size := math.Abs(g.size) * math.Hypot(m[2], m[3])
		var text strings.Builder
		f.each(s, func(code uint32, n int, t string) {
			text.WriteString(t)
			tx := f.width(code)*g.size + g.tc
			if n == 1 && code == ' ' {
				tx += g.tw
			}
			tx *= g.th
			tm[4] += tx * tm[0]
			tm[5] += tx * tm[1]
		})
		m = tm.mul(g.ctm)
		endX := m[4] + g.rise*m[2]
		if outer >= 0 {
			sp := &spans[outer]
			actual := ""
			if !sp.shown {
				actual, sp.shown = pdfTextString(sp.actual), true
			}
			if actual == "" { // given already, or none: the glyphs only take up room
				p.layout.extend(y0, endX, size)
				return
			}
			text.Reset()
			text.WriteString(actual)
		}
		p.layout.add(x0, y0, endX, size, text.String())
	}
	nextLine := func() {
		tlm = pdfMatrix{1, 0, 0, 1, 0, -g.tl}.mul(tlm)
		tm = tlm
	}

	pdfInterpret(content, false, func(op string, args []pdfOperand) bool {
		if p.budget.ops++; p.budget.ops > pdfMaxOps {
			p.budget.err = errPDFTooComplex
			return false
		}
		num := func(i int) float64 { // the i-th of the operator's last n operands
			if i >= 0 && i < len(args) && args[i].kind == pdfNumber {
				return args[i].num
			}
			return 0
		}
		last := func(kind pdfKind) (pdfOperand, bool) {
			if len(args) > 0 && args[len(args)-1].kind == kind {
				return args[len(args)-1], true
			}
			return pdfOperand{}, false
		}
		matrix := func() (pdfMatrix, bool) {
			if len(args) < 6 {
				return pdfMatrix{}, false
			}
			var m pdfMatrix
			for i := range m {
				m[i] = num(len(args) - 6 + i)
			}
			return m, true
		}
		n := len(args)
		switch op {
		case "q":
			if len(saved) < pdfMaxStack {
				saved = append(saved, g)
			}
		case "Q":
			if len(saved) > 0 {
				g = saved[len(saved)-1]
				saved = saved[:len(saved)-1]
			}
		case "cm":
			if m, ok := matrix(); ok {
				g.ctm = m.mul(g.ctm)
			}
		case "BT":
			tm, tlm = pdfIdentity, pdfIdentity
		case "Tf":
			if n >= 2 && args[n-2].kind == pdfName {
				g.font = p.font(res, args[n-2].s, fonts)
				g.size = num(n - 1)
			}
		case "Tc":
			g.tc = num(n - 1)
		case "Tw":
			g.tw = num(n - 1)
		case "Tz":
			g.th = num(n-1) / 100
		case "TL":
			g.tl = num(n - 1)
		case "Ts":
			g.rise = num(n - 1)
		case "Td", "TD":
			if op == "TD" {
				g.tl = -num(n - 1)
			}
			tlm = pdfMatrix{1, 0, 0, 1, num(n - 2), num(n - 1)}.mul(tlm)
			tm = tlm
		case "Tm":
			if m, ok := matrix(); ok {
				tm, tlm = m, m
			}
		case "T*":
			nextLine()
		case "Tj", "'", "\"":
			s, ok := last(pdfString)
			if !ok {
				break
			}
			if op == "\"" && n >= 3 {
				g.tw, g.tc = num(n-3), num(n-2)
			}
			if op != "Tj" {
				nextLine()
			}
			show(s.s)
		case "TJ":
			a, ok := last(pdfArray)
			if !ok {
				break
			}
			for _, e := range a.arr {
				switch e.kind {
				case pdfString:
					show(e.s)
				case pdfNumber:
					tx := -e.num / 1000 * g.size * g.th
					tm[4] += tx * tm[0]
					tm[5] += tx * tm[1]
				}
			}
		case "BMC", "BDC":
			if len(spans) >= pdfMaxStack {
				lost++
				break
			}
			var sp span
			if d, ok := last(pdfDict); ok && op == "BDC" {
				sp.actual, sp.has = d.dict["ActualText"]
			}
			if sp.has && outer < 0 {
				outer = len(spans)
			}
			spans = append(spans, sp)
		case "EMC":
			if lost > 0 {
				lost--
			} else if len(spans) > 0 {
				spans = spans[:len(spans)-1]
				if outer == len(spans) {
					outer = -1
				}
			}
		case "Do":
			name, ok := last(pdfName)
			if !ok || depth >= pdfMaxFormDepth {
				break
			}
			xo := res.Key("XObject").Key(name.s)
			if xo.Kind() != pdf.Stream || xo.Key("Subtype").Name() != "Form" {
				break
			}
			body, err := p.budget.read(xo, pdfMaxContent)
			if err != nil {
				p.budget.err = err
				return false
			}
			inner := g
			if m := xo.Key("Matrix"); m.Len() == 6 {
				var fm pdfMatrix
				for i := range fm {
					fm[i] = m.Index(i).Float64()
				}
				inner.ctm = fm.mul(g.ctm)
			}
			formRes := xo.Key("Resources")
			if formRes.Kind() != pdf.Dict {
				formRes = res
			}
			p.run(body, formRes, inner, depth+1)
			if p.budget.err != nil {
				return false
			}
		}
		return true
	})
}

// font returns the font named in res, reading it once per content stream.
func (p *pdfPageReader) font(res pdf.Value, name string, fonts map[string]*pdfFont) *pdfFont {
	if f, ok := fonts[name]; ok {
		return f
	}
	v := res.Key("Font").Key(name)
	var f *pdfFont
	if v.Kind() == pdf.Dict {
		f = p.fonts.get(v, p.budget)
	}
	fonts[name] = f
	return f
}

// pdfLine is a run of text on one baseline, left to right.
type pdfLine struct {
	text              strings.Builder
	x0, endX, y, size float64
	bullet            bool // starts with a bullet character; set for a block's first line
}

// pdfLayout collects a page's text into lines in content-stream order, the order in which
// producers write text and the order pdftotext -raw reads it.
type pdfLayout struct {
	lines []*pdfLine
}

// add places the text of one shown string, drawn from (x, y) to (endX, y) at size points.
func (l *pdfLayout) add(x, y, endX, size float64, s string) {
	if s == "" {
		return
	}
	size = max(size, 0.5)
	if n := len(l.lines); n > 0 {
		last := l.lines[n-1]
		if math.Abs(y-last.y) <= 0.5*min(size, last.size) && x > last.x0 {
			if gap := x - last.endX; gap > 0.2*size && !pdfEndsSpace(&last.text) && !pdfStartsSpace(s) {
				last.text.WriteByte(' ')
			}
			last.text.WriteString(s)
			last.endX = max(last.endX, endX)
			last.size = max(last.size, size)
			return
		}
	}
	line := &pdfLine{x0: x, endX: endX, y: y, size: size}
	line.text.WriteString(s)
	l.lines = append(l.lines, line)
}

// extend moves the end of the last line to endX when (x, y) continues it: glyphs whose text an
// ActualText already gave still take up their room.
func (l *pdfLayout) extend(y, endX, size float64) {
	if n := len(l.lines); n > 0 {
		if last := l.lines[n-1]; math.Abs(y-last.y) <= 0.5*min(max(size, 0.5), last.size) {
			last.endX = max(last.endX, endX)
		}
	}
}

func pdfEndsSpace(b *strings.Builder) bool {
	s := b.String()
	return s == "" || s[len(s)-1] == ' '
}

func pdfStartsSpace(s string) bool { return s[0] == ' ' }

// pdfSpacing counts baseline distances between same-size lines, in font sizes (twentieths),
// per font size (half points), over a whole document.
type pdfSpacing map[int]map[int]int

func (h pdfSpacing) count(l *pdfLayout) {
	for i := 1; i < len(l.lines); i++ {
		prev, cur := l.lines[i-1], l.lines[i]
		if r := (prev.y - cur.y) / cur.size; pdfSameSize(prev, cur) && r > 0.8 && r < 3 {
			k := pdfSizeKey(cur.size)
			if h[k] == nil {
				h[k] = map[int]int{}
			}
			h[k][int(math.Round(r*20))]++
		}
	}
}

// thresholds returns, per font size, the baseline distance beyond which a line starts a new
// block. Line spacing is the tightest distance that recurs (a paragraph's wrapped lines); it is
// kept per size, so that a table's rows in small type do not set the spacing of the body text,
// and counted over the document, so that a page of one-line paragraphs still finds it.
func (h pdfSpacing) thresholds() func(size float64) float64 {
	thresholds := map[int]float64{}
	for size, counts := range h {
		spacing, once := 1000, 1000
		for k, c := range counts {
			once = min(once, k)
			if c >= 2 {
				spacing = min(spacing, k)
			}
		}
		if spacing == 1000 {
			spacing = once
		}
		thresholds[size] = min(max(1.15*float64(spacing)/20, 1.3), 2.0)
	}
	return func(size float64) float64 {
		if t, ok := thresholds[pdfSizeKey(size)]; ok {
			return t
		}
		return 1.38 // 1.15 × single spacing
	}
}

// blocks groups lines into blocks: a new block starts where the text moves up (a new column or
// table cell), changes size (a heading), starts with a bullet, moves left of a list item, or
// leaves a wider gap than the document's line spacing.
func (l *pdfLayout) blocks(threshold func(size float64) float64) []string {
	var out []string
	var block []string
	var first *pdfLine // the block's first line
	for i, line := range l.lines {
		text := pdfCleanLine(line.text.String())
		if text == "" {
			continue
		}
		if i > 0 && len(block) > 0 {
			prev := l.lines[i-1]
			dy := prev.y - line.y
			if dy < -0.5*line.size || !pdfSameSize(prev, line) || dy/line.size > threshold(line.size) ||
				pdfBullet(text) || first.bullet && line.x0 < first.x0-1 {
				out = append(out, strings.Join(block, "\n"))
				block = block[:0]
			}
		}
		if len(block) == 0 {
			first = line
			first.bullet = pdfBullet(text)
		}
		block = append(block, text)
	}
	if len(block) > 0 {
		out = append(out, strings.Join(block, "\n"))
	}
	return out
}

func pdfSizeKey(size float64) int { return int(math.Round(size * 2)) }

func pdfSameSize(a, b *pdfLine) bool {
	r := a.size / b.size
	return r > 1/1.15 && r < 1.15
}

func pdfBullet(s string) bool {
	r := []rune(s[:min(len(s), 4)])
	return len(r) > 0 && strings.ContainsRune("•●▪■‣◦○–", r[0])
}

// pdfCleanLine drops control characters (NUL among them, which PostgreSQL text rejects) and
// trims the line. U+F0B7, the bullet of the Symbol font as Word and LibreOffice map it in
// ToUnicode (Word's default bullet list), becomes "•".
func pdfCleanLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r' || r == '\u00a0':
			return ' '
		case r == '\uf0b7':
			return '•'
		case unicode.IsControl(r):
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}
