package docstore_test

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/docstore"
)

// cuttingProxy forwards TCP to the stack's S3 server and breaks the first cuts connections
// after cutAfter bytes of response, as a connection dying mid-download does. It records each
// request's Range header.
type cuttingProxy struct {
	addr     string
	cuts     int32
	cutAfter int64
	conns    atomic.Int32
	mu       sync.Mutex
	ranges   []string
}

func startCuttingProxy(t *testing.T, upstream string, cuts int32, cutAfter int64) *cuttingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	p := &cuttingProxy{addr: ln.Addr().String(), cuts: cuts, cutAfter: cutAfter}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := p.conns.Add(1)
			go p.serve(c, upstream, n <= p.cuts)
		}
	}()
	return p
}

func (p *cuttingProxy) serve(client net.Conn, upstream string, cut bool) {
	defer client.Close()
	server, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	defer server.Close()
	go func() {
		// Requests: forwarded whole, their Range headers noted.
		buf := make([]byte, 32<<10)
		for {
			n, err := client.Read(buf)
			if n > 0 {
				for _, line := range strings.Split(string(buf[:n]), "\r\n") {
					if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "Range") {
						p.mu.Lock()
						p.ranges = append(p.ranges, strings.TrimSpace(v))
						p.mu.Unlock()
					}
				}
				server.Write(buf[:n])
			}
			if err != nil {
				server.Close()
				return
			}
		}
	}()
	if cut {
		io.CopyN(client, server, p.cutAfter)
		return // both ends closed mid-body
	}
	io.Copy(client, server)
}

func TestReadAllResumesABrokenDownload(t *testing.T) {
	t.Parallel()
	ctx := stacktest.Context(t)
	clients := stacktest.AWS(t)
	bucket := stacktest.Bucket(t, clients.S3)
	store := docstore.New(clients.S3, bucket)
	require.NoError(t, store.EnsureBucket(ctx))
	body := make([]byte, 3<<20)
	rand.Read(body)
	require.NoError(t, store.Put(ctx, "u/b/documents/big.pdf", body, "application/pdf"))

	endpoint, err := url.Parse(stacktest.Getenv(t, "AWS_ENDPOINT_URL_S3"))
	require.NoError(t, err)
	through := func(p *cuttingProxy) *docstore.Store {
		c := s3.NewFromConfig(clients.Config, func(o *s3.Options) {
			o.BaseEndpoint = aws.String("http://" + p.addr)
			o.UsePathStyle = true
		})
		return docstore.New(c, bucket)
	}

	t.Run("Resumed", func(t *testing.T) {
		t.Parallel()
		// The first two connections die after 1 MiB each (headers included).
		p := startCuttingProxy(t, endpoint.Host, 2, 1<<20)
		got, err := through(p).ReadAll(ctx, "u/b/documents/big.pdf", 4<<20)
		require.NoError(t, err)
		require.True(t, bytes.Equal(body, got), "the resumed download is byte for byte the object")
		p.mu.Lock()
		defer p.mu.Unlock()
		require.Len(t, p.ranges, 2, "two resumes, each a ranged GET: %v", p.ranges)
		for _, r := range p.ranges {
			require.Regexp(t, `^bytes=[1-9][0-9]*-$`, r, "a resume asks only for the rest")
		}
	})

	t.Run("GivesUp", func(t *testing.T) {
		t.Parallel()
		p := startCuttingProxy(t, endpoint.Host, 1000, 256<<10)
		_, err := through(p).ReadAll(ctx, "u/b/documents/big.pdf", 4<<20)
		require.Error(t, err)
		require.Contains(t, err.Error(), "s3://"+bucket+"/u/b/documents/big.pdf")
		require.Contains(t, err.Error(), "resumed 3 times")
	})

	t.Run("LimitStillHolds", func(t *testing.T) {
		t.Parallel()
		_, err := store.ReadAll(ctx, "u/b/documents/big.pdf", 1<<20)
		require.ErrorContains(t, err, "larger than the 1048576-byte limit for one file (--max-file-bytes)")
	})
}
