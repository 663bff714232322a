package pgcopy

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"text/tabwriter"
)

// Summary is the end-of-copy report (stdout, or --json). Its JSON is the Result's, field for
// field: scripts read those names.
type Summary struct {
	*Result
	// Stopped says the run ended early (an error or an interruption): the report then says how
	// to continue.
	Stopped bool `json:"-"`
}

// WriteText prints the summary for people: the tables with the whole run's rows and bytes,
// what this invocation copied of a resumed run, the indexes, and the phases' times.
func (s *Summary) WriteText(w io.Writer) error {
	res := s.Result
	if res.Merge != nil {
		return s.writeMerge(w)
	}
	state := "done"
	if s.Stopped {
		state = "stopped (re-run with --resume to continue)"
	}
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "copy run %d %s; pgvector %s → %s\n", res.RunID, state, res.PgvectorSource, res.PgvectorTarget)
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	// ROWS and MB are the whole run's, resumed parts included (from the journal).
	fmt.Fprintln(tw, "TABLE\tROWS\tMB\tPARTS\tSKIPPED\tRETRIED")
	for _, t := range res.Tables {
		parts := strconv.Itoa(t.Parts)
		if s.Stopped {
			// The planned parts are not what a stopped run copied.
			parts = fmt.Sprintf("%d of %d", t.PartsDone, t.Parts)
		}
		fmt.Fprintf(tw, "%s → %s\t%d\t%.0f\t%s\t%d\t%d\n", t.Source, t.Target, t.Rows, float64(t.Bytes)/1e6, parts, t.PartsSkipped, t.PartsRetried)
	}
	tw.Flush()
	for _, t := range res.Tables {
		if t.PartsSkipped > 0 {
			fmt.Fprintf(ew, "  %s: this invocation copied %d rows (%.0f MB); %d rows in %d parts were copied before the resume\n",
				t.Target, t.RowsThisInvocation, float64(t.BytesThisInvocation)/1e6, t.Rows-t.RowsThisInvocation, t.PartsSkipped)
		}
	}
	for _, t := range res.Tables {
		for _, ix := range t.Indexes {
			how := fmt.Sprintf("%.1fs", ix.Seconds)
			if ix.Skipped {
				how = "kept (built before the resume)"
			}
			fmt.Fprintf(ew, "  index %s: %s\n    %s\n", ix.Name, how, ix.Definition)
		}
	}
	mbps := 0.0
	var bytes int64
	for _, t := range res.Tables {
		bytes += t.BytesThisInvocation // the data phase's seconds are this invocation's
	}
	if res.DataSeconds > 0 {
		mbps = float64(bytes) / 1e6 / res.DataSeconds
	}
	data := fmt.Sprintf("data %.1fs (%.0f MB/s)", res.DataSeconds, mbps)
	if res.Resumed && !slices.ContainsFunc(res.Tables, func(t TableResult) bool { return t.PartsSkipped < t.Parts }) {
		data = "data copied before the resume"
	}
	fmt.Fprintf(ew, "%s, indexes %.1fs, analyze %.1fs, total %.1fs\n", data, res.IndexSeconds, res.AnalyzeSeconds, res.TotalSeconds)
	return ew.err
}

// errWriter keeps the first write error, so the report's many prints are checked once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(b []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(b)
	e.err = err
	return n, err
}
