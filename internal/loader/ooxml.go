package loader

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"strings"
	"unicode/utf8"
)

// Limits on what one Office package may make us decompress. A zip entry of a few hundred
// kilobytes can inflate to gigabytes; these bound memory and time whatever the entry claims.
const (
	maxPartSize    = 128 << 20 // uncompressed bytes of any one part
	maxPackageRead = 256 << 20 // uncompressed bytes read from one package, all parts together
)

// oleMagic starts an OLE compound file: the legacy .doc/.xls/.ppt formats, and also every
// password-protected OOXML file, which Office stores as an encrypted stream inside one.
var oleMagic = []byte{0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1}

// errPartTooLarge marks a part over maxPartSize or a package over maxPackageRead.
var errPartTooLarge = errors.New("too large")

// Namespaces of the OOXML vocabularies we read, in their Transitional and Strict spellings.
var ooxmlNS = map[string]byte{
	"http://schemas.openxmlformats.org/wordprocessingml/2006/main":        'w',
	"http://purl.oclc.org/ooxml/wordprocessingml/main":                    'w',
	"http://schemas.openxmlformats.org/spreadsheetml/2006/main":           's',
	"http://purl.oclc.org/ooxml/spreadsheetml/main":                       's',
	"http://schemas.openxmlformats.org/drawingml/2006/main":               'a',
	"http://purl.oclc.org/ooxml/drawingml/main":                           'a',
	"http://schemas.openxmlformats.org/presentationml/2006/main":          'p',
	"http://purl.oclc.org/ooxml/presentationml/main":                      'p',
	"http://schemas.openxmlformats.org/officeDocument/2006/relationships": 'r',
	"http://purl.oclc.org/ooxml/officeDocument/relationships":             'r',
	"http://schemas.openxmlformats.org/markup-compatibility/2006":         'm',
}

// is reports whether n is the element local in vocabulary ns ('w', 's', 'a', 'p', 'r', 'm').
func is(n xml.Name, ns byte, local string) bool {
	return n.Local == local && ooxmlNS[n.Space] == ns
}

// attr returns the value of the attribute local in vocabulary ns (0: no namespace).
func attr(se xml.StartElement, ns byte, local string) string {
	for _, a := range se.Attr {
		if a.Name.Local == local && (ns == 0 && a.Name.Space == "" || ns != 0 && ooxmlNS[a.Name.Space] == ns) {
			return a.Value
		}
	}
	return ""
}

// ooxmlPackage is an opened Office Open XML package with a budget of bytes left to inflate.
type ooxmlPackage struct {
	format string               // "DOCX", "XLSX" or "PPTX", for messages
	parts  map[string]*zip.File // by lower-cased part name: OPC names are case-insensitive
	budget int64
}

// openOOXML opens body as a zip package of the given format.
func openOOXML(body []byte, format string) (*ooxmlPackage, error) {
	if bytes.HasPrefix(body, oleMagic) {
		return nil, fmt.Errorf("%w: encrypted or legacy binary Office file (an OLE compound file, not a %s package); save it unprotected as %s",
			ErrUnsupported, format, "."+strings.ToLower(format))
	}
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		return nil, &corruptError{format: format, err: err}
	}
	p := &ooxmlPackage{format: format, parts: make(map[string]*zip.File, len(zr.File)), budget: maxPackageRead}
	for _, f := range zr.File {
		p.parts[strings.ToLower(strings.TrimPrefix(f.Name, "/"))] = f
	}
	return p, nil
}

// corruptError is a package that cannot be read as its format.
type corruptError struct {
	format string
	err    error
}

func (e *corruptError) Error() string {
	return "corrupt or not a " + e.format + " file: " + e.err.Error()
}
func (e *corruptError) Unwrap() error { return e.err }

// corrupt wraps err as a malformed package.
func (p *ooxmlPackage) corrupt(err error) error { return &corruptError{format: p.format, err: err} }

func (p *ooxmlPackage) has(name string) bool {
	_, ok := p.parts[strings.ToLower(name)]
	return ok
}

// open returns a reader of part name that fails once the part or the package budget is used up.
func (p *ooxmlPackage) open(name string) (io.ReadCloser, error) {
	f, ok := p.parts[strings.ToLower(name)]
	if !ok {
		return nil, p.corrupt(fmt.Errorf("missing part %s", name))
	}
	// The declared size is checked first so that a bomb is refused before inflating anything;
	// archive/zip also fails a part that inflates past its declared size.
	if f.UncompressedSize64 > maxPartSize {
		return nil, fmt.Errorf("part %s: %d MiB uncompressed, over the %d MiB limit: %w",
			name, f.UncompressedSize64>>20, maxPartSize>>20, errPartTooLarge)
	}
	if int64(f.UncompressedSize64) > p.budget {
		return nil, fmt.Errorf("part %s: package inflates to more than %d MiB: %w", name, maxPackageRead>>20, errPartTooLarge)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, p.corrupt(fmt.Errorf("open %s: %w", name, err))
	}
	return &budgetReader{rc: rc, p: p, name: name, left: maxPartSize}, nil
}

// budgetReader charges what it reads to its part's limit and the package's budget.
type budgetReader struct {
	rc   io.ReadCloser
	p    *ooxmlPackage
	name string
	left int64
}

func (r *budgetReader) Read(b []byte) (int, error) {
	if r.left <= 0 || r.p.budget <= 0 {
		return 0, fmt.Errorf("part %s: over the %d MiB limit: %w", r.name, min(maxPartSize, maxPackageRead)>>20, errPartTooLarge)
	}
	if n := min(r.left, r.p.budget); int64(len(b)) > n {
		b = b[:n]
	}
	n, err := r.rc.Read(b)
	r.left -= int64(n)
	r.p.budget -= int64(n)
	return n, err
}

func (r *budgetReader) Close() error { return r.rc.Close() }

// walk streams the XML of part name, calling fn for each token; fn may consume tokens itself
// through the decoder (dec.Skip, nested Token calls).
func (p *ooxmlPackage) walk(name string, fn func(dec *xml.Decoder, tok xml.Token) error) error {
	rc, err := p.open(name)
	if err != nil {
		return err
	}
	defer rc.Close()
	dec := xml.NewDecoder(rc)
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return p.xmlError(name, err)
		}
		if err := fn(dec, tok); err != nil {
			return p.xmlError(name, err)
		}
	}
}

// xmlError names the part a decoding error came from (bad XML, a truncated or damaged
// entry), keeping limit and package errors as they are.
func (p *ooxmlPackage) xmlError(name string, err error) error {
	var ce *corruptError
	if errors.Is(err, errPartTooLarge) || errors.As(err, &ce) {
		return err
	}
	return p.corrupt(fmt.Errorf("read %s: %w", name, err))
}

// relationship is one entry of a part's .rels.
type relationship struct {
	typ    string // the last path element of the type URI: "officeDocument", "slide", …
	target string // resolved part name, without a leading slash
}

// rels reads the relationships of part source ("" for the package), by id. A missing .rels
// is an empty set.
func (p *ooxmlPackage) rels(source string) (map[string]relationship, error) {
	dir, base := path.Split(source)
	name := dir + "_rels/" + base + ".rels"
	out := map[string]relationship{}
	if !p.has(name) {
		return out, nil
	}
	err := p.walk(name, func(_ *xml.Decoder, tok xml.Token) error {
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "Relationship" || strings.EqualFold(attr(se, 0, "TargetMode"), "External") {
			return nil
		}
		typ := attr(se, 0, "Type")
		out[attr(se, 0, "Id")] = relationship{typ: typ[strings.LastIndexByte(typ, '/')+1:], target: resolve(dir, attr(se, 0, "Target"))}
		return nil
	})
	return out, err
}

// resolve turns a relationship target into a part name: relative to the source's directory,
// or from the package root when it starts with a slash.
func resolve(dir, target string) string {
	if u, err := url.PathUnescape(target); err == nil {
		target = u
	}
	if strings.HasPrefix(target, "/") {
		return strings.TrimPrefix(path.Clean(target), "/")
	}
	return strings.TrimPrefix(path.Clean("/"+dir+target), "/")
}

// mainPart finds the package's main document through _rels/.rels, falling back to the
// conventional name when the package relationships are missing.
func (p *ooxmlPackage) mainPart(conventional string) (string, error) {
	rels, err := p.rels("")
	if err != nil {
		return "", err
	}
	name := conventional
	for _, r := range rels {
		if r.typ == "officeDocument" {
			name = r.target
			break
		}
	}
	if !p.has(name) {
		return "", p.corrupt(fmt.Errorf("missing main part %s", name))
	}
	return name, nil
}

// walkMain opens body as a package of format, finds its main part (conventional, unless the
// package's relationships name another) and walks it: the root element must be ns:root, and
// visit sees every token after it.
func walkMain(body []byte, format, conventional string, ns byte, root string, visit func(*xml.Decoder, xml.Token) error) (pkg *ooxmlPackage, name string, err error) {
	if pkg, err = openOOXML(body, format); err != nil {
		return nil, "", err
	}
	if name, err = pkg.mainPart(conventional); err != nil {
		return nil, "", err
	}
	rooted := false
	err = pkg.walk(name, func(dec *xml.Decoder, tok xml.Token) error {
		if t, ok := tok.(xml.StartElement); ok && !rooted {
			rooted = true
			return pkg.requireRoot(name, t, ns, root)
		}
		return visit(dec, tok)
	})
	if err != nil {
		return nil, "", err
	}
	return pkg, name, nil
}

// requireRoot checks that the first element of a part is the expected one, so a workbook
// named .docx says so instead of reading as an empty document.
func (p *ooxmlPackage) requireRoot(name string, se xml.StartElement, ns byte, local string) error {
	if !is(se.Name, ns, local) {
		got := se.Name.Local
		if se.Name.Local == local {
			got += fmt.Sprintf(` in namespace %q`, se.Name.Space)
		}
		return p.corrupt(fmt.Errorf("main part %s holds <%s>, not <%s>", name, got, local))
	}
	return nil
}

// elements collects the text elements of a document, cleaned as decodeText cleans text.
type elements []string

func (e *elements) add(s string) {
	if s = cleanElement(s); s != "" {
		*e = append(*e, s)
	}
}

// cleanElement drops NUL bytes (PostgreSQL text rejects them), replaces invalid UTF-8,
// normalises line ends and trims the element.
func cleanElement(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.ContainsAny(s, "\x00\r") {
		s = strings.ReplaceAll(s, "\x00", "")
		s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
	}
	return strings.TrimSpace(s)
}
