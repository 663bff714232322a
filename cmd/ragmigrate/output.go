package main

import (
	"cmp"
	"encoding/json"
	"io"
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
