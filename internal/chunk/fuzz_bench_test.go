package chunk

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzSplit checks invariants that hold for any input and any valid
// parameters. Content can only be compared modulo what the splitter may drop:
// whitespace (strip) and the punctuation of the lossy secondary regex.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{
		"", " ", "Hello there. How are you?", `a\n\n\nb`, "a...b", "one, two,, three",
		"J. R. R. Tolkien. Dr. No!!! (Why?) \"Yes.\" Ok", "日本語の文です。次の文！",
		"👨\u200d👩\u200d👧\u200d👦🇯🇵", "\x1cx\u3000y\u2028", "-- .. . . . ,5 3. x",
	} {
		f.Add(s, uint8(10), uint8(3))
	}
	f.Fuzz(func(t *testing.T, text string, size, overlap uint8) {
		if len(text) > 4096 {
			text = text[:4096] // keep each run cheap; may cut a rune, which is fine below
		}
		cs := int(size%64) + 1
		co := int(overlap) % (cs + 1)
		chunks := mustNew(t, cs, co).Split(text)
		if !utf8.ValidString(text) {
			return // not panicking is all; the reference only sees valid str values
		}

		if text == "" {
			if len(chunks) != 1 || chunks[0] != "" {
				t.Fatalf("Split(\"\") = %q, want [\"\"]", chunks)
			}
			return
		}
		kept := keptContent(text)
		for i, c := range chunks {
			if c == "" || pyStrip(c) != c {
				t.Fatalf("chunk %d = %q is empty or not stripped", i, c)
			}
			if n := utf8.RuneCountInString(c); n > cs+co {
				t.Fatalf("chunk %d has %d code points, more than size %d + overlap %d", i, n, cs, co)
			}
			// A chunk is contiguous pieces of the text, so what survives of
			// it is a substring of what survives of the text.
			if !strings.Contains(kept, keptContent(c)) {
				t.Fatalf("chunk %d = %q is not from the text", i, c)
			}
		}
		if co == 0 {
			// Without overlap every piece is used exactly once, in order.
			var all strings.Builder
			for _, c := range chunks {
				all.WriteString(keptContent(c))
			}
			if all.String() != kept {
				t.Fatalf("chunks %q do not cover the text %q", chunks, text)
			}
		}
	})
}

// keptContent is s without the characters the splitter may drop.
func keptContent(s string) string {
	return strings.Map(func(r rune) rune {
		if isPySpace(r) || isChunkingPunct(r) {
			return -1
		}
		return r
	}, s)
}

// benchText is about 100 KB of the golden documents (English, Markdown,
// German, Japanese, Chinese, French, a multilingual FAQ), repeated.
func benchText(b *testing.B) string {
	b.Helper()
	var docs []string
	seen := map[string]bool{}
	for _, c := range loadGoldenCases(b) {
		if strings.HasPrefix(c.Name, "doc_") && !seen[c.Text] {
			seen[c.Text] = true
			docs = append(docs, c.Text)
		}
	}
	var sb strings.Builder
	for i := 0; sb.Len() < 100_000; i++ {
		if i > 0 {
			sb.WriteString("\n\n")
		}
		sb.WriteString(docs[i%len(docs)])
	}
	return sb.String()
}

func BenchmarkSplit(b *testing.B) {
	text := benchText(b)
	for _, p := range []struct {
		name          string
		size, overlap int
	}{
		{"cs1000_co200", 1000, 200},
		{"cs100_co20", 100, 20},
	} {
		b.Run(p.name, func(b *testing.B) {
			s, err := New(p.size, p.overlap)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				s.Split(text)
			}
		})
	}
}
