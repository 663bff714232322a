package corpus

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/require"
)

// TestPDFReadableByPoppler checks the PDFs with a real reader. poppler-utils
// is a test dependency; the test fails rather than skips without it.
func TestPDFReadableByPoppler(t *testing.T) {
	t.Parallel()

	bin, err := exec.LookPath("pdftotext")
	require.NoError(t, err, "pdftotext (poppler-utils) is required: run `make install`")

	squash := func(s string) string {
		return strings.Map(func(r rune) rune {
			if unicode.IsSpace(r) {
				return -1
			}
			return r
		}, s)
	}
	tests := []struct {
		name string
		doc  Document
	}{
		{"QuickReference", quickReference(1)},
		{"Japanese", Generate(0, 4)},
		{"Korean", Generate(0, 6)},
		{"Chinese", Generate(0, 5)},
		{"French", Generate(0, 1)},
		{"German", Generate(0, 2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := Encode(tt.doc, ".pdf")
			require.NoError(t, err)
			path := filepath.Join(t.TempDir(), "doc.pdf")
			require.NoError(t, os.WriteFile(path, b, 0o600))
			var stderr bytes.Buffer
			cmd := exec.Command(bin, "-enc", "UTF-8", path, "-")
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			require.NoError(t, err, stderr.String())
			got := squash(string(out))
			// Every heading and paragraph comes back, whatever the wrapping.
			for _, s := range tt.doc.Sections {
				require.Contains(t, got, squash(s.Heading))
				for _, p := range s.Paragraphs {
					item, _ := bullet(p)
					require.Contains(t, got, squash(item))
				}
			}
		})
	}
}
