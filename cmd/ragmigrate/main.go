// Command ragmigrate moves a RAG platform's knowledge store (pgvector rows, bots in DynamoDB,
// documents in S3, embeddings from Amazon Bedrock) to a new database cluster and proves the result.
//
// main only wires things together: it builds the root context, runs the cobra command tree and
// turns the returned error into one of the documented exit codes.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

func main() {
	// The first SIGINT/SIGTERM cancels ctx so that running work can finish its batch and
	// checkpoint; a second ends the process (see interrupts).
	ctx, stop := notifyInterrupts(context.Background())
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the process exit code. Tests call it directly.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCommand(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	code := exitCode(ctx, err)
	if code == exitInterrupted {
		err = explainInterrupt(root, args, err)
	}
	if jsonLogs(root) {
		// Under --log-format json every line on stderr is a JSON object, this last one too.
		attrs := []any{slog.Int("exit_code", code)}
		if code == exitUsage {
			attrs = append(attrs, slog.String("hint", "run 'ragmigrate --help' for usage"))
		}
		slog.New(slog.NewJSONHandler(stderr, nil)).Error("ragmigrate: "+err.Error(), attrs...)
		return code
	}
	fmt.Fprintf(stderr, "ragmigrate: %v\n", err)
	if code == exitUsage {
		fmt.Fprintln(stderr, "Run 'ragmigrate --help' for usage.")
	}
	return code
}

// rerunnable are the commands after whose interrupt running them again is all there is to do:
// they read only (verify without --delete-orphans; status's upgrade of an old journal is
// idempotent), or their one write is atomic (cleanup's DROP SCHEMA) or idempotent (replicate
// abort drops whatever is left).
var rerunnable = []string{"ragmigrate plan", "ragmigrate status", "ragmigrate inspect", "ragmigrate verify",
	"ragmigrate replicate status", "ragmigrate iam-policy", "ragmigrate cleanup", "ragmigrate replicate abort"}

// explainInterrupt gives an interrupted rerunnable command's error the interruptedError's words
// (what stopped, and to run it again) when the command did not say so itself; the other commands
// say what they left (see interrupted).
func explainInterrupt(root *cobra.Command, args []string, err error) error {
	var ie *interruptedError
	if errors.As(err, &ie) {
		return err
	}
	cmd, _, ferr := root.Find(args)
	if ferr != nil || !slices.Contains(rerunnable, cmd.CommandPath()) {
		return err
	}
	if f := cmd.Flags().Lookup("delete-orphans"); f != nil && f.Changed {
		return err
	}
	return interrupted(err, "%s stopped before it finished: run it again", strings.TrimPrefix(cmd.CommandPath(), "ragmigrate "))
}

// jsonLogs tells whether the run's logs are JSON: --log-format json, or RAGMIGRATE_LOG_FORMAT=json
// without the flag (as globalOptions.resolve reads them; a run can end before resolve has).
func jsonLogs(root *cobra.Command) bool {
	format := os.Getenv("RAGMIGRATE_LOG_FORMAT")
	if f := root.PersistentFlags().Lookup("log-format"); f != nil && f.Changed {
		format = f.Value.String()
	}
	return strings.EqualFold(format, "json")
}
