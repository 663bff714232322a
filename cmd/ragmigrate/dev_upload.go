//go:build dev

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ragmigrate/ragmigrate/internal/dev/corpus"
)

func newDevUploadCommand(g *globalOptions) *cobra.Command {
	var (
		textMB int
		lang   string
	)
	cmd := &cobra.Command{
		Use:   "upload FILE",
		Short: "Write one large corpus document as an upload of FILE's type, for memory and speed tests",
		Long: `Upload writes a document of about --text-mb megabytes of text, collected from the seed corpus in
one language, encoded as FILE's extension (` + strings.Join(corpus.Extensions(), " ") + `) by the
same encoders the seed uses. 'make bench-memory' reads such files with 'ragmigrate inspect' to
measure peak memory per format; use it to see what a large upload costs before raising
--max-file-bytes.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ext := strings.ToLower(filepath.Ext(args[0]))
			if !slices.Contains(corpus.Extensions(), ext) {
				return usageError{fmt.Errorf("%s: the extension must be one of %s", args[0], strings.Join(corpus.Extensions(), " "))}
			}
			if textMB < 1 {
				return usageError{errors.New("--text-mb must be at least 1")}
			}
			if !slices.Contains(corpus.Languages(), lang) {
				return usageError{fmt.Errorf("--lang must be one of %s", strings.Join(corpus.Languages(), " "))}
			}
			body, err := corpus.Encode(corpus.Large(1, lang, textMB<<20), ext)
			if err != nil {
				return err
			}
			if err := os.WriteFile(args[0], body, 0o644); err != nil {
				return err
			}
			if g.JSON {
				return writeJSON(g, map[string]any{"file": args[0], "bytes": len(body)})
			}
			fmt.Fprintf(g.stdout, "%s: %d bytes\n", args[0], len(body))
			return nil
		},
	}
	cmd.Flags().IntVar(&textMB, "text-mb", 40, "megabytes of text in the document")
	cmd.Flags().StringVar(&lang, "lang", "en", "language of the document: "+strings.Join(corpus.Languages(), " "))
	return cmd
}
