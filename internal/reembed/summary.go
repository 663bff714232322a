package reembed

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/embed"
	"github.com/ragmigrate/ragmigrate/internal/progress"
	"github.com/ragmigrate/ragmigrate/internal/reembed/botjob"
)

// Summary is the end-of-run report (stdout, --json and the run's JSON file). The bot counts and
// the list cover the whole run, a resumed run's earlier invocations included; the embedding
// figures are this invocation's (the Batcher's own totals, since bots share requests). The JSON
// field names are read by scripts: keep them.
type Summary struct {
	RunID       int64  `json:"run_id"`
	Resumed     bool   `json:"resumed"`
	NothingToDo bool   `json:"nothing_to_do"`
	Note        string `json:"note,omitempty"`
	Model       string `json:"model"`
	Succeeded   int    `json:"succeeded"`
	Failed      int    `json:"failed"`
	Skipped     int    `json:"skipped"`
	// LeftToApp counts bots the live app wrote (or deleted) while they ran: nothing was
	// written for them.
	LeftToApp int   `json:"left_to_app"`
	Pending   int   `json:"pending"`
	Chunks    int64 `json:"chunks"`
	// Reused are the run's chunks whose vectors came from the old cluster (--reuse-from),
	// Embedded the others; SavedUSD is what the reused chunks' tokens would have cost.
	Reused   int64        `json:"reused"`
	Embedded int64        `json:"embedded"`
	SavedUSD float64      `json:"saved_cost_usd"`
	Reuse    *ReuseReport `json:"reuse,omitempty"`
	// This invocation's embedding.
	Texts     int64 `json:"texts"`
	Requests  int64 `json:"requests"`
	Throttles int64 `json:"throttles"`
	// Tokens are the input tokens billed: those the provider reported, the estimate for
	// requests whose answer did not say; TokensFrom says which, and EstimatedTokens is the
	// estimate for all of them (what the plan counts with).
	Tokens          int64   `json:"tokens"`
	TokensFrom      string  `json:"tokens_from"`
	EstimatedTokens int64   `json:"estimated_tokens"`
	EstimatedUSD    float64 `json:"estimated_cost_usd"`
	ActualUSD       float64 `json:"actual_cost_usd"`
	Elapsed         string  `json:"elapsed"`
	// EmbeddedBy, when set, says who embedded the bots instead of this process (the app's tasks
	// on ECS): this invocation's counts above are then not theirs.
	EmbeddedBy string `json:"embedded_by,omitempty"`
	// CountedByWorkers says Texts, Requests, Throttles and Tokens are the whole run's as its
	// workers recorded them in the journal (each bot's share of the requests it was in), not
	// this invocation's: ragmigrate's workers on ECS embedded (CountWorkers).
	CountedByWorkers bool                   `json:"counted_by_workers,omitempty"`
	Bots             []Outcome              `json:"bots"`
	Malformed        []botstore.DecodeError `json:"malformed,omitempty"`
}

// Embedding is what the summary says about the embedding besides the run's outcomes.
type Embedding struct {
	Model        string
	PricePerMTok float64 // prices Stats.Billed()
	EstimatedUSD float64 // the plan's estimate for the whole run
	Stats        embed.Stats
}

// NewSummary sums the run's outcomes and this invocation's embedding.
func NewSummary(res *Result, e Embedding) *Summary {
	s := &Summary{RunID: res.RunID, Resumed: res.Resumed, NothingToDo: res.NothingToDo, Note: res.Note, Model: e.Model,
		Bots: res.Run, Malformed: res.Malformed, Reuse: res.Reuse, EstimatedUSD: e.EstimatedUSD, Elapsed: res.Elapsed.Round(1e6).String()}
	var reusedTokens int64
	for _, o := range res.Run {
		switch o.Status {
		case botjob.Done:
			s.Succeeded++
		case botjob.Failed:
			s.Failed++
		case botjob.Skipped:
			s.Skipped++
		case botjob.Left:
			s.LeftToApp++
		case botjob.Pending:
			s.Pending++
		}
		s.Chunks += o.Chunks
		s.Reused += o.Reused
		reusedTokens += o.ReusedTokens
	}
	s.Embedded = s.Chunks - s.Reused
	s.SavedUSD = float64(reusedTokens) / 1e6 * e.PricePerMTok
	st := e.Stats
	s.Texts, s.Requests, s.Throttles, s.Tokens, s.EstimatedTokens = st.Texts, st.Requests, st.Throttles, st.Billed(), st.Tokens
	s.TokensFrom = tokensFrom(st)
	s.ActualUSD = float64(s.Tokens) / 1e6 * e.PricePerMTok
	return s
}

// CountWorkers replaces this invocation's counts, none, by those the run's workers recorded for
// each bot in the journal, priced at pricePerMTok.
func (s *Summary) CountWorkers(pricePerMTok float64) {
	s.Texts, s.Requests, s.Throttles, s.Tokens = 0, 0, 0, 0
	for _, o := range s.Bots {
		s.Texts += o.Chunks - o.Reused
		s.Requests += o.Requests
		s.Throttles += o.Throttles
		s.Tokens += o.Tokens
	}
	s.TokensFrom = "recorded by the workers"
	s.ActualUSD = float64(s.Tokens) / 1e6 * pricePerMTok
	s.CountedByWorkers = true
}

// tokensFrom says where the billed tokens come from.
func tokensFrom(st embed.Stats) string {
	switch {
	case st.ReportedTokens > 0 && st.UnreportedTokens == 0:
		return "reported"
	case st.ReportedTokens > 0:
		return fmt.Sprintf("reported, %d estimated", st.UnreportedTokens)
	default:
		return "estimated"
	}
}

// WriteText prints the summary for people: the run's counts, this invocation's embedding, then
// every bot that did not succeed and every item that is not a bot.
func (s *Summary) WriteText(w io.Writer) error {
	if s.NothingToDo {
		msg := s.Note
		if msg == "" {
			msg = fmt.Sprintf("run %d and the runs before it finished every bot in scope (--fresh starts over, --retry-failed reruns the latest run's failures)", s.RunID)
		}
		_, err := fmt.Fprintf(w, "nothing to do: %s\n", msg)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	resumed := ""
	if s.Resumed {
		resumed = " (resumed)"
	}
	fmt.Fprintf(tw, "run %d%s\t%d succeeded · %d failed · %d skipped · %d left to the app", s.RunID, resumed, s.Succeeded, s.Failed, s.Skipped, s.LeftToApp)
	if s.Pending > 0 {
		fmt.Fprintf(tw, " · %d not done yet", s.Pending)
	}
	fmt.Fprintf(tw, " · %s\n", progress.Plural(s.Chunks, "chunk", "chunks"))
	perReq := 0.0
	if accepted := s.Requests - s.Throttles; accepted > 0 {
		perReq = float64(s.Texts) / float64(accepted)
	}
	label := "embedding"
	if s.Resumed && !s.CountedByWorkers {
		label = "embedding (this invocation)"
	}
	switch {
	case s.Reuse != nil && s.Reuse.Refused != "":
		fmt.Fprintf(tw, "reuse\trefused, every chunk embedded: %s\n", s.Reuse.Refused)
	case s.Reuse != nil || s.Reused > 0:
		fmt.Fprintf(tw, "reuse\t%d of %d chunks reused · %d embedded · $%.4f saved", s.Reused, s.Chunks, s.Embedded, s.SavedUSD)
		if s.Reuse != nil {
			fmt.Fprintf(tw, " · from %s, %s's vectors checked on %d chunks embedded again (cosine ≥ %.4f)", s.Reuse.From, s.Reuse.OldModel, s.Reuse.Sampled, s.Reuse.MinCosine)
		}
		fmt.Fprintln(tw)
	}
	from := ""
	switch {
	case s.Tokens == 0:
	case s.TokensFrom == "reported":
		from = " (as the provider reported them)"
	case s.TokensFrom == "estimated":
		from = " (estimated: the provider did not report them)"
	default:
		from = " (as the provider reported them, " + strings.TrimSuffix(strings.TrimPrefix(s.TokensFrom, "reported, "), " estimated") + " of them estimated)"
	}
	switch {
	case s.CountedByWorkers:
		fmt.Fprintf(tw, "%s\tby %s: %s · $%.4f, the whole run's as the workers recorded them (each bot's share of the requests it was in) · estimated $%.4f for the whole run · %s · %s\n",
			label, s.EmbeddedBy, embedCounts(s, ""), s.ActualUSD, s.EstimatedUSD, s.Model, s.Elapsed)
	case s.EmbeddedBy != "":
		// Their requests and tokens are the provider's to count, not this process's.
		fmt.Fprintf(tw, "%s\tby %s, whose requests are not counted here · estimated $%.4f for the whole run · %s · %s\n",
			label, s.EmbeddedBy, s.EstimatedUSD, s.Model, s.Elapsed)
	default:
		fmt.Fprintf(tw, "%s\t%s%s · $%.4f (estimated $%.4f for the whole run) · %s · %s\n",
			label, embedCounts(s, fmt.Sprintf(" (%.1f texts per accepted request)", perReq)), from, s.ActualUSD, s.EstimatedUSD, s.Model, s.Elapsed)
	}
	for _, o := range s.Bots {
		switch o.Status {
		case botjob.Failed, botjob.Skipped:
			fmt.Fprintf(tw, "  %s %s\t%q: %s\n", o.Status, o.BotID, o.Title, o.Error)
		case botjob.Left:
			fmt.Fprintf(tw, "  left to the app %s\t%q: %s\n", o.BotID, o.Title, strings.TrimPrefix(o.Error, "left to the app: "))
		}
		for _, src := range o.SkippedSources {
			fmt.Fprintf(tw, "  source skipped %s\t%q: %s\n", o.BotID, o.Title, src)
		}
	}
	for _, m := range s.Malformed {
		fmt.Fprintf(tw, "  not a bot\t%s: %s\n", m.SK, m.Reason)
	}
	return tw.Flush()
}

// embedCounts is the summary's "40 texts · 1 request · 0 throttles · 10000 tokens", perReq
// following the requests.
func embedCounts(s *Summary, perReq string) string {
	return progress.Plural(s.Texts, "text", "texts") + " · " + progress.Plural(s.Requests, "request", "requests") + perReq + " · " +
		progress.Plural(s.Throttles, "throttle", "throttles") + " · " + progress.Plural(s.Tokens, "token", "tokens")
}
