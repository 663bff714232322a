package journal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// Lock and heartbeat policy, the same for every strategy.
const (
	// DefaultLockWait is how long a run waits for the target's lock. A killed run's session holds
	// it until the server notices the client is gone; waiting covers that, where trying once
	// would refuse the very run that is meant to resume the killed one.
	DefaultLockWait = 15 * time.Second
	// HeartbeatEvery is how often a running process refreshes its run's heartbeat_at.
	HeartbeatEvery = 10 * time.Second
	// StaleAfter is how old a heartbeat may be for its run to count as live in status.
	StaleAfter = 3 * HeartbeatEvery
)

// Session is one process's hold on a target: the target's lock, the journal's tables, and the
// run it works on. Every strategy goes through it — Begin, then Start or Resume, then Finish and
// Close — so runs are opened, kept alive and ended one way.
type Session struct {
	lockConn *pgx.Conn
	lock     *Lock
	db       DB
	log      *slog.Logger
	every    time.Duration
	run      *Run
	stop     context.CancelFunc // ends the heartbeat
	beating  chan struct{}      // closed when the heartbeat has ended
}

// Options are a session's policy.
type Options struct {
	// LockWait is how long to wait for another run's lock; zero means DefaultLockWait.
	LockWait time.Duration
	// HeartbeatEvery is how often the run's heartbeat is refreshed; zero means HeartbeatEvery.
	HeartbeatEvery time.Duration
	Logger         *slog.Logger
}

// Begin takes the target's lock on lockConn, a connection dedicated to the session (it holds the
// lock and carries the heartbeat; nothing else may use it until Close). db is where the run's
// rows are written. Begin writes nothing: a strategy calls Migrate once it is past its read-only
// checks and the operator's confirmation.
func Begin(ctx context.Context, lockConn *pgx.Conn, db DB, o Options) (*Session, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.LockWait == 0 {
		o.LockWait = DefaultLockWait
	}
	if o.HeartbeatEvery == 0 {
		o.HeartbeatEvery = HeartbeatEvery
	}
	lock, err := acquire(ctx, lockConn, o.LockWait, func(holder string) {
		o.Logger.InfoContext(ctx, "waiting for the target's lock", slog.String("holder", holder), slog.Duration("up_to", o.LockWait))
	})
	if err != nil {
		return nil, err
	}
	return &Session{lockConn: lockConn, lock: lock, db: db, log: o.Logger, every: o.HeartbeatEvery}, nil
}

// Migrate creates the journal's tables, every registered strategy's included, under the lock.
func (s *Session) Migrate(ctx context.Context) error { return Migrate(ctx, s.db) }

// Latest returns the newest run of kind on subject, or ErrNoRun.
func (s *Session) Latest(ctx context.Context, kind, subject string) (*Run, error) {
	return LatestRun(ctx, s.db, kind, subject)
}

// Unfinished reports whether a run may be resumed: it did not end done or abandoned.
func Unfinished(r *Run) bool {
	return r != nil && r.Status != StatusDone && r.Status != StatusAbandoned
}

// Start records a new run of kind on subject, abandons the unfinished runs it replaces, and
// starts the heartbeat. db is the session's or a transaction that writes the run's first rows
// with it (a copy's parts), so a failed start leaves no run behind.
func (s *Session) Start(ctx context.Context, db DB, kind, subject string, params any, phase string) (*Run, error) {
	if db == nil {
		db = s.db
	}
	if _, err := db.Exec(ctx, `UPDATE ragmigrate.runs SET status = 'abandoned', error = 'replaced by a new run', updated_at = now()
		WHERE kind = $1 AND subject = $2 AND status NOT IN ('done', 'abandoned')`, kind, subject); err != nil {
		return nil, fmt.Errorf("abandon earlier %s runs on %s: %w", kind, subject, err)
	}
	r, err := StartRun(ctx, db, kind, subject, params)
	if err != nil {
		return nil, err
	}
	if err := SetPhase(ctx, db, r.ID, phase); err != nil {
		return nil, err
	}
	r.Phase = phase
	s.run = r
	s.beat(ctx)
	return r, nil
}

// Resume takes up run r again at phase (marking it running) and starts the heartbeat.
func (s *Session) Resume(ctx context.Context, r *Run, phase string) error {
	if err := SetPhase(ctx, s.db, r.ID, phase); err != nil {
		return err
	}
	r.Status, r.Phase = StatusRunning, phase
	s.run = r
	s.beat(ctx)
	return nil
}

// SetPhase records the phase the session's run has reached.
func (s *Session) SetPhase(ctx context.Context, phase string) error {
	if s.run == nil {
		return errors.New("set phase: the session has no run")
	}
	if err := SetPhase(ctx, s.db, s.run.ID, phase); err != nil {
		return err
	}
	s.run.Phase = phase
	return nil
}

// Finish ends the heartbeat and records how the run ended: done when runErr is nil, interrupted
// when ctx was cancelled, failed otherwise, with runErr's text. It writes on a context of its
// own, so an interrupted run is recorded as such.
func (s *Session) Finish(ctx context.Context, runErr error) error {
	status := StatusDone
	switch {
	case runErr != nil && ctx.Err() != nil:
		status = StatusInterrupted
	case runErr != nil:
		status = StatusFailed
	}
	return s.End(ctx, status, runErr)
}

// End records status and runErr for the session's run after ending the heartbeat.
func (s *Session) End(ctx context.Context, status string, runErr error) error {
	if s.run == nil {
		return nil
	}
	s.stopBeat()
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return Finish(fctx, s.db, s.run.ID, status, runErr)
}

// Close ends the heartbeat, clears it (no process works on the run any more, whatever its
// status says) and releases the lock. It runs after cancellation too.
func (s *Session) Close(ctx context.Context) {
	s.stopBeat()
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if s.run != nil {
		if _, err := s.lockConn.Exec(cctx, `UPDATE ragmigrate.runs SET heartbeat_at = NULL WHERE id = $1`, s.run.ID); err != nil {
			s.log.WarnContext(ctx, "run's heartbeat not cleared; status shows it live for a while", slog.Int64("run_id", s.run.ID), slog.Any("error", err))
		}
	}
	if err := s.lock.Release(cctx); err != nil {
		// The session's end releases it too: harmless once the connection closes.
		s.log.DebugContext(ctx, "lock not released explicitly", slog.Any("error", err))
	}
}

// beat refreshes the run's heartbeat_at every s.every on the lock's connection, which is
// otherwise idle while the lock is held.
func (s *Session) beat(ctx context.Context) {
	s.stopBeat()
	bctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop, s.beating = stop, make(chan struct{})
	id, done := s.run.ID, s.beating
	s.heartbeat(bctx, id)
	go func() {
		defer close(done)
		t := time.NewTicker(s.every)
		defer t.Stop()
		for {
			select {
			case <-bctx.Done():
				return
			case <-t.C:
				s.heartbeat(bctx, id)
			}
		}
	}()
}

func (s *Session) heartbeat(ctx context.Context, runID int64) {
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := s.lockConn.Exec(hctx, `UPDATE ragmigrate.runs SET heartbeat_at = now() WHERE id = $1`, runID)
	if err != nil && ctx.Err() == nil {
		s.log.WarnContext(ctx, "run heartbeat not written", slog.Int64("run_id", runID), slog.Any("error", err))
	}
}

func (s *Session) stopBeat() {
	if s.stop != nil {
		s.stop()
		<-s.beating
		s.stop = nil
	}
}

// SetParams replaces run r's recorded params (a resume that changes how its remaining work is
// done records the change, so the journal still describes that work).
func (s *Session) SetParams(ctx context.Context, r *Run, params any) error {
	p, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("run %d: record params: %w", r.ID, err)
	}
	if _, err := s.db.Exec(ctx, `UPDATE ragmigrate.runs SET params = $2, updated_at = now() WHERE id = $1`, r.ID, p); err != nil {
		return fmt.Errorf("run %d: record params: %w", r.ID, err)
	}
	r.Params = p
	return nil
}
