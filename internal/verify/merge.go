package verify

import (
	"context"
	"fmt"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/journal"
	"github.com/ragmigrate/ragmigrate/internal/pgcopy"
)

// ExpectMerge: the target was filled by copy --merge while the app served it. The bots the merge
// copied (its journal says which) are the source's, byte for byte; every other bot in the target
// is the app's — skipped because the app had re-embedded it or was embedding it, not copied because
// its bot was deleted, or a bot the source never had — and is listed, not compared.
const ExpectMerge = "merge"

// LeftToApp is a bot a merge did not copy, whose rows in the target are the app's.
type LeftToApp struct {
	BotID string `json:"bot_id"`
	// Outcome and Reason are the merge's (skipped, deleted), or "not_in_merge" for a bot the
	// source does not have.
	Outcome    string `json:"outcome"`
	Reason     string `json:"reason"`
	SourceRows int64  `json:"source_rows"`
	TargetRows int64  `json:"target_rows"`
}

// mergeRecord is what the merge run's journal says of each bot of items, by bot id.
type mergeRecord struct {
	run  int64
	bots map[string]pgcopy.MergeBot
	// items are the bot items (with --table; nil without): a copied bot left without rows is
	// the app's when its item is gone or has no knowledge.
	items map[string]*botstore.Bot
	// includeDeleted: the merge copied bots without items too, so a missing item says nothing.
	includeDeleted bool
}

// copied tells whether the merge copied the bot (or was to copy it: a stopped merge's pending
// bots are compared, and missing).
func (m *mergeRecord) copied(id string) bool {
	b, ok := m.bots[id]
	return ok && (b.Outcome == pgcopy.BotCopied || b.Outcome == pgcopy.BotCopiedBefore || b.Outcome == pgcopy.BotPending)
}

func (m *mergeRecord) leftToApp(id string, sourceRows, targetRows int64) LeftToApp {
	l := LeftToApp{BotID: id, SourceRows: sourceRows, TargetRows: targetRows, Outcome: "not_in_merge",
		Reason: "not in the source: a bot of the app's"}
	if b, ok := m.bots[id]; ok {
		l.Outcome, l.Reason = b.Outcome, b.Reason
	}
	return l
}

// OutcomeReplaced is a bot the merge copied whose rows the app has since replaced.
const OutcomeReplaced = "replaced"

// replaced tells whether a copied bot that differs was re-embedded by the app after the merge:
// the app's task deletes a bot's rows and writes new ones under new ids, so none of the target's
// rows keeps a source id. A copy that went wrong keeps some, or leaves the bot without rows.
func (m *mergeRecord) replaced(b BotMismatch) (LeftToApp, bool) {
	l := LeftToApp{BotID: b.BotID, Outcome: OutcomeReplaced, SourceRows: b.SourceRows, TargetRows: b.TargetRows}
	if b.TargetRows == 0 && m.items != nil && len(b.MovedOut) == 0 {
		// The app's bot_remove and its task for a bot whose sources were all removed delete the
		// bot's rows and write none.
		switch item, ok := m.items[b.BotID]; {
		case !ok && !m.includeDeleted:
			l.Reason = "copied by the merge, deleted since: the bot has no item and the app removed its rows"
			return l, true
		case ok && item.Knowledge.Empty():
			l.Reason = "copied by the merge, its knowledge removed since: the app deleted its rows"
			return l, true
		}
	}
	if b.TargetRows == 0 || b.shared > 0 || len(b.MovedIn) > 0 || len(b.MovedOut) > 0 {
		return LeftToApp{}, false
	}
	l.Reason = "copied by the merge, re-embedded by the app since: none of its rows in the target is the source's"
	return l, true
}

// readMerge reads the bots of merge run runID into the items table.
func readMerge(ctx context.Context, o Options, runID int64) (*mergeRecord, error) {
	bots, err := pgcopy.MergeBots(ctx, o.Target, runID)
	if err != nil {
		return nil, fmt.Errorf("verify: target: %w", err)
	}
	m := &mergeRecord{run: runID, bots: map[string]pgcopy.MergeBot{}}
	for _, b := range bots {
		// The journal names the table schema-qualified; verify compares the items table the
		// target's search_path resolves, as the app does.
		if b.Table == "items" || len(b.Table) > 6 && b.Table[len(b.Table)-6:] == ".items" {
			m.bots[b.BotID] = b
		}
	}
	return m, nil
}

// newestMerge is the target's newest run when it is a merge; --expect merge without one is an
// error, since nothing would say which bots were copied.
func newestMerge(ctx context.Context, o Options) (*journal.Run, error) {
	run, err := journal.NewestRun(ctx, o.Target)
	if err != nil {
		return nil, fmt.Errorf("verify: --expect merge: target: %w", err)
	}
	if !pgcopy.IsMerge(run) {
		return nil, fmt.Errorf("verify: --expect merge: the target's newest run (%d) is a %s, not a copy --merge: its journal does not say which bots a merge copied", run.ID, run.Kind)
	}
	return run, nil
}

// markLeftToApp excuses the bot problems of bots a merge left to the app: a bot QUEUED or
// RUNNING without rows is the app's to embed.
func (b *BotsReport) markLeftToApp(left []LeftToApp) {
	ids := map[string]string{}
	for _, l := range left {
		ids[l.BotID] = l.Reason
	}
	for i := range b.Problems {
		if why, ok := ids[b.Problems[i].BotID]; ok {
			b.Problems[i].LeftToApp = "left to the app by the merge: " + why
		}
	}
}

// writeMerge prints the data check's line after a merge: the copied bots compared, the others
// the app's.
func writeMerge(p func(string, ...any), d *DataReport, verdict string) {
	compared := d.Bots - len(d.LeftToApp)
	p("data (source vs target, merge run %d)\t%d bots the merge copied compared, %d/%d equal · %d bots not compared (the app's, or deleted) · rows %d → %d · %s\t%s",
		d.MergeRun, compared, d.EqualBots, compared, len(d.LeftToApp), d.SourceRows, d.TargetRows, round(d.Elapsed), verdict)
}
