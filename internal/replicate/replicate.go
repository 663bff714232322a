package replicate

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ragmigrate/ragmigrate/internal/journal"
	"github.com/ragmigrate/ragmigrate/internal/progress"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// Kind is the journal's name for replication runs.
const Kind = "replicate"

// AppName is the application_name of ragmigrate's own replicate sessions.
const AppName = "ragmigrate/replicate"

// Phases of a replication run, in order.
const (
	PhaseLoad      = "load"      // publication, slot and the bulk load (start is running)
	PhaseSubscribe = "subscribe" // the load is done; the subscription is being created
	PhaseStreaming = "streaming" // the subscription applies the source's changes
	PhaseCutover   = "cutover"   // cutover is waiting, verifying or dropping
)

// ErrNoRun is returned (wrapped) when the target's journal holds no replication run.
var ErrNoRun = errors.New("no replication run in the target's journal")

// ErrBusy is returned (wrapped) when another ragmigrate replicate command works on the run.
var ErrBusy = errors.New("another ragmigrate replicate command is working on this target")

func init() {
	journal.Register(journal.Strategy{Kind: Kind, Progress: runProgress})
}

// Names are everything a run creates, recorded in its journal params before it is created.
type Names struct {
	// Slot, Publication and Subscription share one name: ragmigrate_r<run>_<random>.
	Slot         string   `json:"slot"`
	Publication  string   `json:"publication"`
	Subscription string   `json:"subscription"`
	Tables       []string `json:"tables"`
	// Emptied says the run created or emptied the target tables, so a restarted start may empty
	// them again (it never empties a table it was not allowed to).
	Emptied bool `json:"emptied"`
	// ConsistentLSN is the slot's consistent point: where the snapshot ends and streaming begins.
	ConsistentLSN string `json:"consistent_lsn,omitempty"`
	// CopyRunID is the copy run that loaded the snapshot.
	CopyRunID int64 `json:"copy_run_id,omitempty"`
}

func newNames(runID int64, tables []string, emptied bool) Names {
	var b [3]byte
	rand.Read(b[:])
	name := fmt.Sprintf("ragmigrate_r%d_%s", runID, hex.EncodeToString(b[:]))
	return Names{Slot: name, Publication: name, Subscription: name, Tables: tables, Emptied: emptied}
}

// runProgress is the status row of a replication run: its phase says where it is; the row names
// its slot (also the publication's and subscription's name) and the copy run that loaded it.
func runProgress(ctx context.Context, db journal.DB, runID int64) (journal.Progress, error) {
	var n Names
	if err := db.QueryRow(ctx, `SELECT params FROM ragmigrate.runs WHERE id = $1`, runID).Scan(&n); err != nil {
		return journal.Progress{}, fmt.Errorf("replication run %d: %w", runID, err)
	}
	p := journal.Progress{Text: "slot " + n.Slot, Fields: map[string]any{"slot": n.Slot}}
	if n.CopyRunID != 0 {
		p.Text += fmt.Sprintf(", loaded by run %d", n.CopyRunID)
		p.Fields["copy_run_id"] = n.CopyRunID
	}
	return p, nil
}

// Options are what every replicate command shares.
type Options struct {
	SourceURL, TargetURL string
	LockWait             time.Duration
	Timeouts             vectorstore.Timeouts
	Logger               *slog.Logger
	Progress             *progress.Progress
	// Confirm is asked, with a summary, before the first write.
	Confirm func(summary string) error
}

func (o *Options) defaults() {
	o.LockWait = cmp.Or(o.LockWait, journal.DefaultLockWait)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Progress == nil {
		o.Progress = progress.New(progress.Options{Logger: o.Logger})
	}
	if o.Confirm == nil {
		o.Confirm = func(string) error { return nil }
	}
}

func connect(ctx context.Context, url string, t vectorstore.Timeouts) (*pgx.Conn, error) {
	return vectorstore.Connect(ctx, url, strings.TrimPrefix(AppName, "ragmigrate/"), t)
}

// lock is the replicate commands' own advisory lock on the target (the copy path takes the
// journal's lock, key 1, while it loads; this is key 2), so that start, cutover and abort of one
// target never run at once. It belongs to conn's session: a killed command's lock goes with it.
const (
	lockClass  int32 = 0x72676d67 // "rgmg", the journal's class
	lockObject int32 = 2
)

// lock connects a session of its own to the target and takes the replicate lock on it, waiting
// up to o.LockWait: closing the connection releases the lock.
func (o *Options) lock(ctx context.Context) (*pgx.Conn, error) {
	conn, err := connect(ctx, o.TargetURL, o.Timeouts)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	if err := acquire(ctx, conn, o.LockWait, o.Logger); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return conn, nil
}

func acquire(ctx context.Context, conn *pgx.Conn, wait time.Duration, log *slog.Logger) error {
	if wait < 0 {
		wait = 0
	}
	deadline := time.Now().Add(wait)
	for tries := 0; ; tries++ {
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, lockClass, lockObject).Scan(&ok); err != nil {
			return fmt.Errorf("target: take the replicate lock: %w", err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			// Wrapping journal.ErrLockHeld maps to the documented exit code 4.
			return fmt.Errorf("target database %s: %w: %w", conn.Config().Database, ErrBusy, journal.ErrLockHeld)
		}
		if tries == 0 {
			log.InfoContext(ctx, "waiting for another replicate command on this target", slog.Duration("up_to", wait))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("target: take the replicate lock: %w", ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// busy tells whether a replicate command (a start still loading) holds the lock, without taking it.
func busy(ctx context.Context, conn *pgx.Conn) (bool, error) {
	var held bool
	err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND classid = $1::int::oid AND objid = $2::int::oid AND objsubid = 2 AND pid <> pg_backend_pid())`, lockClass, lockObject).Scan(&held)
	if err != nil {
		return false, fmt.Errorf("target: look up the replicate lock: %w", err)
	}
	return held, nil
}

// Run is a replication run as its journal row records it.
type Run struct {
	journal.Run
	Names Names `json:"names"`
}

// latestRun reads the newest replication run of the target's journal; ErrNoRun when there is
// none.
func latestRun(ctx context.Context, dst *pgx.Conn) (*Run, error) {
	var exists bool
	if err := dst.QueryRow(ctx, `SELECT to_regclass('ragmigrate.runs') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, fmt.Errorf("target: look up the journal: %w", err)
	}
	if !exists {
		return nil, ErrNoRun
	}
	r := &Run{}
	err := dst.QueryRow(ctx, `SELECT id, kind, subject, status, phase, params, started_at FROM ragmigrate.runs
		WHERE kind = $1 ORDER BY id DESC LIMIT 1`, Kind).
		Scan(&r.ID, &r.Kind, &r.Subject, &r.Status, &r.Phase, &r.Params, &r.StartedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNoRun
	}
	if err != nil {
		return nil, fmt.Errorf("target: latest replication run: %w", err)
	}
	if err := json.Unmarshal(r.Params, &r.Names); err != nil {
		return nil, fmt.Errorf("target: replication run %d: read its names: %w", r.ID, err)
	}
	return r, nil
}

// saveNames records n as run id's params.
func saveNames(ctx context.Context, db journal.DB, id int64, n Names) error {
	p, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("run %d: record names: %w", id, err)
	}
	if _, err := db.Exec(ctx, `UPDATE ragmigrate.runs SET params = $2, updated_at = now() WHERE id = $1`, id, p); err != nil {
		return fmt.Errorf("target: run %d: record names: %w", id, err)
	}
	return nil
}

// redact removes secret from err's text: an error that may quote a connection string (the
// subscription's) is passed on without the password.
func redact(err error, secret string) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "********"))
}

// ident quotes an identifier.
func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// Unfinished returns the newest replication run when it is not finished (its slot may exist:
// cutover or abort must run before the journal, which names the slot, is dropped); nil when
// there is none.
func Unfinished(ctx context.Context, dst *pgx.Conn) (*Run, error) {
	r, err := latestRun(ctx, dst)
	if errors.Is(err, ErrNoRun) {
		return nil, nil
	}
	if err != nil || !journal.Unfinished(&r.Run) {
		return nil, err
	}
	return r, nil
}
