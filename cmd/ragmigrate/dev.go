//go:build dev

package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ragmigrate/ragmigrate/internal/dev/stack"
)

func newDevCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Local stack, seeded v0 deployment and test servers (development only)",
		Long: `The dev commands run ragmigrate's local stack — two PostgreSQL 15 clusters with pgvector
(source = the old v0 cluster, target = the new v1 cluster), dynalite for DynamoDB, an S3 server,
the Bedrock contract server (a test double of InvokeModel) and a web server for URL sources — and
seed it with a realistic Bedrock Chat v0 deployment. They never touch real AWS.`,
	}
	cmd.AddCommand(newDevStackCommand(g), newDevServeCommand(g), newDevSeedCommand(g), newDevSummaryCommand(g), newDevUploadCommand(g))
	return cmd
}

// stackOptions locate the local stack.
type stackOptions struct {
	Dir         string
	BasePort    int
	DynaliteDir string
}

func (o *stackOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Dir, "dir", "", "state directory of the stack (env RAGMIGRATE_STACK_DIR; default .stack)")
	fs.IntVar(&o.BasePort, "base-port", 0, fmt.Sprintf("first port; services use base+2 … base+13 (env RAGMIGRATE_STACK_BASE_PORT; default %d)", stack.DefaultBasePort))
	fs.StringVar(&o.DynaliteDir, "dynalite-dir", "", "npm project with dynalite (env RAGMIGRATE_DYNALITE_DIR; default tools/dynalite)")
}

func (o *stackOptions) open(g *globalOptions) (*stack.Stack, error) {
	port := o.BasePort
	if port == 0 {
		if v := os.Getenv("RAGMIGRATE_STACK_BASE_PORT"); v != "" {
			p, err := strconv.Atoi(v)
			if err != nil {
				return nil, usageError{fmt.Errorf("RAGMIGRATE_STACK_BASE_PORT=%q: %w", v, err)}
			}
			port = p
		}
	}
	// 0 is the default; the stack uses ports base+2 … base+13.
	if port < 0 || port > 65535-13 {
		return nil, usageError{fmt.Errorf("--base-port (or RAGMIGRATE_STACK_BASE_PORT) %d: want 1 to %d (0: the default)", port, 65535-13)}
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return stack.New(stack.Config{
		Dir:         cmp.Or(o.Dir, os.Getenv("RAGMIGRATE_STACK_DIR")),
		BasePort:    port,
		Binary:      exe,
		DynaliteDir: cmp.Or(o.DynaliteDir, os.Getenv("RAGMIGRATE_DYNALITE_DIR")),
		Logger:      g.logger,
	})
}

func newDevStackCommand(g *globalOptions) *cobra.Command {
	o := &stackOptions{}
	cmd := &cobra.Command{
		Use:   "stack",
		Short: "Start, stop and inspect the local stack",
		Long: `'up' starts every service that is not already healthy (so running it twice is safe) and prints
the environment to export; 'eval "$(ragmigrate dev stack up)"' points this shell at the stack.
'down' stops everything and keeps the data; 'down --purge' deletes the state directory too.`,
	}
	o.AddFlags(cmd.PersistentFlags())
	up := &cobra.Command{
		Use:   "up",
		Short: "Start the stack and print its environment",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := o.open(g)
			if err != nil {
				return err
			}
			if err := s.Up(cmd.Context()); err != nil {
				return err
			}
			return printStackEnv(g, s)
		},
	}
	var purge bool
	down := &cobra.Command{
		Use:   "down",
		Short: "Stop the stack (--purge also deletes its state)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := o.open(g)
			if err != nil {
				return err
			}
			// Stopping must finish even if the user presses Ctrl-C once more.
			return s.Down(context.WithoutCancel(cmd.Context()), purge)
		},
	}
	down.Flags().BoolVar(&purge, "purge", false, "also delete the state directory (all seeded data)")
	status := &cobra.Command{
		Use:   "status",
		Short: "Show each service; exits 1 if any is not healthy",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := o.open(g)
			if err != nil {
				return err
			}
			st := s.Status(cmd.Context())
			if g.JSON {
				if err := writeJSON(g, st); err != nil {
					return err
				}
			} else {
				tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "SERVICE\tADDRESS\tPID\tHEALTH")
				for _, x := range st {
					health := "healthy"
					if !x.Healthy {
						health = "down: " + x.Error
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", x.Name, x.Addr, x.PID, health)
				}
				tw.Flush()
			}
			for _, x := range st {
				if !x.Healthy {
					return fmt.Errorf("service %s is not healthy", x.Name)
				}
			}
			return nil
		},
	}
	env := &cobra.Command{
		Use:   "env",
		Short: "Print the environment that points ragmigrate and the AWS SDK at the stack",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			s, err := o.open(g)
			if err != nil {
				return err
			}
			return printStackEnv(g, s)
		},
	}
	cmd.AddCommand(up, down, status, env)
	return cmd
}

func printStackEnv(g *globalOptions, s *stack.Stack) error {
	if g.JSON {
		m := map[string]string{}
		for _, e := range s.Env() {
			m[e.Name] = e.Value
		}
		return writeJSON(g, m)
	}
	_, err := fmt.Fprint(g.stdout, stack.ShellExports(s.Env()))
	return err
}

// serveHTTP serves h on addr until ctx ends, then shuts down gracefully.
func serveHTTP(ctx context.Context, addr string, h http.Handler, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError)}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	log.InfoContext(ctx, "serving", slog.String("addr", ln.Addr().String()))
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
