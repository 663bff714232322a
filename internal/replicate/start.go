package replicate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ragmigrate/ragmigrate/internal/journal"
	"github.com/ragmigrate/ragmigrate/internal/pgcopy"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// ErrPreflight is returned (wrapped, with every failing check and its fix) when the clusters
// cannot replicate.
var ErrPreflight = errors.New("replication preflight failed")

// StartConfig is one start.
type StartConfig struct {
	Options
	// PublisherURL is the source as the target cluster reaches it, for the subscription; default
	// SourceURL.
	PublisherURL string
	// Tables to replicate (default items), resolved by each side's search_path.
	Tables []string
	// The copy path's settings for the bulk load (pgcopy.Config).
	Jobs                            int
	PartBytes, IndexMemory, MaxRate int64
	// EmptyTarget lets start delete a non-empty target's rows; CreateMissing creates the
	// extension and missing tables on the target.
	EmptyTarget, CreateMissing bool
	// ApplyWait bounds the wait for the subscription's apply worker to start.
	ApplyWait time.Duration
}

// StartResult reports a start; it is the command's JSON output.
type StartResult struct {
	RunID int64 `json:"run_id"`
	// Replaced is the unfinished run (killed during its load) this start cleaned up and redid.
	Replaced     int64    `json:"replaced_run_id,omitempty"`
	ReplacedDrop *Dropped `json:"replaced_objects,omitempty"`
	// ReplacedHow says how the replaced run ended: "killed during its load" (its process died
	// and its status says running), "interrupted" or "failed" (its start removed what it
	// created, and recorded so).
	ReplacedHow   string         `json:"replaced_how,omitempty"`
	Slot          string         `json:"slot"`
	Publication   string         `json:"publication"`
	Subscription  string         `json:"subscription"`
	ConsistentLSN string         `json:"consistent_lsn"`
	Load          *pgcopy.Result `json:"load,omitempty"`
	LoadSeconds   float64        `json:"load_seconds"`
	TotalSeconds  float64        `json:"total_seconds"`
	// Cleanup says what a failed start removed again.
	Cleanup *Dropped `json:"cleanup,omitempty"`
}

// Start runs the preflight, creates publication and slot, loads the slot's snapshot through the
// copy path and attaches a subscription to the slot.
func Start(ctx context.Context, cfg StartConfig) (*StartResult, error) {
	cfg.defaults()
	if len(cfg.Tables) == 0 {
		cfg.Tables = []string{"items"}
	}
	if cfg.PublisherURL == "" {
		cfg.PublisherURL = cfg.SourceURL
	}
	if cfg.ApplyWait == 0 {
		cfg.ApplyWait = time.Minute
	}
	begin := time.Now()
	log := cfg.Logger
	cleanup := context.WithoutCancel(ctx)

	dst, err := connect(ctx, cfg.TargetURL, cfg.Timeouts)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	defer dst.Close(cleanup)
	lockConn, err := cfg.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer lockConn.Close(cleanup) // releases the lock
	src, err := connect(ctx, cfg.SourceURL, cfg.Timeouts)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	defer src.Close(cleanup)
	// The subscription's connection string is built (and checked) before anything is created.
	info, password, err := subscriptionConninfo(cfg.PublisherURL)
	if err != nil {
		return nil, err
	}
	if cfg.PublisherURL != cfg.SourceURL {
		if err := checkPublisher(ctx, cfg.PublisherURL, cfg.Timeouts, log); err != nil {
			return nil, redact(err, password)
		}
	}

	pf, err := CheckAll(ctx, src, dst, cfg.Tables, cfg.CreateMissing)
	if err != nil {
		return nil, err
	}
	if !pf.Ready {
		return nil, fmt.Errorf("%w: %s", ErrPreflight, pf.Failed())
	}
	prev, err := latestRun(ctx, dst)
	if err != nil && !errors.Is(err, ErrNoRun) {
		return nil, err
	}
	redo := prev != nil && journal.Unfinished(&prev.Run)
	if redo && (prev.Phase == PhaseStreaming || prev.Phase == PhaseCutover) {
		return nil, fmt.Errorf("replication run %d is already %s (slot %s): see 'ragmigrate replicate status', then 'replicate cutover' or 'replicate abort'",
			prev.ID, prev.Phase, prev.Names.Slot)
	}
	var nonEmpty []string
	for _, t := range cfg.Tables {
		var rows int64
		err := dst.QueryRow(ctx, `SELECT CASE WHEN to_regclass($1) IS NULL THEN 0 ELSE
			(xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM (SELECT 1 FROM %s LIMIT 1) s', to_regclass($1)), false, true, '')))[1]::text::bigint END`, t).Scan(&rows)
		if err != nil {
			return nil, fmt.Errorf("target: look at table %s: %w", t, err)
		}
		if rows > 0 {
			nonEmpty = append(nonEmpty, t)
		}
	}
	// The target's rows may be deleted only with --empty-target, or when they are the partial
	// load of the unfinished run this start replaces (a run starts only on tables it found empty,
	// emptied with --empty-target, or created).
	if len(nonEmpty) > 0 && !cfg.EmptyTarget && !(redo && prev.Names.Emptied) {
		return nil, fmt.Errorf("target table %s: %w: pass --empty-target to delete its rows first", strings.Join(nonEmpty, ", "), pgcopy.ErrTargetNotEmpty)
	}

	var b strings.Builder
	if redo {
		fmt.Fprintf(&b, "Replication run %d was killed during its load (phase %s): drop its slot %s and publication, delete the rows it loaded, and start again. ", prev.ID, prev.Phase, prev.Names.Slot)
	}
	fmt.Fprintf(&b, "Replicate %s from the source to the target: create a publication and a logical replication slot on the source (it holds WAL until cutover or abort), bulk-load the slot's snapshot into the target", strings.Join(cfg.Tables, ", "))
	if len(nonEmpty) > 0 {
		fmt.Fprintf(&b, " (the rows of %s DELETED first)", strings.Join(nonEmpty, ", "))
	}
	b.WriteString(", then subscribe the target to the slot?")
	if err := cfg.Confirm(b.String()); err != nil {
		return nil, err
	}

	// The journal's tables are created under the journal's own lock, as every strategy does.
	jl, err := journal.Acquire(ctx, lockConn, cfg.LockWait)
	if err != nil {
		return nil, err
	}
	err = journal.Migrate(ctx, dst)
	jl.Release(cleanup)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	res := &StartResult{}
	if redo {
		how := "killed during its load"
		if prev.Status == journal.StatusInterrupted || prev.Status == journal.StatusFailed {
			how = prev.Status
		}
		log.InfoContext(ctx, "an earlier start did not finish; removing what is left of its replication objects", slog.Int64("run_id", prev.ID),
			slog.String("how", how), slog.String("slot", prev.Names.Slot))
		d, err := dropAll(ctx, src, dst, prev.Names, log)
		if err != nil {
			return nil, fmt.Errorf("clean up replication run %d: %w", prev.ID, err)
		}
		if err := journal.Finish(ctx, dst, prev.ID, journal.StatusAbandoned, errors.New(how+"; replaced by a new start")); err != nil {
			return nil, err
		}
		res.Replaced, res.ReplacedDrop, res.ReplacedHow = prev.ID, &d, how
	}

	// The run and the names of everything it will create commit before any of it exists.
	tx, err := dst.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	defer tx.Rollback(cleanup)
	run, err := journal.StartRun(ctx, tx, Kind, strings.Join(cfg.Tables, ","), struct{}{})
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	names := newNames(run.ID, cfg.Tables, true)
	if err := saveNames(ctx, tx, run.ID, names); err != nil {
		return nil, err
	}
	if err := journal.SetPhase(ctx, tx, run.ID, PhaseLoad); err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	if err := vectorstore.Commit(ctx, tx); err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	res.RunID, res.Slot, res.Publication, res.Subscription = run.ID, names.Slot, names.Publication, names.Subscription
	log.InfoContext(ctx, "replication run", slog.Int64("run_id", run.ID), slog.String("slot", names.Slot))

	err = start(ctx, cfg, src, dst, run.ID, &names, info, res)
	res.TotalSeconds = time.Since(begin).Seconds()
	if err == nil {
		return res, nil
	}
	err = redact(err, password)
	// A failed or interrupted start removes what it created: a forgotten slot fills the source's
	// disk. (A killed one cannot; the next start or 'replicate abort' does it.)
	d, derr := dropAll(cleanup, src, dst, names, log)
	res.Cleanup = &d
	if derr != nil {
		err = errors.Join(err, fmt.Errorf("remove the run's replication objects (run 'ragmigrate replicate abort'): %w", derr))
	}
	status := journal.StatusFailed
	if ctx.Err() != nil {
		status = journal.StatusInterrupted
	}
	// The run ends abandoned-equivalent: nothing of it remains to stream.
	if ferr := journal.Finish(cleanup, dst, run.ID, status, err); ferr != nil {
		err = errors.Join(err, ferr)
	}
	return res, err
}

// start creates the replication objects named in n, loads the snapshot and subscribes.
func start(ctx context.Context, cfg StartConfig, src, dst *pgx.Conn, runID int64, n *Names, info string, res *StartResult) error {
	log := cfg.Logger
	tables := make([]string, len(cfg.Tables))
	for i, t := range cfg.Tables {
		var q string
		if err := src.QueryRow(ctx, `SELECT to_regclass($1)::text`, t).Scan(&q); err != nil {
			return fmt.Errorf("source: table %s: %w", t, err)
		}
		tables[i] = q
	}
	if _, err := src.Exec(ctx, `CREATE PUBLICATION `+ident(n.Publication)+` FOR TABLE `+strings.Join(tables, ", ")); err != nil {
		return fmt.Errorf("source: create publication %s: %w", n.Publication, err)
	}
	log.InfoContext(ctx, "publication created", slog.String("publication", n.Publication), slog.String("tables", strings.Join(tables, ",")))
	slot, err := createSlot(ctx, cfg.SourceURL, n.Slot, cfg.Timeouts)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	defer slot.Close(ctx)
	n.ConsistentLSN, res.ConsistentLSN = slot.LSN, slot.LSN
	log.InfoContext(ctx, "replication slot created; loading its snapshot", slog.String("slot", n.Slot), slog.String("consistent_lsn", slot.LSN))
	if err := saveNames(ctx, dst, runID, *n); err != nil {
		return err
	}

	t := time.Now()
	load, err := pgcopy.Copy(ctx, pgcopy.Config{
		SourceURL: cfg.SourceURL, TargetURL: cfg.TargetURL, Tables: cfg.Tables,
		Jobs: cfg.Jobs, PartBytes: cfg.PartBytes, IndexMemory: cfg.IndexMemory, MaxRate: cfg.MaxRate,
		EmptyTarget: true, CreateMissing: cfg.CreateMissing, Snapshot: slot.Snapshot,
		LockWait: cfg.LockWait, Timeouts: cfg.Timeouts, Logger: log, Progress: cfg.Progress,
	})
	// Also when the load stopped: the report of a start that did not finish says how long it ran.
	res.Load, res.LoadSeconds = load, time.Since(t).Seconds()
	if load != nil {
		n.CopyRunID = load.RunID
	}
	if err != nil {
		return fmt.Errorf("load the snapshot: %w", err)
	}
	// The snapshot is no longer needed; the slot keeps its position without the connection.
	slot.Close(ctx)
	if err := saveNames(ctx, dst, runID, *n); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := journal.SetPhase(ctx, dst, runID, PhaseSubscribe); err != nil {
		return fmt.Errorf("target: %w", err)
	}
	// The statement holds the source's password: ragmigrate never logs it, and an error quoting
	// it is redacted by the caller. The server would log it too, as the text of a failing
	// statement (log_min_error_statement) or of any DDL (log_statement = ddl): both are turned
	// off for this statement. They are superuser settings, which CREATE SUBSCRIPTION needs anyway.
	if _, err := dst.Exec(ctx, `SET log_min_error_statement = panic; SET log_statement = none`); err != nil {
		return fmt.Errorf("target: keep the subscription's password out of the server log: %w", err)
	}
	// CREATE SUBSCRIPTION connects from the target to the publisher, and PostgreSQL 15's
	// walreceiver ignores connect_timeout while it waits for a publisher that accepts and never
	// answers: bound the statement by what connecting may take (--db-connect-timeout).
	subscribeTimeout := 2*cmp.Or(cfg.Timeouts.Connect, 15*time.Second) + 10*time.Second
	if _, err := dst.Exec(ctx, fmt.Sprintf(`SET statement_timeout = %d`, subscribeTimeout.Milliseconds())); err != nil {
		return fmt.Errorf("target: %w", err)
	}
	defer dst.Exec(context.WithoutCancel(ctx), `RESET log_min_error_statement; RESET log_statement; RESET statement_timeout`)
	_, err = dst.Exec(ctx, `CREATE SUBSCRIPTION `+ident(n.Subscription)+` CONNECTION `+vectorstore.QuoteLiteral(info)+
		` PUBLICATION `+ident(n.Publication)+` WITH (create_slot = false, slot_name = `+vectorstore.QuoteLiteral(n.Slot)+
		`, copy_data = false, enabled = true)`)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "57014" && ctx.Err() == nil {
		return fmt.Errorf("target: create subscription %s: the target did not reach the publisher at %s within %s: check that the target cluster reaches the source over the network (security groups), or give the address it reaches it at with --publisher-url",
			n.Subscription, publisherAddr(cfg.PublisherURL), subscribeTimeout)
	}
	if err != nil {
		return fmt.Errorf("target: create subscription %s: %w", n.Subscription, err)
	}
	log.InfoContext(ctx, "subscription created; streaming from the slot's consistent point", slog.String("subscription", n.Subscription))
	if err := journal.SetPhase(ctx, dst, runID, PhaseStreaming); err != nil {
		return fmt.Errorf("target: %w", err)
	}
	// Wait for the apply worker to take the slot, so that start ends with replication running.
	deadline := time.Now().Add(cfg.ApplyWait)
	for {
		var active bool
		if err := src.QueryRow(ctx, `SELECT coalesce((SELECT active FROM pg_replication_slots WHERE slot_name = $1), false)`, n.Slot).Scan(&active); err != nil {
			return fmt.Errorf("source: look up slot %s: %w", n.Slot, err)
		}
		if active {
			return nil
		}
		if time.Now().After(deadline) {
			// Streaming is set up; the worker may still come (the target's workers may be busy).
			log.WarnContext(ctx, "the subscription's apply worker has not taken the slot yet; check 'ragmigrate replicate status'", slog.Duration("waited", cfg.ApplyWait))
			return nil
		}
		select {
		case <-ctx.Done():
			return nil // streaming is set up; an interrupt now must not undo it
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// publisherAddr is the host:port of a publisher URL, for messages (never its password).
func publisherAddr(u string) string {
	cfg, err := pgconn.ParseConfig(u)
	if err != nil {
		return "the publisher URL"
	}
	return net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
}

// checkPublisher logs in with the publisher URL's credentials before anything is created: the
// subscription, the last step of a start, is where a wrong password would show otherwise, after
// a bulk load that may take hours. The URL is the source as the target cluster reaches it, which
// ragmigrate may not reach from where it runs: then the check is skipped, and the log says so.
// Only a refused login or a missing database stops the start; the check is bounded by the connect timeout, at most 5s.
func checkPublisher(ctx context.Context, url string, t vectorstore.Timeouts, log *slog.Logger) error {
	bound := min(cmp.Or(t.Connect, vectorstore.DefaultConnectTimeout), 5*time.Second)
	cfg, err := vectorstore.ParseConfig(url, strings.TrimPrefix(AppName, "ragmigrate/"), vectorstore.Timeouts{Connect: bound})
	if err != nil {
		return fmt.Errorf("publisher URL: %w", err)
	}
	cfg.ConnectTimeout = min(cfg.ConnectTimeout, bound)
	who := fmt.Sprintf("user %s at %s", cfg.User, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))))
	conn, err := pgx.ConnectConfig(ctx, cfg)
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		conn.Close(context.WithoutCancel(ctx))
		log.InfoContext(ctx, "the publisher URL's credentials are accepted", slog.String("publisher", who))
		return nil
	case vectorstore.IsAuthFailure(err):
		errors.As(err, &pgErr)
		return fmt.Errorf("publisher URL (%s): the source refused its login (%s, SQLSTATE %s): the subscription could not connect with it either; fix the user or password of --publisher-url. Nothing was created",
			who, pgErr.Message, pgErr.Code)
	case errors.As(err, &pgErr) && pgErr.Code == "3D000": // invalid_catalog_name
		return fmt.Errorf("publisher URL (%s): the source has no database %s: the subscription could not connect to it either; fix the database name of --publisher-url. Nothing was created",
			who, cfg.Database)
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		log.WarnContext(ctx, "could not check the publisher URL's credentials from here (the target may reach it where ragmigrate does not); a wrong password shows when the subscription is created, after the load",
			slog.String("publisher", who), slog.String("error", redact(err, cfg.Password).Error()))
		return nil
	}
}
