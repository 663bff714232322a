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
// become SUCCEEDED ("No contents to embed."). Unlike the app, the update is conditional on the bot
// item still existing (no ghost items), and QUEUED is never written (it would start the app's own
// task).
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
	"github.com/ragmigrate/ragmigrate/internal/sources"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// Embedder is what a bot job needs of the embedding layer (an *embed.Batcher).
type Embedder interface {
	EmbedAll(ctx context.Context, texts []string) ([][]float32, embed.Stats, error)
}

// Job runs one bot. It is what both the in-process pool and the ECS worker execute.
type Job struct {
	Bots     *botstore.Store
	Docs     *docstore.Store
	Fetcher  *loader.Fetcher
	Limits   loader.Limits
	Embedder Embedder
	Target   *pgxpool.Pool
	Logger   *slog.Logger
	// Counters, if set, are advanced as the job goes, for progress output.
	Counters *Counters
	// SkipUnreadableSources re-embeds a bot from the sources that can be read, listing the
	// others in the outcome, instead of failing the bot (the default, and what the app did for
	// files).
	SkipUnreadableSources bool
}

// Counters are live totals across a run's bots.
type Counters struct {
	BotsDone, BotsFailed, BotsSkipped atomic.Int64
	Chunks, Requests, Throttles       atomic.Int64
	Tokens                            atomic.Int64
}

// Outcome is a finished job.
type Outcome struct {
	journal.BotJob
	Title string `json:"title"`
	// SkippedSources are the sources left out under SkipUnreadableSources, with the cause.
	SkippedSources []string `json:"skipped_sources,omitempty"`
}

// Run re-embeds bot b as job j of the journal. It returns an error only for what stops the
// whole run (the target or the journal failing, cancellation); a bot's own failure is recorded
// as the job's outcome and in the bot's SyncStatus.
func (jb *Job) Run(ctx context.Context, b *botstore.Bot, j journal.BotJob) (Outcome, error) {
	log := jb.Logger.With(slog.String("bot_id", b.ID))
	out := Outcome{BotJob: j, Title: b.Title}
	if err := journal.StartBotJob(ctx, jb.Target, &out.BotJob); err != nil {
		return out, err
	}
	execID := j.ExecID()

	if b.Knowledge.Empty() {
		// As the app's task: nothing to embed is a success. (The app keeps old vectors; the
		// new cluster has none to keep.)
		out.Status = journal.JobDone
		if err := journal.FinishBotJob(ctx, jb.Target, out.BotJob); err != nil {
			return out, err
		}
		if b.SyncStatus != botstore.StatusSucceeded {
			if err := jb.setStatus(ctx, &out, botstore.StatusSucceeded, botstore.ReasonNoContents, execID); err != nil {
				return out, err
			}
		} else if err := journal.MarkStatusWritten(ctx, jb.Target, j.RunID, b.ID); err != nil {
			return out, err
		}
		jb.count(&out)
		return out, nil
	}

	if err := jb.Bots.SetStatus(ctx, b.UserID, b.ID, botstore.StatusRunning, "", execID); err != nil {
		if ctx.Err() != nil {
			// The update may have landed before the cancellation was noticed.
			return out, jb.abandon(b, &out)
		}
		if errors.Is(err, botstore.ErrBotGone) {
			out.Status, out.Error = journal.JobSkipped, "the bot was deleted"
			log.InfoContext(ctx, "bot deleted, skipped")
			err = journal.FinishBotJob(ctx, jb.Target, out.BotJob)
			jb.count(&out)
			return out, err
		}
		return out, err
	}

	rows, err := jb.prepare(ctx, b, &out)
	if err != nil {
		if ctx.Err() != nil {
			return out, jb.abandon(b, &out)
		}
		log.InfoContext(ctx, "bot failed", slog.String("reason", err.Error()))
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		return out, jb.fail(fctx, &out, b, err, execID)
	}

	err = pgx.BeginFunc(ctx, jb.Target, func(tx pgx.Tx) error {
		mine, err := journal.ClaimBotJob(ctx, tx, j.RunID, b.ID)
		if err != nil {
			return err
		}
		if !mine {
			return errAlreadyDone
		}
		if _, err := vectorstore.ReplaceBotRows(ctx, tx, b.ID, rows); err != nil {
			return err
		}
		out.Status = journal.JobDone
		return journal.FinishBotJob(ctx, tx, out.BotJob)
	})
	switch {
	case errors.Is(err, errAlreadyDone):
		out.Status = journal.JobDone
	case err != nil && ctx.Err() != nil:
		return out, jb.abandon(b, &out)
	case err != nil:
		return out, fmt.Errorf("write bot %s: %w", b.ID, err)
	}
	log.InfoContext(ctx, "bot re-embedded", slog.Int64("chunks", out.Chunks), slog.Int64("requests", out.Requests))
	// The rows are committed: the status must follow even if the run is being interrupted.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := jb.setStatus(sctx, &out, botstore.StatusSucceeded, botstore.ReasonSucceeded, execID); err != nil {
		return out, err
	}
	jb.count(&out)
	return out, nil
}

var errAlreadyDone = errors.New("job already done")

// prepare loads, splits and embeds the bot's knowledge into rows.
func (jb *Job) prepare(ctx context.Context, b *botstore.Bot, out *Outcome) ([]vectorstore.Row, error) {
	chunks, skipped, err := sources.Load(ctx, b, jb.Docs, jb.Fetcher, jb.Limits, jb.SkipUnreadableSources)
	out.SkippedSources = skipped
	for _, s := range skipped {
		jb.Logger.WarnContext(ctx, "source skipped", slog.String("bot_id", b.ID), slog.String("reason", s))
	}
	if err != nil {
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
	vecs, stats, err := jb.Embedder.EmbedAll(ctx, texts)
	out.Requests, out.Throttles, out.Tokens = int64(stats.Requests), int64(stats.Throttles), int64(stats.Tokens)
	if err != nil {
		return nil, describeEmbedError(err, chunks)
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
	return fmt.Errorf("embed: the model rejected %d chunk(s): %s", len(ie.Texts), strings.Join(parts, "; "))
}

// fail records a bot's failure in the journal and its SyncStatus.
func (jb *Job) fail(ctx context.Context, out *Outcome, b *botstore.Bot, cause error, execID string) error {
	out.Status, out.Error = journal.JobFailed, cause.Error()
	if err := journal.FinishBotJob(ctx, jb.Target, out.BotJob); err != nil {
		return err
	}
	if err := jb.setStatus(ctx, out, botstore.StatusFailed, cause.Error(), execID); err != nil {
		return err
	}
	jb.count(out)
	return nil
}

// abandon leaves an interrupted bot truthful: its job stays pending for the next run, and its
// SyncStatus (RUNNING, which nothing is any more) says it was interrupted.
func (jb *Job) abandon(b *botstore.Bot, out *Outcome) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reason := fmt.Sprintf("ragmigrate run %d was interrupted before this bot finished; run 'ragmigrate reembed' again to continue", out.RunID)
	if err := jb.Bots.SetStatus(ctx, b.UserID, b.ID, botstore.StatusFailed, reason, out.ExecID()); err != nil && !errors.Is(err, botstore.ErrBotGone) {
		jb.Logger.Warn("could not record the interruption in SyncStatus", slog.String("bot_id", b.ID), slog.Any("error", err))
	}
	out.Status = journal.JobPending
	return context.Canceled
}

func (jb *Job) setStatus(ctx context.Context, out *Outcome, status botstore.SyncStatus, reason, execID string) error {
	err := jb.Bots.SetStatus(ctx, out.UserID, out.BotID, status, reason, execID)
	if errors.Is(err, botstore.ErrBotGone) {
		jb.Logger.InfoContext(ctx, "bot deleted while it ran; its status is not written", slog.String("bot_id", out.BotID))
		return nil
	}
	if err != nil {
		return err
	}
	out.StatusWritten = true
	return journal.MarkStatusWritten(ctx, jb.Target, out.RunID, out.BotID)
}

func (jb *Job) count(out *Outcome) {
	c := jb.Counters
	if c == nil {
		return
	}
	switch out.Status {
	case journal.JobDone:
		c.BotsDone.Add(1)
	case journal.JobFailed:
		c.BotsFailed.Add(1)
	case journal.JobSkipped:
		c.BotsSkipped.Add(1)
	}
	c.Chunks.Add(out.Chunks)
	c.Requests.Add(out.Requests)
	c.Throttles.Add(out.Throttles)
	c.Tokens.Add(out.Tokens)
}
