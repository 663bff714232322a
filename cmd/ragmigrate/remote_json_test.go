package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTaskOutput: the task's result is told from its log lines by shape, in either log format;
// a block that does not parse, or is never closed, reaches stderr like the other lines.
func TestTaskOutput(t *testing.T) {
	t.Parallel()
	for name, tt := range map[string]struct {
		in, stderr, result string
	}{
		"TextLogs": {"time=x level=INFO msg=a\n{\n  \"ok\": true,\n  \"n\": {\n    \"a\": 1\n  }\n}\ntime=y level=INFO msg=b\n",
			"time=x level=INFO msg=a\ntime=y level=INFO msg=b\n", "{\n  \"ok\": true,\n  \"n\": {\n    \"a\": 1\n  }\n}"},
		"JSONLogs":  {`{"time":"x","msg":"a"}` + "\n[\n  1\n]\n", `{"time":"x","msg":"a"}` + "\n", "[\n  1\n]"},
		"Empty":     {"{}\n", "", "{}"},
		"NotJSON":   {"{\n  oops\n}\nafter\n", "{\n  oops\n}\nafter\n", ""},
		"Unclosed":  {"{\n  \"a\": 1,\n", "{\n  \"a\": 1,\n", ""},
		"NoNewline": {"last", "last\n", ""},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var stderr bytes.Buffer
			o := &taskOutput{stderr: &stderr}
			// Written a byte at a time: lines may arrive in pieces.
			for i := range len(tt.in) {
				_, err := o.Write([]byte{tt.in[i]})
				require.NoError(t, err)
			}
			o.close()
			require.Equal(t, tt.stderr, stderr.String())
			require.Equal(t, tt.result, string(o.result))
		})
	}
}
