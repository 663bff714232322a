package journal_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/journal"
	"github.com/ragmigrate/ragmigrate/internal/stacktest"
)

// The fake strategy is registered the way reembed and pgcopy register theirs: no journal code
// names it.
const fakeKind = "fakestrategy"

func init() {
	journal.Register(journal.Strategy{
		Kind:   fakeKind,
		Schema: `CREATE TABLE IF NOT EXISTS ragmigrate.fake_steps (run_id bigint NOT NULL REFERENCES ragmigrate.runs (id) ON DELETE CASCADE, n bigint NOT NULL)`,
		Progress: func(ctx context.Context, db journal.DB, runID int64) (journal.Progress, error) {
			var steps, rows int64
			err := db.QueryRow(ctx, `SELECT count(*), coalesce(sum(n), 0) FROM ragmigrate.fake_steps WHERE run_id = $1`, runID).Scan(&steps, &rows)
			return journal.Progress{Rows: rows, Text: fmt.Sprintf("%d steps", steps), Fields: map[string]any{"fake_steps": steps}}, err
		},
	})
}

// TestThirdStrategy: a strategy's tables come with Migrate, its runs go through the one
// lifecycle, and status shows them with its progress.
func TestThirdStrategy(t *testing.T) {
	t.Parallel()
	ctx := stacktest.Context(t)
	url := stacktest.Database(t, "RAGMIGRATE_TARGET_DB")
	conn, lockConn := connect(t, url), connect(t, url)

	s, err := journal.Begin(ctx, lockConn, conn, journal.Options{})
	require.NoError(t, err)
	require.NoError(t, s.Migrate(ctx))
	first, err := s.Start(ctx, nil, fakeKind, "things", map[string]int{"n": 1}, "steps")
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `INSERT INTO ragmigrate.fake_steps VALUES ($1, 5), ($1, 6)`, first.ID)
	require.NoError(t, err)

	runs, err := journal.Runs(ctx, conn, 5)
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.True(t, runs[0].Live, "a run whose process beats is live")
	require.NotNil(t, runs[0].HeartbeatAt)
	require.EqualValues(t, 11, runs[0].Rows)
	require.Equal(t, "2 steps", runs[0].Progress.Text)
	b, err := json.Marshal(runs[0])
	require.NoError(t, err)
	require.Contains(t, string(b), `"fake_steps":2`)
	require.Contains(t, string(b), `"kind":"fakestrategy"`)

	// A killed process stops beating; Close clears the heartbeat at once.
	s.Close(ctx)
	runs, err = journal.Runs(ctx, conn, 5)
	require.NoError(t, err)
	require.Equal(t, journal.StatusRunning, runs[0].Status)
	require.False(t, runs[0].Live, "no process works on it")
	// A heartbeat older than StaleAfter is a process gone without Close (kill -9).
	_, err = conn.Exec(ctx, `UPDATE ragmigrate.runs SET heartbeat_at = now() - $1 * interval '1 second' WHERE id = $2`, journal.StaleAfter.Seconds()+1, first.ID)
	require.NoError(t, err)
	runs, err = journal.Runs(ctx, conn, 5)
	require.NoError(t, err)
	require.False(t, runs[0].Live, "a stale heartbeat is not live")

	// Resumed, then failed: the error is recorded.
	s, err = journal.Begin(ctx, lockConn, conn, journal.Options{})
	require.NoError(t, err)
	latest, err := s.Latest(ctx, fakeKind, "things")
	require.NoError(t, err)
	require.True(t, journal.Unfinished(latest))
	require.NoError(t, s.Resume(ctx, latest, "steps"))
	require.NoError(t, s.Finish(ctx, errors.New("step 3: disk full")))
	s.Close(ctx)
	runs, err = journal.Runs(ctx, conn, 5)
	require.NoError(t, err)
	require.Equal(t, journal.StatusFailed, runs[0].Status)
	require.Equal(t, "step 3: disk full", runs[0].Error)

	// A new run replaces the unfinished one; an interrupted context records interrupted.
	s, err = journal.Begin(ctx, lockConn, conn, journal.Options{})
	require.NoError(t, err)
	second, err := s.Start(ctx, nil, fakeKind, "things", nil, "steps")
	require.NoError(t, err)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	require.NoError(t, s.Finish(cctx, cctx.Err()))
	s.Close(ctx)
	runs, err = journal.Runs(ctx, conn, 5)
	require.NoError(t, err)
	require.Len(t, runs, 2)
	require.Equal(t, second.ID, runs[0].ID)
	require.Equal(t, journal.StatusInterrupted, runs[0].Status)
	require.Equal(t, journal.StatusAbandoned, runs[1].Status)
	require.EqualValues(t, 0, runs[0].Rows)
}

// TestBeginWaitsForAKilledRun: a run started while a killed run's session still holds the
// target's lock waits for the server to end that session, instead of refusing at once (the
// re-embed strategy used to try once).
func TestBeginWaitsForAKilledRun(t *testing.T) {
	t.Parallel()
	ctx := stacktest.Context(t)
	url := stacktest.Database(t, "RAGMIGRATE_TARGET_DB")
	killed, admin, conn, lockConn := connect(t, url), connect(t, url), connect(t, url), connect(t, url)
	_, err := journal.Acquire(ctx, killed, 0)
	require.NoError(t, err)

	waiting := make(chan struct{})
	log := slog.New(&signalHandler{msg: "waiting for the target's lock", ch: waiting})
	begun := make(chan error, 1)
	go func() {
		s, err := journal.Begin(ctx, lockConn, conn, journal.Options{Logger: log})
		if err == nil {
			s.Close(ctx)
		}
		begun <- err
	}()
	<-waiting // Begin found the lock held and waits.
	// The server ends the killed run's session, as it does once it notices the client is gone.
	_, err = admin.Exec(ctx, `SELECT pg_terminate_backend($1)`, killed.PgConn().PID())
	require.NoError(t, err)
	require.NoError(t, <-begun)
}

// signalHandler closes ch when msg is logged.
type signalHandler struct {
	msg string
	ch  chan struct{}
}

func (h *signalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *signalHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		select {
		case <-h.ch:
		default:
			close(h.ch)
		}
	}
	return nil
}
func (h *signalHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *signalHandler) WithGroup(string) slog.Handler      { return h }

// TestHeartbeatIsRefreshed: while a run goes on, its process keeps its heartbeat fresh.
func TestHeartbeatIsRefreshed(t *testing.T) {
	t.Parallel()
	ctx := stacktest.Context(t)
	url := stacktest.Database(t, "RAGMIGRATE_TARGET_DB")
	conn, lockConn := connect(t, url), connect(t, url)
	s, err := journal.Begin(ctx, lockConn, conn, journal.Options{HeartbeatEvery: 20 * time.Millisecond})
	require.NoError(t, err)
	defer s.Close(ctx)
	require.NoError(t, s.Migrate(ctx))
	run, err := s.Start(ctx, nil, fakeKind, "beats", nil, "steps")
	require.NoError(t, err)
	heartbeat := func() time.Time {
		var at time.Time
		require.NoError(t, conn.QueryRow(ctx, `SELECT heartbeat_at FROM ragmigrate.runs WHERE id = $1`, run.ID).Scan(&at))
		return at
	}
	first := heartbeat()
	require.Eventually(t, func() bool { return heartbeat().After(first) }, 30*time.Second, 10*time.Millisecond)
}
