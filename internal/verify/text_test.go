package verify_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
	"github.com/ragmigrate/ragmigrate/internal/verify"
)

// TestBotsLineCountsAgree: the bots line says "1 problem", "1 orphan row of 1 deleted bot".
func TestBotsLineCountsAgree(t *testing.T) {
	t.Parallel()
	r := &verify.Report{Bots: &verify.BotsReport{
		Bots: 1, WithKnowledge: 1, Problems: []verify.BotProblem{{BotID: "b1", Problem: "no rows"}},
		Orphans: []verify.Orphan{{BotID: "gone", Rows: 1}}, OrphanRows: 1, Vectors: &vectorstore.VectorHealth{Dimensions: 1024},
	}}
	var out bytes.Buffer
	require.NoError(t, r.WriteText(&out))
	require.Contains(t, out.String(), "1 bot, 1 with knowledge · 1 problem · 1 orphan row of 1 deleted bot · ")
}
