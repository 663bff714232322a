package main

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// silentListener accepts TCP connections and never answers on them: a host whose port is open
// and whose service is hung. It returns host:port.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never written to
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func TestStatusSilentDatabaseTimesOut(t *testing.T) {
	t.Parallel()
	addr := silentListener(t)
	start := time.Now()
	r := ragmigrate(t, nil, "status", "--target-db", "postgres://u:hunter2-secret@"+addr+"/db", "--db-connect-timeout", "1s")
	elapsed := time.Since(start)
	require.Equal(t, 1, r.code, r.stderr)
	require.Contains(t, r.stderr, addr)
	require.Contains(t, r.stderr, "connect timeout of 1s")
	require.NotContains(t, r.stdout+r.stderr, "hunter2-secret")
	// Not a timing assertion on the bound itself: the process must end, long before the 5 minutes
	// the helper allows, which a hang would reach.
	require.Less(t, elapsed, time.Minute)
}

func TestStatusDatabaseTimeoutFromEnvironment(t *testing.T) {
	t.Parallel()
	addr := silentListener(t)
	r := ragmigrate(t, []string{"RAGMIGRATE_DB_CONNECT_TIMEOUT=700ms"}, "status", "--target-db", "postgres://u:p@"+addr+"/db")
	require.Equal(t, 1, r.code, r.stderr)
	require.Contains(t, r.stderr, "connect timeout of 700ms")
}

func TestTimeoutFlagsValidated(t *testing.T) {
	t.Parallel()
	for name, args := range map[string][]string{
		"ZeroConnect":       {"--db-connect-timeout", "0s"},
		"NegativeConnect":   {"--db-connect-timeout", "-1s"},
		"ZeroStatement":     {"--db-statement-timeout", "0"},
		"NegativeStatement": {"--db-statement-timeout", "-5m"},
		"ZeroAWS":           {"--aws-timeout", "0s"},
		"NotADuration":      {"--aws-timeout", "soon"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := ragmigrate(t, nil, append([]string{"status", "--target-db", "postgres://u:p@127.0.0.1:1/db"}, args...)...)
			require.Equal(t, exitUsage, r.code, r.stderr)
		})
	}
}

func TestHelpNamesTimeouts(t *testing.T) {
	t.Parallel()
	r := ragmigrate(t, nil, "--help")
	require.Zero(t, r.code, r.stderr)
	for _, want := range []string{"--db-connect-timeout", "RAGMIGRATE_DB_CONNECT_TIMEOUT", "--db-statement-timeout",
		"RAGMIGRATE_DB_STATEMENT_TIMEOUT", "--aws-timeout", "RAGMIGRATE_AWS_TIMEOUT"} {
		require.Contains(t, r.stdout, want)
	}
}
