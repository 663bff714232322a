package pgcopy

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDecideMerge is the merge's rule, which plan shows and copy --merge applies: rows in the
// target win over everything (the app's, or an earlier merge's), then a missing or unreadable
// item (deleted), then an item without knowledge, then QUEUED/RUNNING; the rest is copied.
func TestDecideMerge(t *testing.T) {
	t.Parallel()
	source := map[string]int64{"copy": 3, "failed": 2, "rows": 4, "queued": 1, "running": 1, "gone": 5, "ghost": 2, "earlier": 3, "queuedrows": 2, "": 1, "emptied": 2}
	target := map[string]int64{"rows": 7, "earlier": 3, "queuedrows": 1, "apponly": 9}
	items := map[string]BotItem{
		"copy": {SyncStatus: "SUCCEEDED"}, "failed": {SyncStatus: "FAILED"}, "rows": {SyncStatus: "SUCCEEDED"},
		"queued": {SyncStatus: "QUEUED"}, "running": {SyncStatus: "RUNNING"}, "ghost": {Malformed: true},
		"earlier": {SyncStatus: "SUCCEEDED"}, "queuedrows": {SyncStatus: "QUEUED"}, "apponly": {SyncStatus: "SUCCEEDED"}, "emptied": {SyncStatus: "SUCCEEDED", NoKnowledge: true},
	}
	earlier := map[string]int64{"earlier": 4}
	for _, tc := range []struct {
		name           string
		includeDeleted bool
		want           map[string]string
	}{
		{"Default", false, map[string]string{"copy": BotPending, "failed": BotPending, "rows": BotSkipped, "queued": BotSkipped,
			"running": BotSkipped, "gone": BotDeleted, "ghost": BotDeleted, "earlier": BotCopiedBefore, "queuedrows": BotSkipped, "": BotDeleted, "emptied": BotSkipped}},
		{"IncludeDeleted", true, map[string]string{"copy": BotPending, "failed": BotPending, "rows": BotSkipped, "queued": BotSkipped,
			"running": BotSkipped, "gone": BotPending, "ghost": BotPending, "earlier": BotCopiedBefore, "queuedrows": BotSkipped, "": BotPending, "emptied": BotSkipped}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := map[string]string{}
			for _, b := range DecideMerge("public.items", source, target, items, earlier, tc.includeDeleted) {
				got[b.BotID] = b.Outcome
				require.Equal(t, source[b.BotID], b.SourceRows)
				require.Equal(t, b.Outcome == BotPending, b.Reason == "", "%s: a reason for every bot left", b.BotID)
			}
			require.Equal(t, tc.want, got, "apponly is not in the source: not the merge's to list")
		})
	}
}
