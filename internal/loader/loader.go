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
}

// elementSeparator joins elements, as unstructured's single mode does.
const elementSeparator = "\n\n"

// File reads a file's bytes by its name's extension (case-insensitive for the text formats).
func File(source, name string, body []byte) (Document, error) {
	ext := strings.ToLower(path.Ext(name))
	fail := func(err error) (Document, error) { return Document{}, &SourceError{Source: source, Err: err} }
	if sniffed := sniffBinary(body); sniffed != "" && !sniffedExts[sniffed][ext] {
		return fail(fmt.Errorf("%w: a %s file named %s", ErrUnsupported, strings.ToUpper(sniffed), ext))
	}
	switch ext {
	case ".txt", ".text":
		text, err := decodeText(body)
		if err != nil {
			return fail(err)
		}
		return Document{Source: source, Format: "text", Text: join(paragraphs(text))}, nil
	case ".md", ".markdown":
		text, err := decodeText(body)
		if err != nil {
			return fail(err)
		}
		return Document{Source: source, Format: "markdown", Text: join(markdown(text))}, nil
	case ".csv":
		text, err := decodeText(body)
		if err != nil {
			return fail(err)
		}
		rows, err := csvRows(text)
		if err != nil {
			return fail(err)
		}
		return Document{Source: source, Format: "csv", Text: join(rows)}, nil
	case ".html", ".htm":
		text, err := HTML(body, "")
		if err != nil {
			return fail(err)
		}
		return Document{Source: source, Format: "html", Text: text}, nil
	case ".docx", ".xlsx", ".pptx":
		read := map[string]func([]byte) ([]string, error){".docx": docx, ".xlsx": xlsx, ".pptx": pptx}[ext]
		elements, err := read(body)
		if err != nil {
			return fail(err)
		}
		return Document{Source: source, Format: ext[1:], Text: join(elements)}, nil
	case ".pdf":
		text, err := PDF(body)
		if err != nil {
			return fail(err)
		}
		return Document{Source: source, Format: "pdf", Text: text}, nil
	case ".doc", ".xls", ".ppt":
		return fail(fmt.Errorf("%w %s: the legacy binary Office formats are not read (the app does not accept them either)", ErrUnsupported, ext))
	default:
		return fail(fmt.Errorf("%w %q: the app accepts .txt .text .md .csv .pdf .docx .xlsx .pptx", ErrUnsupported, ext))
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

// sniffedExts are the extensions each sniffed container may carry.
var sniffedExts = map[string]map[string]bool{
	"pdf": {".pdf": true},
	"zip": {".docx": true, ".xlsx": true, ".pptx": true},
}

// sniffBinary names a binary container format recognised by its magic bytes, or "".
func sniffBinary(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("%PDF-")):
		return "pdf"
	case bytes.HasPrefix(b, []byte("PK\x03\x04")):
		// docx, xlsx and pptx are all zip packages; which one is decided by the extension.
		return "zip"
	}
	return ""
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
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
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
