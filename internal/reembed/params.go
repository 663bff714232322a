package reembed

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/ragmigrate/ragmigrate/internal/loader"
	"github.com/ragmigrate/ragmigrate/internal/sources"
)

// ParamsVersion marks runs whose params describe their jobs completely. Runs recorded before it
// carry only a few fields for display.
const ParamsVersion = 1

// Params describe a run's jobs completely. They are stored with the run (runs.params), so a
// bot job is the run's params plus its row in bot_jobs: a worker in another process that claims
// the job rebuilds it from them and writes what this process would have written. Pacing (the
// rate budget, concurrency, batch linger) is not among them: it changes when a job runs, not
// what it writes.
//
// A field's flag tag is the command-line flag that sets it, for messages. Model fields (the
// vectors' meaning) define the run: a resume that asks for others is refused, since one run
// must not write vectors of two models. Source fields say how sources are read: a resume that
// sets them explicitly changes them for the jobs still to do (the usual fix for a failed bot is
// a higher limit, or skipping a source), and the run's params are updated to say so.
type Params struct {
	Version int     `json:"version"`
	Table   string  `json:"table"`
	Model   Model   `json:"model"`
	Sources Sources `json:"sources"`
	// RPM and TPM are the budget the run was started with, for status output only.
	RPM int `json:"rpm"`
	TPM int `json:"tpm"`
}

// Model is what the vectors are: the provider, the model, its vector size and how over-long
// chunks are handled, and where the bots' documents are.
type Model struct {
	ID         string `json:"id" flag:"--model"`
	Dimensions int    `json:"dimensions" flag:"--dimensions"`
	Truncate   string `json:"truncate" flag:"--truncate"`
	// OpenAIURL is the OpenAI-compatible endpoint (never its key), empty for Bedrock.
	OpenAIURL string `json:"openai_url,omitempty" flag:"--openai-url"`
	Bucket    string `json:"bucket" flag:"--bucket"`
}

// Sources is how a job reads a bot's sources.
type Sources struct {
	// OnSourceError is fail-bot, skip-source or skip-url.
	OnSourceError    string        `json:"on_source_error" flag:"--on-source-error"`
	AllowPrivateURLs bool          `json:"allow_private_urls" flag:"--allow-private-urls"`
	URLTimeout       time.Duration `json:"url_timeout_ns" flag:"--url-timeout"`
	URLRetries       int           `json:"url_retries" flag:"--url-retries"`
	MaxURLBytes      int64         `json:"max_url_bytes" flag:"--max-url-bytes"`
	MaxSitemapPages  int           `json:"max_sitemap_pages" flag:"--max-sitemap-pages"`
	SitemapAnyHost   bool          `json:"sitemap_any_host" flag:"--sitemap-any-host"`
	UserAgent        string        `json:"user_agent,omitempty" flag:"--user-agent"`
	MaxFileBytes     int64         `json:"max_file_bytes" flag:"--max-file-bytes"`
	MaxBotBytes      int64         `json:"max_bot_bytes" flag:"--max-bot-bytes"`
}

// SkipSource is the OnSourceError that re-embeds a bot from its readable sources.
const SkipSource = "skip-source"

// SkipURL is the OnSourceError of the app's loaders: an unreadable URL is left out, an
// unreadable file fails the bot.
const SkipURL = "skip-url"

// policy is how sources.LoadWith treats unreadable sources under s.
func (s Sources) policy() sources.Policy {
	switch s.OnSourceError {
	case SkipSource:
		return sources.SkipAny
	case SkipURL:
		return sources.SkipURLs
	}
	return sources.FailBot
}

// Fetcher is the URL fetcher the sources settings describe.
func (s Sources) Fetcher() *loader.Fetcher {
	retries := s.URLRetries
	if retries == 0 {
		retries = -1 // the Fetcher reads 0 as its default; the flag's 0 means never
	}
	return &loader.Fetcher{
		AllowPrivate: s.AllowPrivateURLs, Timeout: s.URLTimeout, Retries: retries, MaxBytes: s.MaxURLBytes,
		MaxSitemapPages: s.MaxSitemapPages, SitemapAnyHost: s.SitemapAnyHost, UserAgent: s.UserAgent,
	}
}

// Limits are the size limits the sources settings describe.
func (s Sources) Limits() loader.Limits {
	return loader.Limits{MaxFileBytes: s.MaxFileBytes, MaxBotBytes: s.MaxBotBytes}
}

// ErrParamsIncomplete is returned by DecodeParams for a run recorded by an older ragmigrate,
// whose params do not describe its jobs.
var ErrParamsIncomplete = errors.New("the run's recorded params do not describe its jobs (recorded by an older ragmigrate)")

// DecodeParams reads a run's params as the journal stores them (journal.Run.Params): what a
// worker that claims one of the run's jobs builds the job from (Job.Use).
func DecodeParams(raw json.RawMessage) (Params, error) {
	var p Params
	var probe struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil || probe.Version < ParamsVersion {
		return p, ErrParamsIncomplete
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return p, fmt.Errorf("decode run params: %w", err)
	}
	return p, nil
}

// ErrParamsDiffer is returned (wrapped in a *ParamsError) when a resume asks for another model
// than its run's.
var ErrParamsDiffer = errors.New("the run was started with other settings")

// ParamsError names the settings a resume contradicts.
type ParamsError struct {
	RunID int64
	Diffs []string // "--model cohere.embed-multilingual-v3 (this invocation: amazon.titan-embed-text-v2:0)"
}

func (e *ParamsError) Error() string {
	return fmt.Sprintf("run %d: %s: %s; resume it with the run's settings, or pass --fresh to start a new run",
		e.RunID, ErrParamsDiffer, strings.Join(e.Diffs, ", "))
}

func (e *ParamsError) Unwrap() error { return ErrParamsDiffer }

// resumeParams decides the params a resumed run goes on with, from those stored with it and
// those of this invocation (given; explicit tells which flags the operator set). The model must
// be the stored one. Each source setting is the stored one unless set explicitly; changed lists
// the explicit changes. ok is false for a run recorded without complete params (an older
// ragmigrate), which goes on with given.
func resumeParams(runID int64, stored json.RawMessage, given Params, explicit func(flag string) bool) (p Params, changed []string, ok bool, err error) {
	old, err := DecodeParams(stored)
	if errors.Is(err, ErrParamsIncomplete) {
		return given, nil, false, nil
	}
	if err != nil {
		return Params{}, nil, false, fmt.Errorf("run %d: %w", runID, err)
	}
	var diffs []string
	forFields(reflect.ValueOf(&old.Model).Elem(), reflect.ValueOf(&given.Model).Elem(), func(flag string, was, now reflect.Value) {
		if !reflect.DeepEqual(was.Interface(), now.Interface()) {
			diffs = append(diffs, fmt.Sprintf("%s %v (this invocation: %v)", flag, show(was), show(now)))
		}
	})
	if len(diffs) > 0 {
		return Params{}, nil, true, &ParamsError{RunID: runID, Diffs: diffs}
	}
	p = old
	p.RPM, p.TPM = given.RPM, given.TPM
	forFields(reflect.ValueOf(&p.Sources).Elem(), reflect.ValueOf(&given.Sources).Elem(), func(flag string, was, now reflect.Value) {
		if explicit != nil && explicit(flag) && !reflect.DeepEqual(was.Interface(), now.Interface()) {
			changed = append(changed, fmt.Sprintf("%s %v → %v", flag, show(was), show(now)))
			was.Set(now)
		}
	})
	return p, changed, true, nil
}

func forFields(a, b reflect.Value, f func(flag string, a, b reflect.Value)) {
	for i := range a.NumField() {
		f(a.Type().Field(i).Tag.Get("flag"), a.Field(i), b.Field(i))
	}
}

func show(v reflect.Value) any {
	if s, ok := v.Interface().(string); ok && s == "" {
		return `""`
	}
	return v.Interface()
}
