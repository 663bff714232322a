package embed

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/stretchr/testify/require"
)

func TestCut(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		n    int
		tr   Truncate
		want string
	}{
		{"abcdef", 4, TruncateEnd, "abcd"},
		{"abcdef", 4, TruncateStart, "cdef"},
		{"abc", 4, TruncateEnd, "abc"},
		{"日本語のテキスト", 3, TruncateEnd, "日本語"},
		{"日本語のテキスト", 3, TruncateStart, "キスト"},
		{"éé", 0, TruncateEnd, ""},
		{"éé", 0, TruncateStart, ""},
	} {
		t.Run(fmt.Sprintf("%s%d%s", tc.tr, tc.n, tc.in), func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, cut(tc.in, tc.n, tc.tr))
		})
	}
	require.Equal(t, strings.Repeat("é", 80)+"…", prefix(strings.Repeat("é", 81)))
	require.Equal(t, "short", prefix("short"))
}

func TestParseTruncate(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Truncate{"": TruncateNone, "none": TruncateNone, "END": TruncateEnd, "start": TruncateStart} {
		got, err := ParseTruncate(in)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	_, err := ParseTruncate("middle")
	require.Error(t, err)
}

func TestBackoffIsFullJitterAndBounded(t *testing.T) {
	t.Parallel()
	b := NewBatcher(&Hash{dims: 4}, Options{BackoffBase: 100 * time.Millisecond, BackoffMax: time.Second})
	for attempt := 1; attempt <= 40; attempt++ {
		ceil := min(time.Second, 100*time.Millisecond<<min(attempt-1, 20))
		var maxSeen time.Duration
		for range 200 {
			d := b.backoff(attempt)
			require.GreaterOrEqual(t, d, time.Duration(0))
			require.Less(t, d, ceil)
			maxSeen = max(maxSeen, d)
		}
		require.Greater(t, maxSeen, ceil/2, "attempt %d: jitter spans the range", attempt)
	}
}

func TestInputErrorMessage(t *testing.T) {
	t.Parallel()
	var texts []BadText
	for i := range 7 {
		texts = append(texts, BadText{Index: i * 10, Prefix: "p", Err: &Error{Code: "ValidationException", Message: "bad", Err: errors.New("long sdk text")}})
	}
	msg := (&InputError{Texts: texts}).Error()
	require.Contains(t, msg, "7 texts rejected")
	require.Contains(t, msg, `[#40 "p": ValidationException: bad]`)
	require.NotContains(t, msg, "#50")
	require.Contains(t, msg, "and 2 more")
	require.NotContains(t, msg, "long sdk text")
	require.Contains(t, (&InputError{Texts: texts[:1]}).Error(), "1 text rejected:")
}

// gatedProvider embeds with a Hash but blocks each call until released.
type gatedProvider struct {
	*Hash
	started chan struct{}
	release chan struct{}
}

func (g *gatedProvider) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	g.started <- struct{}{}
	<-g.release
	return g.Hash.Embed(ctx, texts)
}

func TestStatsAreLive(t *testing.T) {
	t.Parallel()
	g := &gatedProvider{Hash: &Hash{dims: 4}, started: make(chan struct{}), release: make(chan struct{})}
	b := NewBatcher(g, Options{MaxBatch: 10})
	done := make(chan error, 1)
	go func() {
		_, _, err := b.EmbedAll(context.Background(), make([]string, 30))
		done <- err
	}()
	<-g.started
	require.Zero(t, b.Stats().Requests)
	g.release <- struct{}{}
	<-g.started // the second request is in flight, the first is counted
	st := b.Stats()
	require.EqualValues(t, 1, st.Requests)
	require.EqualValues(t, 10, st.Texts)
	g.release <- struct{}{}
	<-g.started
	g.release <- struct{}{}
	require.NoError(t, <-done)
	require.EqualValues(t, 3, b.Stats().Requests)
	require.EqualValues(t, 30, b.Stats().Texts)
}

func TestClassifyBedrockWithoutModelledErrors(t *testing.T) {
	t.Parallel()
	response := func(status int, err error) error {
		return &smithy.OperationError{ServiceID: "Bedrock Runtime", OperationName: "InvokeModel", Err: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: err,
		}}
	}
	for _, tc := range []struct {
		name                          string
		err                           error
		retryable, throttle, badInput bool
	}{
		{"BodyBrokeOff", response(200, errors.New("deserialization failed, read tcp 127.0.0.1:1->127.0.0.1:2: use of closed network connection")), true, false, false},
		{"ConnectionReset", fmt.Errorf("send: %w", &net.OpError{Op: "read", Err: errors.New("connection reset by peer")}), true, false, false},
		{"PerRequestTimeout", fmt.Errorf("send: %w", context.DeadlineExceeded), true, false, false},
		{"CallerCancelled", fmt.Errorf("send: %w", context.Canceled), false, false, false},
		{"Unmodelled429", response(429, errors.New("slow down")), true, true, false},
		{"Unmodelled502", response(502, errors.New("bad gateway")), true, false, false},
		{"Unmodelled403", response(403, errors.New("forbidden")), false, false, false},
		{"GenericThrottling", &smithy.GenericAPIError{Code: "ThrottlingException", Message: "m"}, true, true, false},
		{"GenericValidation", &smithy.GenericAPIError{Code: "ValidationException", Message: "m"}, false, false, true},
		{"GenericUnknown", &smithy.GenericAPIError{Code: "SomethingNew", Message: "m"}, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var pe *Error
			require.ErrorAs(t, ClassifyBedrock(tc.err), &pe)
			require.Equal(t, [3]bool{tc.retryable, tc.throttle, tc.badInput}, [3]bool{pe.Retryable(), pe.Throttle(), pe.BadInput()})
			require.ErrorIs(t, pe, tc.err)
		})
	}
	require.NoError(t, ClassifyBedrock(nil))
}
