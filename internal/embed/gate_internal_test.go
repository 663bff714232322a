package embed

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/stretchr/testify/require"
)

// TestGateHoldsBackAtTheWire: the Bedrock client asks the gate after the
// request is signed; a closed gate sends nothing.
func TestGateHoldsBackAtTheWire(t *testing.T) {
	var hits atomic.Int64
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"embeddings":[[0.1]]}`))
	}))
	t.Cleanup(hs.Close)
	client := NewBedrockClient(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDGATE", "secret", "")},
		func(o *bedrockruntime.Options) { o.BaseEndpoint = aws.String(hs.URL) })
	p := NewBedrockCohere(client, CohereOptions{})
	_, _, err := p.EmbedCounted(withGate(t.Context(), func() bool { return false }), []string{"a"})
	require.ErrorIs(t, err, errHeldBack)
	require.Zero(t, hits.Load(), "a held-back request reached the server")
	_, _, err = p.EmbedCounted(withGate(t.Context(), func() bool { return true }), []string{"a"})
	require.NoError(t, err)
	require.EqualValues(t, 1, hits.Load())
}

// gateProvider is the wire: the first request is throttled once the second
// has been let go by the limiter and is about to be sent; the second then
// finds the gate closed, as it would between signing and sending.
type gateProvider struct {
	Hash
	second    chan struct{} // the second request is at the wire
	throttled chan struct{} // the Batcher has taken the first one's throttle

	mu       sync.Mutex
	calls    int
	wire     int // requests that went on the wire
	heldBack int
}

func (p *gateProvider) MaxBatch() int { return 1 }

func (p *gateProvider) EmbedCounted(ctx context.Context, texts []string) ([][]float32, int, error) {
	p.mu.Lock()
	p.calls++
	call := p.calls
	p.mu.Unlock()
	switch call {
	case 1:
		<-p.second
		p.mu.Lock()
		p.wire++
		p.mu.Unlock()
		return nil, -1, &Error{Code: "ThrottlingException", class: classThrottle}
	case 2:
		close(p.second)
		<-p.throttled
	}
	if !gateOpen(ctx) {
		p.mu.Lock()
		p.heldBack++
		p.mu.Unlock()
		return nil, -1, errHeldBack
	}
	p.mu.Lock()
	p.wire++
	p.mu.Unlock()
	vecs, err := p.Hash.Embed(ctx, texts)
	return vecs, -1, err
}

// signalLimiter never waits; it signals the first throttle and counts the
// requests taken back.
type signalLimiter struct {
	throttled chan struct{}
	once      sync.Once
	unsent    atomic.Int64
}

func (*signalLimiter) Wait(context.Context, int) error { return nil }
func (l *signalLimiter) OnThrottle()                   { l.once.Do(func() { close(l.throttled) }) }
func (*signalLimiter) OnSuccess()                      {}
func (l *signalLimiter) Unsent(int)                    { l.unsent.Add(1) }

// TestRequestLetGoBeforeAThrottleIsHeldBack: a request the limiter let go
// before the provider's throttle of another came back is not sent; it goes
// back to the limiter (which knows the throttle now), and is sent then,
// once. Before the gate it was sent, and throttled too.
func TestRequestLetGoBeforeAThrottleIsHeldBack(t *testing.T) {
	throttled := make(chan struct{})
	p := &gateProvider{Hash: Hash{dims: 4}, second: make(chan struct{}), throttled: throttled}
	lim := &signalLimiter{throttled: throttled}
	b := NewBatcher(p, Options{Limiter: lim, Concurrency: 2, BackoffBase: 1, BackoffMax: 1})
	vecs, st, err := b.EmbedAll(t.Context(), []string{"a", "b"})
	require.NoError(t, err)
	require.Len(t, vecs, 2)
	require.Equal(t, 1, p.heldBack)
	require.EqualValues(t, 1, lim.unsent.Load(), "the limiter took the held-back request back")
	require.Equal(t, 3, p.wire, "the throttled one, its retry and the held-back one, once")
	require.EqualValues(t, 3, st.Requests, "a request held back was not sent")
	require.EqualValues(t, 1, st.Throttles)
}
