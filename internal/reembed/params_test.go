package reembed

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestResumeParams(t *testing.T) {
	t.Parallel()
	run := Params{Version: ParamsVersion, Table: "bots", RPM: 400,
		Model:   Model{ID: "cohere.embed-multilingual-v3", Dimensions: 1024, Truncate: "END", Bucket: "docs"},
		Sources: Sources{OnSourceError: SkipSource, URLTimeout: 30 * time.Second, MaxBotBytes: 3000}}
	stored, err := json.Marshal(run)
	require.NoError(t, err)
	given := run
	given.RPM = 100
	given.Sources = Sources{OnSourceError: "fail-bot", URLTimeout: 10 * time.Second, MaxBotBytes: 1 << 30}
	none := func(string) bool { return false }

	t.Run("KeepsTheRunsSources", func(t *testing.T) {
		p, changed, ok, err := resumeParams(7, stored, given, none)
		require.NoError(t, err)
		require.True(t, ok)
		require.Empty(t, changed)
		require.Equal(t, run.Sources, p.Sources, "flags not given again do not change the run's settings")
		require.Equal(t, 100, p.RPM, "the budget is this invocation's")
	})
	t.Run("TakesSourcesGivenAgain", func(t *testing.T) {
		p, changed, _, err := resumeParams(7, stored, given, func(f string) bool { return f == "--max-bot-bytes" })
		require.NoError(t, err)
		require.Equal(t, []string{"--max-bot-bytes 3000 → 1073741824"}, changed)
		require.EqualValues(t, 1<<30, p.Sources.MaxBotBytes)
		require.Equal(t, SkipSource, p.Sources.OnSourceError)
	})
	t.Run("RefusesAnotherModel", func(t *testing.T) {
		other := given
		other.Model.ID, other.Model.Truncate = "amazon.titan-embed-text-v2:0", "NONE"
		_, _, _, err := resumeParams(7, stored, other, none)
		require.ErrorIs(t, err, ErrParamsDiffer)
		var pe *ParamsError
		require.True(t, errors.As(err, &pe))
		require.Equal(t, []string{"--model cohere.embed-multilingual-v3 (this invocation: amazon.titan-embed-text-v2:0)", "--truncate END (this invocation: NONE)"}, pe.Diffs)
		require.Contains(t, err.Error(), "run 7: ")
	})
	t.Run("OlderRunGoesOnWithTheFlags", func(t *testing.T) {
		p, _, ok, err := resumeParams(7, json.RawMessage(`{"model": "cohere.embed-multilingual-v3", "rpm": 400}`), given, none)
		require.NoError(t, err)
		require.False(t, ok)
		require.Equal(t, given, p)
	})
}
