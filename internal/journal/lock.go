package journal

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// lockClass and lockObject form the two-key advisory lock every ragmigrate run takes on its target
// database. Advisory locks are scoped to one database, so runs on different target databases of
// one cluster do not block each other. 0x72676d67 is "rgmg".
const (
	lockClass  int32 = 0x72676d67
	lockObject int32 = 1
)

// Lock is the target's migration lock, held by one session.
type Lock struct {
	conn *pgx.Conn
}

// Acquire takes the target's advisory lock on conn, a connection dedicated to holding it (the lock
// belongs to the session: conn must not be closed or shared until Release). It retries for up to
// wait, which covers a killed run's sessions that the server has not yet noticed are gone; after
// that it returns an error wrapping ErrLockHeld that names the holder.
func Acquire(ctx context.Context, conn *pgx.Conn, wait time.Duration) (*Lock, error) {
	return acquire(ctx, conn, wait, nil)
}

// acquire is Acquire telling onWait, once, who holds the lock when it has to wait for it.
func acquire(ctx context.Context, conn *pgx.Conn, wait time.Duration, onWait func(holder string)) (*Lock, error) {
	deadline := time.Now().Add(wait)
	for tries := 0; ; tries++ {
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, lockClass, lockObject).Scan(&ok); err != nil {
			return nil, fmt.Errorf("take the target's lock: %w", err)
		}
		if ok {
			return &Lock{conn: conn}, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("target database %s: %w (%s)", conn.Config().Database, ErrLockHeld, holder(ctx, conn))
		}
		if tries == 0 && onWait != nil {
			onWait(holder(ctx, conn))
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("take the target's lock: %w", ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// holder describes the session holding the lock, for the error message.
func holder(ctx context.Context, conn *pgx.Conn) string {
	var pid int32
	var app, client string
	var since time.Time
	err := conn.QueryRow(ctx, `SELECT a.pid, a.application_name, coalesce(host(a.client_addr), 'local'), a.backend_start
		FROM pg_locks l JOIN pg_stat_activity a USING (pid)
		WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		  AND l.classid = $1::int::oid AND l.objid = $2::int::oid AND l.objsubid = 2 LIMIT 1`, lockClass, lockObject).
		Scan(&pid, &app, &client, &since)
	if err != nil {
		return "holder unknown"
	}
	// The pid is the holder's PostgreSQL backend, not the ragmigrate process: said, so that
	// nobody kills a process of this host by that number.
	return fmt.Sprintf("held by the database session of backend pid %d (PostgreSQL's, not ragmigrate's), %q from %s since %s",
		pid, app, client, since.UTC().Format(time.RFC3339))
}

// Release gives the lock back. The session ending releases it too, so a failure here is harmless
// once the connection is closed.
func (l *Lock) Release(ctx context.Context) error {
	if _, err := l.conn.Exec(ctx, `SELECT pg_advisory_unlock($1, $2)`, lockClass, lockObject); err != nil {
		return fmt.Errorf("release the target's lock: %w", err)
	}
	return nil
}
