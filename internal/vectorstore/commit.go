package vectorstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// CommitWait bounds a COMMIT that an interrupt does not cancel.
const CommitWait = time.Minute

// Commit commits tx on a context an interrupt does not cancel. A COMMIT abandoned on the
// client side may still commit on the server: the caller would then report as not done what
// the target holds (a copy run, a part, a bot), so once ragmigrate decides to commit it waits
// for the outcome, up to CommitWait.
func Commit(ctx context.Context, tx pgx.Tx) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), CommitWait)
	defer cancel()
	return tx.Commit(cctx)
}
