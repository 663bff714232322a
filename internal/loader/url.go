package loader

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
	// Retries is how often a fetch is tried again after a transient failure (HTTP 429, 500, 502,
	// 503 or 504, or a connection refused, reset or cut mid-body). Default 2; negative for none.
	// A timeout, a 404 or a refused address is never retried.
	Retries int
	// RetryWait is the first wait before a retry, doubled for each further one; a Retry-After
	// header asks for longer. Default 1s.
	RetryWait time.Duration

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

// maxRetryAfter is the longest Retry-After a fetch waits for; a site asking for more fails the
// source rather than stall its bot.
const maxRetryAfter = 30 * time.Second

// transientError is a failed fetch that may succeed if tried again.
type transientError struct {
	err        error
	retryAfter time.Duration
}

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// fetch GETs u, trying again after transient failures (see Retries).
func (f *Fetcher) fetch(ctx context.Context, u, accept string) ([]byte, string, error) {
	retries := f.Retries
	if retries == 0 {
		retries = 2
	}
	wait := cmp.Or(f.RetryWait, time.Second)
	for attempt := 0; ; attempt++ {
		body, ctype, err := f.fetchOnce(ctx, u, accept)
		var te *transientError
		if err == nil || !errors.As(err, &te) || attempt >= retries || te.retryAfter > maxRetryAfter {
			if err != nil && attempt > 0 {
				err = fmt.Errorf("%w (%d attempts)", err, attempt+1)
			}
			return body, ctype, err
		}
		select {
		case <-ctx.Done():
			return nil, "", err
		case <-time.After(max(wait<<attempt, te.retryAfter)):
		}
	}
}

// fetchOnce GETs u under the Fetcher's timeout, size cap and address guard.
func (f *Fetcher) fetchOnce(ctx context.Context, u, accept string) (body []byte, contentType string, err error) {
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
		return nil, "", transient(fmt.Errorf("fetch: %w", err), 0)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("fetch: HTTP %s", resp.Status)
		switch resp.StatusCode {
		case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
			http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return nil, "", &transientError{err: err, retryAfter: retryAfter(resp.Header.Get("Retry-After"))}
		}
		return nil, "", err
	}
	body, err = readLimited(resp.Body, cmp.Or(f.MaxBytes, defaultMaxBytes))
	if err != nil {
		return nil, "", transient(fmt.Errorf("read body: %w", err), 0)
	}
	return body, resp.Header.Get("Content-Type"), nil
}

// transient marks err as worth another try when the connection, not the site's answer, failed:
// refused (a server restarting), reset, or closed before the response ended.
func transient(err error, after time.Duration) error {
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &transientError{err: err, retryAfter: after}
	}
	return err
}

// retryAfter reads a Retry-After header: seconds or an HTTP date; 0 when absent or unreadable.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}
