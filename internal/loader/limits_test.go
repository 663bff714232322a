package loader_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/loader"
)

func TestBotBudget(t *testing.T) {
	t.Parallel()
	require.EqualValues(t, loader.DefaultMaxFileBytes, loader.Limits{}.File())
	require.EqualValues(t, loader.DefaultMaxBotBytes, loader.Limits{}.Bot())

	b := loader.Limits{MaxBotBytes: 100}.NewBotBudget()
	require.NoError(t, b.Spend("s3://b/one.pdf", 60))
	require.NoError(t, b.Spend("s3://b/two.pdf", 40), "the limit itself is allowed")
	err := b.Spend("https://example.com/three", 1)
	require.ErrorIs(t, err, loader.ErrTooLarge)
	var se *loader.SourceError
	require.ErrorAs(t, err, &se)
	require.Equal(t, "https://example.com/three", se.Source, "the source that crosses the limit is named")
	require.ErrorContains(t, err, "would reach 101 bytes, over the 100-byte limit for one bot (--max-bot-bytes)")
	require.NoError(t, b.Spend("s3://b/empty.txt", 0), "a refused source is not counted")
}
