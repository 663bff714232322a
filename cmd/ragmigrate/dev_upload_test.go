package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDevUpload: the large uploads 'make bench-memory' measures are readable files of about the
// requested text, in the requested language, and bad arguments are usage errors.
func TestDevUpload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, ext := range []string{".xlsx", ".pdf"} {
		path := filepath.Join(dir, "large"+ext)
		r := ragmigrate(t, nil, "dev", "upload", path, "--text-mb", "1", "--lang", "fr")
		require.Zero(t, r.code, r.stderr)
		require.Contains(t, r.stdout, path+": ")
		in := ragmigrate(t, nil, "inspect", path, "--json")
		require.Zero(t, in.code, in.stderr)
		var got inspection
		require.NoError(t, json.Unmarshal([]byte(in.stdout), &got))
		require.Equal(t, strings.TrimPrefix(ext, "."), got.Format)
		require.InDelta(t, 1<<20, len(got.Text), 0.25*(1<<20), "about 1 MB of text")
		require.True(t, strings.Contains(got.Text, "é"), "French text, as --lang asked")
	}
	for _, args := range [][]string{
		{filepath.Join(dir, "x.doc")},
		{filepath.Join(dir, "x.txt"), "--text-mb", "0"},
		{filepath.Join(dir, "x.txt"), "--lang", "xx"},
	} {
		r := ragmigrate(t, nil, append([]string{"dev", "upload"}, args...)...)
		require.Equal(t, exitUsage, r.code, "%v: %s", args, r.stderr)
	}
}
