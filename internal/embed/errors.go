package embed

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ragmigrate/ragmigrate/internal/progress"
)

// class is how a provider error should be handled.
type class int

const (
	classFatal     class = iota // give up, and stop every call: access, credentials, model, quota
	classCanceled               // the caller gave up: stop this call only
	classRetry                  // retry with backoff
	classThrottle               // retry with backoff and slow the limiter down
	classRetryOnce              // retry once, then treat as bad input (ModelErrorException)
	classBadInput               // no retry: bisect to find the offending text
)

// Error is a provider failure, classified by what the caller should do
// about it. Error() is the underlying error's text; API keys never appear
// in it.
type Error struct {
	// Code is the provider's name for the failure: a Bedrock error type such
	// as "ThrottlingException", or "HTTP 429" for OpenAI-compatible servers.
	Code string
	// Message is the provider's explanation, without request ids.
	Message string
	// Refusal and Hint describe a fatal error for the operator: what the provider refuses
	// ("bedrock denies InvokeModel on cohere.embed-multilingual-v3") and what to fix.
	Refusal, Hint string
	class         class
	Err           error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether sending the same request again may succeed.
func (e *Error) Retryable() bool {
	return e.class == classRetry || e.class == classThrottle || e.class == classRetryOnce
}

// Fatal reports whether no request can succeed until the operator fixes something (access,
// credentials, the model id, a quota): the Batcher stops sending altogether.
func (e *Error) Fatal() bool { return e.class == classFatal }

// Throttle reports whether the provider asked us to slow down.
func (e *Error) Throttle() bool { return e.class == classThrottle }

// BadInput reports whether the request's texts, not the service, are the
// likely cause, so that splitting the batch can isolate them.
// ModelErrorException is both retryable (once) and bad input.
func (e *Error) BadInput() bool { return e.class == classBadInput || e.class == classRetryOnce }

// retryOnce reports whether at most one retry is worthwhile.
func (e *Error) retryOnce() bool { return e.class == classRetryOnce }

// classifyTransport classifies an error that carries no provider answer:
// the caller's cancellation stops the call, anything else on the wire (a
// reset connection, a per-request timeout) is worth another try.
func classifyTransport(err error) *Error {
	if errors.Is(err, context.Canceled) {
		return &Error{Code: "Canceled", Message: err.Error(), class: classCanceled, Err: err}
	}
	return &Error{Code: "Transport", Message: err.Error(), class: classRetry, Err: err}
}

// ErrTooLong is wrapped by the InputError entries of texts over the
// provider's character limit.
var ErrTooLong = errors.New("text is over the model's character limit")

// BadText is one text a provider cannot embed.
type BadText struct {
	Index  int    // in the texts given to EmbedAll
	Prefix string // its first 80 characters
	Err    error  // why: ErrTooLong, or the provider's rejection
}

// InputError names the texts that could not be embedded because of their
// content. The others were embedded: EmbedAll returns their vectors with
// nil in the places of these texts. It carries document text (80 characters
// per bad text) so that a report can name the chunk; do not log it
// wholesale.
type InputError struct {
	Texts []BadText
}

func (e *InputError) Error() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s rejected:", progress.Plural(len(e.Texts), "text", "texts"))
	for i, t := range e.Texts {
		if i == 5 {
			fmt.Fprintf(&sb, " … and %d more", len(e.Texts)-i)
			break
		}
		reason := t.Err.Error()
		if pe := (*Error)(nil); errors.As(t.Err, &pe) && pe.Message != "" {
			reason = pe.Code + ": " + pe.Message
		}
		fmt.Fprintf(&sb, " [#%d %q: %s]", t.Index, t.Prefix, reason)
	}
	return sb.String()
}

// Unwrap returns each text's error, so errors.Is(err, ErrTooLong) works.
func (e *InputError) Unwrap() []error {
	errs := make([]error, len(e.Texts))
	for i, t := range e.Texts {
		errs[i] = t.Err
	}
	return errs
}

// ErrProviderFatal is wrapped by every error that stopped a Batcher for good:
// the provider denies access, rejects the credentials or the model, or has
// not answered any request for Options.ProviderTimeout. No text of the run
// can be embedded until the operator fixes it, so callers should stop the
// run rather than fail its items one by one:
//
//	if errors.Is(err, embed.ErrProviderFatal) { ... }
var ErrProviderFatal = errors.New("the embedding provider cannot serve this run")

// FatalError is the error a Batcher returns, from then on to every call, once
// it has met a fatal provider condition. It wraps ErrProviderFatal and the
// provider's own error (an *Error, or the last transient failure of a
// stall).
type FatalError struct {
	// Refusal says what failed, naming the model or the endpoint.
	Refusal string
	// Hint says what the operator should fix.
	Hint string
	// Err is the provider's error.
	Err error
}

func (e *FatalError) Error() string {
	var sb strings.Builder
	sb.WriteString(e.Refusal)
	if e.Err != nil {
		sb.WriteString(": ")
		// The provider's own words when Err is its answer; a wrapped one
		// (a request timeout) says more as it is.
		if pe, ok := e.Err.(*Error); ok && pe.Message != "" {
			sb.WriteString(pe.Code + ": " + pe.Message)
		} else {
			sb.WriteString(e.Err.Error())
		}
	}
	if e.Hint != "" {
		sb.WriteString("; " + e.Hint)
	}
	return sb.String()
}

// Unwrap returns ErrProviderFatal and the provider's error.
func (e *FatalError) Unwrap() []error { return []error{ErrProviderFatal, e.Err} }
