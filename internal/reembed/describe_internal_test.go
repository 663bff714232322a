package reembed

import (
	"errors"
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
