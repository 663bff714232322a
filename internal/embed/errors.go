package embed

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// class is how a provider error should be handled.
type class int

const (
	classFatal     class = iota // give up: access, configuration, quota
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
	class   class
	Err     error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether sending the same request again may succeed.
func (e *Error) Retryable() bool {
	return e.class == classRetry || e.class == classThrottle || e.class == classRetryOnce
}

// Throttle reports whether the provider asked us to slow down.
func (e *Error) Throttle() bool { return e.class == classThrottle }

// BadInput reports whether the request's texts, not the service, are the
// likely cause, so that splitting the batch can isolate them.
// ModelErrorException is both retryable (once) and bad input.
func (e *Error) BadInput() bool { return e.class == classBadInput || e.class == classRetryOnce }

// retryOnce reports whether at most one retry is worthwhile.
func (e *Error) retryOnce() bool { return e.class == classRetryOnce }

// classifyTransport classifies an error that carries no provider answer:
// the caller's cancellation is fatal, anything else on the wire (a reset
// connection, a per-request timeout) is worth another try.
func classifyTransport(err error) *Error {
	if errors.Is(err, context.Canceled) {
		return &Error{Code: "Canceled", Message: err.Error(), class: classFatal, Err: err}
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
	fmt.Fprintf(&sb, "%d text(s) rejected:", len(e.Texts))
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
