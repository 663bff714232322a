package loader

import (
	"bytes"
	"strconv"
)

// This file reads PDF content streams and ToUnicode CMaps: both are a flat sequence of operands
// followed by an operator (PDF 32000-1 §7.8.2, Adobe TN 5014). The parser library hands us the
// decoded stream bytes; tokenising them here bounds the work by the bytes we chose to read.

// pdfKind is the kind of an operand.
type pdfKind uint8

const (
	pdfNumber pdfKind = iota + 1
	pdfString         // literal or hex string: raw bytes in s
	pdfName           // s without the slash
	pdfArray          // elements in arr
	pdfDict           // string entries in dict, other contents skipped (BDC needs /ActualText)
	pdfOther          // true, false, null and anything unreadable
)

// pdfOperand is one operand on the stack.
type pdfOperand struct {
	kind pdfKind
	num  float64
	s    string
	arr  []pdfOperand
	dict map[string]string // a dictionary's top-level string values, raw, by key
}

const (
	pdfMaxOperands = 64 // a content-stream operator takes at most 6; CMap blocks hold up to 100 pairs
	pdfMaxNesting  = 32 // arrays and dictionaries within each other
	pdfMaxArray    = 1 << 16
	pdfMaxDictKeys = 16 // string entries kept per dictionary
)

// pdfLexer walks a content stream or CMap.
type pdfLexer struct {
	b   []byte
	pos int
}

// pdfInterpret calls op for every operator with the operands before it. Operands beyond the
// stack limit are dropped from the bottom; inline image data (BI … ID … EI) is skipped.
// It stops at the end of b or when op returns false.
func pdfInterpret(b []byte, cmap bool, op func(name string, args []pdfOperand) bool) {
	lx := &pdfLexer{b: b}
	limit := pdfMaxOperands
	if cmap {
		limit = 3 * 100 * 2 // a bfrange block holds up to 100 triples
	}
	var stack []pdfOperand
	for {
		v, keyword, ok := lx.next(0)
		if !ok {
			return
		}
		if keyword == "" {
			if len(stack) >= limit {
				stack = append(stack[:0], stack[1:]...)
			}
			stack = append(stack, v)
			continue
		}
		if keyword == "BI" {
			lx.skipInlineImage()
			stack = stack[:0]
			continue
		}
		if !op(keyword, stack) {
			return
		}
		stack = stack[:0]
	}
}

func pdfIsSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == 0
}

func pdfIsDelim(c byte) bool {
	return bytes.IndexByte([]byte("()<>[]{}/%"), c) >= 0
}

// skipSpace skips white space and comments.
func (lx *pdfLexer) skipSpace() {
	for lx.pos < len(lx.b) {
		c := lx.b[lx.pos]
		switch {
		case pdfIsSpace(c):
			lx.pos++
		case c == '%':
			for lx.pos < len(lx.b) && lx.b[lx.pos] != '\n' && lx.b[lx.pos] != '\r' {
				lx.pos++
			}
		default:
			return
		}
	}
}

// next reads one operand, or an operator (keyword != ""). ok is false at the end of input.
func (lx *pdfLexer) next(depth int) (v pdfOperand, keyword string, ok bool) {
	lx.skipSpace()
	if lx.pos >= len(lx.b) {
		return v, "", false
	}
	c := lx.b[lx.pos]
	switch {
	case c == '(':
		lx.pos++
		return pdfOperand{kind: pdfString, s: lx.literalString()}, "", true
	case c == '<' && lx.pos+1 < len(lx.b) && lx.b[lx.pos+1] == '<':
		lx.pos += 2
		return lx.dict(depth), "", true
	case c == '<':
		lx.pos++
		return pdfOperand{kind: pdfString, s: lx.hexString()}, "", true
	case c == '/':
		lx.pos++
		return pdfOperand{kind: pdfName, s: lx.name()}, "", true
	case c == '[':
		lx.pos++
		return lx.array(depth), "", true
	case c == ']' || c == '>' || c == ')' || c == '{' || c == '}':
		lx.pos++ // stray delimiter: ignore it
		return pdfOperand{kind: pdfOther}, "", true
	}
	start := lx.pos
	for lx.pos < len(lx.b) && !pdfIsSpace(lx.b[lx.pos]) && !pdfIsDelim(lx.b[lx.pos]) {
		lx.pos++
	}
	word := lx.b[start:lx.pos]
	if c == '+' || c == '-' || c == '.' || (c >= '0' && c <= '9') {
		f, err := strconv.ParseFloat(string(word), 64)
		if err != nil {
			f = 0 // "--5", "1.2.3": readers take 0
		}
		return pdfOperand{kind: pdfNumber, num: f}, "", true
	}
	switch string(word) {
	case "true", "false", "null":
		return pdfOperand{kind: pdfOther}, "", true
	}
	return v, string(word), true
}

func (lx *pdfLexer) array(depth int) pdfOperand {
	a := pdfOperand{kind: pdfArray}
	for {
		lx.skipSpace()
		if lx.pos >= len(lx.b) {
			return a
		}
		if lx.b[lx.pos] == ']' {
			lx.pos++
			return a
		}
		if depth >= pdfMaxNesting {
			lx.pos++
			continue
		}
		v, kw, ok := lx.next(depth + 1)
		if !ok {
			return a
		}
		if kw != "" || len(a.arr) >= pdfMaxArray {
			continue // operators inside arrays are malformed; drop them
		}
		a.arr = append(a.arr, v)
	}
}

// dict reads to the matching >>, keeping the entries whose values are strings (a marked-content
// property list's /ActualText) and skipping the rest.
func (lx *pdfLexer) dict(depth int) pdfOperand {
	d := pdfOperand{kind: pdfDict}
	key := "" // the key read last, awaiting its value
	for {
		lx.skipSpace()
		if lx.pos >= len(lx.b) {
			return d
		}
		if lx.b[lx.pos] == '>' && lx.pos+1 < len(lx.b) && lx.b[lx.pos+1] == '>' {
			lx.pos += 2
			return d
		}
		if depth >= pdfMaxNesting {
			lx.pos++
			continue
		}
		v, kw, ok := lx.next(depth + 1)
		switch {
		case !ok:
			return d
		case kw != "":
			key = "" // an operator inside a dictionary is malformed; resynchronise
		case key != "":
			if v.kind == pdfString && len(d.dict) < pdfMaxDictKeys {
				if d.dict == nil {
					d.dict = map[string]string{}
				}
				d.dict[key] = v.s
			}
			key = ""
		case v.kind == pdfName:
			key = v.s
		}
	}
}

func (lx *pdfLexer) literalString() string {
	var out []byte
	nest := 0
	for lx.pos < len(lx.b) {
		c := lx.b[lx.pos]
		lx.pos++
		switch c {
		case '(':
			nest++
		case ')':
			if nest == 0 {
				return string(out)
			}
			nest--
		case '\\':
			if lx.pos >= len(lx.b) {
				return string(out)
			}
			c = lx.b[lx.pos]
			lx.pos++
			switch c {
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case '\r': // line continuation
				if lx.pos < len(lx.b) && lx.b[lx.pos] == '\n' {
					lx.pos++
				}
				continue
			case '\n':
				continue
			default:
				if c >= '0' && c <= '7' {
					n := int(c - '0')
					for k := 0; k < 2 && lx.pos < len(lx.b) && lx.b[lx.pos] >= '0' && lx.b[lx.pos] <= '7'; k++ {
						n = n*8 + int(lx.b[lx.pos]-'0')
						lx.pos++
					}
					c = byte(n)
				}
			}
		}
		out = append(out, c)
	}
	return string(out)
}

func pdfUnhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func (lx *pdfLexer) hexString() string {
	var out []byte
	var hi byte
	half := false
	for lx.pos < len(lx.b) {
		c := lx.b[lx.pos]
		lx.pos++
		if c == '>' {
			break
		}
		d, ok := pdfUnhex(c)
		if !ok {
			continue
		}
		if half {
			out = append(out, hi<<4|d)
		} else {
			hi = d
		}
		half = !half
	}
	if half {
		out = append(out, hi<<4)
	}
	return string(out)
}

func (lx *pdfLexer) name() string {
	start := lx.pos
	for lx.pos < len(lx.b) && !pdfIsSpace(lx.b[lx.pos]) && !pdfIsDelim(lx.b[lx.pos]) {
		lx.pos++
	}
	n := lx.b[start:lx.pos]
	if bytes.IndexByte(n, '#') < 0 {
		return string(n)
	}
	var out []byte
	for i := 0; i < len(n); i++ {
		if n[i] == '#' && i+2 < len(n) {
			h, ok1 := pdfUnhex(n[i+1])
			l, ok2 := pdfUnhex(n[i+2])
			if ok1 && ok2 {
				out = append(out, h<<4|l)
				i += 2
				continue
			}
		}
		out = append(out, n[i])
	}
	return string(out)
}

// skipInlineImage skips an inline image's dictionary and data up to and including EI.
func (lx *pdfLexer) skipInlineImage() {
	for {
		_, kw, ok := lx.next(0)
		if !ok {
			return
		}
		if kw == "ID" {
			break
		}
	}
	lx.pos++ // the single white-space byte after ID
	for lx.pos < len(lx.b) {
		i := bytes.Index(lx.b[lx.pos:], []byte("EI"))
		if i < 0 {
			lx.pos = len(lx.b)
			return
		}
		at := lx.pos + i
		lx.pos = at + 2
		before := at == 0 || pdfIsSpace(lx.b[at-1])
		after := at+2 >= len(lx.b) || pdfIsSpace(lx.b[at+2]) || pdfIsDelim(lx.b[at+2])
		if before && after {
			return
		}
	}
}
