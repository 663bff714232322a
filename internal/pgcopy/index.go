package pgcopy

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ragmigrate/ragmigrate/internal/progress"
)

// annMemory is maintenance_work_mem for a pgvector index over rows vectors of dims dimensions:
// rows × (8 + 4·dims) × 1.3, jkatz's rule of thumb for keeping an HNSW graph in memory
// (pgvector#844), at least 64 MiB and at most limit. A graph that does not fit makes pgvector
// fall back to a much slower build ("hnsw graph no longer fits into maintenance_work_mem").
func annMemory(rows int64, dims int, limit int64) int64 {
	need := int64(float64(rows) * float64(8+4*dims) * 1.3)
	return min(max(need, 64<<20), limit)
}

// indexWorkers is max_parallel_maintenance_workers for the builds: the leader plus workers use
// the copy's --jobs processes.
func indexWorkers(jobs int) int { return max(jobs-1, 0) }

// buildIndexes creates each source index on its target table, one at a time, skipping those an
// interrupted run already built. Builds run one at a time because each already uses parallel
// workers and the memory budget; primary keys come first, pgvector's indexes last.
func buildIndexes(ctx context.Context, cfg Config, dst *pgx.Conn, jobs []*tableJob) error {
	conn, err := connect(ctx, cfg.TargetURL, cfg.Timeouts, connWork)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	defer closeConn(context.WithoutCancel(ctx), conn)
	// The progress watcher gets its own session: a query cut short by cancellation can leave a
	// connection unusable, and dst still has the journal to write.
	watch, err := connect(ctx, cfg.TargetURL, cfg.Timeouts, connMeta)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	defer closeConn(context.WithoutCancel(ctx), watch)
	for _, j := range jobs {
		existing, err := targetIndexes(ctx, dst, j.target)
		if err != nil {
			return err
		}
		have := map[string]targetIndex{}
		for _, ix := range existing {
			have[ix.Name] = ix
		}
		for _, ix := range j.src.Indexes {
			r, err := buildIndex(ctx, cfg, conn, watch, j, ix, have)
			if err != nil {
				return err
			}
			j.result.Indexes = append(j.result.Indexes, r)
		}
		// Report the definitions as the target now prints them, to compare with the source's.
		built, err := targetIndexes(ctx, dst, j.target)
		if err != nil {
			return err
		}
		for i, r := range j.result.Indexes {
			for _, b := range built {
				if b.Name == r.Name {
					j.result.Indexes[i].Definition = b.Definition
				}
			}
		}
	}
	return nil
}

func buildIndex(ctx context.Context, cfg Config, conn, watch *pgx.Conn, j *tableJob, ix Index, have map[string]targetIndex) (IndexResult, error) {
	name := ix.Name
	if ix.Constraint != "" {
		// ADD CONSTRAINT … USING INDEX renames the index to the constraint's name.
		name = ix.Constraint
	}
	def := retarget(ix.Definition, j.src.DefName, j.target)
	r := IndexResult{Name: name, Definition: def, Constraint: ix.Constraint}
	log := cfg.Logger.With(slog.String("table", j.targetRaw), slog.String("index", name))
	if t, ok := have[name]; ok && t.Valid && (ix.Constraint == "" || t.Constraint != "") {
		r.Skipped = true
		log.InfoContext(ctx, "index already built by the interrupted run")
		return r, nil
	}
	if t, ok := have[ix.Name]; ok && !t.Valid {
		// Only CREATE INDEX CONCURRENTLY leaves invalid indexes; this one cannot be trusted.
		if _, err := conn.Exec(ctx, `DROP INDEX `+pgx.Identifier{j.targetSch, ix.Name}.Sanitize()); err != nil {
			return r, fmt.Errorf("target: drop invalid index %s: %w", ix.Name, err)
		}
		delete(have, ix.Name)
	}
	mem := min(cfg.IndexMemory, 256<<20)
	if ix.ANN() {
		mem = annMemory(j.src.Rows, j.src.VectorDims(), cfg.IndexMemory)
	}
	r.MemoryMB = mem >> 20
	r.Workers = indexWorkers(cfg.Jobs)
	settings := fmt.Sprintf(`SET maintenance_work_mem = '%dkB'; SET max_parallel_maintenance_workers = %d`, mem>>10, r.Workers)
	if _, err := conn.Exec(ctx, settings); err != nil {
		return r, fmt.Errorf("target: index settings: %w", err)
	}

	phase := cfg.Progress.Start("index", progress.Count, 0)
	defer cfg.Progress.End(phase)
	phase.SetDetail(name)
	log.InfoContext(ctx, "building index", slog.String("definition", def), slog.Int64("maintenance_work_mem_mb", r.MemoryMB), slog.Int("parallel_workers", r.Workers))
	start := time.Now()
	pctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		watchIndex(pctx, watch, conn.PgConn().PID(), name, phase)
	}()
	_, ok := have[ix.Name]
	var err error
	if !ok {
		_, err = conn.Exec(ctx, def)
	}
	if err == nil && ix.Constraint != "" {
		kind := "PRIMARY KEY"
		if ix.ConstraintType == "u" {
			kind = "UNIQUE"
		}
		_, err = conn.Exec(ctx, `ALTER TABLE `+j.target+` ADD CONSTRAINT `+pgx.Identifier{ix.Constraint}.Sanitize()+` `+kind+` USING INDEX `+pgx.Identifier{ix.Name}.Sanitize())
	}
	stop()
	<-done
	if err != nil {
		return r, fmt.Errorf("target: build index %s: %w", name, err)
	}
	r.Seconds = time.Since(start).Seconds()
	log.InfoContext(ctx, "index built", slog.Duration("elapsed", time.Since(start).Round(time.Millisecond)))
	return r, nil
}

// watchIndex reports pg_stat_progress_create_index for the backend pid until ctx ends. ctx only
// stops the loop: each query runs to completion under its own timeout.
func watchIndex(ctx context.Context, conn *pgx.Conn, pid uint32, name string, phase *progress.Phase) {
	t := time.NewTicker(300 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var stage string
		var blocksDone, blocksTotal, tuplesDone, tuplesTotal int64
		qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		err := conn.QueryRow(qctx, `SELECT phase, blocks_done, blocks_total, tuples_done, tuples_total
			FROM pg_stat_progress_create_index WHERE pid = $1`, int32(pid)).
			Scan(&stage, &blocksDone, &blocksTotal, &tuplesDone, &tuplesTotal)
		cancel()
		if err != nil {
			continue // not started yet, or finished
		}
		switch {
		case tuplesTotal > 0:
			phase.Set(tuplesDone, tuplesTotal)
		case blocksTotal > 0:
			phase.Set(blocksDone, blocksTotal)
		}
		phase.SetDetail(name + ": " + stage)
	}
}
