package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ragmigrate/ragmigrate/internal/journal"
	"github.com/ragmigrate/ragmigrate/internal/progress"
	"github.com/ragmigrate/ragmigrate/internal/reembed/botjob"
	"github.com/ragmigrate/ragmigrate/internal/replicate"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

func newStatusCommand(g *globalOptions) *cobra.Command {
	var limit int
	var failures bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "What every run, bot job and copy part is doing, from the target's journal",
		Long: `Status reads the journal in --target-db (schema ragmigrate) and prints the newest runs: kind,
what they work on, state and phase, bot jobs by state (re-embed) or parts done (copy), and the
rows written so far. A run still recorded as running whose process no longer refreshes its
heartbeat shows as "running (no heartbeat)": no process works on it, and the next run resumes it. --failures also lists each failed bot of the newest re-embed run with its
error, and each bot it left to the live app with what the app changed. Read-only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if g.TargetDB == "" {
				return usageError{errors.New("--target-db is required")}
			}
			if limit < 1 {
				return usageError{fmt.Errorf("--limit %d: want at least 1", limit)}
			}
			conn, err := vectorstore.Connect(ctx, g.TargetDB, "status", g.dbTimeouts())
			if err != nil {
				return fmt.Errorf("target: %w", err)
			}
			defer conn.Close(context.WithoutCancel(ctx))
			// A journal an older ragmigrate wrote (upgraded mid-migration) lacks columns this
			// build reads.
			if err := journal.Upgrade(ctx, conn); err != nil {
				return fmt.Errorf("target: %w", err)
			}
			runs, err := journal.Runs(ctx, conn, limit)
			if errors.Is(err, journal.ErrNoJournal) {
				if g.JSON {
					return writeJSON(g, map[string]any{"runs": []journal.RunSummary{}, "failed_bots": []botjob.Job{}, "left_to_app": []botjob.Job{}})
				}
				fmt.Fprintln(g.stdout, "no runs: the target has no ragmigrate journal")
				return nil
			}
			if err != nil {
				return err
			}
			// Empty lists, not null: a script reads an empty journal like any other.
			failed, left := []botjob.Job{}, []botjob.Job{}
			if failures {
				for _, r := range runs {
					if r.Kind == botjob.Kind {
						jobs, err := botjob.List(ctx, conn, r.ID)
						if err != nil {
							return err
						}
						for _, j := range jobs {
							switch j.Status {
							case botjob.Failed:
								failed = append(failed, j)
							case botjob.Left:
								left = append(left, j)
							}
						}
						break
					}
				}
			}
			if g.JSON {
				return writeJSON(g, map[string]any{"runs": runs, "failed_bots": failed, "left_to_app": left})
			}
			// The runs' lines are aligned as one table, and each run's error goes under its
			// line afterwards, from the STATUS column: a line of other cells amid the table
			// would split its columns into blocks aligned each on their own.
			var table bytes.Buffer
			tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN\tKIND\tSUBJECT\tSTATUS\tPHASE\tPROGRESS\tROWS\tSTARTED\tUPDATED")
			for _, r := range runs {
				status := r.Status
				if status == journal.StatusRunning && !r.Live {
					status += " (no heartbeat)" // no process works on it: the next run resumes it
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.ID, r.Kind, r.Subject, status, r.Phase, r.Progress.Text, r.Rows,
					r.StartedAt.Local().Format(time.DateTime), r.UpdatedAt.Local().Format(time.DateTime))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			lines := strings.SplitAfter(table.String(), "\n")
			indent := strings.Repeat(" ", strings.Index(lines[0], "STATUS"))
			var out strings.Builder
			out.WriteString(lines[0])
			for i, r := range runs {
				out.WriteString(lines[i+1])
				if r.Error != "" {
					fmt.Fprintf(&out, "%serror: %s\n", indent, r.Error)
				}
			}
			if _, err := io.WriteString(g.stdout, out.String()); err != nil {
				return err
			}
			for _, j := range failed {
				fmt.Fprintf(g.stdout, "failed bot %s (user %s, %s): %s\n", j.BotID, j.UserID, progress.Plural(j.Attempts, "attempt", "attempts"), j.Error)
			}
			for _, j := range left {
				fmt.Fprintf(g.stdout, "bot %s (user %s) %s\n", j.BotID, j.UserID, j.Error)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 10, "runs to show")
	cmd.Flags().BoolVar(&failures, "failures", false, "list the failed bots of the newest re-embed run, and those it left to the live app")
	g.checkFlagsFirst(cmd, func(pending *globalOptions) error {
		if pending.TargetDB == "" {
			return usageError{errors.New("--target-db is required")}
		}
		if limit < 1 {
			return usageError{fmt.Errorf("--limit %d: want at least 1", limit)}
		}
		return nil
	})
	return cmd
}

func newCleanupCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "cleanup",
		Short: "Drop the journal (schema ragmigrate) from the target once the migration is over",
		Long: `Cleanup drops the schema ragmigrate — runs, bot jobs, copy parts — from --target-db. The migrated
rows in items are not touched. After it, a reembed or copy starts from scratch. It asks first
(--yes for scripts) and refuses while another run holds the target's lock, and while a replication
run is not finished (the journal names its slot: cutover or abort it first).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if g.TargetDB == "" {
				return usageError{errors.New("--target-db is required")}
			}
			conn, err := vectorstore.Connect(ctx, g.TargetDB, "cleanup", g.dbTimeouts())
			if err != nil {
				return fmt.Errorf("target: %w", err)
			}
			defer conn.Close(context.WithoutCancel(ctx))
			// Nothing to drop is not a question to ask, nor a drop to report.
			exists, err := journal.Exists(ctx, conn)
			if err != nil {
				return err
			}
			if exists {
				// The journal names a live replication's slot: without it abort cannot find the slot.
				if r, err := replicate.Unfinished(ctx, conn); err != nil {
					return err
				} else if r != nil {
					return fmt.Errorf("replication run %d (slot %s) is not finished: run 'ragmigrate replicate cutover' or 'replicate abort' first", r.ID, r.Names.Slot)
				}
				if err := g.confirm("Drop the ragmigrate journal (schema ragmigrate) from the target?"); err != nil {
					return err
				}
				lock, err := journal.Acquire(ctx, conn, 0)
				if err != nil {
					return err
				}
				defer lock.Release(context.WithoutCancel(ctx))
				if err := journal.Drop(ctx, conn); err != nil {
					return err
				}
			}
			if g.JSON {
				return writeJSON(g, map[string]bool{"journal_dropped": exists})
			}
			if !exists {
				fmt.Fprintln(g.stdout, "no journal to drop: the target has no schema ragmigrate")
				return nil
			}
			fmt.Fprintln(g.stdout, "journal dropped")
			return nil
		},
	}
}
