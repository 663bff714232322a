package loader

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ErrForbiddenAddress marks a URL that resolves to an address a migration has no business
// fetching from: loopback, private, link-local (the cloud metadata service lives at
// 169.254.169.254), multicast or unspecified.
var ErrForbiddenAddress = errors.New("address not allowed")

// blockedPrefixes are refused unless private URLs are allowed.
var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("ff00::/8"),
}

// allowedAddress reports whether ip may be connected to.
func allowedAddress(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range blockedPrefixes {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// guardedClient returns an HTTP client that checks every address it connects to — after DNS
// resolution and on every redirect, since each is a new connection — so neither a hostname that
// resolves to 127.0.0.1 nor a redirect to the metadata address gets through.
func guardedClient(timeout time.Duration, maxRedirects int, allowed func(netip.Addr) bool) *http.Client {
	dialer := &net.Dialer{Timeout: timeout}
	if allowed != nil {
		dialer.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip, err := netip.ParseAddr(host)
			if err != nil {
				return fmt.Errorf("%w: %s", ErrForbiddenAddress, host)
			}
			if !allowed(ip) {
				return fmt.Errorf("%w: %s is loopback, private, link-local or multicast (--allow-private-urls permits it)", ErrForbiddenAddress, ip)
			}
			return nil
		}
	}
	transport := &http.Transport{
		Proxy: nil, // a proxy would connect on our behalf, past the guard
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, addr)
		},
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   4,
	}
	return &http.Client{
		Transport: transport,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			return nil
		},
	}
}
