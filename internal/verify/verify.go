// Package verify proves a migration. It never writes (except --delete-orphans, which the caller
// confirms) and reads through REPEATABLE READ, READ ONLY transactions, so it runs against live
// databases without blocking writers.
//
// # Overview
//
// Three checks, each optional:
//
//   - Data (source vs target, after copy or replication): per bot, the row count and an
//     order-independent digest over id, content, source and the embedding's exact bytes, computed
//     on each server so one line per bot crosses the wire. A bot whose digest differs is drilled
//     into row by row to name the ids that are missing, extra, changed (and which columns) or
//     moved to another bot.
//   - Data after a re-embed (the target's journal says so, or Options.Expect): ids and vectors
//     are new by design, so each bot's chunks (source, content) are compared as multisets, then
//     its text as letters and digits (layout does not count), then, with the bots and the
//     bucket, against its sources loaded again. Search compares top-k by chunk (content.go,
//     search_content.go).
//   - Bots (bots vs target, after re-embed; no source needed): every bot with knowledge has rows
//     and SyncStatus SUCCEEDED, every bot without knowledge has none, rows whose bot does not
//     exist are orphans, and every embedding has the column's dimension and finite values.
//   - Search: for sampled bots, a stored vector is the query of the app's own search
//     (WHERE botid = $1 ORDER BY embedding <-> $2 LIMIT k) on both sides, with the ANN index as
//     configured and with exact search, so a difference is attributed to the data or the index.
package verify

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/docstore"
	"github.com/ragmigrate/ragmigrate/internal/loader"
)

// Options select the checks: Data and Search need Source and Target; Bots needs Bots and Target.
type Options struct {
	Source *pgx.Conn
	Target *pgx.Conn
	Bots   *botstore.Store
	// Expect is how the target was filled: ExpectCopy, ExpectReembed, or ExpectAuto (the default:
	// the kind of the newest run in the target's journal).
	Expect string
	// Docs, Fetcher and Limits load a bot's sources again, as reembed does, to check a
	// re-embedded target's chunks where they differ from the old cluster's (needs Bots too).
	Docs    *docstore.Store
	Fetcher *loader.Fetcher
	Limits  loader.Limits
	// Queries is the number of bots sampled for search equivalence (0: none).
	Queries int
	// TopK is the app's search limit (max_results); default 20.
	TopK int
	// Tables are further tables to compare between source and target by primary key (items is
	// always compared, per bot).
	Tables []string
	// MaxDetails bounds the ids listed per bot and per kind of difference; default 20.
	MaxDetails int
	Logger     *slog.Logger
}

// Report is the whole result.
type Report struct {
	OK     bool          `json:"ok"`
	Data   *DataReport   `json:"data,omitempty"`
	Bots   *BotsReport   `json:"bots,omitempty"`
	Search *SearchReport `json:"search,omitempty"`
	// ContentSearch replaces Search after a re-embed, when row ids differ by design.
	ContentSearch *ContentSearchReport `json:"search_by_content,omitempty"`
	Tables        []*TableReport       `json:"tables,omitempty"`
}

// Run performs the checks the options allow.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.TopK = cmp.Or(o.TopK, 20)
	o.MaxDetails = cmp.Or(o.MaxDetails, 20)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Target == nil {
		return nil, fmt.Errorf("verify: a target database is required")
	}
	r := &Report{OK: true}
	var err error
	var bots map[string]*botstore.Bot
	if o.Bots != nil {
		if r.Bots, err = checkBots(ctx, o); err != nil {
			return nil, err
		}
		bots = r.Bots.bots
	}
	if o.Source != nil {
		if r.Data, err = compareData(ctx, o, bots); err != nil {
			return nil, err
		}
		r.OK = r.OK && r.Data.OK()
		if r.Bots != nil {
			r.Bots.markPreexisting(r.Data.sourceRows)
			r.Bots.markLeftToApp(r.Data.LeftToApp)
		}
		for _, t := range o.Tables {
			tr, err := compareTable(ctx, o, t)
			if err != nil {
				return nil, err
			}
			r.Tables = append(r.Tables, tr)
			r.OK = r.OK && tr.OK()
		}
		switch {
		case o.Queries == 0:
		case r.Data.Expect == ExpectReembed:
			if r.ContentSearch, err = compareSearchByContent(ctx, o, r.Data.held, r.Data.equal); err != nil {
				return nil, err
			}
			r.OK = r.OK && r.ContentSearch.OK()
		default:
			var keep func(string) bool
			if m := r.Data.merge; m != nil {
				// The bots the merge copied and the app has not replaced since.
				left := map[string]bool{}
				for _, l := range r.Data.LeftToApp {
					left[l.BotID] = true
				}
				keep = func(id string) bool { return m.copied(id) && !left[id] }
			}
			if r.Search, err = compareSearch(ctx, o, keep); err != nil {
				return nil, err
			}
			r.OK = r.OK && r.Search.OK()
		}
	}
	if r.Bots != nil {
		r.OK = r.OK && r.Bots.OK()
	}
	if r.Data == nil && r.Bots == nil {
		return nil, fmt.Errorf("verify: nothing to check: give a source database, a bot table, or both")
	}
	return r, nil
}

// readOnly runs fn in a REPEATABLE READ, READ ONLY transaction: one consistent snapshot that
// takes no locks writers wait for.
func readOnly(ctx context.Context, conn *pgx.Conn, fn func(pgx.Tx) error) error {
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func limit[T any](s []T, n int) ([]T, int) {
	if len(s) <= n {
		return s, 0
	}
	return s[:n], len(s) - n
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
