package loader

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/net/html/charset"
)

// skipped elements hold no content a reader came for: code, navigation and page furniture.
var skipped = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Noscript: true, atom.Template: true,
	atom.Nav: true, atom.Header: true, atom.Footer: true, atom.Aside: true, atom.Form: true,
	atom.Svg: true, atom.Iframe: true, atom.Button: true, atom.Select: true,
}

// blocks end an element of text.
var blocks = map[atom.Atom]bool{
	atom.P: true, atom.Div: true, atom.Section: true, atom.Article: true, atom.Main: true,
	atom.H1: true, atom.H2: true, atom.H3: true, atom.H4: true, atom.H5: true, atom.H6: true,
	atom.Li: true, atom.Tr: true, atom.Pre: true, atom.Blockquote: true, atom.Dd: true, atom.Dt: true,
	atom.Figcaption: true, atom.Caption: true, atom.Br: true, atom.Hr: true, atom.Table: true,
	atom.Ul: true, atom.Ol: true, atom.Dl: true, atom.Body: true, atom.Title: true,
}

// HTML extracts a page's main text, in the manner of Mozilla's Readability: the <main>, the
// element with role="main" or the only <article> when the page marks its content; otherwise the
// element holding the most paragraph text, found by scoring paragraphs into their parents.
// Inside it, navigation, headers, footers, asides, scripts, hidden elements, elements whose
// role or class says they are furniture (menus, sidebars, cookie banners, share buttons,
// breadcrumbs, comments) and blocks made mostly of links are left out. Each block (paragraph,
// heading, list item, table row) becomes one element; table cells are separated by a space.
// contentType, if given, supplies the charset; otherwise <meta charset> or sniffing decides.
func HTML(body []byte, contentType string) (string, error) {
	if bytes.HasPrefix(body, utf8BOM) {
		// Decided UTF-8 by its BOM, which the charset reader then passes on as text.
		body, contentType = body[len(utf8BOM):], "text/html; charset=utf-8"
	}
	r, err := charset.NewReader(bytes.NewReader(body), contentType)
	if err != nil {
		return "", fmt.Errorf("decode HTML: %w", err)
	}
	doc, err := html.Parse(r)
	if err != nil {
		return "", fmt.Errorf("parse HTML: %w", err)
	}
	m := measure(doc)
	root := contentRoot(doc, m)
	var elements []string
	var cur strings.Builder
	flush := func() {
		if t := strings.Join(strings.Fields(cur.String()), " "); t != "" {
			// A page that says UTF-8 (or nothing) is passed through undecoded: its invalid
			// bytes are replaced here, as decodeText does for text files.
			elements = append(elements, strings.ToValidUTF8(strings.ReplaceAll(t, "\x00", ""), "\uFFFD"))
		}
		cur.Reset()
	}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		switch n.Type {
		case html.TextNode:
			cur.WriteString(n.Data)
			return
		case html.ElementNode:
			if n != root && (furniture(n) || m.linkList(n)) {
				return
			}
			if n.DataAtom == atom.Td || n.DataAtom == atom.Th {
				cur.WriteByte(' ')
			}
		}
		block := n.Type == html.ElementNode && blocks[n.DataAtom]
		if block {
			flush()
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
		if block {
			flush()
		}
	}
	walk(root)
	flush()
	return join(elements), nil
}

// contentRoot is the element holding the page's content: what the page marks as such, else
// the best-scoring candidate, else the body.
func contentRoot(doc *html.Node, m measures) *html.Node {
	if n := findFirst(doc, func(n *html.Node) bool { return n.DataAtom == atom.Main || htmlAttr(n, "role") == "main" }); n != nil {
		return n
	}
	if articles := findAll(doc, func(n *html.Node) bool { return n.DataAtom == atom.Article }); len(articles) == 1 {
		return articles[0]
	}
	body := findFirst(doc, func(n *html.Node) bool { return n.DataAtom == atom.Body })
	if body == nil {
		return doc
	}
	if best := bestCandidate(body, m); best != nil {
		return best
	}
	return body
}

// bestCandidate scores every paragraph of at least 25 characters into its parent (fully) and
// grandparent (half): one point, one per comma, one per 100 characters up to three, as
// Readability does. The best container wins when it holds most of the page's paragraph text;
// a page whose text is spread out (no such container) is read whole.
func bestCandidate(body *html.Node, m measures) *html.Node {
	scores := map[*html.Node]float64{}
	total := 0
	for _, p := range paragraphsOutsideFurniture(body) {
		n := m[p].text
		if n < 25 {
			continue
		}
		total += n
		score := 1 + float64(m[p].commas) + min(float64(n)/100, 3)
		if parent := p.Parent; parent != nil && parent != body {
			scores[parent] += score
			if gp := parent.Parent; gp != nil && gp != body {
				scores[gp] += score / 2
			}
		}
	}
	var best *html.Node
	for n, s := range scores {
		s *= 1 - m.linkDensity(n)
		if best == nil || s > scores[best]*(1-m.linkDensity(best)) || s == scores[best]*(1-m.linkDensity(best)) && m[n].order < m[best].order {
			best = n
		}
	}
	if best == nil || total == 0 {
		return nil
	}
	held := 0
	for _, p := range paragraphsOutsideFurniture(best) {
		if t := m[p].text; t >= 25 {
			held += t
		}
	}
	if held*2 < total {
		return nil
	}
	return best
}

// paragraphsOutsideFurniture lists the paragraphs, preformatted blocks and table cells below
// top that the text would keep.
func paragraphsOutsideFurniture(top *html.Node) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n != top {
			if furniture(n) {
				return
			}
			if n.DataAtom == atom.P || n.DataAtom == atom.Pre || n.DataAtom == atom.Td {
				out = append(out, n)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(top)
	return out
}

// unlikelyClass matches class and id words of page furniture (after Readability's
// unlikelyCandidates); okClass rescues an element that also says it is content.
var (
	unlikelyClass = regexp.MustCompile(`(?i)(^|[\s_-])(nav|navbar|navigation|menu|sidebar|footer|header|masthead|breadcrumbs?|cookies?|consent|gdpr|banner|share|sharing|social|related|comments?|disqus|advert|ads|sponsor|promo|popup|modal|newsletter|subscribe|skip|pagination|pager)($|[\s_-])`)
	okClass       = regexp.MustCompile(`(?i)(^|[\s_-])(article|content|main|post|entry|body|text)($|[\s_-])`)
	// furnitureRoles are ARIA landmarks and widgets that are not the content.
	furnitureRoles = map[string]bool{
		"navigation": true, "banner": true, "contentinfo": true, "complementary": true, "search": true,
		"menu": true, "menubar": true, "dialog": true, "alertdialog": true, "tooltip": true,
	}
)

// furniture reports whether an element holds no content a reader came for: scripts and forms,
// navigation and page chrome by tag, role or class, and hidden elements.
func furniture(n *html.Node) bool {
	if skipped[n.DataAtom] || furnitureRoles[htmlAttr(n, "role")] {
		return true
	}
	if _, hidden := htmlAttrOK(n, "hidden"); hidden || htmlAttr(n, "aria-hidden") == "true" {
		return true
	}
	style := strings.ReplaceAll(strings.ToLower(htmlAttr(n, "style")), " ", "")
	if strings.Contains(style, "display:none") || strings.Contains(style, "visibility:hidden") {
		return true
	}
	if n.DataAtom == atom.Body || n.DataAtom == atom.Html || n.DataAtom == atom.Main || n.DataAtom == atom.Article {
		return false
	}
	names := htmlAttr(n, "class") + " " + htmlAttr(n, "id")
	return unlikelyClass.MatchString(names) && !okClass.MatchString(names)
}

// textMeasure is what the content heuristics need of an element's subtree: characters of text
// (white space excluded), of which inside links, and commas; order is the element's place in
// the document, to break ties the same way every time.
type textMeasure struct {
	text, linked, commas, order int
}

type measures map[*html.Node]textMeasure

// measure counts every element's text in one pass, so that the heuristics stay linear in the
// page's size however deeply it nests.
func measure(doc *html.Node) measures {
	m := measures{}
	order := 0
	var walk func(n *html.Node, inLink bool) textMeasure
	walk = func(n *html.Node, inLink bool) textMeasure {
		var t textMeasure
		switch {
		case n.Type == html.TextNode:
			for _, r := range n.Data {
				switch {
				case unicode.IsSpace(r):
					continue
				case r == ',' || r == '、' || r == '，':
					t.commas++
				}
				t.text++
			}
			if inLink {
				t.linked = t.text
			}
			return t
		case n.Type == html.ElementNode && (n.DataAtom == atom.Script || n.DataAtom == atom.Style):
			return t
		}
		inLink = inLink || n.DataAtom == atom.A
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			ct := walk(c, inLink)
			t.text, t.linked, t.commas = t.text+ct.text, t.linked+ct.linked, t.commas+ct.commas
		}
		order++
		t.order = order
		m[n] = t
		return t
	}
	walk(doc, false)
	return m
}

// linkList reports whether a list or container is mostly links and short: a menu, a tag cloud,
// a "related posts" box.
func (m measures) linkList(n *html.Node) bool {
	switch n.DataAtom {
	case atom.Ul, atom.Ol, atom.Div, atom.Section, atom.Table, atom.Dl:
	default:
		return false
	}
	t := m[n].text
	return t > 0 && t < 400 && m.linkDensity(n) > 0.6
}

// linkDensity is the share of an element's text inside links.
func (m measures) linkDensity(n *html.Node) float64 {
	t := m[n]
	if t.text == 0 {
		return 0
	}
	return float64(t.linked) / float64(t.text)
}

func htmlAttr(n *html.Node, key string) string {
	v, _ := htmlAttrOK(n, key)
	return v
}

func htmlAttrOK(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key && a.Namespace == "" {
			return a.Val, true
		}
	}
	return "", false
}

func findAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func findFirst(n *html.Node, match func(*html.Node) bool) *html.Node {
	if n.Type == html.ElementNode && match(n) {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := findFirst(c, match); f != nil {
			return f
		}
	}
	return nil
}

// readLimited reads at most max bytes, failing when the body is larger.
func readLimited(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("larger than the %d-byte limit", max)
	}
	return b, nil
}
