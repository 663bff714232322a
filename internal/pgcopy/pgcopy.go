// Package pgcopy is the copy strategy: it moves tables of vectors between PostgreSQL clusters as
// raw COPY BINARY streams, in parallel primary-key parts, and builds the indexes after the load.
//
// # Overview
//
// The old cluster (or its snapshot restored into a temporary database) already holds the vectors,
// so nothing is re-embedded. pg_dump, pgcopydb (by default) and PG 15's logical replication all
// move a vector as decimal text, printed on one side and parsed on the other; binary COPY moves
// pgvector's wire format (int16 dim, int16 0, dim × float4) untouched, about three times faster.
//
// A run goes through these steps:
//
//  1. Preflight (read-only): pgvector on both sides, the source tables' columns, keys, indexes and
//     sizes, the target tables (created if missing, refused if they differ or hold rows).
//  2. Data: one transaction on the source exports a snapshot; every worker imports it, so all
//     parts read the same consistent state. Each table is split into primary-key ranges sized from
//     its total bytes including TOAST. Each part is one `COPY (SELECT …) TO STDOUT (FORMAT binary)`
//     on the source piped, bytes unchanged, into `COPY … FROM STDIN (FORMAT binary)` on the
//     target, in a target transaction that also marks the part done in the journal: a crash
//     re-copies only unfinished parts, each exactly once. Memory per worker is a few buffers.
//  3. Indexes, like the source's: primary keys as CREATE UNIQUE INDEX then ADD CONSTRAINT … USING
//     INDEX; then the other indexes, pgvector's last, with maintenance_work_mem sized for the
//     graph; progress from pg_stat_progress_create_index. Then ANALYZE.
//
// A resumed run (Config.Resume) reuses the interrupted run's parts and skips what is done. It
// reads from a new snapshot: resuming is meant for a source that does not change (a restored
// snapshot, or the old cluster with writes stopped), like pgcopydb's --resume --not-consistent.
package pgcopy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ragmigrate/ragmigrate/internal/journal"
	"github.com/ragmigrate/ragmigrate/internal/progress"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// Defaults.
const (
	DefaultJobs        = 2
	DefaultPartBytes   = 64 << 20
	DefaultIndexMemory = 1 << 30
	DefaultLockWait    = journal.DefaultLockWait // every strategy's policy
	maxParts           = 10000
	maxAttempts        = 5
)

// Config is one copy.
type Config struct {
	SourceURL, TargetURL string
	// Tables are the tables to copy, resolved by each side's search_path (default items).
	Tables []string
	// Jobs is the number of parts copied at once, and bounds the index builds' parallel workers.
	Jobs int
	// PartBytes is the target size of a part, in relation bytes (heap + TOAST).
	PartBytes int64
	// IndexMemory caps maintenance_work_mem for the index builds.
	IndexMemory int64
	// MaxRate caps the bytes per second read from the source over all workers (0: no cap), to
	// spare a production source.
	MaxRate int64
	// Resume continues the latest interrupted run; EmptyTarget deletes the rows of non-empty
	// targets first (TRUNCATE).
	Resume, EmptyTarget bool
	// CreateMissing runs CREATE EXTENSION vector on a target database that lacks it and creates
	// missing target tables with the source's columns; without it either is refused before any
	// write (ErrNoPgvector, ErrNoTargetTable), as reembed refuses a target without the app's setup.
	CreateMissing bool
	// Snapshot, when set, is a snapshot already exported on the source (by the replicate
	// strategy's CREATE_REPLICATION_SLOT … (SNAPSHOT 'export')) that every part reads instead of
	// one this copy exports; its exporter must stay open until Copy returns.
	Snapshot string
	// LockWait is how long to wait for another run's lock (e.g. a killed run's sessions that the
	// server has not reaped yet).
	LockWait time.Duration
	// Timeouts bound connecting and ordinary statements (a part's COPY and the index builds are
	// bounded by the run's context instead).
	Timeouts vectorstore.Timeouts
	Logger   *slog.Logger
	Progress *progress.Progress
	// Confirm is asked, with a summary, after the read-only preflight and before the first write.
	Confirm func(summary string) error
	// Merge copies into a target the app already serves, bot by bot (merge.go): only the bots
	// without rows in the target and not QUEUED or RUNNING in Bots, leaving the target's rows and
	// indexes in place. IncludeDeleted copies the bots without an item in Bots too.
	Merge, IncludeDeleted bool
	// Bots are the bot items by bot id, read from the table before the merge.
	Bots map[string]BotItem
}

func (c *Config) defaults() {
	if len(c.Tables) == 0 {
		c.Tables = []string{"items"}
	}
	c.Jobs = cmp.Or(c.Jobs, DefaultJobs)
	c.PartBytes = cmp.Or(c.PartBytes, DefaultPartBytes)
	c.IndexMemory = cmp.Or(c.IndexMemory, DefaultIndexMemory)
	c.LockWait = cmp.Or(c.LockWait, DefaultLockWait)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Progress == nil {
		c.Progress = progress.New(progress.Options{Logger: c.Logger})
	}
	if c.Confirm == nil {
		c.Confirm = func(string) error { return nil }
	}
}

// Result reports a run; it is the command's JSON output.
type Result struct {
	RunID   int64 `json:"run_id"`
	Resumed bool  `json:"resumed"`
	// PgvectorSource and PgvectorTarget are the extension versions on each side.
	PgvectorSource string        `json:"pgvector_source"`
	PgvectorTarget string        `json:"pgvector_target"`
	Tables         []TableResult `json:"tables"`
	DataSeconds    float64       `json:"data_seconds"`
	IndexSeconds   float64       `json:"index_seconds"`
	AnalyzeSeconds float64       `json:"analyze_seconds"`
	TotalSeconds   float64       `json:"total_seconds"`
	// Merge reports a merge (Config.Merge) bot by bot.
	Merge *MergeResult `json:"merge,omitempty"`
}

// TableResult reports one table.
type TableResult struct {
	Source  string `json:"source"`
	Target  string `json:"target"`
	Created bool   `json:"created"`
	// Rows and Bytes are the whole run's, read from its done parts in the journal: a resumed
	// run counts the parts the interrupted invocations copied too.
	Rows  int64 `json:"rows"`
	Bytes int64 `json:"bytes"`
	// RowsThisInvocation and BytesThisInvocation are what this process copied (the data rate
	// is computed from them).
	RowsThisInvocation  int64 `json:"rows_this_invocation"`
	BytesThisInvocation int64 `json:"bytes_this_invocation"`
	// SourceRows is the source table's count(*) at the preflight.
	SourceRows    int64 `json:"source_rows"`
	RelationBytes int64 `json:"relation_bytes"`
	Parts         int   `json:"parts"`
	// PartsDone are the run's parts copied and committed, resumed ones included: Parts when
	// the copy is complete, fewer when it stopped.
	PartsDone    int           `json:"parts_done"`
	PartsSkipped int           `json:"parts_skipped"` // done before this invocation
	PartsRetried int           `json:"parts_retried"`
	Indexes      []IndexResult `json:"indexes"`
}

// IndexResult reports one index build.
type IndexResult struct {
	Name       string  `json:"name"`
	Definition string  `json:"definition"`
	Constraint string  `json:"constraint,omitempty"`
	Skipped    bool    `json:"skipped,omitempty"` // already built by the interrupted run
	MemoryMB   int64   `json:"maintenance_work_mem_mb,omitempty"`
	Workers    int     `json:"parallel_workers"`
	Seconds    float64 `json:"seconds"`
}

// tableJob is one table's state through a run.
type tableJob struct {
	src       *Table
	target    string // quoted schema-qualified target name
	targetRaw string // unquoted schema.name, the journal's key
	targetSch string
	exists    bool
	rows      int64 // rows already in the target
	indexes   []targetIndex
	parts     []Part
	result    *TableResult
	mu        sync.Mutex // guards result during the data phase
}

// Copy runs a copy from cfg.SourceURL to cfg.TargetURL.
func Copy(ctx context.Context, cfg Config) (*Result, error) {
	cfg.defaults()
	start := time.Now()
	cleanup := context.WithoutCancel(ctx)
	log := cfg.Logger

	dst, err := connect(ctx, cfg.TargetURL, cfg.Timeouts, connMeta)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	defer closeConn(cleanup, dst)
	// The lock belongs to its own session, so nothing else on that session can release it early.
	lockConn, err := connect(ctx, cfg.TargetURL, cfg.Timeouts, connMeta)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	defer closeConn(cleanup, lockConn)
	sess, err := journal.Begin(ctx, lockConn, dst, journal.Options{LockWait: cfg.LockWait, Logger: log})
	if err != nil {
		return nil, err
	}
	defer sess.Close(cleanup)
	src, err := connect(ctx, cfg.SourceURL, cfg.Timeouts, connMeta)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	defer closeConn(cleanup, src)

	res := &Result{}
	jobs, run, err := preflight(ctx, cfg, src, dst, res)
	if err != nil {
		return nil, err
	}
	if cfg.Merge {
		return merge(ctx, cfg, sess, dst, jobs, res, start)
	}
	if err := cfg.Confirm(summary(cfg, jobs, run, res)); err != nil {
		return nil, err
	}
	// The report reads the jobs' results whatever happens next.
	defer func() {
		res.Tables = res.Tables[:0]
		for _, j := range jobs {
			j.result.Parts = len(j.parts)
			res.Tables = append(res.Tables, *j.result)
		}
	}()
	if err := prepare(ctx, cfg, sess, dst, jobs, &run, res); err != nil {
		return nil, err
	}
	res.RunID = run.ID
	log.InfoContext(ctx, "copy run", slog.Int64("run_id", run.ID), slog.Bool("resumed", res.Resumed),
		slog.String("pgvector_source", res.PgvectorSource), slog.String("pgvector_target", res.PgvectorTarget))

	runErr := execute(ctx, cfg, sess, dst, jobs, run, res)
	runTotals(cleanup, log, dst, jobs, run.ID)
	if err := sess.Finish(ctx, runErr); err != nil {
		runErr = errors.Join(runErr, err)
	}
	res.TotalSeconds = time.Since(start).Seconds()
	return res, runErr
}

// runTotals sets each table's Rows and Bytes to the run's done parts in the journal, so a
// resumed run reports its whole copy, not only what this invocation added. It runs after
// cancellation too: an interrupted run's report counts what is kept.
func runTotals(ctx context.Context, log *slog.Logger, dst *pgx.Conn, jobs []*tableJob, runID int64) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, j := range jobs {
		parts, err := Parts(ctx, dst, runID, j.targetRaw)
		if err != nil {
			// The parts read at the start and this invocation's count give the same sum unless
			// a part's commit reply was lost; say that the figure is not the journal's.
			log.WarnContext(ctx, "run totals not read from the journal; counting from memory", slog.String("table", j.targetRaw), slog.String("error", err.Error()))
			parts = j.parts
		}
		var rows, bytes int64
		done := 0
		for _, p := range parts {
			if p.Done {
				rows += p.Rows
				bytes += p.Bytes
				done++
			}
		}
		j.mu.Lock()
		if err != nil {
			rows += j.result.RowsThisInvocation
			bytes += j.result.BytesThisInvocation
		}
		j.result.Rows, j.result.Bytes, j.result.PartsDone = rows, bytes, done
		j.mu.Unlock()
	}
}

// preflight checks both sides without writing, and decides between a fresh and a resumed run.
func preflight(ctx context.Context, cfg Config, src, dst *pgx.Conn, res *Result) ([]*tableJob, *journal.Run, error) {
	srcVer, _, err := pgvectorVersion(ctx, src)
	if err != nil {
		return nil, nil, fmt.Errorf("source: %w", err)
	}
	dstVer, dstAvail, err := pgvectorVersion(ctx, dst)
	if err != nil {
		return nil, nil, fmt.Errorf("target: %w", err)
	}
	res.PgvectorSource, res.PgvectorTarget = srcVer, dstVer
	if srcVer == "" {
		return nil, nil, fmt.Errorf("source database %s: %w", src.Config().Database, ErrNoPgvector)
	}
	if dstVer == "" && !cfg.CreateMissing {
		hint := "the cluster does not offer it: install pgvector on the target cluster"
		if dstAvail != "" {
			hint = fmt.Sprintf("the cluster offers %s: run CREATE EXTENSION vector in it, or pass --create-missing", dstAvail)
		}
		return nil, nil, fmt.Errorf("target database %s: %w (%s)", dst.Config().Database, ErrNoPgvector, hint)
	}
	if srcVer != "" && dstVer != "" && srcVer != dstVer {
		// vector_send/vector_recv have kept one format since pgvector 0.1, so the stream loads;
		// index options and operator classes can still differ between versions.
		cfg.Logger.WarnContext(ctx, "pgvector versions differ", slog.String("source", srcVer), slog.String("target", dstVer))
	}
	if dstVer == "" && dstAvail == "" {
		return nil, nil, fmt.Errorf("target database %s: %w and the cluster does not offer it", dst.Config().Database, ErrNoPgvector)
	}

	var jobs []*tableJob
	for _, name := range cfg.Tables {
		schema, rel, found, err := resolve(ctx, src, name)
		if err != nil {
			return nil, nil, fmt.Errorf("source: %w", err)
		}
		if !found {
			return nil, nil, fmt.Errorf("source table %s does not exist", name)
		}
		t, err := introspect(ctx, src, schema, rel)
		if err != nil {
			return nil, nil, fmt.Errorf("source: %w", err)
		}
		j := &tableJob{src: t}
		tschema, trel, found, err := resolve(ctx, dst, name)
		if err != nil {
			return nil, nil, fmt.Errorf("target: %w", err)
		}
		j.target = pgx.Identifier{tschema, trel}.Sanitize()
		j.targetRaw = tschema + "." + trel
		j.targetSch = tschema
		j.exists = found
		if !found && !cfg.CreateMissing {
			return nil, nil, fmt.Errorf("target table %s: %w (check --target-db, or pass --create-missing to create it with the source's columns)", j.targetRaw, ErrNoTargetTable)
		}
		if found {
			cols, err := columns(ctx, dst, j.target)
			if err != nil {
				return nil, nil, fmt.Errorf("target: %w", err)
			}
			if err := compareColumns("target table "+j.targetRaw, t.Columns, cols); err != nil {
				return nil, nil, err
			}
			if err := dst.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM `+j.target+` LIMIT 1) s`).Scan(&j.rows); err != nil {
				return nil, nil, fmt.Errorf("target table %s: %w", j.targetRaw, err)
			}
			if j.indexes, err = targetIndexes(ctx, dst, j.target); err != nil {
				return nil, nil, err
			}
		}
		j.result = &TableResult{Source: t.Schema + "." + t.Name, Target: j.targetRaw, RelationBytes: t.RelationBytes, SourceRows: t.Rows}
		jobs = append(jobs, j)
	}

	run, err := resumable(ctx, cfg, dst, jobs)
	if err != nil {
		return nil, nil, err
	}
	res.Resumed = run != nil && run.ID != 0
	if !res.Resumed && !cfg.EmptyTarget && !cfg.Merge {
		for _, j := range jobs {
			if j.rows > 0 {
				return nil, nil, fmt.Errorf("target table %s: %w: pass --resume to continue an interrupted copy, or --empty-target to delete its rows first", j.targetRaw, ErrTargetNotEmpty)
			}
		}
	}
	if run == nil {
		run = &journal.Run{}
	}
	return jobs, run, nil
}

// subject is the journal key of a copy of these tables.
func subject(jobs []*tableJob) string {
	names := make([]string, len(jobs))
	for i, j := range jobs {
		names[i] = j.targetRaw
	}
	return strings.Join(names, ",")
}

// resumable finds the run --resume continues; nil when starting afresh.
func resumable(ctx context.Context, cfg Config, dst *pgx.Conn, jobs []*tableJob) (*journal.Run, error) {
	if !cfg.Resume {
		return nil, nil
	}
	var hasJournal bool
	if err := dst.QueryRow(ctx, `SELECT to_regclass('ragmigrate.runs') IS NOT NULL`).Scan(&hasJournal); err != nil {
		return nil, fmt.Errorf("target: look up the journal: %w", err)
	}
	var run *journal.Run
	if hasJournal {
		r, err := journal.LatestRun(ctx, dst, Kind, subject(jobs))
		if err != nil && !errors.Is(err, journal.ErrNoRun) {
			return nil, fmt.Errorf("target: %w", err)
		}
		if journal.Unfinished(r) && IsMerge(r) {
			return nil, fmt.Errorf("the interrupted copy run %d is a merge: run copy --merge again (it needs no --resume)", r.ID)
		}
		if journal.Unfinished(r) {
			run = r
		}
	}
	if run != nil {
		if cfg.EmptyTarget {
			return nil, errors.New("--resume and --empty-target contradict each other: an interrupted copy exists; pass one of them")
		}
		return run, nil
	}
	for _, j := range jobs {
		if j.rows > 0 && !cfg.EmptyTarget {
			return nil, fmt.Errorf("target table %s: %w and the journal has no interrupted copy of it to resume: pass --empty-target to delete its rows first", j.targetRaw, ErrTargetNotEmpty)
		}
	}
	return nil, nil // nothing to resume: a fresh run into empty tables
}

func summary(cfg Config, jobs []*tableJob, run *journal.Run, res *Result) string {
	var b strings.Builder
	if run.ID != 0 {
		fmt.Fprintf(&b, "Resume copy run %d (phase %s)", run.ID, cmp.Or(run.Phase, "data"))
	} else {
		b.WriteString("Copy")
	}
	for _, j := range jobs {
		fmt.Fprintf(&b, " %s (%d rows, %.0f MB) into the target's %s", j.result.Source, j.src.Rows, float64(j.src.RelationBytes)/1e6, j.targetRaw)
		switch {
		case !j.exists:
			b.WriteString(" (created with the source's columns)")
		case j.rows > 0 && cfg.EmptyTarget:
			b.WriteString(" (its rows DELETED first: --empty-target)")
		}
		if run.ID == 0 && len(j.indexes) > 0 {
			fmt.Fprintf(&b, ", dropping its %d indexes to rebuild the source's after the load", len(j.indexes))
		}
	}
	if res.PgvectorTarget == "" {
		b.WriteString(", creating the vector extension")
	}
	b.WriteString("?")
	return b.String()
}

// prepare makes the writes that precede the data: extension, journal, tables, the run and its
// parts. For a fresh run it empties the target tables and drops their indexes, which are rebuilt
// from the source's definitions after the load.
func prepare(ctx context.Context, cfg Config, sess *journal.Session, dst *pgx.Conn, jobs []*tableJob, run **journal.Run, res *Result) error {
	if res.PgvectorTarget == "" {
		if _, err := dst.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS vector`); err != nil {
			return fmt.Errorf("target: create extension vector: %w", err)
		}
		ver, _, err := pgvectorVersion(ctx, dst)
		if err != nil {
			return fmt.Errorf("target: %w", err)
		}
		res.PgvectorTarget = ver
		cfg.Logger.InfoContext(ctx, "vector extension created in the target database", slog.String("version", ver))
	}
	if err := sess.Migrate(ctx); err != nil {
		return fmt.Errorf("target: %w", err)
	}
	if (*run).ID != 0 {
		if err := sess.Resume(ctx, *run, cmp.Or((*run).Phase, "data")); err != nil {
			return err
		}
		for _, j := range jobs {
			parts, err := Parts(ctx, dst, (*run).ID, j.targetRaw)
			if err != nil {
				return err
			}
			j.parts = parts
			for _, p := range parts {
				if p.Done {
					j.result.PartsSkipped++
				}
			}
		}
		return nil
	}

	tx, err := dst.Begin(ctx)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// The run, its parts and the emptied tables commit together: a failed start leaves none.
	r, err := sess.Start(ctx, tx, Kind, subject(jobs), map[string]any{
		"tables": cfg.Tables, "jobs": cfg.Jobs, "part_bytes": cfg.PartBytes, "index_memory": cfg.IndexMemory,
	}, "data")
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	for _, j := range jobs {
		switch {
		case !j.exists:
			if _, err := tx.Exec(ctx, createTableSQL(j.target, j.src.Columns)); err != nil {
				return fmt.Errorf("target: create table %s: %w", j.targetRaw, err)
			}
			j.result.Created = true
		case j.rows > 0:
			if _, err := tx.Exec(ctx, `TRUNCATE `+j.target); err != nil {
				return fmt.Errorf("target: truncate %s: %w", j.targetRaw, err)
			}
		}
		for _, ix := range j.indexes {
			stmt := `DROP INDEX ` + pgx.Identifier{j.targetSch, ix.Name}.Sanitize()
			if ix.Constraint != "" {
				stmt = `ALTER TABLE ` + j.target + ` DROP CONSTRAINT ` + pgx.Identifier{ix.Constraint}.Sanitize()
			}
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("target: drop index %s before the load: %w", ix.Name, err)
			}
			cfg.Logger.InfoContext(ctx, "target index dropped; the source's are built after the load", slog.String("table", j.targetRaw), slog.String("index", ix.Name))
		}
		j.indexes = nil
		parts, err := split(ctx, cfg, j, r.ID)
		if err != nil {
			return err
		}
		if err := AddParts(ctx, tx, parts); err != nil {
			return fmt.Errorf("target: %w", err)
		}
		j.parts = parts
	}
	// Once the run exists in the target, the caller must know it: an interrupt does not abandon this COMMIT.
	if err := vectorstore.Commit(ctx, tx); err != nil {
		return fmt.Errorf("target: %w", err)
	}
	*run = r
	return nil
}

// execute runs the phases the run has not finished.
func execute(ctx context.Context, cfg Config, sess *journal.Session, dst *pgx.Conn, jobs []*tableJob, run *journal.Run, res *Result) error {
	phase := cmp.Or(run.Phase, "data")
	if phase == "data" {
		t := time.Now()
		err := copyData(ctx, cfg, jobs)
		// Also when the phase stopped (an interrupt, a failure): the report says how long it ran.
		res.DataSeconds = time.Since(t).Seconds()
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := sess.SetPhase(ctx, "indexes"); err != nil {
			return err
		}
		phase = "indexes"
	}
	if phase == "indexes" {
		t := time.Now()
		err := buildIndexes(ctx, cfg, dst, jobs)
		res.IndexSeconds = time.Since(t).Seconds()
		if err != nil {
			return err
		}
		if err := sess.SetPhase(ctx, "analyze"); err != nil {
			return err
		}
	}
	t := time.Now()
	for _, j := range jobs {
		if _, err := dst.Exec(ctx, `ANALYZE `+j.target); err != nil {
			return fmt.Errorf("target: analyze %s: %w", j.targetRaw, err)
		}
	}
	res.AnalyzeSeconds = time.Since(t).Seconds()
	return nil
}
