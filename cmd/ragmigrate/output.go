package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
)

// writeJSON prints v as indented JSON on stdout: every command's --json result.
func writeJSON(g *globalOptions, v any) error {
	enc := json.NewEncoder(g.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
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
