package stacktest

import (
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// SilentListener returns the address (host:port) of a loopback listener that accepts every
// connection and never answers: a server that hangs, for tests of the waits that must end.
func SilentListener(t testing.TB) string {
	t.Helper()
	addr, _ := NotifyingSilentListener(t)
	return addr
}

// NotifyingSilentListener is SilentListener that also says on the channel when it has accepted
// a connection: the client is then waiting for an answer.
func NotifyingSilentListener(t testing.TB) (addr string, accepted <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ch := make(chan struct{}, 1)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			select {
			case ch <- struct{}{}:
			default:
			}
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
	return ln.Addr().String(), ch
}
