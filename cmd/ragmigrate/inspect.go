package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/ragmigrate/ragmigrate/internal/awsclient"
	"github.com/ragmigrate/ragmigrate/internal/chunk"
	"github.com/ragmigrate/ragmigrate/internal/docstore"
	"github.com/ragmigrate/ragmigrate/internal/embed"
	"github.com/ragmigrate/ragmigrate/internal/loader"
	"github.com/ragmigrate/ragmigrate/internal/progress"
)

type inspectOptions struct {
	sourceOptions
	ChunkSize    int
	ChunkOverlap int
	TextOnly     bool
	Model        string
}

// inspection is what 'ragmigrate inspect' reports.
type inspection struct {
	Source string   `json:"source"`
	Format string   `json:"format"`
	Named  string   `json:"named_as,omitempty"` // the name's extension, when the content is another format
	Chars  int      `json:"chars"`
	Text   string   `json:"text"`
	Chunks []string `json:"chunks"`
	// ChunkTokens are the chunks' estimated tokens; LongChunks how many pass the model's input
	// limit (with --truncate NONE, the app's setting, the model rejects those).
	ChunkTokens []int64 `json:"chunk_tokens"`
	LongChunks  int     `json:"long_chunks"`
}

func newInspectCommand(g *globalOptions) *cobra.Command {
	o := &inspectOptions{}
	cmd := &cobra.Command{
		Use:   "inspect FILE|URL|s3://BUCKET/KEY|-",
		Short: "Show what a migration makes of one source: its type, its text and its chunks",
		Long: `Inspect reads one source the way reembed does — a local file by its extension (the eight upload
types the app accepts), unless its content is another of them, an object in S3 given as the
s3:// URI that source errors name, an http(s) URL by its Content-Type, or raw text from stdin with '-' —
and prints the detected format, the extracted text and the chunks the app's splitter makes of
it with --chunk-size/--chunk-overlap (the bot's EmbeddingParams; the app's defaults are 1000/200).
Operators use it to see why a bot fails or how it is split. Read-only; --json for machines.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(cmd.Context(), o, g, args[0])
		},
	}
	cmd.Flags().IntVar(&o.ChunkSize, "chunk-size", 1000, "the bot's chunk_size (Unicode code points)")
	cmd.Flags().IntVar(&o.ChunkOverlap, "chunk-overlap", 200, "the bot's chunk_overlap")
	cmd.Flags().BoolVar(&o.TextOnly, "text-only", false, "print only the extracted text")
	cmd.Flags().StringVar(&o.Model, "model", "cohere.embed-multilingual-v3", "embedding model whose input limit the chunks are checked against: "+strings.Join(embed.ModelIDs(), ", "))
	o.sourceOptions.AddFlags(cmd.Flags())
	g.checkFlagsFirst(cmd, func(*globalOptions) error {
		_, _, err := o.check()
		return err
	})
	return cmd
}

// check validates inspect's flags and returns the splitter and the model they name.
func (o *inspectOptions) check() (*chunk.Splitter, embed.Model, error) {
	if err := errors.Join(o.sourceOptions.validate()...); err != nil {
		return nil, embed.Model{}, usageError{err}
	}
	splitter, err := chunk.New(o.ChunkSize, o.ChunkOverlap)
	if err != nil {
		return nil, embed.Model{}, usageError{fmt.Errorf("--chunk-size %d, --chunk-overlap %d: %w", o.ChunkSize, o.ChunkOverlap, err)}
	}
	model, err := embed.LookupModel(o.Model)
	if err != nil {
		return nil, embed.Model{}, usageError{fmt.Errorf("--model: %w", err)}
	}
	return splitter, model, nil
}

func runInspect(ctx context.Context, o *inspectOptions, g *globalOptions, arg string) error {
	splitter, model, err := o.check()
	if err != nil {
		return err
	}
	var doc loader.Document
	switch {
	case arg == "-":
		b, err := io.ReadAll(io.LimitReader(g.stdin, 256<<20))
		if err != nil {
			return fmt.Errorf("read stdin: %w", err)
		}
		doc = loader.Document{Source: "stdin", Format: "raw", Text: string(b)}
	case strings.HasPrefix(arg, "http://") || strings.HasPrefix(arg, "https://"):
		if doc, err = o.fetcher().URL(ctx, arg); err != nil {
			return err
		}
	case strings.HasPrefix(arg, "s3://"):
		// The form every source error names a bot's file by, so a failure can be pasted here.
		bucket, key, ok := strings.Cut(strings.TrimPrefix(arg, "s3://"), "/")
		if !ok || bucket == "" || key == "" {
			return usageError{fmt.Errorf("%s: want s3://bucket/key", arg)}
		}
		clients, err := awsclient.Load(ctx, g.awsOptions())
		if err != nil {
			return err
		}
		body, err := docstore.New(clients.S3, bucket).ReadAll(ctx, key, o.Limits.File())
		if err != nil {
			return err
		}
		if doc, err = loader.File(arg, path.Base(key), body); err != nil {
			return err
		}
	default:
		info, err := os.Stat(arg)
		if err != nil {
			return usageError{err}
		}
		if err := docstore.CheckSize(arg, info.Size(), o.Limits.File()); err != nil {
			return err
		}
		b, err := os.ReadFile(arg)
		if err != nil {
			return usageError{err}
		}
		abs, _ := filepath.Abs(arg)
		if doc, err = loader.File(abs, filepath.Base(arg), b); err != nil {
			return err
		}
	}
	in := inspection{Source: doc.Source, Format: doc.Format, Named: doc.Named, Chars: utf8.RuneCountInString(doc.Text), Text: doc.Text, Chunks: splitter.Split(doc.Text)}
	for _, c := range in.Chunks {
		tokens := embed.EstimateTokens(c) // as plan and the run count them
		in.ChunkTokens = append(in.ChunkTokens, int64(tokens))
		if model.MaxTokens > 0 && tokens > model.MaxTokens {
			in.LongChunks++
		}
	}
	if g.JSON {
		return writeJSON(g, in)
	}
	if o.TextOnly {
		_, err := fmt.Fprintln(g.stdout, in.Text)
		return err
	}
	format := in.Format
	if in.Named != "" {
		format += " (by its content; the name says " + in.Named + ")"
	}
	fmt.Fprintf(g.stdout, "source  %s\nformat  %s\ntext    %d characters\nchunks  %d (chunk_size %d, chunk_overlap %d)\n",
		in.Source, format, in.Chars, len(in.Chunks), o.ChunkSize, o.ChunkOverlap)
	if in.LongChunks > 0 {
		fmt.Fprintf(g.stdout, "long    %s estimated over %s's %d-token input: with --truncate NONE, the app's setting, the model rejects %s\n",
			progress.Plural(in.LongChunks, "chunk is", "chunks are"), model.ID, model.MaxTokens, map[bool]string{true: "it", false: "them"}[in.LongChunks == 1])
	}
	for i, c := range in.Chunks {
		long := ""
		if model.MaxTokens > 0 && in.ChunkTokens[i] > int64(model.MaxTokens) {
			long = " · over the model's limit"
		}
		fmt.Fprintf(g.stdout, "\n--- chunk %d · %d characters · ~%d tokens%s\n%s\n", i, utf8.RuneCountInString(c), in.ChunkTokens[i], long, c)
	}
	if len(in.Chunks) == 0 {
		return errors.New("no text to embed")
	}
	return nil
}
