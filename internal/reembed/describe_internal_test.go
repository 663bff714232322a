package reembed

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/embed"
	"github.com/ragmigrate/ragmigrate/internal/sources"
)

// TestDescribeEmbedErrorCounts: the reason a bot fails with, which the app shows as its
// SyncStatusReason, counts the chunks the model rejected with their noun ("1 chunk", not
// "1 chunk(s)").
func TestDescribeEmbedErrorCounts(t *testing.T) {
	t.Parallel()
	chunks := []sources.Chunk{{Source: "s3://b/one.pdf"}, {Source: "s3://b/two.pdf"}}
	bad := func(i int) embed.BadText {
		return embed.BadText{Index: i, Prefix: "p", Err: errors.New("Input is too long for requested model.")}
	}
	one := describeEmbedError(&embed.InputError{Texts: []embed.BadText{bad(1)}}, chunks)
	require.ErrorContains(t, one, "embed: the model rejected 1 chunk: chunk 1 of s3://b/two.pdf")
	two := describeEmbedError(&embed.InputError{Texts: []embed.BadText{bad(0), bad(1)}}, chunks)
	require.ErrorContains(t, two, "embed: the model rejected 2 chunks: chunk 0 of s3://b/one.pdf")
}

// TestStoppedReason: a QUEUED bot a stopped run puts back as FAILED tells the app's user that
// the run stopped and what to do, not "context canceled"; a cause that says something is kept.
func TestStoppedReason(t *testing.T) {
	t.Parallel()
	require.Equal(t, "ragmigrate run 4 stopped before this bot finished; run 'ragmigrate reembed' again to continue",
		stoppedReason(4, "ragmigrate-run4-b-w", context.Canceled))
	require.Equal(t, "ragmigrate worker ragmigrate-abc stopped before this bot finished",
		stoppedReason(0, "ragmigrate-abc", fmt.Errorf("read bot: %w", context.Canceled)))
	require.Equal(t, "ragmigrate run 4 stopped before this bot finished (context deadline exceeded); run 'ragmigrate reembed' again to continue",
		stoppedReason(4, "x", context.DeadlineExceeded))
}
