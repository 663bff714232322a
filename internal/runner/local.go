// Package runner is where a run's bot jobs execute. Local, the first runner, runs them in this
// process on a pool of goroutines; a runner of ECS tasks would start workers that rebuild each
// job from the journal (the run's params and the job's row) instead of calling do.
package runner

import (
	"cmp"
	"context"

	"golang.org/x/sync/errgroup"

	"github.com/ragmigrate/ragmigrate/internal/reembed/botjob"
)

// Local runs jobs in this process, Concurrency at a time (default 4).
type Local struct {
	Concurrency int
}

// Run calls do for every job. The first error do returns cancels the context of the jobs
// running, starts no more, and is returned once they have ended; ctx ending starts no more
// either, and Run returns its error.
func (l Local) Run(ctx context.Context, jobs []botjob.Job, do func(context.Context, botjob.Job) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cmp.Or(l.Concurrency, 4))
	for _, j := range jobs {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			// Go may have waited for a slot while another job stopped the run.
			if gctx.Err() != nil {
				return nil
			}
			return do(gctx, j)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err() // jobs skipped for an ending ctx are not done
}
