package main

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/bedrocksim"
	"github.com/ragmigrate/ragmigrate/internal/dev/seed"
	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
)

// conformanceBots is how many bots the conformance deployments hold. The seed's profiles cycle,
// and the first five (handbook, web-faq, no-knowledge, legacy-v0.4.5, published-api) are a
// healthy deployment: every bot SUCCEEDED and every source readable. The contract is that a
// migration of a healthy deployment verifies clean. The later profiles are the app's own damage,
// which 'verify' reports whatever the strategy (a bot stuck RUNNING, one QUEUED, unreadable
// uploads that make a re-embed exit 1 by design); the strategies' own tests cover them.
const conformanceBots = 5

// conformanceStrategy is one way of migrating a deployment, as the conformance test drives it
// through the real binary. A new strategy adds an entry to conformanceStrategies.
type conformanceStrategy struct {
	name string
	// seed are extra flags of 'dev seed'.
	seed []string
	// args is the migrating command line for a deployment; killable are the flags added to the
	// run that is killed and to its resume, resume those added to the resume only.
	args     func(d *conformanceDeployment) []string
	killable []string
	resume   []string
	// progress is SQL on the target giving the units of work the journal shows finished, and
	// all there are: the kill waits for killAt finished, and must come before all are.
	progress string
	killAt   int64
	// answered is how many embedding requests the contract server answers in the killed run
	// before it holds every later one, so that the run cannot finish before the kill (0: the
	// strategy asks no provider, and killable slows it instead).
	answered int64
}

var conformanceStrategies = []conformanceStrategy{
	{
		name: "Reembed",
		args: func(d *conformanceDeployment) []string {
			// --truncate END and --create-missing as in setupReembed: the target is an empty
			// database, and a dense CJK chunk may exceed Cohere's window. --batch-linger 0: each
			// bot sends its own requests (a bot's ≤96 chunks in one), so that the gate lets some
			// bots finish and holds the others; the Coalescer has its own tests.
			return []string{"reembed", "--yes", "--rpm", "0", "--table", d.table, "--bucket", d.bucket, "--target-db", d.target,
				"--truncate", "END", "--allow-private-urls", "--create-missing", "--batch-linger", "0", "--report", filepath.Join(d.dir, "report.json")}
		},
		// A re-run resumes the unfinished run by itself.
		progress: `SELECT count(*) FILTER (WHERE status <> 'pending'), count(*) FROM ragmigrate.bot_jobs`,
		// Four bots have knowledge: two finish, two are left mid-run; the bot without knowledge
		// needs no request.
		answered: 2,
		killAt:   3,
	},
	{
		name: "Copy",
		// Benchmark rows make the copy several parts long, so that a kill lands between parts.
		seed: []string{"--rows", "1500"},
		args: func(d *conformanceDeployment) []string {
			return []string{"copy", "--yes", "--source-db", d.source, "--target-db", d.target, "--create-missing", "--part-size", "1MB"}
		},
		// ~7 MB at 1 MiB/s: the kill lands in the middle of the data phase.
		killable: []string{"--max-rate", "1MB"},
		resume:   []string{"--resume"},
		progress: `SELECT count(*) FILTER (WHERE done_at IS NOT NULL), count(*) FROM ragmigrate.copy_parts`,
		killAt:   2,
	},
}

// TestConformance runs every strategy through the same contract on a seeded deployment: the
// migration exits 0 and 'verify' (bots, sources and the old cluster against the target) exits 0;
// killed with SIGKILL mid-run, the resumed migration exits 0 and verifies with exactly the result
// of the uninterrupted one.
func TestConformance(t *testing.T) {
	t.Parallel()
	for _, s := range conformanceStrategies {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			whole := setupConformance(t, s)
			r := ragmigrate(t, whole.env, s.args(whole)...)
			require.Zero(t, r.code, r.stdout+r.stderr)
			want := whole.verify(t)

			killed := setupConformance(t, s)
			killed.bedrock.hold(s.answered)
			args := append(s.args(killed), s.killable...)
			cmd, stderr := startRagmigrate(t, killed.env, args...)
			conn := connectTest(t, killed.target)
			var done, total int64
			require.Eventually(t, func() bool {
				// (Until the run has made its journal, the query fails.)
				err := conn.QueryRow(t.Context(), s.progress).Scan(&done, &total)
				return err == nil && done >= s.killAt && (s.answered == 0 || killed.bedrock.held.Load() > 0)
			}, 2*time.Minute, 20*time.Millisecond, "the journal never showed progress: %s", stderr)
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			requireKilled(t, cmd, stderr)
			require.NoError(t, conn.QueryRow(t.Context(), s.progress).Scan(&done, &total))
			require.Less(t, done, total, "the kill came too late: the journal shows all work finished")
			t.Logf("killed with %d of %d finished", done, total)

			killed.bedrock.open()
			r = ragmigrate(t, killed.env, append(args, s.resume...)...)
			require.Zero(t, r.code, r.stdout+r.stderr)
			got := killed.verify(t)
			require.Equal(t, want, got, "the resumed run ends where the uninterrupted one did")
		})
	}
}

// requireKilled waits for a process sent SIGKILL and requires that the signal ended it: a run
// that had already exited was not killed mid-run.
func requireKilled(t *testing.T, cmd *exec.Cmd, stderr *syncBuffer) {
	t.Helper()
	err := cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, stderr.String())
	ws, ok := ee.Sys().(syscall.WaitStatus)
	require.True(t, ok)
	require.True(t, ws.Signaled() && ws.Signal() == syscall.SIGKILL, "the run exited by itself (%v) before the kill: %s", err, stderr)
}

// conformanceDeployment is a seeded deployment with an empty target database, its own contract
// server, and a place for reports.
type conformanceDeployment struct {
	env                           []string
	table, bucket, source, target string
	dir                           string
	bedrock                       *bedrockGate
}

func setupConformance(t *testing.T, s conformanceStrategy) *conformanceDeployment {
	t.Helper()
	clients := stacktest.AWS(t)
	d := &conformanceDeployment{
		table: stacktest.Table(t, clients.DynamoDB), bucket: stacktest.Bucket(t, clients.S3),
		source: stacktest.Database(t, "RAGMIGRATE_SOURCE_DB"), target: stacktest.Database(t, "RAGMIGRATE_TARGET_DB"),
		dir: t.TempDir(), bedrock: newBedrockGate(),
	}
	srv := httptest.NewServer(d.bedrock.wrap(bedrocksim.New(bedrocksim.Knobs{}, nil)))
	t.Cleanup(srv.Close)
	t.Cleanup(d.bedrock.open) // a held request ends, or srv.Close waits for it
	d.env = append(stackEnv(t), "AWS_ENDPOINT_URL_BEDROCK_RUNTIME="+srv.URL)
	args := append([]string{"dev", "seed", "--yes", "--json", "--bots", strconv.Itoa(conformanceBots),
		"--table", d.table, "--bucket", d.bucket, "--source-db", d.source, "--no-target"}, s.seed...)
	r := ragmigrate(t, d.env, args...)
	require.Zero(t, r.code, r.stderr)
	var expect seed.Expect
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &expect))
	require.Empty(t, expect.Unreadable, "the conformance deployment holds no bot whose sources cannot be read")
	require.Equal(t, conformanceBots, expect.Bots)
	return d
}

// conformanceResult is what a migration of a deployment leaves, without the names that differ
// between deployments (table, bucket, databases) and what differs between runs (new ids of a
// re-embed, run ids, timings).
type conformanceResult struct {
	Rows   []string          // the target's rows: bot, digests of content, source and vector
	Bots   map[string]string // SyncStatus and reason of every bot
	Verify []string          // verify's verdicts per check and bot
}

// verify runs 'verify' against everything the deployment has, requires exit 0, and returns the
// result to compare with another run's.
func (d *conformanceDeployment) verify(t *testing.T) conformanceResult {
	t.Helper()
	v := ragmigrate(t, d.env, "verify", "--json", "--source-db", d.source, "--target-db", d.target,
		"--table", d.table, "--bucket", d.bucket, "--allow-private-urls", "--queries", "20")
	require.Zero(t, v.code, v.stdout+v.stderr)
	var rep verifyReport
	require.NoError(t, json.Unmarshal([]byte(v.stdout), &rep))
	require.True(t, rep.OK)
	var res conformanceResult
	res.Verify = append(res.Verify, "expect "+rep.Data.Expect)
	for _, c := range rep.Data.Content {
		res.Verify = append(res.Verify, c.BotID+" "+strconv.FormatInt(c.SourceRows, 10)+" → "+strconv.FormatInt(c.TargetRows, 10)+" "+c.Why)
	}
	for _, p := range rep.Bots.Problems {
		res.Verify = append(res.Verify, "problem "+p.BotID+" "+strconv.FormatBool(p.Preexisting))
	}
	slices.Sort(res.Verify)

	conn := connectTest(t, d.target)
	rows, err := conn.Query(t.Context(), `SELECT rtrim(botid) || ' ' || coalesce(md5(content), 'NULL') || ' ' ||
		coalesce(md5(replace(source, 's3://' || $1 || '/', 's3://BUCKET/')), 'NULL') || ' ' || md5(vector_send(embedding))
		FROM items ORDER BY 1`, d.bucket)
	require.NoError(t, err)
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		res.Rows = append(res.Rows, s)
	}
	require.NoError(t, rows.Err())
	require.NotEmpty(t, res.Rows)

	res.Bots = map[string]string{}
	clients := stacktest.AWS(t)
	b := &reembedBundle{dynamo: clients.DynamoDB, table: d.table}
	for id, bot := range b.bots(t) {
		res.Bots[id] = string(bot.SyncStatus) + " " + bot.SyncStatusReason
	}
	return res
}

// bedrockGate stands in front of the contract server: open, it passes every request; held, it
// answers a given number more and keeps the rest waiting until it opens again or their client
// goes away (a killed run's requests).
type bedrockGate struct {
	left    atomic.Int64 // requests still answered before holding
	held    atomic.Int64
	release chan struct{}
	opened  atomic.Bool
}

func newBedrockGate() *bedrockGate {
	g := &bedrockGate{release: make(chan struct{})}
	g.left.Store(math.MaxInt64)
	return g
}

// hold answers n more requests, then holds the rest.
func (g *bedrockGate) hold(n int64) { g.left.Store(n) }

// open passes every request again, the held ones first.
func (g *bedrockGate) open() {
	g.left.Store(math.MaxInt64)
	if g.opened.CompareAndSwap(false, true) {
		close(g.release)
	}
}

func (g *bedrockGate) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.left.Add(-1) < 0 {
			g.held.Add(1)
			select {
			case <-g.release:
			case <-r.Context().Done():
				http.Error(w, "client gone", http.StatusServiceUnavailable)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}
