// Package chunk is Bedrock Chat v1's text splitter, reproduced exactly.
//
// # Overview
//
// Bedrock Chat v1.0.0 to v1.1.2 chunk every document with llama-index-core
// 0.10.19's SentenceSplitter, configured as
//
//	SentenceSplitter(paragraph_separator=r"\n\n\n", chunk_size=CS,
//	    chunk_overlap=CO, tokenizer=lambda text: [0] * len(text))
//
// A re-embedding migration has to produce the same chunks, or the vectors it
// writes would not line up with what the app itself would have written. So
// this package is a bug-compatible port, not a better splitter. In
// particular:
//
//   - Sizes are Unicode code points (Python len(str)), not bytes.
//   - The paragraph separator is the literal six characters `\n\n\n`
//     (backslash, n, three times), not newlines. It stays at the start of the
//     piece that follows it.
//   - Sentences come from an untrained NLTK 3.8.1 PunktSentenceTokenizer:
//     no abbreviations, collocations or sentence starters, so only the
//     first-pass rules and the initial/number part of the orthographic
//     heuristic (with an empty orthographic context) decide. See punkt.go.
//   - The secondary regex is the old, lossy "[^,.;。？！]+[,.;。？！]?" applied
//     with re.findall: punctuation that does not directly follow a run of
//     other characters is dropped ("a...b" becomes "a." and "b").
//   - Overlap is made of whole splits from the end of the previous chunk, and
//     the split after the overlap is always added, so a chunk may exceed the
//     chunk size by up to the overlap.
//   - Chunks are trimmed with Python's str.strip, which also removes
//     U+001C..U+001F (strings.TrimSpace does not), and empty chunks are
//     dropped. The empty text is the exception: it yields one empty chunk.
//
// Where Go's unicode tables (Unicode 15.0 in Go 1.26) disagree with CPython
// 3.11's (Unicode 14.0) on the few predicates Punkt uses, pyunicode.go
// carries the difference; see there.
//
// One failure mode is not reproduced. Python's _split recurses once per
// level of nesting, and a text that Punkt peels one character at a time (a
// run of thousands of "!" or "?", as left by a failed transcoding) exceeds
// CPython's recursion limit, so the app raises RecursionError and that
// document is never embedded. Split has no such limit and returns the chunks
// the Python code would have produced without it. The work is quadratic in
// the length of such a run, as it is in Python.
//
// Input is expected to be valid UTF-8. An invalid byte counts as one code
// point and is passed through unchanged.
package chunk
