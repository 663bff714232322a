package main

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/bedrocksim"
	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/reembed"
	"github.com/ragmigrate/ragmigrate/internal/stacktest"
)

func TestStatusSilentDatabaseTimesOut(t *testing.T) {
	t.Parallel()
	addr := stacktest.SilentListener(t)
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
	addr := stacktest.SilentListener(t)
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

// providerBundle is a small seeded deployment, for runs whose embedding provider fails: no exact
// plan is needed, since no bot gets vectors.
type providerBundle struct {
	env    []string // stack endpoints; the test adds AWS_ENDPOINT_URL_BEDROCK_RUNTIME
	args   []string
	report string
	bots   *botstore.Store
	target string
	before map[string]botstore.Bot // every bot as seeded
}

func setupProviderRun(t *testing.T, bots int) *providerBundle {
	t.Helper()
	clients := stacktest.AWS(t)
	table, bucket := stacktest.Table(t, clients.DynamoDB), stacktest.Bucket(t, clients.S3)
	src, target := stacktest.Database(t, "RAGMIGRATE_SOURCE_DB"), stacktest.Database(t, "RAGMIGRATE_TARGET_DB")
	env := stackEnv(t)
	r := ragmigrate(t, env, "dev", "seed", "--yes", "--json", "--bots", strconv.Itoa(bots), "--table", table, "--bucket", bucket, "--source-db", src, "--no-target")
	require.Zero(t, r.code, r.stderr)
	report := filepath.Join(t.TempDir(), "r.json")
	b := &providerBundle{env: env, report: report, args: []string{"reembed", "--yes", "--rpm", "0", "--report", report,
		"--table", table, "--bucket", bucket, "--target-db", target, "--truncate", "END", "--allow-private-urls", "--concurrency", "3", "--create-missing"},
		bots: botstore.New(clients.DynamoDB, table), target: target}
	b.before = b.scan(t)
	return b
}

func (b *providerBundle) scan(t *testing.T) map[string]botstore.Bot {
	t.Helper()
	out := map[string]botstore.Bot{}
	require.NoError(t, b.bots.ScanBots(t.Context(), func(bot *botstore.Bot) error {
		out[bot.ID] = *bot
		return nil
	}, func(*botstore.DecodeError) error { return nil }))
	return out
}

// requireUntouched checks that the operator's problem failed no bot: every bot with knowledge
// has the SyncStatus, reason and LastExecId it had before the run, and its job is still to do.
func (b *providerBundle) requireUntouched(t *testing.T) {
	t.Helper()
	for id, now := range b.scan(t) {
		was := b.before[id]
		if now.Knowledge.Empty() {
			continue // no contents to embed: SUCCEEDED, as the app's task would say
		}
		require.Equal(t, []string{string(was.SyncStatus), was.SyncStatusReason, was.LastExecID},
			[]string{string(now.SyncStatus), now.SyncStatusReason, now.LastExecID}, "bot %s", id)
	}
	conn, err := pgx.Connect(t.Context(), b.target)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	var failed int
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT count(*) FROM ragmigrate.bot_jobs WHERE status = 'failed'`).Scan(&failed))
	require.Zero(t, failed, "no bot failed for the provider's refusal")
}

// reportOf reads the run's JSON report.
func (b *providerBundle) reportOf(t *testing.T) reembed.Summary {
	t.Helper()
	raw, err := os.ReadFile(b.report)
	require.NoError(t, err)
	var s reembed.Summary
	require.NoError(t, json.Unmarshal(raw, &s))
	return s
}

// TestReembedStopsWhenBedrockDeniesEveryCall: with AccessDeniedException on every call, the
// run sends a handful of requests, not one per bot and retry, names the cause once, and bills
// nothing.
func TestReembedStopsWhenBedrockDeniesEveryCall(t *testing.T) {
	t.Parallel()
	b := setupProviderRun(t, 9)
	sim := bedrocksim.New(bedrocksim.Knobs{FailRate: 1, FailError: "AccessDeniedException"}, nil)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	r := ragmigrate(t, append(b.env, "AWS_ENDPOINT_URL_BEDROCK_RUNTIME="+srv.URL), b.args...)
	require.Equal(t, 1, r.code, r.stderr)
	require.Contains(t, r.stderr, "embedding stopped: bedrock in us-east-1 denies InvokeModel on cohere.embed-multilingual-v3: AccessDeniedException")
	require.Contains(t, r.stderr, "grant bedrock:InvokeModel")
	// Requests already in flight when the first denial came back: at most one per bot worker.
	require.LessOrEqual(t, sim.Stats().Requests, int64(3))
	s := b.reportOf(t)
	require.Zero(t, s.Tokens)
	require.Zero(t, s.ActualUSD)
	require.Contains(t, r.stdout, "· 0 tokens · $0.0000 (estimated")
	b.requireUntouched(t)
}

// TestReembedStopsWhenBedrockIsSilent: an endpoint that accepts connections and never answers
// stops the run once no request has succeeded for --provider-timeout, naming the endpoint and
// the time waited, instead of logging "done=0" for ever.
func TestReembedStopsWhenBedrockIsSilent(t *testing.T) {
	t.Parallel()
	b := setupProviderRun(t, 6)
	url := "http://" + stacktest.SilentListener(t)
	r := ragmigrate(t, append(b.env, "AWS_ENDPOINT_URL_BEDROCK_RUNTIME="+url),
		append(b.args, "--request-timeout", "300ms", "--provider-timeout", "2s")...)
	require.Equal(t, 1, r.code, r.stderr)
	require.Contains(t, r.stderr, "embedding stopped: no embedding request to cohere.embed-multilingual-v3 at "+url+" succeeded for 2s (--provider-timeout): no answer within ")
	s := b.reportOf(t)
	require.Zero(t, s.Tokens)
	require.Zero(t, s.ActualUSD)
	b.requireUntouched(t)
}

func TestReembedTimeoutFlagsValidated(t *testing.T) {
	t.Parallel()
	for name, args := range map[string][]string{
		"ZeroRequest":      {"--request-timeout", "0s"},
		"NegativeRequest":  {"--request-timeout", "-1s"},
		"ZeroProvider":     {"--provider-timeout", "0s"},
		"NegativeProvider": {"--provider-timeout", "-2m"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := ragmigrate(t, nil, append([]string{"reembed", "--yes", "--table", "t", "--bucket", "b", "--target-db", "postgres://u:p@127.0.0.1:1/db"}, args...)...)
			require.Equal(t, exitUsage, r.code, r.stderr)
			require.Contains(t, r.stderr, "timeout")
		})
	}
}
