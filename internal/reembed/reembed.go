// Package reembed is the migration guide's main path done properly: for every bot with knowledge,
// load its sources, split them exactly as the app does, embed them in full batches under one
// shared rate limit, and write the bot's rows to the new cluster in one transaction — keeping the
// bot's SyncStatus truthful throughout, and resumable after any crash.
//
// # Overview
//
// A run is recorded in the target's journal (internal/journal): one job per bot. A bot's rows
// and its job turning 'done' commit in one transaction, so a kill -9 at any point leaves either
// the old state or the new one, never half a bot or a bot written twice; the next run resumes
// and skips done bots. Bots are independent: one bot's failure is recorded (FAILED, with a
// reason naming the source and cause) and the others go on.
//
// SyncStatus follows the app's embedding task: RUNNING while a bot is worked on, then SUCCEEDED
// ("Successfully inserted to vector store.") or FAILED with the reason; bots without knowledge
// become SUCCEEDED ("No contents to embed."). Unlike the app, every status write is a
// compare-and-swap on the bot item as read (botstore.UpdateStatus): the live app's edits, its own
// embedding task and deletions win, and such a bot is left to the app with nothing written. No
// ghost item is created, and QUEUED is never written (it would start the app's own task).
package reembed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/oklog/ulid/v2"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/docstore"
	"github.com/ragmigrate/ragmigrate/internal/embed"
	"github.com/ragmigrate/ragmigrate/internal/journal"
	"github.com/ragmigrate/ragmigrate/internal/loader"
	"github.com/ragmigrate/ragmigrate/internal/progress"
	"github.com/ragmigrate/ragmigrate/internal/reembed/botjob"
	"github.com/ragmigrate/ragmigrate/internal/sources"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// Embedder is what a bot job needs of the embedding layer (an *embed.Batcher).
type Embedder interface {
	EmbedAll(ctx context.Context, texts []string) ([][]float32, embed.Stats, error)
}

// Job runs one bot. It is what both the in-process pool and the ECS worker execute: given the
// run's Params (as stored in the journal) and the job's row, any process runs it the same way.
type Job struct {
	Bots *botstore.Store
	Docs *docstore.Store
	// Params are the run's; Use sets them.
	Params   Params
	fetcher  *loader.Fetcher
	Embedder Embedder
	// Reuse, if set, is an old cluster whose vectors were checked (Reuse.Check) and are
	// reused for the chunks it holds; the others are embedded.
	Reuse  *Reuse
	Target *pgxpool.Pool
	Logger *slog.Logger
	// Counters, if set, are advanced as the job goes, for progress output.
	Counters *Counters
	// Journal records the job's progress: the run's bot_jobs table (BotJobs) when nil.
	Journal Journal
	// StampExecID writes a bot without knowledge's status even when it already says SUCCEEDED,
	// so that its LastExecId names this job: the app's task always writes its exec id, and
	// whoever launched it (the Pipe, 'reembed --runner ecs') reads it there.
	StampExecID bool
	// Abort, if set, ends even the work an interrupt lets finish (a bot's paid-for vectors being
	// written): worker --run's second SIGINT/SIGTERM. The bot's transaction then rolls back and
	// its job stays pending.
	Abort context.Context
}

// detach is ctx without its cancellation, within d, for the work an interrupt lets finish;
// Abort still ends it.
func (jb *Job) detach(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d)
	if jb.Abort == nil {
		return dctx, cancel
	}
	stop := context.AfterFunc(jb.Abort, cancel)
	return dctx, func() {
		stop()
		cancel()
	}
}

// Journal is where a job records its progress.
type Journal interface {
	// Start counts an attempt.
	Start(ctx context.Context, db journal.DB, j *botjob.Job) error
	// Claim locks the job inside tx, the transaction that writes the bot's rows, and returns
	// false when it is done already.
	Claim(ctx context.Context, tx pgx.Tx, runID int64, botID string) (bool, error)
	// Finish records the job's outcome (inside tx when it is done).
	Finish(ctx context.Context, db journal.DB, j botjob.Job) error
}

// BotJobs is the journal of a run's jobs in the target (botjob's table).
type BotJobs struct{}

func (BotJobs) Start(ctx context.Context, db journal.DB, j *botjob.Job) error {
	return botjob.Start(ctx, db, j)
}

func (BotJobs) Claim(ctx context.Context, tx pgx.Tx, runID int64, botID string) (bool, error) {
	return botjob.Claim(ctx, tx, runID, botID)
}

func (BotJobs) Finish(ctx context.Context, db journal.DB, j botjob.Job) error {
	return botjob.Finish(ctx, db, j)
}

// NoJournal records nothing: a job run under the app's task contract (ragmigrate worker)
// writes only what the app's task writes, the bot's rows and its SyncStatus. Whoever launched
// it keeps the journal, if any.
type NoJournal struct{}

func (NoJournal) Start(_ context.Context, _ journal.DB, j *botjob.Job) error {
	j.Attempts++
	return nil
}

func (NoJournal) Claim(context.Context, pgx.Tx, int64, string) (bool, error) { return true, nil }

func (NoJournal) Finish(context.Context, journal.DB, botjob.Job) error { return nil }

// Leased is the journal of a job a worker claimed with a lease (botjob.ClaimNext, reembed
// --ecs-task worker): the same records as BotJobs, each fenced on the lease being Owner's, so
// that a worker whose lease another worker took (it was paused or cut off past its expiry)
// writes nothing of the job's: its bot transaction rolls back with botjob.ErrLeaseLost.
type Leased struct{ Owner string }

func (l Leased) Start(ctx context.Context, db journal.DB, j *botjob.Job) error {
	j.Lease = l.Owner
	return botjob.StartLeased(ctx, db, j)
}

func (l Leased) Claim(ctx context.Context, tx pgx.Tx, runID int64, botID string) (bool, error) {
	return botjob.ClaimLeased(ctx, tx, runID, botID, l.Owner)
}

func (l Leased) Finish(ctx context.Context, db journal.DB, j botjob.Job) error {
	j.Lease = l.Owner
	return botjob.FinishLeased(ctx, db, j)
}

func (jb *Job) journal() Journal {
	if jb.Journal == nil {
		return BotJobs{}
	}
	return jb.Journal
}

// Use makes the job run under p, a run's params: how sources are read, and whether an
// unreadable source fails the bot (the default, and what the app did for files) or is skipped
// and listed in the outcome.
func (jb *Job) Use(p Params) {
	jb.Params = p
	jb.fetcher = p.Sources.Fetcher()
}

// Counters are live totals across a run's bots.
type Counters struct {
	BotsDone, BotsFailed, BotsSkipped, BotsLeft atomic.Int64
	Chunks, Reused, Requests, Throttles         atomic.Int64
	Tokens                                      atomic.Int64
}

// Outcome is a finished job.
type Outcome struct {
	botjob.Job
	Title string `json:"title"`
}

// Run re-embeds bot b as job j of the journal. It returns an error only for what stops the
// whole run (the target or the journal failing, the provider refusing every call,
// cancellation); a bot's own failure is recorded as the job's outcome and in the bot's
// SyncStatus.
//
// The live app wins. Every write to the bot item is a compare-and-swap on the item as read
// (botstore.UpdateStatus): if a user edits the bot, the app's own embedding task takes it, or
// the bot is deleted while the job runs, the job writes neither rows nor status and the bot is
// "left to the app". The bot's rows are written in a transaction that commits only after the
// SUCCEEDED status was swapped in; the status write is the last step before the commit, so the
// app's later writes always come after ours. If the process dies between the two, the job is
// still pending and the next run does the bot again (its SyncStatus then says SUCCEEDED under
// this run's exec id, which the retry takes over).
func (jb *Job) Run(ctx context.Context, b *botstore.Bot, j botjob.Job) (Outcome, error) {
	log := jb.Logger.With(slog.String("bot_id", b.ID))
	out := Outcome{Job: j, Title: b.Title}
	// The scan may be minutes old: work from what the item holds now.
	b, err := jb.Bots.Get(ctx, b.UserID, b.ID)
	var de *botstore.DecodeError
	switch {
	case errors.Is(err, botstore.ErrBotGone):
		return out, jb.leave(ctx, &out, botjob.Skipped, "the bot was deleted")
	case errors.As(err, &de):
		return out, jb.leave(ctx, &out, botjob.Skipped, "the bot's item can no longer be read: "+de.Reason)
	case err != nil:
		return out, err
	}
	out.Title = b.Title
	if err := jb.journal().Start(ctx, jb.Target, &out.Job); err != nil {
		return out, err
	}
	execID := j.ExecID()
	before := *b // to put back if the run stops for a reason that is not the bot's

	if b.Knowledge.Empty() {
		// As the app's task: nothing to embed is a success. (The app keeps old vectors; the
		// new cluster has none to keep.)
		if b.SyncStatus != botstore.StatusSucceeded || jb.StampExecID {
			if err := jb.Bots.UpdateStatus(ctx, b, botstore.StatusSucceeded, botstore.ReasonNoContents, execID); err != nil {
				return out, jb.statusRefused(ctx, &out, err)
			}
		}
		out.Status, out.StatusWritten = botjob.Done, true
		if err := jb.journal().Finish(ctx, jb.Target, out.Job); err != nil {
			return out, err
		}
		jb.count(&out)
		return out, nil
	}

	if err := jb.Bots.UpdateStatus(ctx, b, botstore.StatusRunning, "", execID); err != nil {
		if ctx.Err() != nil {
			// The update may have landed before the cancellation was noticed.
			return out, jb.abandon(b, &before, &out, stopCause(ctx))
		}
		return out, jb.statusRefused(ctx, &out, err)
	}

	rows, err := jb.prepare(ctx, b, &out)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return out, jb.abandon(b, &before, &out, stopCause(ctx))
	case stopsRun(err):
		// The operator's problem (credentials, model access, an endpoint that never answers),
		// not the bot's: its status goes back to what it was, and the run stops.
		return out, jb.abandon(b, &before, &out, err)
	case errors.Is(err, botstore.ErrBotChanged) || errors.Is(err, botstore.ErrBotGone):
		return out, jb.statusRefused(ctx, &out, err)
	default:
		log.InfoContext(ctx, "bot failed", slog.String("reason", err.Error()))
		fctx, cancel := jb.detach(ctx, 30*time.Second)
		defer cancel()
		return out, jb.fail(fctx, &out, b, err, execID)
	}

	// Past this point the work is paid for: finish it even if the run is being interrupted.
	wctx, cancel := jb.detach(ctx, 2*time.Minute)
	defer cancel()
	var refused error
	err = pgx.BeginFunc(wctx, jb.Target, func(tx pgx.Tx) error {
		mine, err := jb.journal().Claim(wctx, tx, j.RunID, b.ID)
		if err != nil {
			return err
		}
		if !mine {
			return errAlreadyDone
		}
		if _, err := vectorstore.ReplaceBotRows(wctx, tx, b.ID, rows); err != nil {
			return err
		}
		out.Status, out.StatusWritten = botjob.Done, true
		if err := jb.journal().Finish(wctx, tx, out.Job); err != nil {
			return err
		}
		// Last, so that nothing can fail between the app's item saying SUCCEEDED and the commit
		// but the commit itself.
		if err := jb.Bots.UpdateStatus(wctx, b, botstore.StatusSucceeded, botstore.ReasonSucceeded, execID); err != nil {
			refused = err
			return err
		}
		return nil
	})
	switch {
	case errors.Is(err, errAlreadyDone):
		out.Status = botjob.Done
	case refused != nil && (errors.Is(refused, botstore.ErrBotChanged) || errors.Is(refused, botstore.ErrBotGone)):
		out.Status, out.StatusWritten = botjob.Pending, false
		return out, jb.statusRefused(wctx, &out, refused)
	case err != nil && jb.Abort != nil && jb.Abort.Err() != nil:
		// Aborted (worker --run's second signal): the transaction rolled back, and the bot's
		// item goes back to what it was before this run claimed it, as when an interrupt comes
		// before the write, rather than stay RUNNING for the app.
		return out, jb.abandon(b, &before, &out, fmt.Errorf("write bot %s aborted: %w", b.ID, context.Cause(jb.Abort)))
	case err != nil:
		return out, fmt.Errorf("write bot %s: %w", b.ID, err)
	}
	// (Requests are shared between bots: a bot's count is a share, not worth a log field.)
	log.InfoContext(ctx, "bot re-embedded", slog.Int64("chunks", out.Chunks), slog.Int64("reused", out.Reused), slog.Int64("tokens", out.Tokens))
	jb.count(&out)
	return out, nil
}

// statusRefused handles a status write the item refused: the bot was deleted (skipped) or the
// live app wrote it (left to the app). Nothing of the bot's is written. Other errors stop the run.
func (jb *Job) statusRefused(ctx context.Context, out *Outcome, err error) error {
	switch {
	case errors.Is(err, botstore.ErrBotGone):
		return jb.leave(ctx, out, botjob.Skipped, "the bot was deleted")
	case errors.Is(err, botstore.ErrBotChanged):
		return jb.leave(ctx, out, botjob.Left, "left to the app: "+strings.TrimPrefix(err.Error(), "set status: "))
	}
	return err
}

// leave records a job that wrote nothing.
func (jb *Job) leave(ctx context.Context, out *Outcome, status, reason string) error {
	jb.Logger.InfoContext(ctx, "bot not written", slog.String("bot_id", out.BotID), slog.String("outcome", status), slog.String("reason", reason))
	out.Status, out.Error, out.StatusWritten = status, reason, false
	fctx, cancel := jb.detach(ctx, 30*time.Second)
	defer cancel()
	if err := jb.journal().Finish(fctx, jb.Target, out.Job); err != nil {
		return err
	}
	jb.count(out)
	return nil
}

var errAlreadyDone = errors.New("job already done")

// prepare loads, splits and embeds the bot's knowledge into rows.
func (jb *Job) prepare(ctx context.Context, b *botstore.Bot, out *Outcome) ([]vectorstore.Row, error) {
	chunks, skipped, err := jb.load(ctx, b)
	out.SkippedSources = skipped
	for _, s := range skipped {
		jb.Logger.WarnContext(ctx, "source skipped", slog.String("bot_id", b.ID), slog.String("reason", s))
	}
	if err != nil {
		return nil, err
	}
	// Reading the sources can take minutes: if the app took the bot meanwhile, spend nothing on it.
	if err := jb.Bots.Check(ctx, b); err != nil {
		return nil, err
	}
	texts := make([]string, len(chunks))
	h := sha256.New()
	for i, c := range chunks {
		texts[i] = c.Text
		fmt.Fprintf(h, "%d:%s\x00%d:%s\x00", len(c.Source), c.Source, len(c.Text), c.Text)
	}
	out.Chunks = int64(len(chunks))
	out.ContentHash = hex.EncodeToString(h.Sum(nil))
	vecs, err := jb.reuse(ctx, b.ID, texts, out)
	if err != nil {
		return nil, err
	}
	// Only what the old cluster did not hold is sent.
	var miss []int
	for i, v := range vecs {
		if v == nil {
			miss = append(miss, i)
		}
	}
	send := texts
	if len(miss) < len(texts) {
		send = make([]string, len(miss))
		for k, i := range miss {
			send[k] = texts[i]
		}
	}
	embedded, stats, err := jb.Embedder.EmbedAll(ctx, send)
	out.Requests, out.Throttles, out.Tokens = int64(stats.Requests), int64(stats.Throttles), int64(stats.Tokens)
	if err != nil {
		if len(miss) < len(texts) {
			err = remapInputError(err, miss)
		}
		return nil, describeEmbedError(err, chunks)
	}
	for k, i := range miss {
		vecs[i] = embedded[k]
	}
	now := time.Now()
	rows := make([]vectorstore.Row, len(chunks))
	for i, c := range chunks {
		rows[i] = vectorstore.Row{
			ID: ulid.MustNew(ulid.Timestamp(now), ulid.DefaultEntropy()).String(), BotID: b.ID,
			Content: c.Text, Source: c.Source, Embedding: vecs[i],
		}
	}
	return rows, nil
}

// load reads and splits a bot's sources as the run's params say.
func (jb *Job) load(ctx context.Context, b *botstore.Bot) ([]sources.Chunk, []string, error) {
	fetcher := jb.fetcher
	if fetcher == nil {
		fetcher = jb.Params.Sources.Fetcher() // Use not called: still the params' fetcher
	}
	return sources.LoadWith(ctx, b, jb.Docs, fetcher, jb.Params.Sources.Limits(), jb.Params.Sources.policy())
}

// reuse returns, for each of a bot's chunk texts, the vector the old cluster holds for it, or nil
// where it holds none (or the run reuses nothing), and counts the reused chunks in out.
func (jb *Job) reuse(ctx context.Context, botID string, texts []string, out *Outcome) ([][]float32, error) {
	vecs := make([][]float32, len(texts))
	if jb.Reuse == nil {
		return vecs, nil
	}
	keys := make([]string, 0, len(texts))
	for _, t := range texts {
		if jb.Reuse.Takes(t) {
			keys = append(keys, t)
		}
	}
	found, err := vectorstore.StoredVectors(ctx, jb.Reuse.Old, botID, keys)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrReuseSource, jb.Reuse.From, err)
	}
	for i, t := range texts {
		if v, ok := found[t]; ok && jb.Reuse.Takes(t) {
			vecs[i] = v
			out.Reused++
			out.ReusedTokens += int64(embed.EstimateTokens(t))
		}
	}
	return vecs, nil
}

// remapInputError maps the indexes of an *embed.InputError over the texts sent (the chunks not
// reused) back to the bot's chunks, so that the rejected chunks are named right.
func remapInputError(err error, sent []int) error {
	var ie *embed.InputError
	if !errors.As(err, &ie) {
		return err
	}
	texts := make([]embed.BadText, len(ie.Texts))
	for k, bt := range ie.Texts {
		if bt.Index >= 0 && bt.Index < len(sent) {
			bt.Index = sent[bt.Index]
		}
		texts[k] = bt
	}
	return &embed.InputError{Texts: texts}
}

// describeEmbedError names the chunks (and their sources) the model rejected.
func describeEmbedError(err error, chunks []sources.Chunk) error {
	var ie *embed.InputError
	if !errors.As(err, &ie) {
		return fmt.Errorf("embed: %w", err)
	}
	var parts []string
	for i, bt := range ie.Texts {
		if i == 5 {
			// The reason lands in SyncStatusReason, which the app shows: keep it readable.
			parts = append(parts, fmt.Sprintf("and %d more", len(ie.Texts)-i))
			break
		}
		src := "?"
		if bt.Index >= 0 && bt.Index < len(chunks) {
			src = chunks[bt.Index].Source
		}
		parts = append(parts, fmt.Sprintf("chunk %d of %s (%q…): %v", bt.Index, src, bt.Prefix, bt.Err))
	}
	return fmt.Errorf("embed: the model rejected %s: %s", progress.Plural(len(ie.Texts), "chunk", "chunks"), strings.Join(parts, "; "))
}

// fail records a bot's failure in its SyncStatus, then in the journal. Should the process die
// between the two, the job is still pending and the bot is tried again.
func (jb *Job) fail(ctx context.Context, out *Outcome, b *botstore.Bot, cause error, execID string) error {
	if err := jb.Bots.UpdateStatus(ctx, b, botstore.StatusFailed, cause.Error(), execID); err != nil {
		return jb.statusRefused(ctx, out, err)
	}
	out.Status, out.Error, out.StatusWritten = botjob.Failed, cause.Error(), true
	if err := jb.journal().Finish(ctx, jb.Target, out.Job); err != nil {
		return err
	}
	jb.count(out)
	return nil
}

// abandon stops a bot for a reason that is not the bot's (an interruption, a provider refusing
// every call): its job stays pending for the next run, and its SyncStatus goes back to what it
// was before this run claimed it — if the item is still as this run left it.
//
// A job whose lease was lost (cause botjob.ErrLeaseLost) is not put back: the bot is another
// worker's now, and its status that worker's to write.
func (jb *Job) abandon(b, before *botstore.Bot, out *Outcome, cause error) error {
	out.Status = botjob.Pending
	if errors.Is(cause, botjob.ErrLeaseLost) {
		return cause
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if b.LastExecID != out.ExecID() {
		// The claim may have landed with its answer lost to the cancellation: expect it.
		claimed := *b
		claimed.SyncStatus, claimed.SyncStatusReason, claimed.LastExecID = botstore.StatusRunning, "", out.ExecID()
		b = &claimed
	}
	status, reason, execID := before.SyncStatus, before.SyncStatusReason, before.LastExecID
	if status == botstore.StatusQueued {
		// Never QUEUED: it would start the app's own embedding task.
		status, reason, execID = botstore.StatusFailed, stoppedReason(out.RunID, out.ExecID(), cause), out.ExecID()
	}
	err := jb.Bots.UpdateStatus(ctx, b, status, reason, execID)
	if err != nil && !errors.Is(err, botstore.ErrBotGone) && !errors.Is(err, botstore.ErrBotChanged) {
		jb.Logger.Warn("could not put the bot's SyncStatus back", slog.String("bot_id", b.ID), slog.Any("error", err))
	}
	out.Status = botjob.Pending
	return cause
}

// stoppedReason is the SyncStatusReason of a bot put back as FAILED because its run stopped,
// which the app shows its user: the cause when it says something, not "context canceled" (an
// interrupt, or the run stopping for another bot's reason, which the run's own report names).
func stoppedReason(runID int64, execID string, cause error) string {
	why := ""
	if cause != nil && !errors.Is(cause, context.Canceled) {
		why = fmt.Sprintf(" (%v)", cause)
	}
	if runID == 0 {
		// A job of no run: ragmigrate worker, under the app's task contract.
		return fmt.Sprintf("ragmigrate worker %s stopped before this bot finished%s", execID, why)
	}
	return fmt.Sprintf("ragmigrate run %d stopped before this bot finished%s; run 'ragmigrate reembed' again to continue", runID, why)
}

// stopCause is why ctx ended: ctx.Err(), or botjob.ErrLeaseLost when the worker holding the
// job cancelled it for that (its lease was taken).
func stopCause(ctx context.Context) error {
	if c := context.Cause(ctx); errors.Is(c, botjob.ErrLeaseLost) {
		return c
	}
	return ctx.Err()
}

// stopsRun reports whether err is the operator's problem rather than the bot's: the provider
// refuses every call (credentials, model access) or has answered nothing for too long.
func stopsRun(err error) bool {
	return errors.Is(err, embed.ErrProviderFatal) || errors.Is(err, ErrReuseSource)
}

func (jb *Job) count(out *Outcome) {
	c := jb.Counters
	if c == nil {
		return
	}
	switch out.Status {
	case botjob.Done:
		c.BotsDone.Add(1)
	case botjob.Failed:
		c.BotsFailed.Add(1)
	case botjob.Skipped:
		c.BotsSkipped.Add(1)
	case botjob.Left:
		c.BotsLeft.Add(1)
	}
	c.Chunks.Add(out.Chunks)
	c.Reused.Add(out.Reused)
	c.Requests.Add(out.Requests)
	c.Throttles.Add(out.Throttles)
	c.Tokens.Add(out.Tokens)
}
