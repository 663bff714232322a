package awssim_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/awssim"
)

// TestDispatch checks that each protocol reaches its service, that a query handler can read
// the form the dispatcher looked at, and that an unknown call gets the protocol's error.
func TestDispatch(t *testing.T) {
	s := awssim.New()
	s.HandleJSON("secretsmanager", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		awssim.WriteJSON(w, map[string]string{"via": "json " + r.Header.Get("X-Amz-Target")})
	}))
	s.HandleQuery("2010-05-15", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Error(err)
		}
		_, _ = io.WriteString(w, "query "+r.PostForm.Get("Action"))
	}))
	srv := httptest.NewServer(s)
	defer srv.Close()

	post := func(target, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(body))
		if target != "" {
			req.Header.Set("X-Amz-Target", target)
		} else {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post("secretsmanager.GetSecretValue", "{}"); code != 200 || !strings.Contains(body, "json secretsmanager.GetSecretValue") {
		t.Errorf("json: %d %s", code, body)
	}
	form := url.Values{"Action": {"DescribeStacks"}, "Version": {"2010-05-15"}}.Encode()
	if code, body := post("", form); code != 200 || body != "query DescribeStacks" {
		t.Errorf("query: %d %s", code, body)
	}
	if code, body := post("Logs_20140328.GetLogEvents", "{}"); code != 400 || !strings.Contains(body, "UnknownOperationException") {
		t.Errorf("unknown json: %d %s", code, body)
	}
	other := url.Values{"Action": {"DescribeDBClusters"}, "Version": {"2014-10-31"}}.Encode()
	if code, body := post("", other); code != 400 || !strings.Contains(body, "<Code>InvalidAction</Code>") {
		t.Errorf("unknown query: %d %s", code, body)
	}
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestState: a first start finds no file and keeps what it has; a saved state loads back; a
// corrupt file is an error naming it; "" keeps state in memory only.
func TestState(t *testing.T) {
	file := filepath.Join(t.TempDir(), "svc.json")
	got := map[string]int{"kept": 1}
	require.NoError(t, awssim.LoadState(file, &got))
	require.Equal(t, map[string]int{"kept": 1}, got)

	require.NoError(t, awssim.SaveState(file, map[string]int{"a": 2}))
	got = nil
	require.NoError(t, awssim.LoadState(file, &got))
	require.Equal(t, map[string]int{"a": 2}, got)
	fi, err := os.Stat(file)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "state may hold passwords")

	require.NoError(t, os.WriteFile(file, []byte("{"), 0o600))
	require.ErrorContains(t, awssim.LoadState(file, &got), file)

	require.NoError(t, awssim.SaveState("", got))
	require.NoError(t, awssim.LoadState("", &got))
}
