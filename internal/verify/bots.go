package verify

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/reembed/botjob"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// BotsReport checks the target against the bots in the table.
type BotsReport struct {
	Bots          int                       `json:"bots"`
	WithKnowledge int                       `json:"with_knowledge"`
	Problems      []BotProblem              `json:"problems,omitempty"`
	Orphans       []Orphan                  `json:"orphans,omitempty"`
	OrphanRows    int64                     `json:"orphan_rows"`
	Malformed     []botstore.DecodeError    `json:"malformed,omitempty"`
	Vectors       *vectorstore.VectorHealth `json:"vectors"`
	// JournalRun is the newest re-embed run; each bot's rows are compared with the chunks of its
	// newest finished job, whichever run that was (0: no journal).
	JournalRun int64         `json:"journal_run,omitempty"`
	Elapsed    time.Duration `json:"elapsed_ns"`

	bots map[string]*botstore.Bot // by id, for the data check
}

// OK reports whether every bot is served by the target and every vector is usable. Orphans and
// malformed items are reported but are not failures of the migration: the app left them; nor
// are bots the source did not serve either.
func (b *BotsReport) OK() bool {
	v := b.Vectors
	return b.Failing() == 0 && v.Null == 0 && v.WrongDims == 0 && v.NonFinite == 0
}

// Failing counts the problems the migration made (those not Preexisting).
func (b *BotsReport) Failing() int {
	n := 0
	for _, p := range b.Problems {
		if !p.Preexisting && p.LeftToApp == "" {
			n++
		}
	}
	return n
}

// BotProblem is a bot the target does not serve as the app would.
type BotProblem struct {
	BotID   string `json:"bot_id"`
	UserID  string `json:"user_id"`
	Title   string `json:"title"`
	Problem string `json:"problem"`
	// Preexisting is set for a bot with knowledge but no rows on either side (known only when a
	// source is given): the source did not serve it either, so the migration lost nothing.
	Preexisting bool `json:"preexisting,omitempty"`
	// LeftToApp says why a copy --merge left the bot to the app (QUEUED or RUNNING: the app is
	// embedding it); such a bot is the app's, not a failure of the migration.
	LeftToApp string `json:"left_to_app,omitempty"`

	noRows bool // the problem is that the target has no rows
}

// markPreexisting flags the problems of bots that have no rows in the source either.
func (b *BotsReport) markPreexisting(sourceRows map[string]int64) {
	for i := range b.Problems {
		if p := &b.Problems[i]; p.noRows && sourceRows[p.BotID] == 0 {
			p.Preexisting = true
		}
	}
}

// Orphan is a bot id with rows but no bot item.
type Orphan struct {
	BotID string `json:"bot_id"`
	Rows  int64  `json:"rows"`
	// Ghost is set when a partial item (no Title: the app's task wrote it after the bot was
	// deleted) has this id.
	Ghost bool `json:"ghost,omitempty"`
}

func checkBots(ctx context.Context, o Options) (*BotsReport, error) {
	start := time.Now()
	r := &BotsReport{bots: map[string]*botstore.Bot{}}
	var bots []*botstore.Bot
	ghosts := map[string]bool{}
	err := o.Bots.ScanBots(ctx, func(b *botstore.Bot) error {
		bots = append(bots, b)
		return nil
	}, func(de *botstore.DecodeError) error {
		r.Malformed = append(r.Malformed, *de)
		ghosts[de.BotID()] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("verify bots: %w", err)
	}
	var perBot map[string]int64
	var journaled map[string]botjob.DoneJob
	err = readOnly(ctx, o.Target, func(tx pgx.Tx) (err error) {
		if perBot, err = vectorstore.RowsPerBot(ctx, tx); err != nil {
			return err
		}
		if r.JournalRun, journaled, err = botjob.DoneChunks(ctx, tx); err != nil {
			return err
		}
		r.Vectors, err = vectorstore.CheckVectors(ctx, tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("verify bots: target: %w", err)
	}
	known := map[string]bool{}
	for _, b := range bots {
		known[b.ID] = true
		r.bots[b.ID] = b
		r.Bots++
		rows := perBot[b.ID]
		problem := ""
		switch {
		case b.Knowledge.Empty() && rows > 0:
			problem = fmt.Sprintf("has no knowledge but %d rows in the target", rows)
		case b.Knowledge.Empty():
		case rows == 0 && b.SyncStatus == botstore.StatusSucceeded:
			problem = "has knowledge and SyncStatus SUCCEEDED but no rows in the target"
		case rows == 0:
			problem = fmt.Sprintf("has knowledge but no rows in the target (SyncStatus %s%s)", b.SyncStatus, reasonSuffix(b.SyncStatusReason))
		case b.SyncStatus != botstore.StatusSucceeded:
			problem = fmt.Sprintf("has %d rows but SyncStatus %s%s", rows, b.SyncStatus, reasonSuffix(b.SyncStatusReason))
		}
		if j, ok := journaled[b.ID]; ok && j.Chunks != rows && problem == "" {
			problem = fmt.Sprintf("has %d rows but re-embed run %d wrote %d chunks", rows, j.RunID, j.Chunks)
		}
		if !b.Knowledge.Empty() {
			r.WithKnowledge++
		}
		if problem != "" {
			r.Problems = append(r.Problems, BotProblem{BotID: b.ID, UserID: b.UserID, Title: b.Title, Problem: problem,
				noRows: rows == 0 && !b.Knowledge.Empty()})
		}
	}
	for _, id := range sortedKeys(perBot) {
		if !known[id] {
			r.Orphans = append(r.Orphans, Orphan{BotID: id, Rows: perBot[id], Ghost: ghosts[id]})
			r.OrphanRows += perBot[id]
		}
	}
	r.Elapsed = time.Since(start)
	return r, nil
}

func reasonSuffix(reason string) string {
	if reason == "" {
		return ""
	}
	if len(reason) > 200 {
		reason = reason[:200] + "…"
	}
	return ": " + reason
}

// DeleteOrphans removes the orphans' rows from the target in one transaction.
func DeleteOrphans(ctx context.Context, target *pgx.Conn, orphans []Orphan) (int64, error) {
	ids := make([]string, len(orphans))
	for i, o := range orphans {
		ids[i] = o.BotID
	}
	var n int64
	err := pgx.BeginFunc(ctx, target, func(tx pgx.Tx) (err error) {
		n, err = vectorstore.DeleteBots(ctx, tx, ids)
		return err
	})
	return n, err
}
