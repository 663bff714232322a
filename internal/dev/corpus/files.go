package corpus

import (
	_ "embed"
	"fmt"
)

// Uploads made by other tools (files/README.md says how): what a scanner or a password
// dialog leaves in a bucket.
var (
	//go:embed files/encrypted.pdf
	encryptedPDF []byte
	//go:embed files/scanned.pdf
	scannedPDF []byte
	//go:embed files/edit-protected.pdf
	editProtectedPDF []byte
)

// EditProtectedDoc is the corpus document EditProtectedPDF holds.
const EditProtectedDoc = 9

// EditProtectedPDF is Generate(1, EditProtectedDoc) as a PDF protected against editing only:
// AES-256 (qpdf's default for 256-bit keys, as Acrobat's), an owner password and no user
// password, so every reader opens it.
func EditProtectedPDF() []byte { return editProtectedPDF }

// EncryptedPDF is a PDF that opens only with a user password (qpdf, AES-128).
func EncryptedPDF() []byte { return encryptedPDF }

// ScannedPDF is a page scanned to an image: a PDF without a text layer (img2pdf).
func ScannedPDF() []byte { return scannedPDF }

// TruncatedPDF is d's PDF cut off part-way, as an interrupted upload leaves it: no
// cross-reference table, no trailer.
func TruncatedPDF(d Document) ([]byte, error) {
	b, err := encodePDF(d)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", d.Title, err)
	}
	return b[:len(b)*11/20], nil
}

// WithNULs puts a NUL byte after every line end of a text file, as files exported by some
// tools hold them; PostgreSQL text cannot.
func WithNULs(text []byte) []byte {
	out := make([]byte, 0, len(text)+len(text)/40)
	for _, c := range text {
		out = append(out, c)
		if c == '\n' {
			out = append(out, 0)
		}
	}
	return out
}
