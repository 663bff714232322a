package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/pflag"

	"github.com/ragmigrate/ragmigrate/internal/embed"
	"github.com/ragmigrate/ragmigrate/internal/reembed"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// reuseSourceDB is the --reuse-from value that names the --source-db database.
const reuseSourceDB = "source-db"

// reuseOptions say where a re-embed may take the vectors of unchanged chunks from; plan and
// reembed share them.
type reuseOptions struct {
	ReuseFrom  string
	ReuseModel string
}

func (o *reuseOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.ReuseFrom, "reuse-from", "", "PostgreSQL URL of the old cluster (or its restored snapshot), or 'source-db' for --source-db: a chunk whose bot's old rows hold exactly its text keeps the old vector instead of being embedded (checked first by embedding a few such chunks again; only read, never written; not recorded with the run: give it again to resume with it)")
	fs.StringVar(&o.ReuseModel, "reuse-model", "", "the model the --reuse-from vectors were made with (default: --model); another model than --model reuses nothing")
}

// validate checks the reuse flags; model is the run's.
func (o *reuseOptions) validate(g *globalOptions, openAI bool) []error {
	var errs []error
	switch o.ReuseFrom {
	case "":
		if o.ReuseModel != "" {
			errs = append(errs, errors.New("--reuse-model names the model of the --reuse-from vectors: give --reuse-from too"))
		}
		return errs
	case reuseSourceDB:
		if g.SourceDB == "" {
			errs = append(errs, errors.New("--reuse-from source-db: give the old cluster with --source-db (env RAGMIGRATE_SOURCE_DB)"))
		}
	default:
		// The parser's message may quote the URL, password and all: name only the flag.
		if _, err := pgx.ParseConfig(o.ReuseFrom); err != nil {
			errs = append(errs, errors.New("--reuse-from: want a PostgreSQL URL (postgres://user:password@host:5432/db) or 'source-db'"))
		}
	}
	if o.ReuseModel != "" && !openAI {
		if _, err := embed.LookupModel(o.ReuseModel); err != nil {
			errs = append(errs, fmt.Errorf("--reuse-model: %w", err))
		}
	}
	return errs
}

// url is the old database's URL ("" without --reuse-from).
func (o *reuseOptions) url(g *globalOptions) string {
	if o.ReuseFrom == reuseSourceDB {
		return g.SourceDB
	}
	return o.ReuseFrom
}

// reuse describes the old cluster for a run of model m with --truncate truncate, reached
// through q.
func (o *reuseOptions) reuse(q vectorstore.Querier, cfg *pgx.ConnConfig, m embed.Model, truncate string) *reembed.Reuse {
	old := o.ReuseModel
	if old == "" {
		old = m.ID
	}
	r := &reembed.Reuse{Old: q, From: vectorstore.Describe(cfg), OldModel: old}
	// A chunk the model would reject in a plain run is sent, not reused.
	t, _ := embed.ParseTruncate(truncate) // validated with the flags
	r.Limit(m, t)
	return r
}

// openReusePool connects to the old cluster for a run: bot jobs look up in it concurrently. It
// returns nil without --reuse-from.
func (o *reuseOptions) openReusePool(ctx context.Context, g *globalOptions, conns int, m embed.Model, truncate string) (*reembed.Reuse, func(), error) {
	if o.ReuseFrom == "" {
		return nil, func() {}, nil
	}
	pool, err := vectorstore.NewPool(ctx, o.url(g), "reuse", int32(conns), g.dbTimeouts())
	if err != nil {
		return nil, nil, fmt.Errorf("--reuse-from: %w", err)
	}
	return o.reuse(pool, pool.Config().ConnConfig, m, truncate), pool.Close, nil
}

// openReuseConn connects to the old cluster for a plan. It returns nil without --reuse-from.
func (o *reuseOptions) openReuseConn(ctx context.Context, g *globalOptions, m embed.Model, truncate string) (*reembed.Reuse, func(), error) {
	if o.ReuseFrom == "" {
		return nil, func() {}, nil
	}
	conn, err := vectorstore.Connect(ctx, o.url(g), "plan", g.dbTimeouts())
	if err != nil {
		return nil, nil, fmt.Errorf("--reuse-from: %w", err)
	}
	return o.reuse(conn, conn.Config(), m, truncate), func() { conn.Close(context.WithoutCancel(ctx)) }, nil
}
