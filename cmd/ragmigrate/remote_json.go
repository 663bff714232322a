package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/ragmigrate/ragmigrate/internal/remote"
)

// remoteJSONHelp is remote --help's part on --json.
const remoteJSONHelp = `With --json, stdout is one JSON document, written when the task has stopped (also after Ctrl-C):
  {"task": {"arn", "id", "cluster", "log_group", "log_stream", "exit_code", "stop_code",
            "stopped_reason", "interrupted", "stopped"},
   "result": the command's own --json output, or null when it printed none (it failed first)}
and the task's log lines go to stderr as they arrive. (The task's command gets --json too,
through RAGMIGRATE_JSON.) Without --json the task's lines go to stdout.`

// remoteJSON is remote's --json document.
type remoteJSON struct {
	Task remoteTaskJSON `json:"task"`
	// Result is the task's command's --json output; nil marshals as null.
	Result json.RawMessage `json:"result"`
}

type remoteTaskJSON struct {
	ARN           string `json:"arn"`
	ID            string `json:"id"`
	Cluster       string `json:"cluster"`
	LogGroup      string `json:"log_group"`
	LogStream     string `json:"log_stream"`
	ExitCode      *int32 `json:"exit_code"` // null: the container never ran to an exit
	StopCode      string `json:"stop_code"`
	StoppedReason string `json:"stopped_reason"`
	// Interrupted: remote was interrupted while the task ran; Stopped: remote then stopped it.
	Interrupted bool `json:"interrupted"`
	Stopped     bool `json:"stopped"`
}

func newRemoteJSON(res *remote.Result, cluster string, out *taskOutput) remoteJSON {
	return remoteJSON{Result: out.result, Task: remoteTaskJSON{ARN: res.TaskArn, ID: res.TaskID, Cluster: cluster,
		LogGroup: res.LogGroup, LogStream: res.LogStream, ExitCode: res.ExitCode, StopCode: res.StopCode,
		StoppedReason: res.StoppedReason, Interrupted: res.Interrupted, Stopped: res.Stopped}}
}

// taskOutput receives the task's log lines under remote --json: each goes on to stderr as it
// comes, except the command's --json result, which is kept for the document on stdout.
//
// The task's stdout and stderr arrive mixed in one log stream, so the result is recognised by
// its shape: ragmigrate writes it indented (writeJSON), from a line that is only "{" (or "[") to
// the first line that is only "}" ("]"), where nested values are indented. None of its log
// lines is such a line: text lines start with "time=", JSON ones with `{"`. A block that does
// not parse goes to stderr like any other line.
type taskOutput struct {
	stderr  io.Writer
	partial []byte
	block   []string // the lines of a result being read
	closer  string   // the line that ends the block, "" outside one
	result  json.RawMessage
}

func (o *taskOutput) Write(p []byte) (int, error) {
	o.partial = append(o.partial, p...)
	for {
		i := bytes.IndexByte(o.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(o.partial[:i])
		o.partial = o.partial[i+1:]
		o.line(line)
	}
}

func (o *taskOutput) line(l string) {
	switch {
	case o.closer == "" && (l == "{}" || l == "[]"): // an empty result is one line
		o.result = json.RawMessage(l)
	case o.closer == "" && (l == "{" || l == "["):
		o.block, o.closer = []string{l}, map[string]string{"{": "}", "[": "]"}[l]
	case o.closer != "":
		o.block = append(o.block, l)
		if l != o.closer {
			return
		}
		raw := strings.Join(o.block, "\n")
		if json.Valid([]byte(raw)) {
			o.result = json.RawMessage(raw)
		} else {
			o.spill()
		}
		o.block, o.closer = nil, ""
	default:
		fmt.Fprintln(o.stderr, l)
	}
}

// spill sends the lines of a block that is not a result to stderr.
func (o *taskOutput) spill() {
	for _, l := range o.block {
		fmt.Fprintln(o.stderr, l)
	}
}

// close sends what is left (a block the task never closed, a last line without its newline)
// to stderr.
func (o *taskOutput) close() {
	o.spill()
	o.block, o.closer = nil, ""
	if len(o.partial) > 0 {
		fmt.Fprintln(o.stderr, string(o.partial))
		o.partial = nil
	}
}
