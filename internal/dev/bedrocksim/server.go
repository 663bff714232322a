package bedrocksim

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// maxBodyBytes is InvokeModel's documented limit on the body.
const maxBodyBytes = 25_000_000

// window is the length of the rate budgets' sliding window.
const window = time.Minute

// Stats are the double's counters since start or the last reset.
type Stats struct {
	// Requests counts InvokeModel calls, whatever their outcome.
	Requests int64 `json:"requests"`
	// Succeeded counts calls answered 200.
	Succeeded int64 `json:"succeeded"`
	// Texts counts the texts embedded by successful calls.
	Texts int64 `json:"texts"`
	// Tokens counts the estimated input tokens of successful calls.
	Tokens int64 `json:"tokens"`
	// Throttled counts ThrottlingException answers (also in Errors).
	Throttled int64 `json:"throttled"`
	// Errors counts error answers by error type.
	Errors map[string]int64 `json:"errors"`
	// ByModel counts calls to each known model.
	ByModel map[string]ModelStats `json:"by_model"`
	// InFlightMax is the most InvokeModel calls seen in progress at once.
	InFlightMax int64 `json:"in_flight_max"`
}

// ModelStats are one model's counters.
type ModelStats struct {
	Requests int64 `json:"requests"` // calls, whatever their outcome
	Texts    int64 `json:"texts"`    // texts embedded by successful calls
}

// Server is the Bedrock Runtime test double. It is an http.Handler and is
// safe for concurrent use.
type Server struct {
	logger *slog.Logger
	mux    *http.ServeMux
	reqSeq atomic.Uint64 // for request ids

	mu       sync.Mutex
	knobs    Knobs
	rng      *rand.Rand
	budgets  map[string]*budget // by model
	stats    Stats
	inFlight int64
}

// New returns a Server with the given knobs, which should have passed
// [Knobs.Validate]. A nil logger discards the logs.
func New(k Knobs, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		logger:  logger,
		budgets: make(map[string]*budget),
	}
	s.resetStatsLocked()
	s.setKnobsLocked(k)

	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /model/{modelId}/invoke", s.handleInvoke)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Stats())
	})
	s.mux.HandleFunc("POST /stats/reset", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		s.resetStatsLocked()
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	s.mux.HandleFunc("GET /knobs", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		k := s.knobs
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, k)
	})
	s.mux.HandleFunc("PUT /knobs", s.handlePutKnobs)
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// SetKnobs replaces the knobs and reseeds the random faults from k.Seed. The
// rate budgets keep the requests already admitted in the current window.
func (s *Server) SetKnobs(k Knobs) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setKnobsLocked(k)
}

func (s *Server) setKnobsLocked(k Knobs) {
	s.knobs = k
	seed := uint64(k.Seed)
	s.rng = rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Errors = maps.Clone(s.stats.Errors)
	st.ByModel = maps.Clone(s.stats.ByModel)
	return st
}

func (s *Server) resetStatsLocked() {
	s.stats = Stats{
		Errors:      make(map[string]int64),
		ByModel:     make(map[string]ModelStats),
		InFlightMax: s.inFlight,
	}
}

func (s *Server) handlePutKnobs(w http.ResponseWriter, r *http.Request) {
	var k Knobs
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(body, &k)
	}
	if err == nil {
		err = k.Validate()
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": err.Error()})
		return
	}
	s.SetKnobs(k)
	s.logger.InfoContext(r.Context(), "bedrocksim knobs set", slog.Any("knobs", k))
	writeJSON(w, http.StatusOK, k)
}

// outcome is what one InvokeModel call came to, for stats and the log.
type outcome struct {
	model  string // "" when the model is unknown
	texts  int
	tokens int
	err    *apiError
}

func (s *Server) handleInvoke(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s.mu.Lock()
	s.inFlight++
	s.stats.Requests++
	s.stats.InFlightMax = max(s.stats.InFlightMax, s.inFlight)
	k := s.knobs
	s.mu.Unlock()

	w.Header().Set("X-Amzn-Requestid", s.requestID())
	modelID := r.PathValue("modelId") // ServeMux unescapes %3A and friends
	out, resp := s.invoke(w, r, modelID, k)

	var body []byte
	if out.err == nil {
		var err error
		if body, err = json.Marshal(resp); err != nil {
			out.err = newAPIError(errInternalServer, "")
		}
	}

	s.mu.Lock()
	s.inFlight--
	s.record(out)
	s.mu.Unlock()

	status := http.StatusOK
	if out.err != nil {
		status = out.err.Status
		out.err.write(w)
	} else {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("X-Amzn-Bedrock-Input-Token-Count", strconv.Itoa(out.tokens))
		h.Set("X-Amzn-Bedrock-Invocation-Latency", strconv.FormatInt(time.Since(start).Milliseconds(), 10))
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}

	// Counts only: the texts themselves never reach the log.
	attrs := []slog.Attr{
		slog.String("model", modelID),
		slog.Int("texts", out.texts),
		slog.Int("status", status),
		slog.Duration("elapsed", time.Since(start)),
	}
	if out.err != nil {
		attrs = append(attrs, slog.String("error_type", out.err.Type))
	}
	s.logger.LogAttrs(r.Context(), slog.LevelDebug, "bedrocksim invoke", attrs...)
}

// invoke answers one InvokeModel call: authentication, model, body
// validation, fail_on_text, rate budgets, latency, random failures, vectors.
// Every step that refuses the call returns before the next one starts.
func (s *Server) invoke(w http.ResponseWriter, r *http.Request, modelID string, k Knobs) (outcome, any) {
	// The SDK always signs; the double does not check the signature.
	if r.Header.Get("Authorization") == "" {
		return outcome{err: newAPIError(errAccessDenied, "Missing Authentication Token")}, nil
	}
	parse, ok := models[modelID]
	if !ok {
		return outcome{err: newAPIError(errValidation, "The provided model identifier is invalid.")}, nil
	}
	out := outcome{model: modelID}

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			out.err = newAPIError(errValidation, fmt.Sprintf("The request body exceeds the maximum size of %d bytes.", maxBodyBytes))
		} else {
			out.err = newAPIError(errValidation, "Malformed input request: unreadable body, please reformat your input and try again.")
		}
		return out, nil
	}
	req, aerr := parse(modelID, body)
	if aerr != nil {
		out.err = aerr
		return out, nil
	}
	out.texts, out.tokens = len(req.texts), req.tokens

	// A poisoned input fails deterministically and, like invalid input,
	// consumes no budget.
	if containsAny(req.texts, k.FailOnText) {
		out.err = newAPIError(cmp.Or(k.FailError, errValidation), "")
		return out, nil
	}
	if aerr := s.admit(modelID, req.tokens, k); aerr != nil {
		out.err = aerr
		return out, nil
	}
	if d := s.delay(k); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			// The client is gone and will never read the answer; the stats
			// count it as a timeout.
			out.err = newAPIError(errModelTimeout, "")
			return out, nil
		}
	}
	if s.roll(k.FailRate) {
		out.err = newAPIError(cmp.Or(k.FailError, errInternalServer), "")
		return out, nil
	}
	return out, req.respond()
}

// admit applies throttle_rate and the per-model budgets. A throttled request
// is not counted against the budgets.
func (s *Server) admit(model string, tokens int, k Knobs) *apiError {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if k.ThrottleRate > 0 && s.rng.Float64() < k.ThrottleRate {
		return newAPIError(errThrottling, "")
	}
	if k.RequestsPerMinute <= 0 && k.TokensPerMinute <= 0 {
		return nil
	}
	b := s.budgets[model]
	if b == nil {
		b = &budget{}
		s.budgets[model] = b
	}
	b.expire(now.Add(-window))
	if k.RequestsPerMinute > 0 && len(b.events)+1 > k.RequestsPerMinute ||
		k.TokensPerMinute > 0 && b.tokens+tokens > k.TokensPerMinute {
		return newAPIError(errThrottling, "")
	}
	b.events = append(b.events, event{at: now, tokens: tokens})
	b.tokens += tokens
	return nil
}

// delay is the latency to add to one admitted request.
func (s *Server) delay(k Knobs) time.Duration {
	d := k.Latency
	if k.LatencyJitter > 0 {
		s.mu.Lock()
		d += time.Duration(s.rng.Int64N(int64(k.LatencyJitter) + 1))
		s.mu.Unlock()
	}
	return d
}

// roll reports true with probability p.
func (s *Server) roll(p float64) bool {
	if p <= 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rng.Float64() < p
}

// record adds a finished call to the stats. s.mu must be held.
func (s *Server) record(out outcome) {
	if out.model != "" {
		ms := s.stats.ByModel[out.model]
		ms.Requests++
		if out.err == nil {
			ms.Texts += int64(out.texts)
		}
		s.stats.ByModel[out.model] = ms
	}
	if out.err != nil {
		s.stats.Errors[out.err.Type]++
		if out.err.Type == errThrottling {
			s.stats.Throttled++
		}
		return
	}
	s.stats.Succeeded++
	s.stats.Texts += int64(out.texts)
	s.stats.Tokens += int64(out.tokens)
}

func (s *Server) requestID() string {
	n := s.reqSeq.Add(1)
	return fmt.Sprintf("b5e1d0c0-0000-4000-8000-%012x", n)
}

// budget is one model's admitted requests in the sliding window.
type budget struct {
	events []event // oldest first
	tokens int     // sum of events' tokens
}

type event struct {
	at     time.Time
	tokens int
}

// expire drops the events at or before cutoff.
func (b *budget) expire(cutoff time.Time) {
	i := 0
	for i < len(b.events) && !b.events[i].at.After(cutoff) {
		b.tokens -= b.events[i].tokens
		i++
	}
	if i > 0 {
		// Copy down rather than reslice so the backing array does not grow
		// without bound under a steady load.
		b.events = append(b.events[:0], b.events[i:]...)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
