// Command ragmigrate moves a RAG platform's knowledge store (pgvector rows, bots in DynamoDB,
// documents in S3, embeddings from Amazon Bedrock) to a new database cluster and proves the result.
//
// main only wires things together: it builds the root context, runs the cobra command tree and
// turns the returned error into one of the documented exit codes.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal cancels ctx so that running work can finish its batch and checkpoint; after
	// that the default handlers are restored, so a second signal ends the process at once.
	go func() {
		<-ctx.Done()
		stop()
	}()
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
	fmt.Fprintf(stderr, "ragmigrate: %v\n", err)
	if code == exitUsage {
		fmt.Fprintln(stderr, "Run 'ragmigrate --help' for usage.")
	}
	return code
}
