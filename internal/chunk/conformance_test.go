package chunk

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

// goldenCase is one line of testdata/cases.jsonl.
type goldenCase struct {
	Name         string   `json:"name"`
	ChunkSize    int      `json:"chunk_size"`
	ChunkOverlap int      `json:"chunk_overlap"`
	Text         string   `json:"text"`
	Chunks       []string `json:"chunks"`
}

func loadGoldenCases(tb testing.TB) []goldenCase {
	tb.Helper()
	f, err := os.Open("testdata/cases.jsonl")
	if err != nil {
		tb.Fatalf("open golden cases: %v", err)
	}
	defer f.Close()

	var cases []goldenCase
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for line := 1; sc.Scan(); line++ {
		var c goldenCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			tb.Fatalf("decode golden case on line %d: %v", line, err)
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("read golden cases: %v", err)
	}
	return cases
}

// TestGoldenCases runs every case produced by the real Python code
// (llama-index-core 0.10.19, NLTK 3.8.1, CPython 3.11) and requires the
// chunks to be equal byte for byte.
func TestGoldenCases(t *testing.T) {
	t.Parallel()

	cases := loadGoldenCases(t)
	if len(cases) != 155 {
		t.Fatalf("got %d golden cases, want 155", len(cases))
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			s, err := New(c.ChunkSize, c.ChunkOverlap)
			if err != nil {
				t.Fatalf("New(%d, %d): %v", c.ChunkSize, c.ChunkOverlap, err)
			}
			if diff := diffChunks(s.Split(c.Text), c.Chunks); diff != "" {
				t.Error(diff)
			}
		})
	}
}

// diffChunks describes the first difference between got and want, or
// returns "" when they are equal.
func diffChunks(got, want []string) string {
	for i := 0; i < len(got) && i < len(want); i++ {
		if got[i] == want[i] {
			continue
		}
		g, w := got[i], want[i]
		p := commonPrefixLen(g, w)
		return fmt.Sprintf("chunk %d differs (got %d chunks, want %d):\n"+
			"  got  %d runes: %q\n  want %d runes: %q\n  first difference at byte %d: got %q, want %q",
			i, len(got), len(want),
			utf8.RuneCountInString(g), g, utf8.RuneCountInString(w), w,
			p, clip(g[p:]), clip(w[p:]))
	}
	if len(got) != len(want) {
		var extra []string
		if len(got) > len(want) {
			extra = got[len(want):]
		} else {
			extra = want[len(got):]
		}
		return fmt.Sprintf("got %d chunks, want %d; the first %d agree; the rest: %q",
			len(got), len(want), min(len(got), len(want)), extra)
	}
	return ""
}

func commonPrefixLen(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	// Back up to a character boundary so the excerpt stays readable.
	for n > 0 && n < len(a) && !utf8.RuneStart(a[n]) {
		n--
	}
	return n
}

func clip(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "…"
}
