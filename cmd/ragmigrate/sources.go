package main

import (
	"cmp"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/ragmigrate/ragmigrate/internal/loader"
)

// sourceOptions say how URL and sitemap sources are fetched; plan and reembed share them.
type sourceOptions struct {
	AllowPrivateURLs bool
	URLTimeout       time.Duration
	URLRetries       int
	MaxURLBytes      int64
	MaxSitemapPages  int
	SitemapAnyHost   bool
	UserAgent        string
	Limits           loader.Limits
}

func (o *sourceOptions) AddFlags(fs *pflag.FlagSet) {
	allow, _ := strconv.ParseBool(os.Getenv("RAGMIGRATE_ALLOW_PRIVATE_URLS"))
	fs.BoolVar(&o.AllowPrivateURLs, "allow-private-urls", allow, "fetch URLs that resolve to loopback, private or link-local addresses (refused by default, on every redirect too: the cloud metadata service lives there); for lab setups and the local stack (env RAGMIGRATE_ALLOW_PRIVATE_URLS)")
	fs.DurationVar(&o.URLTimeout, "url-timeout", 30*time.Second, "time limit for fetching one URL, body included (the app used 30s)")
	fs.IntVar(&o.URLRetries, "url-retries", 2, "times a URL is tried again after HTTP 429/500/502/503/504 or a dropped connection, waiting 1s, 2s, … or what Retry-After asks (up to 30s); never after a timeout or a 404 (0: never)")
	fs.Int64Var(&o.MaxURLBytes, "max-url-bytes", 32<<20, "largest response body accepted from a URL")
	fs.IntVar(&o.MaxSitemapPages, "max-sitemap-pages", 500, "pages loaded per sitemap source (sitemap indexes included)")
	fs.BoolVar(&o.SitemapAnyHost, "sitemap-any-host", false, "follow sitemap entries on other hosts than the sitemap's own")
	fs.StringVar(&o.UserAgent, "user-agent", "", "User-Agent sent with every fetch (default names ragmigrate)")
	fs.Int64Var(&o.Limits.MaxFileBytes, "max-file-bytes", loader.DefaultMaxFileBytes, "largest uploaded file read; a larger one is a source error, refused before it is downloaded")
	fs.Int64Var(&o.Limits.MaxBotBytes, "max-bot-bytes", loader.DefaultMaxBotBytes, "most bytes of sources (files and pages together) read for one bot; past it the source that crosses it is a source error")
}

// validate checks the fetch flags. Zero is refused where the loader would read it as "the
// default" (a timeout, a size), since a user who writes 0 means something else.
func (o *sourceOptions) validate() []error {
	var errs []error
	if o.URLTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--url-timeout %s: want more than 0", o.URLTimeout))
	}
	if o.URLRetries < 0 {
		errs = append(errs, fmt.Errorf("--url-retries %d: want 0 (never) or more", o.URLRetries))
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"--max-url-bytes", o.MaxURLBytes}, {"--max-sitemap-pages", int64(o.MaxSitemapPages)},
		{"--max-file-bytes", o.Limits.MaxFileBytes}, {"--max-bot-bytes", o.Limits.MaxBotBytes},
	} {
		if f.v < 1 {
			errs = append(errs, fmt.Errorf("%s %d: want at least 1", f.name, f.v))
		}
	}
	return errs
}

func (o *sourceOptions) fetcher() *loader.Fetcher {
	return &loader.Fetcher{
		AllowPrivate: o.AllowPrivateURLs, Timeout: o.URLTimeout, Retries: cmp.Or(o.URLRetries, -1), MaxBytes: o.MaxURLBytes,
		MaxSitemapPages: o.MaxSitemapPages, SitemapAnyHost: o.SitemapAnyHost, UserAgent: o.UserAgent,
	}
}
