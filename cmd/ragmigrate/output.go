package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// writeJSON prints v as indented JSON on stdout: every command's --json result.
func writeJSON(g *globalOptions, v any) error {
	enc := json.NewEncoder(g.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeResult prints a run's result v on stdout: as JSON with --json, else through text. A run
// that failed part way (runErr) prints what it did too, and its error wins over one in printing.
func writeResult(g *globalOptions, v any, runErr error, text func(io.Writer) error) error {
	var werr error
	if g.JSON {
		werr = writeJSON(g, v)
	} else {
		werr = text(g.stdout)
	}
	return cmp.Or(runErr, werr)
}

// jsonLogs tells whether stderr carries JSON log records only (--log-format json).
func (g *globalOptions) jsonLogs() bool {
	return strings.EqualFold(g.LogFormat, "json")
}

// note tells the operator something on stderr: text, a sentence, under --log-format text; a log
// record (msg and attrs) under json, where every line on stderr is a JSON object a log shipper
// can parse.
func (g *globalOptions) note(ctx context.Context, text, msg string, attrs ...slog.Attr) {
	if g.jsonLogs() {
		g.logger.LogAttrs(ctx, slog.LevelInfo, msg, attrs...)
		return
	}
	fmt.Fprintln(g.stderr, text)
}
