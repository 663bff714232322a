package vectorstore_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

func TestSessionTimeouts(t *testing.T) {
	t.Parallel()
	url := stacktest.Database(t, "RAGMIGRATE_TARGET_DB")
	show := func(t *testing.T, url string, to vectorstore.Timeouts) (statement string, connect time.Duration) {
		t.Helper()
		ctx := stacktest.Context(t)
		conn, err := vectorstore.Connect(ctx, url, "test", to)
		require.NoError(t, err)
		defer conn.Close(ctx)
		require.NoError(t, conn.QueryRow(ctx, "SHOW statement_timeout").Scan(&statement))
		return statement, conn.Config().ConnectTimeout
	}
	t.Run("Defaults", func(t *testing.T) {
		st, ct := show(t, url, vectorstore.Timeouts{})
		require.Equal(t, "30min", st)
		require.Equal(t, vectorstore.DefaultConnectTimeout, ct)
	})
	t.Run("Flags", func(t *testing.T) {
		st, ct := show(t, url, vectorstore.Timeouts{Connect: 3 * time.Second, Statement: 90 * time.Second})
		require.Equal(t, "90s", st)
		require.Equal(t, 3*time.Second, ct)
	})
	t.Run("URLWins", func(t *testing.T) {
		sep := "?"
		if strings.Contains(url, "?") {
			sep = "&"
		}
		st, ct := show(t, url+sep+"statement_timeout=5000&connect_timeout=7", vectorstore.Timeouts{Connect: 3 * time.Second, Statement: 90 * time.Second})
		require.Equal(t, "5s", st)
		require.Equal(t, 7*time.Second, ct)
	})
	t.Run("Pool", func(t *testing.T) {
		ctx := stacktest.Context(t)
		pool, err := vectorstore.NewPool(ctx, url, "test", 2, vectorstore.Timeouts{Connect: 2 * time.Second, Statement: 42 * time.Second})
		require.NoError(t, err)
		defer pool.Close()
		var st string
		require.NoError(t, pool.QueryRow(ctx, "SHOW statement_timeout").Scan(&st))
		require.Equal(t, "42s", st)
		require.Equal(t, 2*time.Second, pool.Config().ConnConfig.ConnectTimeout)
	})
}
