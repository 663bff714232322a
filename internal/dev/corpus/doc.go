// Package corpus generates realistic, deterministic knowledge documents and
// a small static web site for seeding a local Bedrock Chat deployment.
//
// # Overview
//
// The source material lives in text/<lang>/<theme>.txt: hand-written company
// documents (a travel and expense policy, a manual for the fictional "Nimbus
// N3" air purifier, a runbook, a customer FAQ, meeting notes and a regional
// travel guide) in English, French, German, Spanish, Japanese, Simplified
// Chinese and Korean. [Generate] assembles document n for a seed from that
// material plus a generated data table, so the same inputs always give the
// same [Document].
//
// [Encode] writes a document in each of the eight upload types the app
// accepts (.txt .text .md .csv .pdf .docx .xlsx .pptx). The binary formats are
// written by hand with the standard library: a PDF 1.4 writer (Helvetica with
// WinAnsiEncoding for Latin text, an Identity-H Type0 font with a ToUnicode
// CMap for everything else) and minimal but complete Office Open XML
// packages. They are meant to be opened by real tools, because document
// loaders are tested against them.
//
// [Site] serves HTML pages, sitemaps, robots.txt, a PDF, a redirect and 404s
// for the bots' source_urls and sitemap_urls.
//
// # Source format
//
// Each text file starts with a "title: " line. "## " starts a section; every
// other non-empty line is one paragraph, except lines starting with "- " (a
// bullet item, kept with its "- " prefix in [Section.Paragraphs]), "| " (a
// table row, cells separated by " | ", the first row is the header) and "> "
// (speaker notes).
package corpus
