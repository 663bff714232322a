package journal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoVerification is returned by LatestVerification when the journal records no verify of
// the source.
var ErrNoVerification = errors.New("no verify of this source in the journal")

// Verification is one 'ragmigrate verify' of the target against a source.
type Verification struct {
	// Source names the source database as host:port/database (SourceKey), so that a command
	// that knows a cluster's endpoint (snapshot cleanup) can find the verifies of its data.
	Source  string    `json:"source"`
	OK      bool      `json:"ok"`
	Summary string    `json:"summary"`
	At      time.Time `json:"at"`
}

// SourceKey names a source database in the journal.
func SourceKey(host string, port int, database string) string {
	return fmt.Sprintf("%s:%d/%s", host, port, database)
}

// verificationsSQL is kept apart from runs: a verify is not a run (it takes no lock and writes
// nothing else), and 'status' and verify's --expect auto read the newest run.
const verificationsSQL = `CREATE SCHEMA IF NOT EXISTS ragmigrate;
CREATE TABLE IF NOT EXISTS ragmigrate.verifications (
	id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	source  text NOT NULL,
	ok      boolean NOT NULL,
	summary text NOT NULL DEFAULT '',
	at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS verifications_source ON ragmigrate.verifications (source, id DESC);`

// RecordVerification records how a verify of the target against v.Source ended.
func RecordVerification(ctx context.Context, db DB, v Verification) error {
	if _, err := db.Exec(ctx, verificationsSQL); err != nil {
		return fmt.Errorf("record verify: %w", err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO ragmigrate.verifications (source, ok, summary) VALUES ($1, $2, $3)`,
		v.Source, v.OK, v.Summary); err != nil {
		return fmt.Errorf("record verify: %w", err)
	}
	return nil
}

// LatestVerification returns the newest verify of the target against source, or
// ErrNoVerification.
func LatestVerification(ctx context.Context, db DB, source string) (*Verification, error) {
	var exists bool
	if err := db.QueryRow(ctx, `SELECT to_regclass('ragmigrate.verifications') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, fmt.Errorf("read verifies: %w", err)
	}
	if !exists {
		return nil, ErrNoVerification
	}
	v := &Verification{}
	err := db.QueryRow(ctx, `SELECT source, ok, summary, at FROM ragmigrate.verifications WHERE source = $1 ORDER BY id DESC LIMIT 1`,
		source).Scan(&v.Source, &v.OK, &v.Summary, &v.At)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNoVerification
	}
	if err != nil {
		return nil, fmt.Errorf("read verifies: %w", err)
	}
	return v, nil
}
