package loader

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Fetcher loads URL sources over HTTP.
type Fetcher struct {
	Client *http.Client
	// UserAgent identifies ragmigrate to the sites it reads.
	UserAgent string
	// Timeout bounds one fetch, body included. Default 30s, as the app's loaders.
	Timeout time.Duration
	// MaxBytes bounds a response body. Default 32 MiB.
	MaxBytes int64
}

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
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(f.Timeout, 30*time.Second))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return fail(err)
	}
	req.Header.Set("User-Agent", cmp.Or(f.UserAgent, "ragmigrate (+https://github.com/ragmigrate/ragmigrate)"))
	req.Header.Set("Accept", "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5")
	client := f.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is already named by SourceError
		}
		return fail(fmt.Errorf("fetch: %w", err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fail(fmt.Errorf("fetch: HTTP %s", resp.Status))
	}
	body, err := readLimited(resp.Body, cmp.Or(f.MaxBytes, 32<<20))
	if err != nil {
		return fail(fmt.Errorf("read body: %w", err))
	}
	ctype := resp.Header.Get("Content-Type")
	mediaType, _, _ := mime.ParseMediaType(ctype)
	if mediaType == "" {
		mediaType, _, _ = mime.ParseMediaType(http.DetectContentType(body))
	}
	switch mediaType {
	case "text/html", "application/xhtml+xml":
		text, err := HTML(body, ctype)
		if err != nil {
			return fail(err)
		}
		return Document{Source: raw, Format: "html", Text: text}, nil
	case "text/plain":
		text, err := decodeText(body)
		if err != nil {
			return fail(err)
		}
		return Document{Source: raw, Format: "text", Text: join(paragraphs(text))}, nil
	case "text/markdown":
		doc, err := File(raw, "page.md", body)
		if err != nil {
			return fail(errors.Unwrap(err))
		}
		return doc, nil
	case "text/csv":
		doc, err := File(raw, "page.csv", body)
		if err != nil {
			return fail(errors.Unwrap(err))
		}
		return doc, nil
	default:
		return fail(fmt.Errorf("%w: Content-Type %s", ErrUnsupported, mediaType))
	}
}
