package main

import "encoding/json"

// writeJSON prints v as indented JSON on stdout: every command's --json result.
func writeJSON(g *globalOptions, v any) error {
	enc := json.NewEncoder(g.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
