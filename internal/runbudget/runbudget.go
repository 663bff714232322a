// Package runbudget is a run's provider budget kept in the target database, so that every
// worker of the run, on any host (reembed --runner ecs --ecs-task worker), paces by one bucket:
// N workers together keep to the account's quota instead of each to all of it.
//
// SKELETON: until the shared bucket lands, Bucket paces this process only, through an
// in-process ratelimit.Limiter. Its methods are the seam the worker wires: embed.Limiter (Wait,
// OnThrottle, OnSuccess) and the optional Budget, Charge and Unsent the Batcher looks for.
package runbudget

import (
	"context"

	"github.com/ragmigrate/ragmigrate/internal/journal"
	"github.com/ragmigrate/ragmigrate/internal/ratelimit"
)

// Config is the run's budget: what the coordinator resolved (--rpm/--tpm, Service Quotas) and
// recorded with the run.
type Config struct {
	// RequestsPerMinute and TokensPerMinute are the run's budgets; 0 means not set.
	RequestsPerMinute, TokensPerMinute int
	// Discover: neither budget is known; the pace is found from the provider's throttles.
	Discover bool
}

// Bucket is the run's shared budget. It is safe for concurrent use.
type Bucket struct {
	local *ratelimit.Limiter
}

// Open joins run runID's budget in db (the target's journal), creating it with cfg when the run
// has none yet; a budget already there is the run's, and cfg must not differ from it.
func Open(ctx context.Context, db journal.DB, runID int64, cfg Config) (*Bucket, error) {
	l, err := ratelimit.New(ratelimit.Config{RequestsPerMinute: cfg.RequestsPerMinute, TokensPerMinute: cfg.TokensPerMinute,
		Discover: cfg.Discover, SlidingMinute: true})
	if err != nil {
		return nil, err
	}
	return &Bucket{local: l}, nil
}

// Wait blocks until one request carrying tokens estimated input tokens may be sent.
func (b *Bucket) Wait(ctx context.Context, tokens int) error { return b.local.Wait(ctx, tokens) }

// OnThrottle reports a throttled request; OnSuccess an accepted one.
func (b *Bucket) OnThrottle() { b.local.OnThrottle() }
func (b *Bucket) OnSuccess()  { b.local.OnSuccess() }

// Budget returns the effective budgets per minute (0 for not set), which the Batcher sizes its
// requests in flight by.
func (b *Bucket) Budget() (requestsPerMinute, tokensPerMinute float64) { return b.local.Budget() }

// Charge corrects the bucket by the tokens the provider reported beyond (or short of) the
// estimate Wait was charged.
func (b *Bucket) Charge(tokens int) { b.local.Charge(tokens) }

// Unsent takes back a request Wait let go that was not sent.
func (b *Bucket) Unsent(tokens int) { b.local.Unsent(tokens) }

// Close releases what the bucket holds (nothing for the skeleton).
func (b *Bucket) Close() {}
