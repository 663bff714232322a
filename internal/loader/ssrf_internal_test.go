package loader

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAllowedAddress(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"93.184.216.34": true, "2606:4700::1111": true,
		"127.0.0.1": false, "127.8.9.10": false, "::1": false, "10.1.2.3": false, "172.16.0.1": false,
		"192.168.1.1": false, "169.254.169.254": false, "fe80::1": false, "fd00::1": false,
		"224.0.0.1": false, "0.0.0.0": false, "::ffff:127.0.0.1": false, "100.64.0.1": false,
	} {
		require.Equal(t, want, allowedAddress(netip.MustParseAddr(addr)), addr)
	}
}

// TestRedirectsAreCheckedToo: the first hop is allowed, the redirect's target is not. The guard
// runs before connect(), so nothing is ever sent to the refused address.
func TestRedirectsAreCheckedToo(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/metadata", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
	})
	mux.HandleFunc("/loopback", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.2:1/", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	first := netip.MustParseAddr("127.0.0.1")
	f := &Fetcher{allowed: func(ip netip.Addr) bool { return ip == first }} // only the test server
	for _, path := range []string{"/metadata", "/loopback"} {
		_, err := f.URL(context.Background(), srv.URL+path)
		require.ErrorIs(t, err, ErrForbiddenAddress, path)
		require.ErrorContains(t, err, srv.URL+path, "the source is named")
	}

	// The default policy refuses the loopback test server itself.
	_, err := (&Fetcher{}).URL(context.Background(), srv.URL+"/metadata")
	require.ErrorIs(t, err, ErrForbiddenAddress)
}
