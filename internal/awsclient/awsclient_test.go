package awsclient_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/awsclient"
	"github.com/ragmigrate/ragmigrate/internal/stacktest"
)

// load builds the clients with timeout, sending every request to url.
func load(t *testing.T, timeout time.Duration) *awsclient.Clients {
	t.Helper()
	c, err := awsclient.Load(t.Context(), awsclient.Options{Region: "us-east-1", S3PathStyle: true, Timeout: timeout, MaxAttempts: 2})
	require.NoError(t, err)
	return c
}

var creds = credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")

// TestSilentEndpointFails: a DynamoDB endpoint that accepts and never answers fails each attempt
// within the timeout; the caller's own (much longer) deadline is not what ends the call.
func TestSilentEndpointFails(t *testing.T) {
	t.Parallel()
	c := load(t, 300*time.Millisecond)
	url := "http://" + stacktest.SilentListener(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	_, err := c.DynamoDB.ListTables(ctx, &dynamodb.ListTablesInput{}, func(o *dynamodb.Options) {
		o.BaseEndpoint, o.Credentials = aws.String(url), creds
	})
	require.Regexp(t, `timeout awaiting response headers|nothing to receive for 300ms`, err.Error())
	require.NoError(t, ctx.Err(), "the client's timeout ended the call, not the caller's deadline")
}

// body serves one object whose body comes in pieces with a pause after each; stallAfter > 0
// stops sending (and holds the connection) after that many pieces.
func body(t *testing.T, pieces int, pause time.Duration, stallAfter int) (url string, want string) {
	t.Helper()
	piece := strings.Repeat("x", 100)
	want = strings.Repeat(piece, pieces)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(want)))
		w.Header().Set("ETag", `"e"`)
		w.WriteHeader(http.StatusOK)
		for i := range pieces {
			if stallAfter > 0 && i == stallAfter {
				select {
				case <-release:
				case <-r.Context().Done():
				}
				return
			}
			_, _ = io.WriteString(w, piece)
			w.(http.Flusher).Flush()
			time.Sleep(pause) // a slow network, not synchronisation
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	return srv.URL, want
}

func getObject(t *testing.T, c *awsclient.Clients, url string) (string, error) {
	t.Helper()
	out, err := c.S3.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("k")}, func(o *s3.Options) {
		o.BaseEndpoint, o.Credentials = aws.String(url), creds
	})
	require.NoError(t, err, "the headers come at once")
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return string(b), err
}

// TestSlowBodyIsNotCut: the timeout bounds pauses, not the whole body: a download that takes
// several times the timeout, with bytes arriving all along, completes.
func TestSlowBodyIsNotCut(t *testing.T) {
	t.Parallel()
	c := load(t, time.Second)
	url, want := body(t, 120, 25*time.Millisecond, 0)
	start := time.Now()
	got, err := getObject(t, c, url)
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.Greater(t, time.Since(start), time.Second, "the download outlasted the timeout")
}

// TestStalledBodyFails: a body that stops coming fails the read within the timeout, so that the
// caller (docstore resumes downloads) can act.
func TestStalledBodyFails(t *testing.T) {
	t.Parallel()
	c := load(t, 300*time.Millisecond)
	url, _ := body(t, 50, 0, 10)
	got, err := getObject(t, c, url)
	require.ErrorContains(t, err, "nothing to receive for 300ms (--aws-timeout)")
	require.Len(t, got, 1000, "the pieces before the stall were read")
	require.NoError(t, t.Context().Err())
}

// TestSlowUploadIsNotCut: a request body that takes several times the timeout to send, with
// bytes leaving all along, is not cut either (the answer is not due while the request is sent).
func TestSlowUploadIsNotCut(t *testing.T) {
	t.Parallel()
	got := make(chan int64, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		got <- n
	}))
	t.Cleanup(srv.Close)
	c := load(t, time.Second)
	pr, pw := io.Pipe()
	go func() {
		for range 100 {
			if _, err := pw.Write(make([]byte, 100)); err != nil {
				return
			}
			time.Sleep(25 * time.Millisecond) // a slow network, not synchronisation
		}
		pw.Close()
	}()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, srv.URL, pr)
	require.NoError(t, err)
	start := time.Now()
	resp, err := c.Config.HTTPClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.EqualValues(t, 10000, <-got)
	require.Greater(t, time.Since(start), time.Second, "the upload outlasted the timeout")
}
