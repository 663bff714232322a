package journal

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Strategy is what a migration strategy registers with the journal: its tables, and how a run of
// its kind reports progress. The journal knows runs; what a run is made of (bot jobs, copy parts,
// …) belongs to the strategy, so adding one touches neither the journal nor the other strategies.
type Strategy struct {
	// Kind is the runs.kind of the strategy's runs.
	Kind string
	// Schema creates the strategy's tables in the schema ragmigrate, keyed by run_id (REFERENCES
	// ragmigrate.runs (id) ON DELETE CASCADE). Migrate runs it after the runs table, under the
	// target's lock; every statement must be idempotent.
	Schema string
	// Progress reads a run's progress from the strategy's tables, for 'ragmigrate status'. It is
	// called only once Schema has run.
	Progress func(ctx context.Context, db DB, runID int64) (Progress, error)
}

// Progress is a run's progress as its strategy reports it.
type Progress struct {
	// Rows is the rows written so far (chunks for re-embed).
	Rows int64
	// Text is the status table's PROGRESS column, e.g. "3/4 parts".
	Text string
	// Fields are added to the run's JSON object in 'status --json' (e.g. "bot_jobs": {...}).
	Fields map[string]any
}

var (
	strategiesMu sync.Mutex
	strategies   = map[string]Strategy{}
)

// Register makes a strategy's tables part of the journal and its progress part of Runs. Strategy
// packages call it from init, as database/sql drivers register; registering a kind twice panics.
func Register(s Strategy) {
	strategiesMu.Lock()
	defer strategiesMu.Unlock()
	if s.Kind == "" || strings.ContainsAny(s.Kind, " \t\n") {
		panic(fmt.Sprintf("journal: register strategy: bad kind %q", s.Kind))
	}
	if _, dup := strategies[s.Kind]; dup {
		panic("journal: strategy " + s.Kind + " registered twice")
	}
	strategies[s.Kind] = s
}

// registered returns the strategies by kind, so Migrate runs their DDL in a stable order.
func registered() []Strategy {
	strategiesMu.Lock()
	defer strategiesMu.Unlock()
	out := make([]Strategy, 0, len(strategies))
	for _, s := range strategies {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Strategy) int { return strings.Compare(a.Kind, b.Kind) })
	return out
}

func strategy(kind string) (Strategy, bool) {
	strategiesMu.Lock()
	defer strategiesMu.Unlock()
	s, ok := strategies[kind]
	return s, ok
}
