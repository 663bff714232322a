package bedrocksim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Knobs are the faults and limits the double adds on demand. The zero value
// interferes with nothing. In JSON (GET and PUT /knobs) the durations are Go
// duration strings such as "50ms".
type Knobs struct {
	// Latency is added before every admitted InvokeModel answer, success or
	// injected failure. Validation errors, fail_on_text and throttling answer
	// at once, as Bedrock's early rejections do.
	Latency time.Duration `json:"latency"`
	// LatencyJitter adds a uniformly random extra delay in [0, LatencyJitter].
	LatencyJitter time.Duration `json:"latency_jitter"`
	// RequestsPerMinute is each model's request budget over a sliding
	// 60-second window; 0 means unlimited.
	RequestsPerMinute int `json:"requests_per_minute"`
	// TokensPerMinute is each model's budget of estimated input tokens (see
	// EstimateTokens) over the same window; 0 means unlimited.
	TokensPerMinute int `json:"tokens_per_minute"`
	// ThrottleRate is the probability, 0 to 1, that a valid request gets a
	// ThrottlingException regardless of the budgets.
	ThrottleRate float64 `json:"throttle_rate"`
	// FailRate is the probability, 0 to 1, that an admitted request fails
	// with FailError.
	FailRate float64 `json:"fail_rate"`
	// FailError is the error type FailRate and FailOnText inject, such as
	// "ModelTimeoutException". Empty means InternalServerException for
	// FailRate and ValidationException for FailOnText.
	FailError string `json:"fail_error"`
	// FailOnText makes every request with a text containing this substring
	// fail, so that one poisoned chunk fails its whole batch.
	FailOnText string `json:"fail_on_text"`
	// Seed seeds the random number generator behind ThrottleRate, FailRate
	// and LatencyJitter, so that a run can be repeated.
	Seed int64 `json:"seed"`
}

// AddFlags registers the knobs as command-line flags.
func (k *Knobs) AddFlags(fs *pflag.FlagSet) {
	fs.DurationVar(&k.Latency, "latency", k.Latency, "delay added before each admitted InvokeModel answer")
	fs.DurationVar(&k.LatencyJitter, "latency-jitter", k.LatencyJitter, "random extra delay, uniform in [0, latency-jitter]")
	fs.IntVar(&k.RequestsPerMinute, "rpm", k.RequestsPerMinute, "requests per minute per model before ThrottlingException (0: unlimited)")
	fs.IntVar(&k.TokensPerMinute, "tpm", k.TokensPerMinute, "estimated input tokens per minute per model before ThrottlingException (0: unlimited)")
	fs.Float64Var(&k.ThrottleRate, "throttle-rate", k.ThrottleRate, "probability (0-1) of a random ThrottlingException")
	fs.Float64Var(&k.FailRate, "fail-rate", k.FailRate, "probability (0-1) of failing a request with --fail-error")
	fs.StringVar(&k.FailError, "fail-error", k.FailError,
		"error type to inject: "+strings.Join(errorTypes(), ", ")+" (default InternalServerException, or ValidationException for --fail-on-text)")
	fs.StringVar(&k.FailOnText, "fail-on-text", k.FailOnText, "fail every request with a text containing this substring")
	fs.Int64Var(&k.Seed, "seed", k.Seed, "seed for the random faults")
}

// Validate reports knobs that make no sense: negative durations or budgets,
// rates outside [0, 1] and unknown error types.
func (k Knobs) Validate() error {
	var errs []error
	if k.Latency < 0 || k.LatencyJitter < 0 {
		errs = append(errs, errors.New("latency and latency_jitter must not be negative"))
	}
	if k.RequestsPerMinute < 0 || k.TokensPerMinute < 0 {
		errs = append(errs, errors.New("requests_per_minute and tokens_per_minute must not be negative"))
	}
	if !(k.ThrottleRate >= 0 && k.ThrottleRate <= 1) || !(k.FailRate >= 0 && k.FailRate <= 1) {
		errs = append(errs, errors.New("throttle_rate and fail_rate must be between 0 and 1"))
	}
	if _, ok := errorSpecs[k.FailError]; k.FailError != "" && !ok {
		errs = append(errs, fmt.Errorf("fail_error %q is not one of %s", k.FailError, strings.Join(errorTypes(), ", ")))
	}
	return errors.Join(errs...)
}

// MarshalJSON writes the durations as Go duration strings.
func (k Knobs) MarshalJSON() ([]byte, error) {
	type plain Knobs
	// The outer fields shadow plain's fields of the same JSON name.
	return json.Marshal(struct {
		plain
		Latency       string `json:"latency"`
		LatencyJitter string `json:"latency_jitter"`
	}{plain(k), k.Latency.String(), k.LatencyJitter.String()})
}

// UnmarshalJSON reads knobs written by MarshalJSON. Durations may also be
// numbers of nanoseconds. Unknown keys are an error, so that a misspelt knob
// is not silently ignored.
func (k *Knobs) UnmarshalJSON(b []byte) error {
	type plain Knobs
	aux := struct {
		*plain
		Latency       json.RawMessage `json:"latency"`
		LatencyJitter json.RawMessage `json:"latency_jitter"`
	}{plain: (*plain)(k)}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&aux); err != nil {
		return fmt.Errorf("decode knobs: %w", err)
	}
	if err := parseDuration(&k.Latency, "latency", aux.Latency); err != nil {
		return err
	}
	return parseDuration(&k.LatencyJitter, "latency_jitter", aux.LatencyJitter)
}

// parseDuration sets *d from raw, leaving it alone when the key was absent,
// as encoding/json does for other fields.
func parseDuration(d *time.Duration, name string, raw json.RawMessage) error {
	if len(raw) == 0 {
		return nil
	}
	if string(raw) == "null" {
		*d = 0
		return nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("decode knobs: %s: %w", name, err)
		}
		*d = v
		return nil
	}
	var ns int64
	if err := json.Unmarshal(raw, &ns); err != nil {
		return fmt.Errorf("decode knobs: %s: want a duration such as \"50ms\", got %s", name, raw)
	}
	*d = time.Duration(ns)
	return nil
}
