package pgcopy

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// items is one table of a run: 10 parts, 100000 rows and 500 MB in all; skipped parts were
// copied by an earlier invocation.
func items(skipped int, rowsNow, bytesNow int64, indexesKept bool) TableResult {
	return TableResult{Source: "public.items", Target: "public.items", Rows: 100000, Bytes: 500e6,
		RowsThisInvocation: rowsNow, BytesThisInvocation: bytesNow, SourceRows: 100000, RelationBytes: 520e6,
		Parts: 10, PartsSkipped: skipped, PartsRetried: 1,
		Indexes: []IndexResult{
			{Name: "items_pkey", Definition: "CREATE UNIQUE INDEX items_pkey ON public.items USING btree (id)", Constraint: "items_pkey", Skipped: indexesKept, Seconds: 1.25},
			{Name: "items_embedding_idx", Definition: "CREATE INDEX items_embedding_idx ON public.items USING hnsw (embedding vector_cosine_ops)", Skipped: indexesKept, MemoryMB: 512, Workers: 3, Seconds: 42.04},
		}}
}

func TestSummaryWriteText(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    Summary
		want string
	}{{
		name: "a copy in one go",
		s: Summary{Result: &Result{RunID: 3, PgvectorSource: "0.5.1", PgvectorTarget: "0.8.0", Tables: []TableResult{items(0, 100000, 500e6, false)},
			DataSeconds: 20, IndexSeconds: 43.3, AnalyzeSeconds: 0.4, TotalSeconds: 64.1}},
		want: `copy run 3 done; pgvector 0.5.1 → 0.8.0
TABLE                        ROWS    MB   PARTS  SKIPPED  RETRIED
public.items → public.items  100000  500  10     0        1
  index items_pkey: 1.2s
    CREATE UNIQUE INDEX items_pkey ON public.items USING btree (id)
  index items_embedding_idx: 42.0s
    CREATE INDEX items_embedding_idx ON public.items USING hnsw (embedding vector_cosine_ops)
data 20.0s (25 MB/s), indexes 43.3s, analyze 0.4s, total 64.1s
`,
	}, {
		// The table's rows are the whole run's; the rate is this invocation's bytes over its
		// own data seconds, not the whole run's bytes.
		name: "a resumed copy",
		s: Summary{Result: &Result{RunID: 4, Resumed: true, PgvectorSource: "0.5.1", PgvectorTarget: "0.8.0", Tables: []TableResult{items(6, 40000, 200e6, false)},
			DataSeconds: 10, IndexSeconds: 43.3, AnalyzeSeconds: 0.4, TotalSeconds: 54.1}},
		want: `copy run 4 done; pgvector 0.5.1 → 0.8.0
TABLE                        ROWS    MB   PARTS  SKIPPED  RETRIED
public.items → public.items  100000  500  10     6        1
  public.items: this invocation copied 40000 rows (200 MB); 60000 rows in 6 parts were copied before the resume
  index items_pkey: 1.2s
    CREATE UNIQUE INDEX items_pkey ON public.items USING btree (id)
  index items_embedding_idx: 42.0s
    CREATE INDEX items_embedding_idx ON public.items USING hnsw (embedding vector_cosine_ops)
data 10.0s (20 MB/s), indexes 43.3s, analyze 0.4s, total 54.1s
`,
	}, {
		// Killed after the data and the indexes: this invocation only analyzed, and its
		// data time is no rate.
		name: "a resumed copy with nothing left but the analyze",
		s: Summary{Result: &Result{RunID: 4, Resumed: true, PgvectorSource: "0.5.1", PgvectorTarget: "0.8.0", Tables: []TableResult{items(10, 0, 0, true)},
			DataSeconds: 0.01, AnalyzeSeconds: 0.4, TotalSeconds: 0.6}},
		want: `copy run 4 done; pgvector 0.5.1 → 0.8.0
TABLE                        ROWS    MB   PARTS  SKIPPED  RETRIED
public.items → public.items  100000  500  10     10       1
  public.items: this invocation copied 0 rows (0 MB); 100000 rows in 10 parts were copied before the resume
  index items_pkey: kept (built before the resume)
    CREATE UNIQUE INDEX items_pkey ON public.items USING btree (id)
  index items_embedding_idx: kept (built before the resume)
    CREATE INDEX items_embedding_idx ON public.items USING hnsw (embedding vector_cosine_ops)
data copied before the resume, indexes 0.0s, analyze 0.4s, total 0.6s
`,
	}, {
		// The parts column says how many of the planned parts the stopped run copied.
		name: "a stopped copy says how to continue",
		s: Summary{Stopped: true, Result: &Result{RunID: 5, PgvectorSource: "0.5.1", PgvectorTarget: "0.8.0",
			Tables:      []TableResult{{Source: "public.items", Target: "public.items", Rows: 30000, Bytes: 150e6, RowsThisInvocation: 30000, BytesThisInvocation: 150e6, Parts: 10, PartsDone: 6}},
			DataSeconds: 5, TotalSeconds: 5.2}},
		want: `copy run 5 stopped (re-run with --resume to continue); pgvector 0.5.1 → 0.8.0
TABLE                        ROWS   MB   PARTS    SKIPPED  RETRIED
public.items → public.items  30000  150  6 of 10  0        0
data 5.0s (30 MB/s), indexes 0.0s, analyze 0.0s, total 5.2s
`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			require.NoError(t, tc.s.WriteText(&out))
			require.Equal(t, tc.want, out.String())
		})
	}
}

// A closed stdout is an error the command reports, not a report silently lost.
func TestSummaryWriteTextReportsWriteErrors(t *testing.T) {
	s := Summary{Result: &Result{Tables: []TableResult{items(0, 1, 1, false)}}}
	require.ErrorIs(t, s.WriteText(failingWriter{}), errClosed)
}

var errClosed = errors.New("closed")

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errClosed }

// The summary's JSON is the Result's, byte for byte: scripts read its field names, and Stopped
// is the exit status's to tell.
func TestSummaryJSONIsTheResult(t *testing.T) {
	res := &Result{RunID: 4, Resumed: true, PgvectorSource: "0.5.1", PgvectorTarget: "0.8.0", Tables: []TableResult{items(6, 40000, 200e6, false)},
		DataSeconds: 10, IndexSeconds: 43.3, AnalyzeSeconds: 0.4, TotalSeconds: 54.1}
	want, err := json.Marshal(res)
	require.NoError(t, err)
	got, err := json.Marshal(&Summary{Result: res, Stopped: true})
	require.NoError(t, err)
	require.JSONEq(t, string(want), string(got))
	require.Equal(t, string(want), string(got))
	var fields map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(got, &fields))
	require.Len(t, fields, 9)
	for _, k := range []string{"run_id", "resumed", "pgvector_source", "pgvector_target", "tables", "data_seconds", "index_seconds", "analyze_seconds", "total_seconds"} {
		require.Contains(t, fields, k)
	}
}
