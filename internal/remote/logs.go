package remote

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
)

// LogStream is the log stream of task taskID of ragmigrate's task definition (awslogs names it
// prefix/container/task id).
func LogStream(taskID string) string {
	return StreamPrefix + "/" + ContainerName + "/" + taskID
}

// logEvents is one GetLogEvents call, retried with b: remote's follow and Tail read with it.
func (r *Runner) logEvents(ctx context.Context, log *slog.Logger, b Backoff, in *cloudwatchlogs.GetLogEventsInput) (*cloudwatchlogs.GetLogEventsOutput, error) {
	var out *cloudwatchlogs.GetLogEventsOutput
	err := call(ctx, log, b, "GetLogEvents", func(ctx context.Context) (err error) {
		out, err = r.Logs.GetLogEvents(ctx, in)
		return err
	})
	return out, err
}

// Tail returns the messages of the last n events of a log stream, oldest first: one page read
// back from the stream's end, so that what a task said last costs one call however long its log.
func (r *Runner) Tail(ctx context.Context, group, stream string, n int, b Backoff) ([]string, error) {
	out, err := r.logEvents(ctx, nil, b, &cloudwatchlogs.GetLogEventsInput{
		LogGroupName: aws.String(group), LogStreamName: aws.String(stream),
		StartFromHead: aws.Bool(false), Limit: aws.Int32(int32(n)),
	})
	if err != nil {
		return nil, err
	}
	lines := make([]string, 0, len(out.Events))
	for _, e := range out.Events {
		lines = append(lines, aws.ToString(e.Message))
	}
	return lines, nil
}

// maxSaid bounds the error line FinalError returns: it goes into one log line and one error.
const maxSaid = 1000

// FinalError is the last error ragmigrate wrote among lines (its output, oldest first): the
// "ragmigrate: ..." line it ends with on an error, or its last ERROR record, under --log-format
// text or json, as "message: error" without the program's prefix; "" when there is none.
func FinalError(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		if said := errorOf(strings.TrimSpace(lines[i])); said != "" {
			if len(said) > maxSaid {
				said = strings.ToValidUTF8(said[:maxSaid], "") + "…"
			}
			return said
		}
	}
	return ""
}

// errorOf is line's error when it is one of ragmigrate's error lines, or "".
func errorOf(line string) string {
	var msg, errText string
	switch {
	case strings.HasPrefix(line, "ragmigrate: "):
		msg = line
	case strings.HasPrefix(line, "{"):
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["level"] != "ERROR" {
			return ""
		}
		msg, _ = rec["msg"].(string)
		if e, ok := rec["error"]; ok {
			errText = textOf(e)
		}
	case strings.Contains(line, " level=ERROR "):
		msg, errText = logfmtValue(line, "msg"), logfmtValue(line, "error")
	default:
		return ""
	}
	msg = strings.TrimPrefix(msg, "ragmigrate: ")
	if errText != "" {
		msg += ": " + errText
	}
	return msg
}

// textOf is a JSON value as text: a string as it is, anything else as JSON.
func textOf(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// logfmtValue is the value of key in a line of slog's text handler, which quotes a value with
// spaces or quotes as Go does.
func logfmtValue(line, key string) string {
	i := strings.Index(line, " "+key+"=")
	if i < 0 {
		return ""
	}
	rest := line[i+len(key)+2:]
	if strings.HasPrefix(rest, `"`) {
		if q, err := strconv.QuotedPrefix(rest); err == nil {
			if v, err := strconv.Unquote(q); err == nil {
				return v
			}
		}
	}
	v, _, _ := strings.Cut(rest, " ")
	return v
}
