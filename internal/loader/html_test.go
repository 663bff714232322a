package loader_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/loader"
)

// TestHTMLReadability: pages that do not mark their content with <main> or <article> — the
// div layouts of older CMSs — still come out as their content only.
func TestHTMLReadability(t *testing.T) {
	t.Parallel()
	page := `<!DOCTYPE html><html><head><title>Filters</title></head><body>
<div id="top-menu"><a href="/">Home</a> <a href="/shop">Shop</a> <a href="/help">Help</a></div>
<div class="cookie-consent">We use cookies. <a href="/privacy">Privacy</a></div>
<div role="navigation"><a href="/a">Products</a> <a href="/b">Support</a></div>
<ul class="breadcrumbs"><li><a href="/">Home</a></li><li><a href="/help">Help</a></li></ul>
<div class="wrapper">
  <div class="col-left sidebar"><h3>Categories</h3><p>Browse purifiers, filters, accessories and spare parts in our catalogue.</p></div>
  <div class="post-content">
    <h1>Changing the HEPA filter</h1>
    <p>The HEPA filter of the Nimbus N3 should be changed every twelve months, or sooner in dusty rooms.</p>
    <p>Open the back cover, pull the old filter out by its tab, and slide the new one in, arrows facing the fan.</p>
    <div style="display: none">Tracking pixel text that nobody sees.</div>
    <ul><li>Unplug the purifier first.</li><li>Reset the filter timer afterwards.</li></ul>
    <div class="share-buttons"><a href="#">Share on X</a> <a href="#">Share by e-mail</a></div>
  </div>
  <div class="related-posts"><h3>Related</h3><ul><li><a href="/1">Cleaning the pre-filter, step by step</a></li><li><a href="/2">What the air quality light means</a></li></ul></div>
</div>
<div id="comments"><p>Great article, thanks a lot, it helped me with my purifier!</p></div>
<div class="footer-links"><a href="/imprint">Imprint</a></div>
</body></html>`
	text, err := loader.HTML([]byte(page), "text/html; charset=utf-8")
	require.NoError(t, err)
	require.Equal(t, "Changing the HEPA filter\n\n"+
		"The HEPA filter of the Nimbus N3 should be changed every twelve months, or sooner in dusty rooms.\n\n"+
		"Open the back cover, pull the old filter out by its tab, and slide the new one in, arrows facing the fan.\n\n"+
		"Unplug the purifier first.\n\n"+
		"Reset the filter timer afterwards.", text)

	t.Run("ContentSpreadOut", func(t *testing.T) {
		t.Parallel()
		// No container holds most of the text: the body is read, furniture still left out.
		page := `<html><body>
<div><p>First section of a plain page, long enough to count as a paragraph.</p></div>
<div><p>Second section of a plain page, long enough to count as a paragraph.</p></div>
<div><p>Third section of a plain page, long enough to count as a paragraph.</p></div>
<div class="menu"><a href="/x">Menu entry</a></div>
</body></html>`
		text, err := loader.HTML([]byte(page), "")
		require.NoError(t, err)
		require.Equal(t, "First section of a plain page, long enough to count as a paragraph.\n\n"+
			"Second section of a plain page, long enough to count as a paragraph.\n\n"+
			"Third section of a plain page, long enough to count as a paragraph.", text)
	})

	t.Run("RoleMain", func(t *testing.T) {
		t.Parallel()
		page := `<html><body><div class="intro"><p>Outside the main region of the page, not content.</p></div>
<div role="main"><p>Inside the main region.</p><div class="content-footer"><p>Still content: the class says content.</p></div></div></body></html>`
		text, err := loader.HTML([]byte(page), "")
		require.NoError(t, err)
		require.Equal(t, "Inside the main region.\n\nStill content: the class says content.", text)
	})

	t.Run("LinkTablesInContentStay", func(t *testing.T) {
		t.Parallel()
		// A long list of links inside the content is content (a reference list), not a menu.
		long := ""
		for range 30 {
			long += `<li><a href="/spec">Specification sheet for the N3 purifier, revision two</a></li>`
		}
		page := `<html><body><main><p>References used for this guide:</p><ul>` + long + `</ul></main></body></html>`
		text, err := loader.HTML([]byte(page), "")
		require.NoError(t, err)
		require.Contains(t, text, "Specification sheet for the N3 purifier, revision two")
	})
}
