package pgcopy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ragmigrate/ragmigrate/internal/journal"
	"github.com/ragmigrate/ragmigrate/internal/progress"
	"github.com/ragmigrate/ragmigrate/internal/ratelimit"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// A merge (Config.Merge) copies into a target the v1 app already serves: bot by bot, only the
// bots the app has not re-embedded, with the target's indexes left in place.
//
// Each bot is one target transaction that takes LOCK TABLE … IN SHARE ROW EXCLUSIVE MODE, checks
// that the bot still has no rows, streams the bot's source rows in with COPY, records the bot in
// the journal and commits. The table lock is what makes the check hold until the commit: the
// app's embedding task writes a bot as DELETE FROM items WHERE botid = … then INSERTs, in one READ
// COMMITTED transaction that takes no lock of ours, so neither an advisory lock (the app never
// takes it) nor INSERT … WHERE NOT EXISTS (it cannot see the app's uncommitted rows, and the app's
// DELETE cannot see ours) keeps both from landing. SHARE ROW EXCLUSIVE conflicts with the ROW
// EXCLUSIVE lock every INSERT, UPDATE and DELETE takes: taking it waits for the app's writing
// transactions in flight to commit (so the check sees their rows), and the app's next write waits
// until the bot is committed (so its DELETE then sees, and replaces, our rows). Reads — the app's
// searches — take ACCESS SHARE and never wait. The lock also serializes the merge itself, which
// is why bots are copied one at a time.

// Bot outcomes of a merge, as the report and the journal (ragmigrate.copy_bots.outcome) name them.
const (
	// BotPending is a bot the run has yet to copy (journal only).
	BotPending = "pending"
	// BotCopied: the bot's source rows were copied in this run.
	BotCopied = "copied"
	// BotCopiedBefore: an earlier merge run copied the bot (e.g. one killed part-way).
	BotCopiedBefore = "copied_before"
	// BotSkipped: the app's bot — rows in the target, or SyncStatus QUEUED or RUNNING.
	BotSkipped = "skipped"
	// BotDeleted: the bot has no item in the table (deleted since); copied only with
	// Config.IncludeDeleted.
	BotDeleted = "deleted"
)

// Skip reasons.
const (
	ReasonTargetRows   = "rows in the target: re-embedded by the app"
	ReasonRowsAppeared = "rows appeared in the target during the merge: the app wrote them"
	ReasonDeleted      = "no bot item: deleted since (--include-deleted copies its rows)"
	ReasonNoKnowledge  = "its item has no knowledge now: the app embeds nothing for it, so old rows would be stale"
)

// mergeLockTimeout bounds each wait for the table lock. While ragmigrate waits, the app's next
// writes to the table queue behind it, so a writer holding its transaction open (a large bot's
// embedding) must not stall the app's others for long: the bot is tried again, up to maxAttempts.
const mergeLockTimeout = 10 * time.Second

// BotItem is what a merge needs of a bot's item in the table.
type BotItem struct {
	SyncStatus string
	// Malformed marks an item the app cannot read (a partial ghost written after the bot was
	// deleted): the bot counts as deleted.
	Malformed bool
	// NoKnowledge marks a bot whose sources were all removed: the app's task wrote it no rows,
	// so rows copied from the old cluster would be stale.
	NoKnowledge bool
}

// MergeBot is one bot of a merge, or of a plan of one.
type MergeBot struct {
	Table   string `json:"table"`
	BotID   string `json:"bot_id"` // "" for rows without a botid
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
	// SourceRows and TargetRows are the bot's rows on each side when it was decided.
	SourceRows int64 `json:"source_rows"`
	TargetRows int64 `json:"target_rows"`
	// Rows and Bytes are what was copied (BotCopied).
	Rows  int64 `json:"rows,omitempty"`
	Bytes int64 `json:"bytes,omitempty"`
	// Run is the earlier run that copied the bot (BotCopiedBefore).
	Run int64 `json:"run,omitempty"`
}

// MergeResult reports a merge.
type MergeResult struct {
	IncludeDeleted bool       `json:"include_deleted"`
	Bots           []MergeBot `json:"bots"`
	Copied         int        `json:"copied"`
	CopiedBefore   int        `json:"copied_before"`
	Skipped        int        `json:"skipped"`
	Deleted        int        `json:"deleted_not_copied"`
	CopiedRows     int64      `json:"copied_rows"`
	// RowsPerSecond is CopiedRows over the data phase: rows go into a table whose indexes stay
	// in place, one bot at a time.
	RowsPerSecond float64 `json:"rows_per_second"`
}

func (m *MergeResult) count() {
	m.Copied, m.CopiedBefore, m.Skipped, m.Deleted, m.CopiedRows = 0, 0, 0, 0, 0
	for _, b := range m.Bots {
		switch b.Outcome {
		case BotCopied:
			m.Copied++
			m.CopiedRows += b.Rows
		case BotCopiedBefore:
			m.CopiedBefore++
		case BotSkipped:
			m.Skipped++
		case BotDeleted:
			m.Deleted++
		}
	}
}

// DecideMerge says what a merge does with each bot of the source: copy it (BotPending), or leave
// it (BotCopiedBefore, BotSkipped, BotDeleted) with the reason. source and target are the rows
// per bot on each side, items the bot table (a bot id absent has no item), earlier the run that
// copied each bot in an earlier merge. Bots only in the target are the app's and not listed.
func DecideMerge(table string, source, target map[string]int64, items map[string]BotItem, earlier map[string]int64, includeDeleted bool) []MergeBot {
	ids := make([]string, 0, len(source))
	for id := range source {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]MergeBot, 0, len(ids))
	for _, id := range ids {
		b := MergeBot{Table: table, BotID: id, SourceRows: source[id], TargetRows: target[id], Outcome: BotPending}
		item, ok := items[id]
		switch {
		case b.TargetRows > 0 && earlier[id] != 0:
			b.Outcome, b.Run = BotCopiedBefore, earlier[id]
			b.Reason = fmt.Sprintf("rows in the target: copied by merge run %d", earlier[id])
		case b.TargetRows > 0:
			b.Outcome, b.Reason = BotSkipped, ReasonTargetRows
		case (!ok || item.Malformed) && !includeDeleted:
			b.Outcome, b.Reason = BotDeleted, ReasonDeleted
			if id == "" {
				b.Reason = "rows without a botid (--include-deleted copies them)"
			}
		case ok && !item.Malformed && item.NoKnowledge:
			b.Outcome, b.Reason = BotSkipped, ReasonNoKnowledge
		case ok && !item.Malformed && (item.SyncStatus == "QUEUED" || item.SyncStatus == "RUNNING"):
			b.Outcome = BotSkipped
			b.Reason = "SyncStatus " + item.SyncStatus + ": the app is embedding it"
		}
		out = append(out, b)
	}
	return out
}

// mergeBotsSQL is the merge's journal table: one row per (table, bot) of a merge run, its
// outcome, and — in the same transaction as its rows — when it was copied.
const mergeBotsSQL = `
CREATE TABLE IF NOT EXISTS ragmigrate.copy_bots (
	run_id      bigint NOT NULL REFERENCES ragmigrate.runs (id) ON DELETE CASCADE,
	table_name  text NOT NULL,        -- target table, schema-qualified
	botid       text NOT NULL,        -- '' for rows without a botid
	outcome     text NOT NULL,        -- pending, copied, copied_before, skipped, deleted
	reason      text NOT NULL DEFAULT '',
	source_rows bigint NOT NULL,
	target_rows bigint NOT NULL DEFAULT 0,
	rows        bigint,               -- copied rows, set with done_at
	bytes       bigint,
	done_at     timestamptz,
	PRIMARY KEY (run_id, table_name, botid)
);`

// MergeParams are a merge run's recorded parameters (runs.params).
type MergeParams struct {
	Tables         []string `json:"tables"`
	Merge          bool     `json:"merge"`
	IncludeDeleted bool     `json:"include_deleted"`
}

// MergeBots reads the bots of a merge run from the journal, in table and bot order.
func MergeBots(ctx context.Context, db journal.DB, runID int64) ([]MergeBot, error) {
	rows, err := db.Query(ctx, `SELECT table_name, botid, outcome, reason, source_rows, target_rows,
			coalesce(rows, 0), coalesce(bytes, 0)
		FROM ragmigrate.copy_bots WHERE run_id = $1 ORDER BY table_name, botid`, runID)
	if err != nil {
		return nil, fmt.Errorf("bots of merge run %d: %w", runID, err)
	}
	bots, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (MergeBot, error) {
		var b MergeBot
		err := r.Scan(&b.Table, &b.BotID, &b.Outcome, &b.Reason, &b.SourceRows, &b.TargetRows, &b.Rows, &b.Bytes)
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("bots of merge run %d: %w", runID, err)
	}
	return bots, nil
}

// IsMerge tells whether a copy run's parameters are a merge's.
func IsMerge(r *journal.Run) bool {
	if r == nil || r.Kind != Kind {
		return false
	}
	var p MergeParams
	return json.Unmarshal(r.Params, &p) == nil && p.Merge
}

// botWhere selects one bot's rows; the empty id selects the rows without a botid.
func botWhere(id string) string {
	if id == "" {
		return `botid IS NULL`
	}
	return `botid = ` + vectorstore.QuoteLiteral(id)
}

// RowsPerBot counts a table's rows per botid (the empty id for NULL), inside whatever transaction db is.
func RowsPerBot(ctx context.Context, db journal.DB, qualified string) (map[string]int64, error) {
	rows, err := db.Query(ctx, `SELECT coalesce(botid::text, ''), count(*) FROM `+qualified+` GROUP BY 1`)
	if err != nil {
		return nil, fmt.Errorf("rows per bot of %s: %w", qualified, err)
	}
	out := map[string]int64{}
	var id string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&id, &n}, func() error { out[id] = n; return nil })
	if err != nil {
		return nil, fmt.Errorf("rows per bot of %s: %w", qualified, err)
	}
	return out, nil
}

// EarlierMerges maps each bot of table to the newest earlier merge run that copied it.
func EarlierMerges(ctx context.Context, db journal.DB, table string) (map[string]int64, error) {
	var has bool
	if err := db.QueryRow(ctx, `SELECT to_regclass('ragmigrate.copy_bots') IS NOT NULL`).Scan(&has); err != nil {
		return nil, fmt.Errorf("look up the journal: %w", err)
	}
	out := map[string]int64{}
	if !has {
		return out, nil
	}
	rows, err := db.Query(ctx, `SELECT botid, max(run_id) FROM ragmigrate.copy_bots
		WHERE table_name = $1 AND outcome = 'copied' GROUP BY botid`, table)
	if err != nil {
		return nil, fmt.Errorf("earlier merges into %s: %w", table, err)
	}
	var id string
	var run int64
	_, err = pgx.ForEachRow(rows, []any{&id, &run}, func() error { out[id] = run; return nil })
	if err != nil {
		return nil, fmt.Errorf("earlier merges into %s: %w", table, err)
	}
	return out, nil
}

// merge runs a merge after the preflight: decide, confirm, record, copy bot by bot.
func merge(ctx context.Context, cfg Config, sess *journal.Session, dst *pgx.Conn, jobs []*tableJob, res *Result, start time.Time) (*Result, error) {
	log := cfg.Logger
	if cfg.Resume || cfg.EmptyTarget {
		return nil, errors.New("--merge cannot be combined with --resume or --empty-target")
	}
	for _, j := range jobs {
		if !j.exists {
			return nil, fmt.Errorf("target table %s: %w: --merge copies into the table a serving v1 app uses", j.targetRaw, ErrNoTargetTable)
		}
		if !slices.ContainsFunc(j.src.Columns, func(c Column) bool { return c.Name == "botid" }) {
			return nil, fmt.Errorf("source table %s has no botid column: --merge copies bot by bot", j.result.Source)
		}
	}
	// A plain copy's interrupted run has rows in the target that a merge would take for the app's.
	var hasJournal bool
	if err := dst.QueryRow(ctx, `SELECT to_regclass('ragmigrate.runs') IS NOT NULL`).Scan(&hasJournal); err != nil {
		return nil, fmt.Errorf("target: look up the journal: %w", err)
	}
	if hasJournal {
		r, err := journal.LatestRun(ctx, dst, Kind, subject(jobs))
		if err != nil && !errors.Is(err, journal.ErrNoRun) {
			return nil, fmt.Errorf("target: %w", err)
		}
		if journal.Unfinished(r) && !IsMerge(r) {
			return nil, fmt.Errorf("target %s: copy run %d was interrupted, and its rows are not the app's: finish it with copy --resume, not --merge", subject(jobs), r.ID)
		}
	}
	// One REPEATABLE READ transaction on the source is the snapshot every bot is read from, on a
	// session of its own whose COPYs the run bounds, as a plain copy's parts are.
	cleanup := context.WithoutCancel(ctx)
	srcWork, err := connect(ctx, cfg.SourceURL, cfg.Timeouts, connWork)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	defer closeConn(cleanup, srcWork)
	srcTx, err := srcWork.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	defer srcTx.Rollback(cleanup)
	mr := &MergeResult{IncludeDeleted: cfg.IncludeDeleted}
	res.Merge = mr
	for _, j := range jobs {
		source, err := RowsPerBot(ctx, srcTx, j.src.Qualified())
		if err != nil {
			return nil, fmt.Errorf("source: %w", err)
		}
		target, err := RowsPerBot(ctx, dst, j.target)
		if err != nil {
			return nil, fmt.Errorf("target: %w", err)
		}
		earlier, err := EarlierMerges(ctx, dst, j.targetRaw)
		if err != nil {
			return nil, fmt.Errorf("target: %w", err)
		}
		mr.Bots = append(mr.Bots, DecideMerge(j.targetRaw, source, target, cfg.Bots, earlier, cfg.IncludeDeleted)...)
	}
	if err := cfg.Confirm(mergeSummary(jobs, mr)); err != nil {
		return nil, err
	}
	if err := sess.Migrate(ctx); err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	tx, err := dst.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	defer tx.Rollback(cleanup)
	run, err := sess.Start(ctx, tx, Kind, subject(jobs), MergeParams{Tables: cfg.Tables, Merge: true, IncludeDeleted: cfg.IncludeDeleted}, "merge")
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	for _, b := range mr.Bots {
		if _, err := tx.Exec(ctx, `INSERT INTO ragmigrate.copy_bots (run_id, table_name, botid, outcome, reason, source_rows, target_rows)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, run.ID, b.Table, b.BotID, b.Outcome, b.Reason, b.SourceRows, b.TargetRows); err != nil {
			return nil, fmt.Errorf("target: record bot %s: %w", b.BotID, err)
		}
	}
	if err := vectorstore.Commit(ctx, tx); err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	res.RunID = run.ID
	log.InfoContext(ctx, "merge run", slog.Int64("run_id", run.ID), slog.Int("bots", len(mr.Bots)))

	t := time.Now()
	runErr := mergeData(ctx, cfg, srcTx, jobs, run.ID, mr)
	res.DataSeconds = time.Since(t).Seconds()
	mr.count()
	if res.DataSeconds > 0 {
		mr.RowsPerSecond = float64(mr.CopiedRows) / res.DataSeconds
	}
	for _, j := range jobs {
		for _, b := range mr.Bots {
			if b.Table == j.targetRaw && b.Outcome == BotCopied {
				j.result.Rows += b.Rows
				j.result.Bytes += b.Bytes
			}
		}
		j.result.RowsThisInvocation, j.result.BytesThisInvocation = j.result.Rows, j.result.Bytes
		res.Tables = append(res.Tables, *j.result)
	}
	if err := sess.Finish(ctx, runErr); err != nil {
		runErr = errors.Join(runErr, err)
	}
	res.TotalSeconds = time.Since(start).Seconds()
	return res, runErr
}

func mergeSummary(jobs []*tableJob, mr *MergeResult) string {
	var copyBots, skipBots, delBots int
	var copyRows int64
	for _, b := range mr.Bots {
		switch b.Outcome {
		case BotPending:
			copyBots++
			copyRows += b.SourceRows
		case BotSkipped, BotCopiedBefore:
			skipBots++
		case BotDeleted:
			delBots++
		}
	}
	names := make([]string, len(jobs))
	for i, j := range jobs {
		names[i] = j.targetRaw
	}
	return fmt.Sprintf("Merge into the target's %s: copy %d bots (%d rows), leave %d bots that have rows in the target or are being embedded, "+
		"not copy %d deleted bots; the target's rows and indexes stay, and each bot's copy briefly holds back the app's writes to the table (not its searches)?",
		strings.Join(names, ", "), copyBots, copyRows, skipBots, delBots)
}

// mergeData copies the pending bots one at a time.
func mergeData(ctx context.Context, cfg Config, srcTx pgx.Tx, jobs []*tableJob, runID int64, mr *MergeResult) error {
	byTable := map[string]*tableJob{}
	var est int64
	var rows, bots int64
	for _, j := range jobs {
		byTable[j.targetRaw] = j
	}
	for _, b := range mr.Bots {
		if b.Outcome == BotPending {
			j := byTable[b.Table]
			if j.src.Rows > 0 {
				est += j.src.EstStreamBytes * b.SourceRows / j.src.Rows
			}
			rows += b.SourceRows
			bots++
		}
	}
	phase := cfg.Progress.Start("merge", progress.Bytes, est)
	defer cfg.Progress.End(phase)
	phase.SetParts(bots)
	phase.SetRows(rows)
	if bots == 0 {
		return nil
	}
	conn, err := connect(ctx, cfg.TargetURL, cfg.Timeouts, connWork)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	defer closeConn(context.WithoutCancel(ctx), conn)
	limiter := newRateLimiter(cfg.MaxRate, ratelimit.SystemClock{})
	for i := range mr.Bots {
		b := &mr.Bots[i]
		if b.Outcome != BotPending {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		j := byTable[b.Table]
		for attempt := 1; ; attempt++ {
			err = mergeBot(ctx, cfg, srcTx, conn, j, runID, b, phase, limiter)
			var pgErr *pgconn.PgError
			if err == nil || attempt >= maxAttempts || !errors.As(err, &pgErr) || pgErr.Code != "55P03" {
				break
			}
			cfg.Logger.WarnContext(ctx, "the app's writes held the table lock; trying the bot again", slog.String("bot", b.BotID), slog.Int("attempt", attempt))
		}
		if err != nil {
			b.Outcome = BotPending
			return fmt.Errorf("merge bot %s into %s: %w", b.BotID, j.targetRaw, err)
		}
		phase.PartDone()
		cfg.Logger.InfoContext(ctx, "bot merged", slog.String("bot", b.BotID), slog.String("outcome", b.Outcome), slog.Int64("rows", b.Rows))
	}
	return nil
}

// mergeBot copies one bot in one target transaction: lock, check, copy, record, commit.
func mergeBot(ctx context.Context, cfg Config, srcTx pgx.Tx, conn *pgx.Conn, j *tableJob, runID int64, b *MergeBot, phase *progress.Phase, limiter *rateLimiter) error {
	cleanup := context.WithoutCancel(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	defer tx.Rollback(cleanup)
	if _, err := tx.Exec(ctx, fmt.Sprintf(`SET LOCAL lock_timeout = '%dms'`, mergeLockTimeout.Milliseconds())); err != nil {
		return fmt.Errorf("target: %w", err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE `+j.target+` IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		return fmt.Errorf("target: lock %s: %w", j.targetRaw, err)
	}
	var outcome string
	if err := tx.QueryRow(ctx, `SELECT outcome FROM ragmigrate.copy_bots WHERE run_id = $1 AND table_name = $2 AND botid = $3 FOR UPDATE`,
		runID, b.Table, b.BotID).Scan(&outcome); err != nil {
		return fmt.Errorf("target: claim bot: %w", err)
	}
	if outcome != BotPending {
		b.Outcome = outcome // done by an attempt whose commit reply was lost
		return nil
	}
	// After the lock, this statement's snapshot holds every write the app committed before it.
	var present int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+j.target+` WHERE `+botWhere(b.BotID)).Scan(&present); err != nil {
		return fmt.Errorf("target: %w", err)
	}
	if present > 0 {
		b.Outcome, b.Reason, b.TargetRows = BotSkipped, ReasonRowsAppeared, present
		if _, err := tx.Exec(ctx, `UPDATE ragmigrate.copy_bots SET outcome = $4, reason = $5, target_rows = $6, done_at = now()
			WHERE run_id = $1 AND table_name = $2 AND botid = $3`, runID, b.Table, b.BotID, b.Outcome, b.Reason, present); err != nil {
			return fmt.Errorf("target: record bot: %w", err)
		}
		return vectorstore.Commit(ctx, tx)
	}
	rows, bytes, err := streamBot(ctx, srcTx, conn, j, b.BotID, phase, limiter)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE ragmigrate.copy_bots SET outcome = 'copied', rows = $4, bytes = $5, done_at = now()
		WHERE run_id = $1 AND table_name = $2 AND botid = $3`, runID, b.Table, b.BotID, rows, bytes); err != nil {
		return fmt.Errorf("target: record bot: %w", err)
	}
	if err := vectorstore.Commit(ctx, tx); err != nil {
		phase.Add(-bytes)
		phase.AddRows(-rows)
		return fmt.Errorf("target: commit: %w", err)
	}
	b.Outcome, b.Rows, b.Bytes = BotCopied, rows, bytes
	return nil
}

// streamBot pipes one bot's rows from the source snapshot into the target's open transaction
// on conn, as raw COPY BINARY bytes.
func streamBot(ctx context.Context, srcTx pgx.Tx, conn *pgx.Conn, j *tableJob, botID string, phase *progress.Phase, limiter *rateLimiter) (rows, bytes int64, err error) {
	out := `COPY (SELECT ` + j.src.ColumnList() + ` FROM ONLY ` + j.src.Qualified() + ` WHERE ` + botWhere(botID) + `) TO STDOUT (FORMAT binary)`
	pr, pw := io.Pipe()
	var w io.Writer = pw
	if limiter != nil {
		w = &limitedWriter{ctx: ctx, w: pw, limiter: limiter}
	}
	cw := &countingWriter{phase: phase}
	cw.w = bufio.NewWriterSize(w, pipeBuffer)
	var outErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		_, outErr = srcTx.Conn().PgConn().CopyTo(ctx, cw, out)
		if outErr == nil {
			outErr = cw.flush()
		}
		pw.CloseWithError(outErr)
	})
	tag, inErr := conn.PgConn().CopyFrom(ctx, pr, copyInSQL(j.src, j.target))
	pr.CloseWithError(cmpErr(inErr, io.ErrClosedPipe))
	wg.Wait()
	counted := cw.bytes.Load()
	if outErr != nil || inErr != nil {
		phase.Add(-counted)
		phase.AddRows(-cw.rows.Load())
		if outErr != nil && (inErr == nil || !errors.Is(outErr, inErr)) {
			return 0, 0, fmt.Errorf("source: read bot: %w", outErr)
		}
		return 0, 0, fmt.Errorf("target: write bot: %w", inErr)
	}
	rows = tag.RowsAffected()
	phase.AddRows(rows - cw.rows.Load())
	return rows, counted, nil
}

// mergeProgress is the status row of a merge run: its bots decided and copied.
func mergeProgress(ctx context.Context, db journal.DB, runID int64) (journal.Progress, error) {
	var p journal.Progress
	var bots, pending, copied, skipped, deleted int
	err := db.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE outcome = 'pending'), count(*) FILTER (WHERE outcome = 'copied'),
			count(*) FILTER (WHERE outcome IN ('skipped', 'copied_before')), count(*) FILTER (WHERE outcome = 'deleted'),
			coalesce(sum(rows), 0)
		FROM ragmigrate.copy_bots WHERE run_id = $1`, runID).Scan(&bots, &pending, &copied, &skipped, &deleted, &p.Rows)
	if err != nil {
		return p, fmt.Errorf("bots of run %d: %w", runID, err)
	}
	if bots > 0 {
		p.Text = fmt.Sprintf("merge: %d/%d bots copied, %d skipped, %d deleted not copied", copied, copied+pending, skipped, deleted)
		p.Fields = map[string]any{"merge_bots": map[string]int{"copied": copied, "pending": pending, "skipped": skipped, "deleted_not_copied": deleted}}
	}
	return p, nil
}

// writeMerge prints a merge's report: every bot with its outcome and reason, then the totals.
func (s *Summary) writeMerge(w io.Writer) error {
	res, m := s.Result, s.Result.Merge
	state := "done"
	if s.Stopped {
		state = "stopped (run copy --merge again to continue: the bots it copied have rows and are skipped)"
	}
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "copy --merge run %d %s; pgvector %s → %s\n", res.RunID, state, res.PgvectorSource, res.PgvectorTarget)
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tBOT\tOUTCOME\tSOURCE ROWS\tTARGET ROWS\tCOPIED\tREASON")
	for _, b := range m.Bots {
		id := b.BotID
		if id == "" {
			id = "(no botid)"
		}
		outcome := b.Outcome
		if outcome == BotDeleted {
			outcome = "deleted, not copied"
		}
		if outcome == BotPending {
			outcome = "not copied (stopped)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\n", b.Table, id, outcome, b.SourceRows, b.TargetRows, b.Rows, b.Reason)
	}
	tw.Flush()
	fmt.Fprintf(ew, "%d bots copied (%d rows, %.0f rows/s), %d copied by an earlier run, %d skipped (the app's), %d deleted not copied; "+
		"the target's indexes were kept; data %.1fs, total %.1fs\n",
		m.Copied, m.CopiedRows, m.RowsPerSecond, m.CopiedBefore, m.Skipped, m.Deleted, res.DataSeconds, res.TotalSeconds)
	return ew.err
}
