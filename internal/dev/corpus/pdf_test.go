package corpus

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/stretchr/testify/require"
)

// pdfFile is what the tests read back from a PDF: objects by number, with
// streams inflated.
type pdfFile struct {
	objects map[int]string
	streams map[int]string
	trailer string
}

// parsePDF follows startxref to the cross-reference table and requires every
// in-use entry to point exactly at "n 0 obj".
func parsePDF(t *testing.T, b []byte) pdfFile {
	t.Helper()
	require.True(t, bytes.HasPrefix(b, []byte("%PDF-1.4\n")))
	m := regexp.MustCompile(`startxref\n(\d+)\n%%EOF\n$`).FindSubmatch(b)
	require.NotNil(t, m, "startxref at the end")
	xref, err := strconv.Atoi(string(m[1]))
	require.NoError(t, err)
	require.Less(t, xref, len(b))
	rest := b[xref:]
	require.True(t, bytes.HasPrefix(rest, []byte("xref\n0 ")), "xref keyword at startxref offset")
	head := regexp.MustCompile(`^xref\n0 (\d+)\n`).FindSubmatch(rest)
	require.NotNil(t, head)
	size, _ := strconv.Atoi(string(head[1]))
	entries := rest[len(head[0]):]
	require.GreaterOrEqual(t, len(entries), 20*size)
	require.Equal(t, "0000000000 65535 f \n", string(entries[:20]))

	f := pdfFile{objects: map[int]string{}, streams: map[int]string{}}
	for i := 1; i < size; i++ {
		e := string(entries[20*i : 20*i+20])
		require.Regexp(t, `^\d{10} 00000 n \n$`, e, "entry %d", i)
		off, _ := strconv.Atoi(e[:10])
		prefix := fmt.Sprintf("%d 0 obj\n", i)
		require.True(t, bytes.HasPrefix(b[off:], []byte(prefix)), "object %d at offset %d: %q", i, off, b[off:min(off+20, len(b))])
		end := bytes.Index(b[off:], []byte("\nendobj\n"))
		require.Positive(t, end)
		obj := string(b[off+len(prefix) : off+end])
		f.objects[i] = obj
		if dict, data, ok := strings.Cut(obj, "\nstream\n"); ok {
			lm := regexp.MustCompile(`/Length (\d+)`).FindStringSubmatch(dict)
			require.NotNil(t, lm)
			n, _ := strconv.Atoi(lm[1])
			require.Equal(t, len(data)-len("\nendstream"), n, "object %d /Length", i)
			zr, err := zlib.NewReader(strings.NewReader(data[:n]))
			require.NoError(t, err)
			plain, err := io.ReadAll(zr)
			require.NoError(t, err)
			f.streams[i] = string(plain)
		}
	}
	trailer := entries[20*size:]
	require.True(t, bytes.HasPrefix(trailer, []byte("trailer\n")))
	f.trailer = string(trailer)
	require.Contains(t, f.trailer, fmt.Sprintf("/Size %d ", size))
	return f
}

func (f pdfFile) pageCount(t *testing.T) int {
	t.Helper()
	n := 0
	for _, o := range f.objects {
		if strings.HasPrefix(o, "<< /Type /Page ") {
			n++
		}
		if m := regexp.MustCompile(`^<< /Type /Pages .* /Count (\d+) >>$`).FindStringSubmatch(o); m != nil {
			c, _ := strconv.Atoi(m[1])
			defer func() { require.Equal(t, c, n, "/Count") }()
		}
	}
	return n
}

func (f pdfFile) find(substr string) (int, bool) {
	for i, o := range f.objects {
		if strings.Contains(o, substr) {
			return i, true
		}
	}
	return 0, false
}

func TestPDFStructure(t *testing.T) {
	t.Parallel()

	for n := range 10 {
		d := Generate(3, n)
		b, err := Encode(d, ".pdf")
		require.NoError(t, err)
		f := parsePDF(t, b)
		require.GreaterOrEqual(t, f.pageCount(t), 1)

		// /Info /Title decodes to the document title.
		m := regexp.MustCompile(`/Info (\d+) 0 R`).FindStringSubmatch(f.trailer)
		require.NotNil(t, m)
		info, _ := strconv.Atoi(m[1])
		title := regexp.MustCompile(`/Title <FEFF([0-9A-F]*)>`).FindStringSubmatch(f.objects[info])
		require.NotNil(t, title, f.objects[info])
		var units []uint16
		for i := 0; i+4 <= len(title[1]); i += 4 {
			u, _ := strconv.ParseUint(title[1][i:i+4], 16, 16)
			units = append(units, uint16(u))
		}
		require.Equal(t, d.Title, string(utf16.Decode(units)))

		_, helvetica := f.find("/BaseFont /Helvetica /Encoding /WinAnsiEncoding")
		require.True(t, helvetica)
		if eastAsian(d.Lang) {
			_, ok := f.find("/Subtype /Type0 /BaseFont /" + cidFontName + " /Encoding /Identity-H")
			require.True(t, ok, "Type0 font")
			_, ok = f.find("/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >>")
			require.True(t, ok, "CIDSystemInfo")
			cmap := ""
			for _, s := range f.streams {
				if strings.Contains(s, "beginbfchar") {
					cmap = s
				}
			}
			require.NotEmpty(t, cmap, "ToUnicode CMap")
			for _, r := range d.Title {
				if r > 0xff {
					require.Contains(t, cmap, fmt.Sprintf("<%04X> <%04X>", r, r))
				}
			}
		}
	}
}

func TestPDFLongDocumentsHaveThreePages(t *testing.T) {
	t.Parallel()

	seen := map[string]bool{}
	for n := 4; len(seen) < len(Languages()); n += 5 {
		d := Generate(8, n)
		seen[d.Lang] = true
		b, err := Encode(d, ".pdf")
		require.NoError(t, err)
		require.GreaterOrEqual(t, parsePDF(t, b).pageCount(t), 3, "document %d (%s)", n, d.Lang)
	}
}

func TestPDFLatinText(t *testing.T) {
	t.Parallel()

	d := Document{Title: "Café (draft)", Lang: "fr", Sections: []Section{{
		Heading:    "Œuvre — Größe",
		Paragraphs: []string{`a\b (c) « d » 3,5 € — ß ñ`, "- item"},
	}}}
	b, err := Encode(d, ".pdf")
	require.NoError(t, err)
	f := parsePDF(t, b)
	_, cid := f.find("/Type0")
	require.False(t, cid, "WinAnsi covers all of it")
	var content string
	for _, s := range f.streams {
		content += s
	}
	require.Contains(t, content, `(Caf\351 \(draft\)) Tj`)
	require.Contains(t, content, `(\214uvre \227 Gr\366\337e) Tj`)
	require.Contains(t, content, `(a\\b \(c\) \253 d \273 3,5 \200 \227 \337 \361) Tj`)
	require.Contains(t, content, `(\225) Tj`, "bullet")
	require.Contains(t, f.objects[3], "/Title <FEFF")
}

func TestWrapText(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name  string
		in    string
		width float64
		want  []string
	}{
		{"Words", "alpha beta gamma", 60, []string{"alpha beta", "gamma"}},
		{"LongWord", "mmmmmmmmmm", 26, []string{"mmm", "mmm", "mmm", "m"}},
		{"CJKBreaksAnywhere", "日本語の文章", 30, []string{"日本語", "の文章"}},
		{"NoLineStartPunctuation", "日本語。文章", 30, []string{"日本", "語。文", "章"}},
		{"Hangul", "한국어 문장 입니다", 40, []string{"한국어", "문장", "입니다"}},
		{"Empty", "", 100, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, wrapText(tt.in, tt.width, 10, false))
		})
	}
}
