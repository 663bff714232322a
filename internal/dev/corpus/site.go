package corpus

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"html"
	"math/rand/v2"
	"net/http"
	"strings"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/japanese"
)

// Site is a static company web site built from the corpus, for the bots'
// source_urls and sitemap_urls. It is safe for concurrent use.
//
// It serves one HTML page per source text (see Pages), "/" linking them all,
// "/sitemap.xml" and "/sitemap-index.xml" (which points at
// "/sitemaps/part-1.xml" and "/sitemaps/part-2.xml", half the pages each),
// "/robots.txt", a PDF (see Files), "/redirect" (301 to the first page) and
// a small HTML 404 for everything else. Sitemaps and robots.txt carry
// absolute http URLs built from the request's Host header.
//
// The Japanese pages are served in Shift_JIS, as many Japanese sites still
// are, declared only by a <meta http-equiv> tag (the Content-Type header
// names no charset); characters Shift_JIS lacks are character references.
type Site struct {
	pages  []sitePage
	byPath map[string]*sitePage
	index  []byte
	pdf    []byte
}

type sitePage struct {
	path        string
	title       string
	lang        string
	html        []byte
	contentType string
	doc         Document
}

// quickReferencePath is the one PDF the site serves.
const quickReferencePath = "/files/nimbus-n3-quick-reference.pdf"

// lastmod is the <lastmod> of every sitemap entry.
const lastmod = "2024-03-01"

// NewSite builds the site for seed; the same seed gives the same pages.
func NewSite(seed int64) *Site {
	s := &Site{byPath: map[string]*sitePage{}}
	var docs []Document
	for _, lang := range languages {
		for _, src := range sources()[lang] {
			d := pageDocument(seed, src)
			path := "/docs/" + src.theme + ".html"
			if lang != "en" {
				path = "/docs/" + src.theme + "-" + lang + ".html"
			}
			s.pages = append(s.pages, sitePage{path: path, title: d.Title, lang: lang})
			docs = append(docs, d)
		}
	}
	// Render once every page is known: the menu and sidebars link to others.
	for i := range s.pages {
		p := &s.pages[i]
		p.html, p.contentType = s.renderPage(p, docs[i]), "text/html; charset=utf-8"
		if p.lang == "ja" {
			p.html, p.contentType = shiftJIS(p.html), "text/html"
		}
		p.doc = docs[i]
		s.byPath[p.path] = p
	}
	s.index = s.renderIndex()
	pdf, err := encodePDF(quickReference(seed))
	if err != nil {
		panic(fmt.Sprintf("corpus: encode quick reference: %v", err)) // writes to memory only
	}
	s.pdf = pdf
	return s
}

// Pages returns the paths of the HTML article pages, e.g.
// "/docs/nimbus-n3-manual.html", in sitemap order.
func (s *Site) Pages() []string {
	out := make([]string, len(s.pages))
	for i, p := range s.pages {
		out[i] = p.path
	}
	return out
}

// Page returns the document an article page shows (its <article>, without the site's menus).
func (s *Site) Page(path string) (Document, bool) {
	p, ok := s.byPath[path]
	if !ok {
		return Document{}, false
	}
	return p.doc, true
}

// HTML returns an article page as served, or nil.
func (s *Site) HTML(path string) []byte {
	if p, ok := s.byPath[path]; ok {
		return p.html
	}
	return nil
}

// Sitemaps returns the paths of the sitemap and the sitemap index.
func (s *Site) Sitemaps() []string { return []string{"/sitemap.xml", "/sitemap-index.xml"} }

// Files returns the paths of the non-HTML documents the site serves.
func (s *Site) Files() []string { return []string{quickReferencePath} }

// ServeHTTP serves GET and HEAD requests.
func (s *Site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	base := "http://" + r.Host
	if r.Host == "" {
		base = "http://localhost"
	}
	switch path := r.URL.Path; path {
	case "/", "/index.html":
		write(w, "text/html; charset=utf-8", s.index)
	case "/sitemap.xml":
		write(w, "application/xml; charset=utf-8", urlset(base, s.pages))
	case "/sitemaps/part-1.xml":
		write(w, "application/xml; charset=utf-8", urlset(base, s.pages[:len(s.pages)/2]))
	case "/sitemaps/part-2.xml":
		write(w, "application/xml; charset=utf-8", urlset(base, s.pages[len(s.pages)/2:]))
	case "/sitemap-index.xml":
		var b bytes.Buffer
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">` + "\n")
		for _, part := range []string{"/sitemaps/part-1.xml", "/sitemaps/part-2.xml"} {
			fmt.Fprintf(&b, "  <sitemap><loc>%s</loc><lastmod>%s</lastmod></sitemap>\n", xmlEscape(base+part), lastmod)
		}
		b.WriteString("</sitemapindex>\n")
		write(w, "application/xml; charset=utf-8", b.Bytes())
	case "/robots.txt":
		write(w, "text/plain; charset=utf-8", []byte("User-agent: *\nAllow: /\nDisallow: /internal/\n\nSitemap: "+base+"/sitemap.xml\n"))
	case quickReferencePath:
		write(w, "application/pdf", s.pdf)
	case "/redirect":
		http.Redirect(w, r, s.pages[0].path, http.StatusMovedPermanently)
	default:
		if p, ok := s.byPath[path]; ok {
			write(w, p.contentType, p.html)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>404 Not Found</title></head>"+
			"<body><h1>Page not found</h1><p>No page at %s. <a href=\"/\">Back to the start page</a>.</p></body></html>\n", html.EscapeString(path))
	}
}

func write(w http.ResponseWriter, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body) // the client went away; nothing to do
}

func urlset(base string, pages []sitePage) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">` + "\n")
	for _, p := range pages {
		fmt.Fprintf(&b, "  <url><loc>%s</loc><lastmod>%s</lastmod><changefreq>monthly</changefreq></url>\n", xmlEscape(base+p.path), lastmod)
	}
	b.WriteString("</urlset>\n")
	return b.Bytes()
}

// pageDocument is the full text of src with a short data table, varied by seed.
func pageDocument(seed int64, src source) Document {
	h := fnv.New64a()
	h.Write([]byte(src.lang + "/" + src.theme))
	rng := rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
	secs := append(cloneSections(src.sections), appendix(rng, src.lang, 5+rng.IntN(6)))
	return Document{Title: src.title, Lang: src.lang, Sections: secs}
}

// quickReference is a multilingual PDF: one section per language.
func quickReference(seed int64) Document {
	d := Document{Title: "Nimbus N3 — Quick Reference · Kurzanleitung · Guide rapide · 取扱説明書 · 사용 설명서", Lang: "en"}
	for _, lang := range languages {
		for _, src := range sources()[lang] {
			if src.theme == "nimbus-n3-manual" || (lang == "zh" && src.theme == "customer-faq") {
				sec := cloneSections(src.sections[1:2])[0]
				sec.Heading = src.title + " — " + sec.Heading
				d.Sections = append(d.Sections, sec)
			}
		}
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	d.Sections = append(d.Sections, appendix(rng, "es", 6))
	return d
}

const siteCSS = `body{font-family:system-ui,sans-serif;margin:0;color:#222}header,footer{background:#0b3d5c;color:#fff;padding:1em 2em}` +
	`header a,footer a{color:#fff}nav ul{list-style:none;display:flex;gap:1.5em;padding:0;margin:.5em 0 0}` +
	`main{display:flex;gap:2em;padding:1em 2em}article{flex:3;max-width:52em}aside{flex:1;font-size:.9em}` +
	`table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left}.cookie{background:#fffbe6;padding:.5em 2em}`

func (s *Site) renderPage(p *sitePage, d Document) []byte {
	var b bytes.Buffer
	s.head(&b, langTag(p.lang), d.Title)
	fmt.Fprintf(&b, "<main>\n<article lang=\"%s\">\n<h1>%s</h1>\n", langTag(d.Lang), html.EscapeString(d.Title))
	for _, sec := range d.Sections {
		fmt.Fprintf(&b, "<section>\n<h2>%s</h2>\n", html.EscapeString(sec.Heading))
		inList := false
		for _, para := range sec.Paragraphs {
			item, ok := bullet(para)
			if ok != inList {
				if ok {
					b.WriteString("<ul>\n")
				} else {
					b.WriteString("</ul>\n")
				}
				inList = ok
			}
			if ok {
				fmt.Fprintf(&b, "<li>%s</li>\n", html.EscapeString(item))
			} else {
				fmt.Fprintf(&b, "<p>%s</p>\n", html.EscapeString(para))
			}
		}
		if inList {
			b.WriteString("</ul>\n")
		}
		if t := rectangle(sec.Table); t != nil {
			b.WriteString("<table>\n<thead><tr>")
			for _, c := range t[0] {
				fmt.Fprintf(&b, "<th>%s</th>", cellHTML(c))
			}
			b.WriteString("</tr></thead>\n<tbody>\n")
			for _, row := range t[1:] {
				b.WriteString("<tr>")
				for _, c := range row {
					fmt.Fprintf(&b, "<td>%s</td>", cellHTML(c))
				}
				b.WriteString("</tr>\n")
			}
			b.WriteString("</tbody>\n</table>\n")
		}
		b.WriteString("</section>\n")
	}
	b.WriteString("</article>\n<aside>\n<h2>Related pages</h2>\n<ul>\n")
	for _, other := range s.pages {
		if other.lang == p.lang && other.path != p.path {
			fmt.Fprintf(&b, "<li><a href=\"%s\">%s</a></li>\n", other.path, html.EscapeString(other.title))
		}
	}
	b.WriteString("</ul>\n</aside>\n</main>\n")
	foot(&b)
	return b.Bytes()
}

// shiftJIS re-encodes a UTF-8 page in Shift_JIS, declared by <meta http-equiv>.
func shiftJIS(page []byte) []byte {
	page = bytes.Replace(page, []byte(`<meta charset="utf-8">`), []byte(`<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">`), 1)
	out, err := encoding.HTMLEscapeUnsupported(japanese.ShiftJIS.NewEncoder()).Bytes(page)
	if err != nil {
		panic(fmt.Sprintf("corpus: Shift_JIS page: %v", err)) // every rune is encodable or escaped
	}
	return out
}

func cellHTML(c string) string { return strings.ReplaceAll(html.EscapeString(c), "\n", "<br>") }

func (s *Site) renderIndex() []byte {
	var b bytes.Buffer
	s.head(&b, "en", "Nimbus Air Systems — Knowledge Base")
	b.WriteString("<main>\n<article>\n<h1>Knowledge Base</h1>\n<p>Manuals, policies, runbooks and guides in seven languages.</p>\n")
	for _, lang := range languages {
		fmt.Fprintf(&b, "<h2 lang=\"%s\">%s</h2>\n<ul>\n", langTag(lang), strings.ToUpper(lang))
		for _, p := range s.pages {
			if p.lang == lang {
				fmt.Fprintf(&b, "<li><a href=\"%s\" lang=\"%s\">%s</a></li>\n", p.path, langTag(lang), html.EscapeString(p.title))
			}
		}
		b.WriteString("</ul>\n")
	}
	fmt.Fprintf(&b, "<h2>Downloads</h2>\n<ul>\n<li><a href=\"%s\">Nimbus N3 quick reference (PDF)</a></li>\n</ul>\n", quickReferencePath)
	b.WriteString("<p><a href=\"/sitemap.xml\">Sitemap</a> · <a href=\"/sitemap-index.xml\">Sitemap index</a></p>\n</article>\n</main>\n")
	foot(&b)
	return b.Bytes()
}

func (s *Site) head(b *bytes.Buffer, lang, title string) {
	fmt.Fprintf(b, "<!DOCTYPE html>\n<html lang=\"%s\">\n<head>\n<meta charset=\"utf-8\">\n"+
		"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>%s — Nimbus Air Systems</title>\n"+
		"<style>%s</style>\n</head>\n<body>\n", lang, html.EscapeString(title), siteCSS)
	b.WriteString("<header>\n<a class=\"logo\" href=\"/\">Nimbus Air Systems</a>\n<nav aria-label=\"Main\">\n<ul>\n" +
		"<li><a href=\"/\">Home</a></li>\n")
	for _, p := range s.pages {
		if p.lang == "en" {
			fmt.Fprintf(b, "<li><a href=\"%s\">%s</a></li>\n", p.path, html.EscapeString(navLabel(p.title)))
		}
	}
	b.WriteString("<li><a href=\"/contact.html\">Contact</a></li>\n</ul>\n</nav>\n</header>\n" +
		"<div class=\"cookie\">We use cookies to improve your experience and to analyse traffic. " +
		"<a href=\"/privacy.html\">Learn more</a> <button type=\"button\">Accept all</button></div>\n")
}

// navLabel shortens a title for the menu: the part before a dash.
func navLabel(title string) string {
	if i := strings.Index(title, " — "); i > 0 {
		return title[:i]
	}
	return title
}

func foot(b *bytes.Buffer) {
	b.WriteString("<footer>\n<p>© 2024 Nimbus Air Systems Ltd. All rights reserved. Registered in Ireland, company no. 612345, " +
		"1 Harbour Square, Dublin 2.</p>\n<p><a href=\"/imprint.html\">Imprint</a> · <a href=\"/privacy.html\">Privacy policy</a> · " +
		"<a href=\"/terms.html\">Terms of use</a> · <a href=\"/cookies.html\">Cookie settings</a> · " +
		"<a href=\"/careers.html\">Careers</a></p>\n<p>Follow us: LinkedIn · YouTube · Instagram</p>\n</footer>\n</body>\n</html>\n")
}
