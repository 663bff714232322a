package loader

// PDF text extraction.
//
// Library: github.com/ledongthuc/pdf parses the file (cross-reference tables and streams,
// object streams, FlateDecode and ASCII85 filters, the page tree, RC4/AES files that open
// with an empty password). It is the maintained fork of rsc.io/pdf: pure Go, no dependencies,
// and it turns most parse failures into errors. We build against a patched copy
// (third_party/pdf, PATCHES.md) that adds AES-256, which the library lacked and PDFs
// "protected" against editing commonly use. Of the readers the Go module proxy serves it
// was the best fit: rsc.io/pdf is unmaintained and lost every CJK character of our corpus;
// github.com/dslipak/pdf is an older copy of the same fork; pdfcpu (v0.15.0) parses well but
// has no text extraction, only raw content streams, and pulls in image and crypto modules.
//
// The fork's own text functions are not used: they concatenate strings without positions
// (no line or paragraph breaks), read two-byte codes through single-byte widths, and look up
// ToUnicode entries linearly per character. So only the object model comes from the library;
// this package interprets the content streams itself (pdf_text.go), decodes fonts through
// their ToUnicode CMaps, falling back to WinAnsi/MacRoman/Differences encodings for simple
// fonts (pdf_font.go), and tokenises streams with its own bounded lexer (pdf_lex.go).
//
// Known limits: LZW, RunLength and ASCIIHex filters are not supported by the parser; files that
// need a password to open are refused (there is no flag to give one); vertical writing
// (Identity-V) comes out one character per line; text without a ToUnicode map in a composite
// font cannot be recovered and is dropped.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ledongthuc/pdf"
)

// Errors PDF returns; loader.File wraps them with the source.
var (
	ErrPDFEncrypted = errors.New("encrypted PDF")
	ErrPDFCorrupt   = errors.New("corrupt PDF")
	ErrPDFNoText    = fmt.Errorf("%w layer (a scanned PDF?): OCR is not supported", ErrNoText)
	ErrPDFTooLarge  = fmt.Errorf("PDF %w", ErrTooLarge)
)

var errPDFTooComplex = fmt.Errorf("%w: more than %d content operators", ErrPDFTooLarge, pdfMaxOps)

const (
	pdfMaxPages   = 5000
	pdfMaxDecoded = 512 << 20 // decoded stream bytes per document
	pdfMaxNodes   = 4 * pdfMaxPages
	pdfMaxDepth   = 64 // page tree and /Parent chains
)

// PDF returns the text of a PDF: pages in order, each page's blocks (paragraphs, headings, list
// items, table rows as far as positions show them) separated by a blank line, and the lines of
// a block by "\n". It never panics: a failure inside the parser is reported as a corrupt PDF.
func PDF(body []byte) (text string, err error) {
	defer func() {
		if r := recover(); r != nil {
			text, err = "", fmt.Errorf("%w: %v", ErrPDFCorrupt, r)
		}
	}()
	if err := pdfPrecheck(body); err != nil {
		return "", err
	}
	body = pdfTrimTail(body)
	r, err := pdf.NewReader(pdfHeaderFix(body), int64(len(body)))
	if err != nil {
		if errors.Is(err, pdf.ErrInvalidPassword) {
			return "", fmt.Errorf("%w: it opens only with a password, which ragmigrate does not take; upload an unprotected copy", ErrPDFEncrypted)
		}
		// The library names an encryption scheme it cannot read only in the message.
		if bytes.Contains(body, []byte("/Encrypt")) && strings.Contains(err.Error(), "unsupported PDF") {
			return "", fmt.Errorf("%w: %v", ErrPDFEncrypted, err)
		}
		return "", fmt.Errorf("%w: %v", ErrPDFCorrupt, err)
	}
	root := r.Trailer().Key("Root").Key("Pages")
	if root.Kind() != pdf.Dict {
		return "", fmt.Errorf("%w: no page tree", ErrPDFCorrupt)
	}
	if n := root.Key("Count").Int64(); n > pdfMaxPages {
		return "", fmt.Errorf("%w: %d pages, more than %d", ErrPDFTooLarge, n, pdfMaxPages)
	}
	pages, err := pdfPages(root)
	if err != nil {
		return "", err
	}
	budget := &pdfBudget{left: pdfMaxDecoded}
	fonts := &pdfFontCache{m: map[string]*pdfFont{}}
	layouts := make([]*pdfLayout, 0, len(pages))
	spacing := pdfSpacing{}
	for i, page := range pages {
		l, err := pdfPageText(page, budget, fonts)
		if err != nil {
			if errors.Is(err, ErrPDFTooLarge) {
				return "", err
			}
			return "", fmt.Errorf("%w: page %d: %v", ErrPDFCorrupt, i+1, err)
		}
		spacing.count(l)
		layouts = append(layouts, l)
	}
	threshold := spacing.thresholds()
	var out []string
	for _, l := range layouts {
		out = append(out, l.blocks(threshold)...)
	}
	if len(out) == 0 {
		return "", ErrPDFNoText
	}
	return strings.Join(out, elementSeparator), nil
}

// pdfTrimTail drops what follows the last %%EOF when it is no PDF syntax: the NUL or space
// padding some scanners and mail gateways append, which the parser refuses once it is over 100
// bytes (it looks for %%EOF only there), and viewers ignore. A tail holding objects or a
// cross-reference section is kept, so that a truncated update still fails as truncated instead
// of being read as an older revision of the document.
func pdfTrimTail(b []byte) []byte {
	i := bytes.LastIndex(b, []byte("%%EOF"))
	if i < 0 {
		return b
	}
	tail := b[i+len("%%EOF"):]
	for _, kw := range []string{"obj", "stream", "xref", "trailer"} {
		if bytes.Contains(tail, []byte(kw)) {
			return b
		}
	}
	return b[:i+len("%%EOF")]
}

// pdfHeaderFix presents the header as %PDF-1.7: the parser refuses PDF 2.0 and headers not
// followed directly by an end of line, though nothing else it does depends on the version.
type pdfHeaderFix []byte

func (b pdfHeaderFix) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	const header = "%PDF-1.7\n"
	if off < int64(len(header)) && len(b) > len(header) {
		for i := off; i < int64(len(header)) && i-off < int64(n); i++ {
			p[i-off] = header[i]
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// pdfPages walks the page tree in order. It does not trust /Count and stops at cycles by
// bounding depth and nodes.
func pdfPages(root pdf.Value) ([]pdf.Value, error) {
	type item struct {
		v     pdf.Value
		depth int
	}
	var pages []pdf.Value
	stack := []item{{root, 0}}
	nodes := 0
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if nodes++; nodes > pdfMaxNodes {
			return nil, fmt.Errorf("%w: page tree has more than %d nodes", ErrPDFCorrupt, pdfMaxNodes)
		}
		kids := it.v.Key("Kids")
		if kids.Kind() == pdf.Array && it.v.Key("Type").Name() != "Page" {
			if it.depth >= pdfMaxDepth {
				return nil, fmt.Errorf("%w: page tree deeper than %d", ErrPDFCorrupt, pdfMaxDepth)
			}
			for i := kids.Len() - 1; i >= 0; i-- {
				if kid := kids.Index(i); kid.Kind() == pdf.Dict {
					stack = append(stack, item{kid, it.depth + 1})
				}
			}
			continue
		}
		if len(pages) >= pdfMaxPages {
			return nil, fmt.Errorf("%w: more than %d pages", ErrPDFTooLarge, pdfMaxPages)
		}
		pages = append(pages, it.v)
	}
	return pages, nil
}

// pdfInherited looks key up on the page and then its ancestors (§7.7.3.4).
func pdfInherited(page pdf.Value, key string) pdf.Value {
	for v, i := page, 0; v.Kind() == pdf.Dict && i < pdfMaxDepth; v, i = v.Key("Parent"), i+1 {
		if x := v.Key(key); !x.IsNull() {
			return x
		}
	}
	return pdf.Value{}
}

// pdfPageText returns the lines of one page.
func pdfPageText(page pdf.Value, budget *pdfBudget, fonts *pdfFontCache) (*pdfLayout, error) {
	contents := page.Key("Contents")
	var streams []pdf.Value
	switch contents.Kind() {
	case pdf.Stream:
		streams = append(streams, contents)
	case pdf.Array:
		for i := range contents.Len() {
			if s := contents.Index(i); s.Kind() == pdf.Stream {
				streams = append(streams, s)
			}
		}
	}
	var content []byte
	for _, s := range streams {
		b, err := budget.read(s, pdfMaxContent-int64(len(content)))
		if err != nil {
			return nil, err
		}
		content = append(append(content, b...), '\n') // streams split only between tokens
	}
	p := &pdfPageReader{budget: budget, fonts: fonts}
	g := pdfGState{ctm: pdfIdentity, th: 1}
	p.run(content, pdfInherited(page, "Resources"), g, 0)
	if budget.err != nil {
		return nil, budget.err
	}
	return &p.layout, nil
}

// pdfBudget bounds the work on one document.
type pdfBudget struct {
	left int64 // decoded stream bytes still allowed
	ops  int
	err  error // the first limit hit or stream failure while interpreting
}

// read returns the decoded bytes of stream v, at most limit of them.
func (b *pdfBudget) read(v pdf.Value, limit int64) (data []byte, err error) {
	defer func() {
		if r := recover(); r != nil { // the parser panics on unsupported filters
			data, err = nil, fmt.Errorf("read stream: %v", r)
		}
	}()
	limit = min(limit, b.left)
	rc := v.Reader()
	defer rc.Close()
	data, err = io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read stream: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: a stream decodes to more than %d bytes", ErrPDFTooLarge, limit)
	}
	b.left -= int64(len(data))
	return data, nil
}

// pdfFontCache shares parsed fonts across pages. A font dictionary's printed form names its
// indirect parts by object number, so equal keys mean equal fonts.
type pdfFontCache struct {
	m map[string]*pdfFont
}

func (c *pdfFontCache) get(v pdf.Value, budget *pdfBudget) *pdfFont {
	key := v.String()
	if f, ok := c.m[key]; ok {
		return f
	}
	f := newPDFFont(v, budget)
	c.m[key] = f
	return f
}

// pdfPrecheck refuses the cross-reference data the parser would trust to its peril: it sizes its
// object table from /Size, /Index and xref subsection headers, its predictor buffers from
// /Columns and /W, and follows /Prev without noticing a loop. A hostile or damaged file could
// make it allocate gigabytes or spin forever, so the numbers are bounded here first.
func pdfPrecheck(body []byte) error {
	maxObjects := int64(min(max(len(body)/2, 1<<16), 8_388_607)) // PDF 1.7's limit on objects
	ints := func(key string, fn func(vals []int64) error) error {
		for rest := body; ; {
			i := bytes.Index(rest, []byte(key))
			if i < 0 {
				return nil
			}
			rest = rest[i+len(key):]
			if len(rest) > 0 && !pdfIsSpace(rest[0]) && !pdfIsDelim(rest[0]) {
				continue // a longer name: /Sizes
			}
			lx := &pdfLexer{b: rest[:min(len(rest), 256)]}
			var vals []int64
			for len(vals) < 8 {
				v, kw, ok := lx.next(0)
				if !ok || kw != "" || v.kind != pdfNumber && v.kind != pdfArray {
					if kw == "R" && len(vals) > 0 {
						vals = vals[:0] // an indirect reference (an outline's /Prev), not a number
					}
					break
				}
				if v.kind == pdfArray {
					for _, e := range v.arr {
						vals = append(vals, int64(e.num))
					}
					break
				}
				vals = append(vals, int64(v.num))
			}
			if err := fn(vals); err != nil {
				return err
			}
		}
	}
	tooBig := func(what string) error { return fmt.Errorf("%w: implausible %s", ErrPDFCorrupt, what) }
	if err := ints("/Size", func(v []int64) error {
		if len(v) > 0 && (v[0] < 0 || v[0] > maxObjects) {
			return tooBig("/Size")
		}
		return nil
	}); err != nil {
		return err
	}
	if err := ints("/Index", func(v []int64) error {
		for i := 0; i+1 < len(v); i += 2 {
			if v[i] < 0 || v[i+1] < 0 || v[i]+v[i+1] > maxObjects {
				return tooBig("/Index")
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := ints("/W", func(v []int64) error {
		for _, w := range v {
			if w < 0 || w > 8 {
				return tooBig("/W")
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := ints("/Columns", func(v []int64) error {
		if len(v) > 0 && (v[0] < 0 || v[0] > 1<<16) {
			return tooBig("/Columns")
		}
		return nil
	}); err != nil {
		return err
	}
	// A /Prev chain loops only if it returns to the first section or some offset repeats.
	seen := map[int64]bool{}
	if i := bytes.LastIndex(body, []byte("startxref")); i >= 0 {
		lx := &pdfLexer{b: body[i+len("startxref") : min(len(body), i+64)]}
		if v, _, ok := lx.next(0); ok && v.kind == pdfNumber {
			seen[int64(v.num)] = true
		}
	}
	if err := ints("/Prev", func(v []int64) error {
		if len(v) == 1 || len(v) > 2 { // "/Prev 123" and not "/Prev 12 0 R"
			if seen[v[0]] {
				return tooBig("/Prev chain")
			}
			seen[v[0]] = true
		}
		return nil
	}); err != nil {
		return err
	}
	// Classic tables: every subsection header "start count" after each xref keyword.
	for rest := body; ; {
		i := bytes.Index(rest, []byte("xref"))
		if i < 0 {
			return nil
		}
		rest = rest[i+4:]
		if i > 0 && !pdfIsSpace(body[len(body)-len(rest)-5]) || len(rest) == 0 || !pdfIsSpace(rest[0]) {
			continue // startxref, or part of a name
		}
		lx := &pdfLexer{b: rest}
		for {
			start, kw, ok := lx.next(0)
			if !ok || kw != "" || start.kind != pdfNumber {
				break
			}
			count, kw, ok := lx.next(0)
			if !ok || kw != "" || count.kind != pdfNumber {
				break
			}
			if start.num < 0 || count.num < 0 || start.num+count.num > float64(maxObjects) {
				return tooBig("xref subsection")
			}
			for range int(count.num) * 3 {
				if _, _, ok := lx.next(0); !ok {
					break
				}
			}
		}
	}
}
