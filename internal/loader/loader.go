// Package loader turns a bot's sources into the text the app's embedding task would have
// embedded: one document per file or URL, its elements joined by a blank line (unstructured's
// "single" mode, docs/bedrock-chat.md §2).
//
// # Overview
//
// Files are chosen by extension, as the app's loader is, and their bytes are checked against
// the extension by content sniffing. This package reads every upload type the app accepts: the
// plain-text formats, HTML, the Office Open XML formats (.docx .xlsx .pptx, with the standard
// library's zip and XML readers and limits against zip bombs) and PDF (pdf.go). The legacy
// binary Office formats answer ErrUnsupported with a reason naming the format, so a bot holding
// one fails clearly instead of being embedded with an empty document. URLs are fetched over HTTP
// and read by their Content-Type; sitemaps list pages to load as URLs.
//
// The app used the Python library unstructured; its exact element boundaries are not
// reproduced, only its shape: paragraphs, headings, list items and table rows as separate
// elements, in reading order, without markup.
package loader

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// ErrUnsupported marks a source whose format this version cannot read.
var ErrUnsupported = errors.New("unsupported format")

// ErrNoText marks a source that reads but holds no text: an empty file, a page of images. The
// app embedded nothing for such a source and still called the bot SUCCEEDED; a migration
// reports it, since the operator likely expected its content in the bot.
var ErrNoText = errors.New("no text")

// SourceError says which source failed and why.
type SourceError struct {
	Source string // s3://bucket/key or the URL as entered
	Err    error
}

func (e *SourceError) Error() string { return e.Source + ": " + e.Err.Error() }
func (e *SourceError) Unwrap() error { return e.Err }

// Document is the text of one source.
type Document struct {
	Source string
	Text   string
	// Format is what the bytes were read as: "text", "markdown", "csv", "html", "docx", "xlsx",
	// "pptx", "pdf".
	Format string
	// Named is the extension of the file's name when the content was read as another format
	// (an HTML page saved as .pdf), else "".
	Named string
	// Bytes is the size of the source as read, for the per-bot limit.
	Bytes int64
}

// elementSeparator joins elements, as unstructured's single mode does.
const elementSeparator = "\n\n"

// File reads a file's bytes. The name's extension chooses the reader, as it does in the app,
// unless the content says otherwise: a PDF, an Office package or an HTML page is read as what it
// is whatever its name, as unstructured's partition did (it asks libmagic before the extension).
// Text content under a binary format's name, and containers that are no upload type (a plain ZIP
// archive, an OLE file), fail with ErrUnsupported naming what the bytes are.
func File(source, name string, body []byte) (Document, error) {
	named := strings.ToLower(path.Ext(name))
	fail := func(err error) (Document, error) { return Document{}, &SourceError{Source: source, Err: err} }
	if len(body) == 0 {
		return fail(fmt.Errorf("%w: the file is empty", ErrNoText))
	}
	ext, err := readAs(named, body)
	if err != nil {
		return fail(err)
	}
	doc, err := read(ext, body)
	if err == nil {
		err = hasText(doc, len(body))
	}
	if err != nil {
		if ext != named {
			err = fmt.Errorf("read as %s (the file is named %s): %w", ext, named, err)
		}
		return fail(err)
	}
	doc.Source, doc.Bytes = source, int64(len(body))
	if ext != named {
		doc.Named = named
	}
	return doc, nil
}

// hasText fails a document whose text is empty or only white space.
func hasText(doc Document, size int) error {
	if strings.TrimSpace(doc.Text) != "" {
		return nil
	}
	return fmt.Errorf("%w: the %s content (%d bytes) holds no text", ErrNoText, strings.ToUpper(doc.Format), size)
}

// read reads body as a file of extension ext.
func read(ext string, body []byte) (Document, error) {
	switch ext {
	case ".txt", ".text":
		text, err := decodeText(body)
		return Document{Format: "text", Text: join(paragraphs(text))}, err
	case ".md", ".markdown":
		text, err := decodeText(body)
		return Document{Format: "markdown", Text: join(markdown(text))}, err
	case ".csv":
		text, err := decodeText(body)
		if err != nil {
			return Document{}, err
		}
		text, err = csvRows(text)
		return Document{Format: "csv", Text: text}, err
	case ".html", ".htm":
		text, err := HTML(body, "")
		return Document{Format: "html", Text: text}, err
	case ".docx", ".xlsx", ".pptx":
		read := map[string]func([]byte) ([]string, error){".docx": docx, ".xlsx": xlsx, ".pptx": pptx}[ext]
		elements, err := read(body)
		return Document{Format: ext[1:], Text: join(elements)}, err
	case ".pdf":
		text, err := PDF(body)
		return Document{Format: "pdf", Text: text}, err
	case ".doc", ".xls", ".ppt":
		return Document{}, fmt.Errorf("%w %s: the legacy binary Office formats are not read (the app does not accept them either)", ErrUnsupported, ext)
	default:
		return Document{}, fmt.Errorf("%w %q: the app accepts .txt .text .md .csv .pdf .docx .xlsx .pptx", ErrUnsupported, ext)
	}
}

// Readable reports, by name alone, whether File can read a file: nil, or the error File would
// give for its format.
func Readable(source, name string) error {
	switch strings.ToLower(path.Ext(name)) {
	case ".txt", ".text", ".md", ".markdown", ".csv", ".html", ".htm", ".docx", ".xlsx", ".pptx", ".pdf":
		return nil
	}
	_, err := File(source, name, nil)
	return err
}

// readAs decides which reader a file's bytes go to: the extension, unless the content is
// recognisably another upload type.
func readAs(named string, body []byte) (string, error) {
	sniffed := sniff(body)
	switch {
	case sniffed == named, sniffed == "" && !binaryExt[named]:
		return named, nil
	case sniffed == ".zip":
		if named == ".docx" || named == ".xlsx" || named == ".pptx" {
			return named, nil // the package's reader says what is wrong with it
		}
		return "", fmt.Errorf("%w: a ZIP file named %s, and no Office document", ErrUnsupported, named)
	case sniffed == ".ole":
		if named == ".doc" || named == ".xls" || named == ".ppt" || binaryExt[named] && named != ".pdf" {
			return named, nil // their readers explain
		}
		return "", fmt.Errorf("%w: an OLE compound file named %s: a legacy binary or password-protected Office document", ErrUnsupported, named)
	case sniffed == "" && len(body) > 0 && looksLikeText(body):
		return "", fmt.Errorf("%w: the file named %s holds plain text, not a %s", ErrUnsupported, named, strings.ToUpper(named[1:]))
	case sniffed == ".html" && (named == ".htm" || named == ".md" || named == ".markdown"):
		return named, nil // Markdown may hold HTML legally
	}
	if sniffed == "" {
		return named, nil // damaged or unknown bytes: the format's reader says what it finds
	}
	return sniffed, nil
}

var utf8BOM = []byte("\xef\xbb\xbf")

// binaryExt are the upload types whose content is not text.
var binaryExt = map[string]bool{".pdf": true, ".docx": true, ".xlsx": true, ".pptx": true}

// looksLikeText reports whether a file's first bytes are UTF-8 text without control characters.
func looksLikeText(b []byte) bool {
	head := b[:min(len(b), 512)]
	for len(head) > 0 {
		r, size := utf8.DecodeRune(head)
		if r == utf8.RuneError && size == 1 && len(head) >= utf8.UTFMax {
			return false
		}
		if r < 0x20 && r != '\n' && r != '\r' && r != '\t' && r != '\f' {
			return false
		}
		head = head[size:]
	}
	return true
}

// sniff names the format of a file by its content: ".pdf", ".docx", ".xlsx", ".pptx", ".html",
// ".zip" for another zip archive, ".ole" for an OLE compound file, or "" when the content does
// not say (plain text, or bytes of no known kind).
func sniff(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("%PDF-")):
		return ".pdf"
	case bytes.HasPrefix(b, oleMagic):
		return ".ole"
	case bytes.HasPrefix(b, []byte("PK\x03\x04")):
		return sniffZip(b)
	}
	head := b[:min(len(b), 512)]
	head = bytes.TrimLeft(bytes.TrimPrefix(head, utf8BOM), " \t\r\n")
	for _, sig := range []string{"<!doctype html", "<html"} {
		if len(head) >= len(sig) && strings.EqualFold(string(head[:len(sig)]), sig) {
			return ".html"
		}
	}
	return ""
}

// sniffZip tells the Office formats apart by their main part, as libmagic does. A zip too
// damaged to list its parts is ".zip": under an Office name, that format's reader reports the damage.
func sniffZip(b []byte) string {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return ".zip"
	}
	for _, f := range zr.File {
		switch strings.ToLower(strings.TrimPrefix(f.Name, "/")) {
		case "word/document.xml":
			return ".docx"
		case "xl/workbook.xml":
			return ".xlsx"
		case "ppt/presentation.xml":
			return ".pptx"
		}
	}
	for _, f := range zr.File {
		if strings.EqualFold(f.Name, "[Content_Types].xml") {
			return "" // an Office package with unusual part names: trust the extension
		}
	}
	return ".zip"
}

// decodeText reads UTF-8 (with or without BOM) or BOM-marked UTF-16, drops NUL bytes (PostgreSQL
// text rejects them) and replaces invalid UTF-8 rather than failing the bot.
func decodeText(b []byte) (string, error) {
	if bytes.HasPrefix(b, []byte{0xff, 0xfe}) || bytes.HasPrefix(b, []byte{0xfe, 0xff}) {
		dec := unicode.BOMOverride(unicode.UTF8.NewDecoder())
		out, _, err := transform.Bytes(dec, b)
		if err != nil {
			return "", fmt.Errorf("decode UTF-16: %w", err)
		}
		b = out
	}
	b = bytes.TrimPrefix(b, utf8BOM)
	s := string(b)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	s = strings.ReplaceAll(s, "\x00", "")
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n"), nil
}

// paragraphs splits text at blank lines, trimming each piece and dropping empty ones.
func paragraphs(s string) []string {
	var out []string
	for _, p := range blankLines.Split(s, -1) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func join(elements []string) string { return strings.Join(elements, elementSeparator) }
