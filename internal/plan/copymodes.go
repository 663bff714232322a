package plan

import (
	"context"
	"fmt"
	"slices"

	"github.com/ragmigrate/ragmigrate/internal/pgcopy"
)

// CopyModes says, bot by bot, what each way of copying would do to a target that already holds
// rows: copy refuses it, copy --empty-target deletes every row first (the app's re-embedded bots
// are overwritten with the source's, and bots only the target has are lost), and copy --merge
// copies only the bots the app has not re-embedded (pgcopy.DecideMerge, the run's own rule).
type CopyModes struct {
	// TargetRows says whether the target's items holds rows: plain copy then needs --empty-target.
	TargetRows int64         `json:"target_rows"`
	Bots       []CopyModeBot `json:"bots"`
	// Copy is copy --empty-target's effect (plain copy's, into an empty target).
	Copy struct {
		CopyBots      int   `json:"copy_bots"` // every bot of the source
		CopyRows      int64 `json:"copy_rows"`
		OverwriteBots int   `json:"overwrite_bots"` // of those, bots with rows on both sides: the target's deleted, the source's copied
		OverwriteRows int64 `json:"overwrite_rows"` // target rows those bots lose
		DeleteBots    int   `json:"delete_bots"`    // bots with rows only in the target: deleted
		DeleteRows    int64 `json:"delete_rows"`
	} `json:"copy"`
	Merge struct {
		CopyBots    int   `json:"copy_bots"`
		CopyRows    int64 `json:"copy_rows"`
		SkipBots    int   `json:"skip_bots"`
		DeletedBots int   `json:"deleted_bots"` // no bot item: not copied without --include-deleted
		DeletedRows int64 `json:"deleted_rows"`
		KeepBots    int   `json:"keep_bots"` // bots only in the target: the app's, untouched
	} `json:"merge"`
}

// CopyModeBot is one bot's fate under each mode.
type CopyModeBot struct {
	BotID      string `json:"bot_id"`
	SourceRows int64  `json:"source_rows"`
	TargetRows int64  `json:"target_rows"`
	// Copy is copy (--empty-target)'s action: copy, overwrite, or delete (a bot only the target has).
	Copy string `json:"copy"`
	// Merge is copy --merge's: copy, skip, not_copied (deleted since) or keep (only in the target).
	Merge       string `json:"merge"`
	MergeReason string `json:"merge_reason,omitempty"`
}

// copyModes compares the source's and the target's rows per bot with the bot items. scoped
// limits the list to the plan's bots (--bot, --user); nil lists every bot, those without items too.
func copyModes(ctx context.Context, o Options, items map[string]pgcopy.BotItem, scoped func(id string) bool) (*CopyModes, error) {
	source, err := pgcopy.RowsPerBot(ctx, o.Source, "items")
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	target, err := pgcopy.RowsPerBot(ctx, o.Target, "items")
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	// The journal names the table as the merge resolved it, schema-qualified.
	var qualified string
	if err := o.Target.QueryRow(ctx, `SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.oid = 'items'::regclass`).Scan(&qualified); err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	earlier, err := pgcopy.EarlierMerges(ctx, o.Target, qualified)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	m := &CopyModes{}
	merge := map[string]pgcopy.MergeBot{}
	for _, b := range pgcopy.DecideMerge("items", source, target, items, earlier, false) {
		merge[b.BotID] = b
	}
	ids := map[string]bool{}
	for id, n := range target {
		ids[id] = true
		m.TargetRows += n
	}
	for id := range source {
		ids[id] = true
	}
	for _, id := range slices.Sorted(func(yield func(string) bool) {
		for id := range ids {
			if !yield(id) {
				return
			}
		}
	}) {
		if scoped != nil && !scoped(id) {
			continue
		}
		b := CopyModeBot{BotID: id, SourceRows: source[id], TargetRows: target[id]}
		switch {
		case b.SourceRows == 0:
			b.Copy = "delete"
			m.Copy.DeleteBots++
			m.Copy.DeleteRows += b.TargetRows
		case b.TargetRows > 0:
			b.Copy = "overwrite"
			m.Copy.OverwriteBots++
			m.Copy.OverwriteRows += b.TargetRows
		default:
			b.Copy = "copy"
		}
		if b.SourceRows > 0 {
			m.Copy.CopyBots++
			m.Copy.CopyRows += b.SourceRows
		}
		if d, ok := merge[id]; ok {
			b.MergeReason = d.Reason
			switch d.Outcome {
			case pgcopy.BotPending:
				b.Merge = "copy"
				m.Merge.CopyBots++
				m.Merge.CopyRows += b.SourceRows
			case pgcopy.BotDeleted:
				b.Merge = "not_copied"
				m.Merge.DeletedBots++
				m.Merge.DeletedRows += b.SourceRows
			default:
				b.Merge = "skip"
				m.Merge.SkipBots++
			}
		} else {
			b.Merge, b.MergeReason = "keep", "only in the target: the app's"
			m.Merge.KeepBots++
		}
		m.Bots = append(m.Bots, b)
	}
	return m, nil
}

// writeCopyModes prints the totals of each mode, then the bots whose fate is not simply
// "copied" in both (every bot with --per-bot).
func writeCopyModes(pr func(string, ...any), m *CopyModes, every bool) {
	c, g := m.Copy, m.Merge
	if m.TargetRows == 0 {
		pr("copy modes\tthe target's items is empty: copy copies all %d bots (%d rows); --merge would copy %d bots (%d rows), leave %d QUEUED/RUNNING, not copy %d deleted (%d rows)",
			c.CopyBots, c.CopyRows, g.CopyBots, g.CopyRows, g.SkipBots, g.DeletedBots, g.DeletedRows)
	} else {
		pr("copy modes\tthe target's items holds %d rows: copy refuses it", m.TargetRows)
		pr("  copy --empty-target\tcopies all %d bots of the source (%d rows), %d of them over the target's rows (their %d rows deleted), and deletes %d bots only the target has (%d rows)",
			c.CopyBots, c.CopyRows, c.OverwriteBots, c.OverwriteRows, c.DeleteBots, c.DeleteRows)
		pr("  copy --merge\tcopies %d bots (%d rows), skips %d (rows in the target, or QUEUED/RUNNING), does not copy %d deleted bots (%d rows; --include-deleted does), keeps %d bots only the target has",
			g.CopyBots, g.CopyRows, g.SkipBots, g.DeletedBots, g.DeletedRows, g.KeepBots)
	}
	for _, b := range m.Bots {
		if !every && b.Copy == "copy" && b.Merge == "copy" {
			continue
		}
		why := ""
		if b.MergeReason != "" {
			why = " (" + b.MergeReason + ")"
		}
		pr("  bot %s\tsource %d rows · target %d rows · copy: %s · merge: %s%s", cmpOr(b.BotID, "(no botid)"), b.SourceRows, b.TargetRows, b.Copy, b.Merge, why)
	}
}
