package loader_test

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/corpus"
	"github.com/ragmigrate/ragmigrate/internal/loader"
)

// pdfCorpus returns corpus document n and its PDF.
func pdfCorpus(t testing.TB, n int) (corpus.Document, []byte) {
	t.Helper()
	d := corpus.Generate(1, n)
	b, err := corpus.Encode(d, ".pdf")
	require.NoError(t, err)
	return d, b
}

// pdfNormalise collapses white space: the PDF writer wraps lines wherever it likes, and it
// wraps Chinese and Japanese between any two characters, where no space belongs.
func pdfNormalise(s string) string {
	var b strings.Builder
	for i, w := range strings.Fields(s) {
		if i > 0 {
			prev, _ := utf8.DecodeLastRuneInString(b.String())
			next, _ := utf8.DecodeRuneInString(w)
			if !pdfWrapsAnywhere(prev) && !pdfWrapsAnywhere(next) {
				b.WriteByte(' ')
			}
		}
		b.WriteString(w)
	}
	return b.String()
}

func pdfWrapsAnywhere(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana) ||
		(r >= 0x3000 && r <= 0x303f) || (r >= 0xff00 && r <= 0xffef)
}

func TestPDFCorpus(t *testing.T) {
	t.Parallel()
	for n := range 14 { // two documents of each language, every fifth one several pages long
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			d, body := pdfCorpus(t, n)
			text, err := loader.PDF(body)
			require.NoError(t, err)
			require.True(t, utf8.ValidString(text))
			require.NotContains(t, text, "\x00")
			require.NotContains(t, text, "\n\n\n", "blocks are separated by exactly one blank line")
			got := pdfNormalise(text)
			pos := 0
			want := []string{d.Title}
			for _, s := range d.Sections {
				want = append(want, s.Heading)
				for _, p := range s.Paragraphs {
					want = append(want, strings.TrimPrefix(p, "- "))
				}
			}
			for _, w := range want {
				w = pdfNormalise(w)
				i := strings.Index(got[pos:], w)
				require.GreaterOrEqual(t, i, 0, "%q missing or out of order", w)
				pos += i + len(w)
			}
			// Headings, paragraphs and list items are blocks of their own.
			blocks := map[string]bool{}
			for _, b := range strings.Split(text, "\n\n") {
				blocks[pdfNormalise(b)] = true
			}
			for _, s := range d.Sections {
				require.True(t, blocks[pdfNormalise(s.Heading)], "heading %q is not a block", s.Heading)
				for _, p := range s.Paragraphs {
					if item, ok := strings.CutPrefix(p, "- "); ok {
						p = "• " + item
					}
					require.True(t, blocks[pdfNormalise(p)], "%q is not a block", p)
				}
			}
		})
	}
}

// TestPDFMatchesPoppler compares the words with poppler's pdftotext in -raw mode, which keeps
// content-stream order as PDF does; its default mode reorders table columns.
func TestPDFMatchesPoppler(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("pdftotext")
	require.NoError(t, err, "pdftotext (poppler-utils) is required: run scripts/install.sh")
	for _, n := range []int{0, 4, 5, 6, 11} { // French, Japanese (long), Chinese, Korean, English
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			_, body := pdfCorpus(t, n)
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(bin, "-raw", "-enc", "UTF-8", "-", "-")
			cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(body), &stdout, &stderr
			require.NoError(t, cmd.Run(), stderr.String())
			text, err := loader.PDF(body)
			require.NoError(t, err)
			require.Equal(t, pdfNormalise(stdout.String()), pdfNormalise(text))
		})
	}
}

// pdfMinimal writes a one-page PDF with the given content stream and trailer extras, with a
// correct cross-reference table.
func pdfMinimal(content, trailerExtra string) []byte {
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content)+1, content),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
		"<< /Filter /Standard /V 1 /R 2 /O <00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF> /U <00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF> /P -4 >>",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R %s>>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, trailerExtra, xref)
	return b.Bytes()
}

func TestPDFErrors(t *testing.T) {
	t.Parallel()
	_, body := pdfCorpus(t, 4)
	tests := []struct {
		name string
		body []byte
		want error
		msg  string
	}{
		{"Truncated", body[:len(body)/2], loader.ErrPDFCorrupt, "corrupt PDF: "},
		{"Garbage", []byte("%PDF-1.4\nnot really\n%%EOF\n"), loader.ErrPDFCorrupt, "corrupt PDF: "},
		{"Encrypted", pdfMinimal("BT /F1 12 Tf 72 720 Td (secret) Tj ET", "/Encrypt 6 0 R /ID [<01> <01>] "), loader.ErrPDFEncrypted,
			"encrypted PDF: it opens only with a password, which ragmigrate does not take"},
		{"NoText", pdfMinimal("", ""), loader.ErrPDFNoText, "no text layer (a scanned PDF?): OCR is not supported"},
		{"OnlyGraphics", pdfMinimal("0 0 m 100 100 l S", ""), loader.ErrPDFNoText, "no text layer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			text, err := loader.PDF(tt.body)
			require.ErrorIs(t, err, tt.want)
			require.Contains(t, err.Error(), tt.msg)
			require.Empty(t, text)
		})
	}
}

// TestPDFMinimal checks the hand-made PDF the error cases start from does read.
func TestPDFMinimal(t *testing.T) {
	t.Parallel()
	text, err := loader.PDF(pdfMinimal("BT /F1 12 Tf 72 720 Td (Caf\\351 \\(ouvert\\)) Tj 0 -14 Td [(Second) -250 (line)] TJ ET", ""))
	require.NoError(t, err)
	require.Equal(t, "Café (ouvert)\nSecond line", text)
}

func FuzzPDF(f *testing.F) {
	for _, n := range []int{0, 5, 6} {
		_, body := pdfCorpus(f, n)
		f.Add(body)
	}
	f.Add(pdfMinimal("BT /F1 12 Tf 72 720 Td (x) Tj ET", ""))
	// The decryption paths, the patched AES-256 one included (third_party/pdf).
	for _, name := range []string{"owner-only.pdf", "owner-only-aes128.pdf", "owner-only-aes256.pdf", "owner-only-aes256-r5.pdf", "encrypted.pdf"} {
		f.Add(goldenRead(f, name))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		text, err := loader.PDF(body)
		if err != nil {
			require.Empty(t, text)
			return
		}
		require.True(t, utf8.ValidString(text))
		require.NotContains(t, text, "\x00")
	})
}

// TestPDFTrailingBytes: padding after the last %%EOF, which the parser alone refuses past 100
// bytes, is ignored as viewers ignore it; an appended update cut short still fails as truncated.
func TestPDFTrailingBytes(t *testing.T) {
	t.Parallel()
	_, body := pdfCorpus(t, 4)
	want, err := loader.PDF(body)
	require.NoError(t, err)
	pad := func(tail string) []byte { return append(append([]byte{}, body...), tail...) }

	for name, tail := range map[string]string{
		"NULs":   strings.Repeat("\x00", 4096),
		"Spaces": strings.Repeat(" \r\n", 200),
		"Mail":   "\r\n-- \r\nScanned by the mail gateway. " + strings.Repeat("-", 100) + "\r\n",
	} {
		text, err := loader.PDF(pad(tail))
		require.NoError(t, err, name)
		require.Equal(t, want, text, name)
	}
	_, err = loader.PDF(pad("\n12 0 obj\n<< /Type /Page /Parent 2 0 R /Contents 13 0 R >>\nendobj\n13 0 obj\n<< /Length 90 >>\nstream\nBT"))
	require.ErrorIs(t, err, loader.ErrPDFCorrupt)
	require.Contains(t, err.Error(), "missing %%EOF")
}
