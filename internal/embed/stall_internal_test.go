package embed

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// flakyProvider fails every call with a transient error until healthy is set.
type flakyProvider struct {
	Hash
	healthy atomic.Bool
}

func (p *flakyProvider) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if !p.healthy.Load() {
		return nil, &Error{Code: "Transport", Message: "connection reset", class: classRetry, Err: errors.New("connection reset")}
	}
	return p.Hash.Embed(ctx, texts)
}

// TestIdleTimeIsNoStall: a call that gave up on transient errors, then a quiet spell longer than
// ProviderTimeout with nothing sent, does not make the next call fail before it has tried: only
// time spent trying counts towards the stall.
func TestIdleTimeIsNoStall(t *testing.T) {
	t.Parallel()
	p := &flakyProvider{Hash: Hash{dims: 4}}
	b := NewBatcher(p, Options{MaxAttempts: 3, BackoffBase: time.Millisecond, BackoffMax: time.Millisecond,
		RequestTimeout: 5 * time.Millisecond, ProviderTimeout: time.Second})
	_, _, err := b.EmbedAll(t.Context(), []string{"a"})
	require.Error(t, err)
	require.NotErrorIs(t, err, ErrProviderFatal, "three quick failures are no stall")

	// The quiet spell: bots loading their sources, nothing to embed. Not synchronisation: the
	// gap itself is what is tested.
	time.Sleep(1200 * time.Millisecond)
	p.healthy.Store(true)
	vecs, _, err := b.EmbedAll(t.Context(), []string{"b"})
	require.NoError(t, err)
	require.Len(t, vecs, 1)
	require.NoError(t, b.Err())
}
