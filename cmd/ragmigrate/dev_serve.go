//go:build dev

package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3bolt"
	"github.com/spf13/cobra"

	"github.com/ragmigrate/ragmigrate/internal/dev/bedrocksim"
	"github.com/ragmigrate/ragmigrate/internal/dev/corpus"
	"github.com/ragmigrate/ragmigrate/internal/dev/seed"
)

func newDevServeCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run one of the stack's servers in the foreground (the stack starts them)",
	}
	var addr string
	cmd.PersistentFlags().StringVar(&addr, "addr", "127.0.0.1:0", "listen address")

	var dir string
	s3 := &cobra.Command{
		Use:   "s3",
		Short: "S3-API server (gofakes3, data in a bbolt file under --dir)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			backend, err := s3bolt.NewFile(filepath.Join(dir, "s3.db"))
			if err != nil {
				return fmt.Errorf("open S3 store: %w", err)
			}
			log := g.logger.With(slog.String("server", "s3"))
			faker := gofakes3.New(backend, gofakes3.WithLogger(s3Logger{log}))
			return serveHTTP(cmd.Context(), addr, faker.Server(), log)
		},
	}
	s3.Flags().StringVar(&dir, "dir", ".stack/s3", "data directory")

	knobs := bedrocksim.Knobs{}
	bedrock := &cobra.Command{
		Use:   "bedrock",
		Short: "Bedrock contract server: a test double of InvokeModel for Cohere Embed v3 and Titan v2",
		Long: `A test double that answers InvokeModel for cohere.embed-multilingual-v3, cohere.embed-english-v3 and
amazon.titan-embed-text-v2:0 per the documented contract (request validation, both response
shapes, error types and HTTP codes), with deterministic vectors, and knobs for latency,
throttling and injected failures. GET /stats counts requests; GET/PUT /knobs change behaviour
at run time.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := knobs.Validate(); err != nil {
				return usageError{fmt.Errorf("knobs: %w", err)}
			}
			log := g.logger.With(slog.String("server", "bedrock"))
			return serveHTTP(cmd.Context(), addr, bedrocksim.New(knobs, log), log)
		},
	}
	knobs.AddFlags(bedrock.Flags())

	web := &cobra.Command{
		Use:   "web",
		Short: "Static web site for the seeded source_urls and sitemap_urls",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serveHTTP(cmd.Context(), addr, corpus.NewSite(seed.WebSiteSeed), g.logger.With(slog.String("server", "web")))
		},
	}
	cmd.AddCommand(s3, bedrock, web, newDevServeAWSCommand(g, &addr))
	return cmd
}

// s3Logger writes gofakes3's errors through our logger, like every other line of the stack's
// servers; its other levels log every request.
type s3Logger struct{ logger *slog.Logger }

func (l s3Logger) Print(level gofakes3.LogLevel, v ...any) {
	if level == gofakes3.LogErr {
		l.logger.Log(context.Background(), slog.LevelError, fmt.Sprint(v...))
	}
}
