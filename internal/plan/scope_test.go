package plan_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/plan"
)

func TestUnmatched(t *testing.T) {
	t.Parallel()
	p := &plan.Plan{
		PerBot:    []plan.BotPlan{{BotID: "b1", UserID: "u1"}, {BotID: "b2", UserID: "u1"}},
		Malformed: []plan.Malformed{{PK: "u2", SK: "u2#BOT#bm"}},
	}
	bots, users := p.Unmatched([]string{"b1", "bm", "typo", "typo"}, []string{"u1", "u2", "nobody"})
	require.Equal(t, []string{"typo"}, bots, "a malformed bot item is in the table; a repeated typo is named once")
	require.Equal(t, []string{"nobody"}, users)
	bots, users = p.Unmatched(nil, nil)
	require.Empty(t, bots)
	require.Empty(t, users)
}
