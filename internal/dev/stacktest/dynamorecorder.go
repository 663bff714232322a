package stacktest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// DynamoDBCall is one request a DynamoDBRecorder passed on.
type DynamoDBCall struct {
	// Operation is the X-Amz-Target's operation (GetItem, UpdateItem, Scan, ...).
	Operation string
	// AccessKeyID is the access key id of the credentials that signed the request.
	AccessKeyID string
	// PK is the partition key of the item the request names (Key.PK.S), if any.
	PK string
}

// DynamoDBRecorder is a reverse proxy in front of the stack's DynamoDB (dynalite, which checks
// no signature) that records who signed each request: what proves that a client reached the
// table with the credentials it was meant to use.
type DynamoDBRecorder struct {
	// URL is the proxy's address, for AWS_ENDPOINT_URL_DYNAMODB.
	URL string

	mu    sync.Mutex
	calls []DynamoDBCall
}

var credentialKey = regexp.MustCompile(`Credential=([^/,\s]+)/`)

// RecordDynamoDB starts a DynamoDBRecorder in front of AWS_ENDPOINT_URL_DYNAMODB; it stops when
// the test ends.
func RecordDynamoDB(t testing.TB) *DynamoDBRecorder {
	t.Helper()
	upstream, err := url.Parse(Getenv(t, "AWS_ENDPOINT_URL_DYNAMODB"))
	require.NoError(t, err)
	r := &DynamoDBRecorder{}
	proxy := httputil.NewSingleHostReverseProxy(upstream)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		var in struct {
			Key struct {
				PK struct{ S string }
			}
		}
		_ = json.Unmarshal(body, &in)
		call := DynamoDBCall{PK: in.Key.PK.S}
		_, call.Operation, _ = strings.Cut(req.Header.Get("X-Amz-Target"), ".")
		if m := credentialKey.FindStringSubmatch(req.Header.Get("Authorization")); m != nil {
			call.AccessKeyID = m[1]
		}
		r.mu.Lock()
		r.calls = append(r.calls, call)
		r.mu.Unlock()
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// Calls are the requests passed on so far, in order.
func (r *DynamoDBRecorder) Calls() []DynamoDBCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}
