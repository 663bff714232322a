package loader

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"
)

// Fetcher loads URL sources over HTTP. The zero value is ready to use and refuses addresses a
// migration should never fetch from (see ErrForbiddenAddress).
type Fetcher struct {
	// Client, if set, replaces the guarded client (tests).
	Client *http.Client
	// AllowPrivate permits loopback, private and link-local addresses: lab setups, the local stack.
	AllowPrivate bool
	// MaxRedirects bounds redirects per fetch. Default 10.
	MaxRedirects int
	// UserAgent identifies ragmigrate to the sites it reads.
	UserAgent string
	// Timeout bounds one fetch, body included. Default 30s, as the app's loaders.
	Timeout time.Duration
	// MaxBytes bounds a response body. Default 32 MiB.
	MaxBytes int64
	// MaxSitemapPages is the most pages one sitemap source loads. Default 500.
	MaxSitemapPages int
	// SitemapAnyHost follows sitemap entries on other hosts than the sitemap's own.
	SitemapAnyHost bool

	once    sync.Once
	guarded *http.Client
	// allowed overrides the address policy (tests); nil means allowedAddress.
	allowed func(netip.Addr) bool
}

const (
	defaultTimeout   = 30 * time.Second // as the app's loaders
	defaultMaxBytes  = 32 << 20
	defaultUserAgent = "ragmigrate (+https://github.com/ragmigrate/ragmigrate)"
)

// youtubeHosts are the hosts the app's loader sent to its YouTube transcript loader.
var youtubeHosts = map[string]bool{
	"youtu.be": true, "m.youtube.com": true, "youtube.com": true, "www.youtube.com": true,
	"www.youtube-nocookie.com": true, "vid.plus": true,
}

// URL fetches one source URL (kept exactly as entered for the document's source) and reads it
// by its Content-Type.
func (f *Fetcher) URL(ctx context.Context, raw string) (Document, error) {
	fail := func(err error) (Document, error) { return Document{}, &SourceError{Source: raw, Err: err} }
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fail(fmt.Errorf("not an http(s) URL"))
	}
	if youtubeHosts[strings.ToLower(u.Hostname())] {
		return fail(fmt.Errorf("%w: YouTube transcripts are not fetched by this version", ErrUnsupported))
	}
	body, ctype, err := f.fetch(ctx, raw, "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5")
	if err != nil {
		return fail(err)
	}
	if len(body) == 0 {
		return fail(fmt.Errorf("%w: the file is empty", ErrNoText))
	}
	mediaType, _, _ := mime.ParseMediaType(ctype)
	if mediaType == "" || mediaType == "application/octet-stream" {
		// No type, or the generic one object stores give files: the URL's extension decides, then
		// the content (File sniffs it).
		if ext := strings.ToLower(path.Ext(u.Path)); ext != "" && Readable(raw, ext) == nil {
			return File(raw, ext, body)
		}
		mediaType, _, _ = mime.ParseMediaType(http.DetectContentType(body))
	}
	if mediaType == "text/html" || mediaType == "application/xhtml+xml" {
		// The charset comes from the header, so this does not go through File.
		text, err := HTML(body, ctype)
		if err == nil {
			err = hasText(Document{Format: "html", Text: text}, len(body))
		}
		if err != nil {
			return fail(err)
		}
		return Document{Source: raw, Format: "html", Text: text, Bytes: int64(len(body))}, nil
	}
	ext, ok := urlTypes[mediaType]
	if !ok {
		return fail(fmt.Errorf("%w: Content-Type %s", ErrUnsupported, mediaType))
	}
	// Documents served over HTTP go through the file readers.
	return File(raw, ext, body)
}

// urlTypes map the Content-Types a URL source may answer with to the file reader for them.
var urlTypes = map[string]string{
	"text/plain":      ".txt",
	"text/markdown":   ".md",
	"text/x-markdown": ".md",
	"text/csv":        ".csv",
	"application/pdf": ".pdf",
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document":   ".docx",
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":         ".xlsx",
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
}

func (f *Fetcher) client() *http.Client {
	if f.Client != nil {
		return f.Client
	}
	f.once.Do(func() {
		allowed := f.allowed
		switch {
		case f.AllowPrivate:
			allowed = nil
		case allowed == nil:
			allowed = allowedAddress
		}
		f.guarded = guardedClient(cmp.Or(f.Timeout, defaultTimeout), cmp.Or(f.MaxRedirects, 10), allowed)
	})
	return f.guarded
}

// fetch GETs u under the Fetcher's timeout, size cap and address guard.
func (f *Fetcher) fetch(ctx context.Context, u, accept string) (body []byte, contentType string, err error) {
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(f.Timeout, defaultTimeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("User-Agent", cmp.Or(f.UserAgent, defaultUserAgent))
	req.Header.Set("Accept", accept)
	resp, err := f.client().Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is named by the caller
		}
		return nil, "", fmt.Errorf("fetch: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("fetch: HTTP %s", resp.Status)
	}
	body, err = readLimited(resp.Body, cmp.Or(f.MaxBytes, defaultMaxBytes))
	if err != nil {
		return nil, "", fmt.Errorf("read body: %w", err)
	}
	return body, resp.Header.Get("Content-Type"), nil
}
