package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/dev/bedrocksim"
	"github.com/ragmigrate/ragmigrate/internal/dev/ecssim"
	"github.com/ragmigrate/ragmigrate/internal/dev/logssim"
	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/dev/stssim"
	"github.com/ragmigrate/ragmigrate/internal/reembed"
)

// workerImage is ragmigrate's image as the workers' task definition names it; the ECS contract
// server runs the ragmigrate binary for it.
const workerImage = "123456789012.dkr.ecr.us-east-1.amazonaws.com/ragmigrate:local"

// workerRun is reembed --runner ecs --ecs-task worker on the seeded deployment, into target.
func (e *ecsReembed) workerRun(t *testing.T, target string, workers int, extra ...string) result {
	t.Helper()
	args := append(slices.Clone(e.args), "--target-db", target, "--ecs-task", "worker", "--image", workerImage,
		"--workers", strconv.Itoa(workers), "--report", filepath.Join(t.TempDir(), "r.json"))
	return ragmigrate(t, e.env, append(args, extra...)...)
}

func setupECSWorkers(t *testing.T, bots int, knobs bedrocksim.Knobs) *ecsReembed {
	t.Helper()
	e := setupECSReembed(t, bots, knobs)
	e.tasks.sim.MapImage(workerImage, []string{binary})
	return e
}

// workerTasks are the tasks of ragmigrate's image the contract server ran.
func (e *ecsReembed) workerTasks(t *testing.T) []ecssim.TaskRecord {
	t.Helper()
	var out []ecssim.TaskRecord
	for _, tr := range e.tasks.sim.State().Tasks {
		if tr.Family == "ragmigrate" {
			out = append(out, tr)
		}
	}
	return out
}

// TestReembedECSWorkers runs the seeded deployment's bots with one worker task, then with three
// into another target: both leave the same rows per bot (ids aside) and the same SyncStatus and
// reasons as the local runner, the journal has every bot with its chunks, the tasks ran
// 'worker --run ID' of ragmigrate's task definition in the private subnets without a public IP,
// the target's URL only in their environment, and a second run launches nothing.
func TestReembedECSWorkers(t *testing.T) {
	t.Parallel()
	e := setupECSWorkers(t, 12, bedrocksim.Knobs{})
	wantRows, want := e.localBaseline(t)

	for _, workers := range []int{1, 3} {
		target := e.target
		if workers > 1 {
			target = appTarget(t)
		}
		before := len(e.workerTasks(t))
		stsBefore, dynamoBefore := len(e.sts.Calls()), len(e.dynamo.Calls())
		// One worker runs as the app's task role, taken from its task definition, and reaches
		// the table through the app's table access role, per user; three as --task-role.
		extra := []string{"--json", "--lease", "5s"}
		if workers > 1 {
			extra = append(extra, "--task-role", workerRole)
		}
		r := e.workerRun(t, target, workers, extra...)
		require.Equal(t, exitFailure, r.code, "the bot with a missing file fails: %s", r.stderr)
		dynamo := e.dynamo.Calls()[dynamoBefore:]
		require.NotEmpty(t, dynamo)
		if workers > 1 {
			require.NotContains(t, r.stderr, "the workers run as the app's embedding task role")
			require.Len(t, e.sts.Calls(), stsBefore, "with --task-role, the workers' own grants: no role assumed")
			for _, c := range dynamo {
				require.False(t, strings.HasPrefix(c.AccessKeyID, "ASIA"), "%+v: signed with the task's own credentials", c)
			}
		} else {
			require.Contains(t, r.stderr, "the workers run as the app's embedding task role, taken from its task definition: they reach the table through the app's table access role, scoped to each bot's user")
			require.Contains(t, r.stderr, appTableRole)
			bots := e.bots(t)
			users := map[string]bool{}
			for _, b := range bots {
				users[b.UserID] = true
			}
			require.Less(t, len(users), len(bots), "some user has several bots")
			requireTableAccess(t, appTableRole, e.sts.Calls()[stsBefore:], dynamo, users)
		}
		var sum reembed.Summary
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &sum), r.stdout)

		require.Equal(t, wantRows, appRows(t, target), "%d workers: the same rows per bot as the local runner's, ids aside", workers)
		require.Equal(t, want, syncStates(e.bots(t)), "%d workers: the same SyncStatus and reasons as the local runner's", workers)
		require.Len(t, sum.Bots, len(want))
		for _, o := range sum.Bots {
			require.Equal(t, int64(len(wantRows[o.BotID])), o.Chunks, "bot %s: the journal counts its rows", o.BotID)
		}
		require.Contains(t, sum.EmbeddedBy, "ragmigrate worker tasks on ECS")

		tasks := e.workerTasks(t)[before:]
		require.Len(t, tasks, workers, "one task per worker, none replaced")
		for _, tr := range tasks {
			require.Equal(t, "DISABLED", tr.AssignPublicIp)
			require.Equal(t, []string{"sg-0embed"}, tr.SecurityGroups)
			require.Equal(t, []string{binary, "worker", "--run", strconv.FormatInt(sum.RunID, 10)}, tr.Argv[:4])
			require.NotContains(t, tr.Argv, target, "the target's URL is not on the command line")
			require.EqualValues(t, 0, *tr.ExitCode, "the worker ended with no bot pending")
			td, err := e.tasks.client.DescribeTaskDefinition(t.Context(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(tr.TaskDefinitionArn)})
			require.NoError(t, err)
			if workers > 1 {
				require.Equal(t, workerRole, aws.ToString(td.TaskDefinition.TaskRoleArn), "--task-role")
			} else {
				require.NotEqual(t, workerRole, aws.ToString(td.TaskDefinition.TaskRoleArn))
			}
		}
	}

	again := e.workerRun(t, e.target, 3)
	require.Zero(t, again.code, again.stderr)
	require.Contains(t, again.stdout, "nothing to do")
	require.Len(t, e.workerTasks(t), 4, "no worker launched again")
}

// localBaseline re-embeds the deployment with the local runner, which the workers' runs are
// compared with: its rows per bot (ids aside), and the bots' SyncStatus and reasons.
func (e *ecsReembed) localBaseline(t *testing.T) (map[string][]string, map[string]syncState) {
	t.Helper()
	local := e.reembed(t, "--on-source-error", "skip-url")
	require.Equal(t, exitFailure, local.code, "the bot with a missing file fails: %s", local.stderr)
	return appRows(t, e.reembedBundle.target), syncStates(e.bots(t))
}

// requireTableAccess checks that role was assumed once for each of users (not once per bot),
// each session's policy limited to its user's items as the app's code limits it, and that every
// DynamoDB request on a user's item was signed with the key issued for that user.
func requireTableAccess(t *testing.T, role string, calls []stssim.Call, dynamo []stacktest.DynamoDBCall, users map[string]bool) {
	t.Helper()
	keyOf := map[string]string{}
	for _, c := range calls {
		require.Equal(t, "AssumeRole", c.Action)
		require.Equal(t, role, c.RoleARN)
		require.Empty(t, c.Error)
		var policy struct {
			Statement []struct {
				Effect, Action, Resource string
				Condition                map[string]map[string][]string
			}
		}
		require.NoError(t, json.Unmarshal([]byte(c.Policy), &policy), c.Policy)
		require.Len(t, policy.Statement, 1)
		st := policy.Statement[0]
		require.Equal(t, []string{"Allow", "dynamodb:*", "*"}, []string{st.Effect, st.Action, st.Resource})
		leading := st.Condition["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
		require.Len(t, leading, 1, c.Policy)
		user, ok := strings.CutSuffix(leading[0], "*")
		require.True(t, ok, c.Policy)
		require.True(t, users[user], "a session for user %s, who has no bot", user)
		require.NotContains(t, keyOf, user, "user %s: the role assumed once, not per bot", user)
		keyOf[user] = c.AccessKeyID
	}
	require.Len(t, keyOf, len(users), "a session for every user")
	signed := map[string]int{}
	for _, c := range dynamo {
		require.NotEmpty(t, c.PK, "%+v: only the bots' items are read and written", c)
		require.Equal(t, keyOf[c.PK], c.AccessKeyID, "%s of user %s's item: signed with the key issued for that user", c.Operation, c.PK)
		signed[c.PK]++
	}
	for u := range users {
		require.Positive(t, signed[u], "user %s's items reached through the role", u)
	}
}

// TestReembedECSWorkersTableAccessDenied: the workers run as the app's task role, and the app's
// table access role refuses them (its trust policy does not name the task role): a worker
// exits with an error naming the role and what to do, the run stops, and no bot's item is
// written, none marked FAILED for it.
func TestReembedECSWorkersTableAccessDenied(t *testing.T) {
	t.Parallel()
	e := setupECSWorkers(t, 12, bedrocksim.Knobs{})
	require.NoError(t, e.sts.Deny(appTableRole))
	before := e.bots(t)
	r := e.workerRun(t, e.target, 1, "--lease", "5s")
	require.Equal(t, exitFailure, r.code, r.stderr)
	require.Contains(t, r.stderr, "its log stream ragmigrate/ragmigrate/")
	// The worker's own error is quoted from its log stream, in the coordinator's line for the
	// task and in the run's error, so the operator need not go and read the stream.
	said := `worker --run 1: .*assume the app's table access role ` + regexp.QuoteMeta(appTableRole) + ` \(TABLE_ACCESS_ROLE_ARN\) for user .*api error AccessDenied`
	require.Regexp(t, `level=ERROR msg="worker task failed" ended="task [0-9a-f]+, exit code 1[^"]*" last_error="`+said, r.stderr)
	require.Regexp(t, `ragmigrate: reembed run 1: worker task [0-9a-f]+, exit code 1.*, and said: `+said+`.*; its log stream ragmigrate/ragmigrate/[0-9a-f]+ has the rest`, r.stderr)
	require.Contains(t, r.stderr, "if it says the table access role "+appTableRole+" refused the workers, let the app's task role arn:aws:iam::000000000000:role/EmbeddingTaskRole assume it, or give --task-role")
	tasks := e.workerTasks(t)
	require.Len(t, tasks, 1, "a worker's own error is not retried by another task")
	out := e.tasks.output(tasks[0])
	require.Contains(t, out, "assume the app's table access role "+appTableRole+" (TABLE_ACCESS_ROLE_ARN) for user ")
	require.Contains(t, out, "AccessDenied")
	require.Contains(t, out, "let this task's role assume "+appTableRole+", or give 'ragmigrate reembed' --task-role")
	for _, c := range e.sts.Calls() {
		require.Equal(t, "AccessDenied", c.Error)
	}
	for _, c := range e.dynamo.Calls() {
		require.NotEqual(t, "UpdateItem", c.Operation, "no bot's item written")
	}
	after := e.bots(t)
	for id, b := range before {
		require.Equal(t, stateOf(b), stateOf(after[id]), "bot %s", id)
		require.Equal(t, b.LastExecID, after[id].LastExecID, "bot %s", id)
	}
	require.Empty(t, appRows(t, e.target))
	conn, err := pgx.Connect(t.Context(), e.target)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	var notPending int
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT count(*) FROM ragmigrate.bot_jobs WHERE status <> 'pending'`).Scan(&notPending))
	require.Zero(t, notPending, "every bot left for the next run")
}

// workerRole is a role with 'iam-policy worker's grants, given to the workers with --task-role.
const workerRole = "arn:aws:iam::000000000000:role/ragmigrate-worker"

// TestReembedWorkerFlagsNeedTheirRunner: a flag of --runner ecs, or of --ecs-task worker, given
// to a run that would ignore it is a usage error before anything is read; --workers 3 alone
// used to run the bots locally.
func TestReembedWorkerFlagsNeedTheirRunner(t *testing.T) {
	t.Parallel()
	base := []string{"reembed", "--yes", "--table", "t", "--bucket", "b", "--target-db", "postgres://127.0.0.1:1/none"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--workers", "3"}, "--workers: only with --runner ecs (the run is --runner local)"},
		{[]string{"--lease", "1m", "--max-tasks", "2"}, "--lease, --max-tasks: only with --runner ecs"},
		{[]string{"--runner", "ecs", "--workers", "3", "--image", "i"}, "--image, --workers: only with --ecs-task worker"},
		{[]string{"--runner", "ecs", "--task-role", "r"}, "--task-role: only with --ecs-task worker"},
	} {
		r := ragmigrate(t, nil, append(slices.Clone(base), c.args...)...)
		require.Equal(t, exitUsage, r.code, "%v: %s", c.args, r.stderr)
		require.Contains(t, r.stderr, c.want)
	}
}

// TestWorkerRunRefusesAnotherBudget: a worker started by hand with a budget other than its
// run's is refused as a usage error that says how to join the run's, and claims nothing.
func TestWorkerRunRefusesAnotherBudget(t *testing.T) {
	t.Parallel()
	e := setupECSWorkers(t, 12, bedrocksim.Knobs{})
	// The workers never start: the run stays with every bot pending, and its budget.
	e.tasks.sim.MapImage(workerImage, []string{filepath.Join(t.TempDir(), "none")})
	r := e.workerRun(t, e.target, 1, "--rpm", "60", "--task-retries", "0")
	require.Equal(t, exitFailure, r.code, r.stderr)
	require.Contains(t, r.stderr, "no worker task left")

	w := ragmigrate(t, e.env, "worker", "--run", "1", "--rpm", "999", "--target-db", e.target,
		"--table", e.table, "--bucket", e.bucket, "--allow-private-urls", "--model", "amazon.titan-embed-text-v2:0")
	require.Equal(t, exitUsage, w.code, w.stderr)
	// The run's settings win over the worker's flags, and a flag that says otherwise is named.
	require.Contains(t, w.stderr, `worker --run 1: --model amazon.titan-embed-text-v2:0 ignored: the run's is \"cohere.embed-multilingual-v3\"`)
	require.NotContains(t, w.stderr, "--table "+e.table+" ignored", "the run's own table")
	require.Contains(t, w.stderr, "the run has 60 requests and 0 tokens per minute (0: not set), this worker was given 999 requests")
	require.Contains(t, w.stderr, "without --rpm and --tpm a worker joins the run's budget")
	require.NotContains(t, w.stderr, "bot claimed")
}

// TestWorkerRunSecondSignal sends worker --run SIGTERM twice at once (GNU timeout signalling
// the whole process group; ECS's SIGTERM repeated before its SIGKILL) while it holds bots, one of
// them blocked writing its rows (the test holds a lock on items), a write the first signal lets
// finish: the worker exits 130 without waiting for it, after aborting it and giving back every
// lease it held, so that no pending job is left leased to it. (Before, the second signal ended
// the process at once: its bots waited for their leases to expire.) A worker run afterwards
// completes every bot with the local runner's rows: nothing lost, nothing written twice.
func TestWorkerRunSecondSignal(t *testing.T) {
	t.Parallel()
	e := setupECSWorkers(t, 12, bedrocksim.Knobs{Latency: 300 * time.Millisecond})
	wantRows, want := e.localBaseline(t)
	// The run, every bot pending: its worker tasks never start.
	e.tasks.sim.MapImage(workerImage, []string{filepath.Join(t.TempDir(), "none")})
	r := e.workerRun(t, e.target, 1, "--task-retries", "0")
	require.Equal(t, exitFailure, r.code, r.stderr)
	require.Contains(t, r.stderr, "no worker task left")

	ctx := t.Context()
	watch, err := pgx.Connect(ctx, e.target)
	require.NoError(t, err)
	defer watch.Close(ctx)
	locker, err := pgx.Connect(ctx, e.target)
	require.NoError(t, err)
	defer locker.Close(ctx)
	lock, err := locker.Begin(ctx)
	require.NoError(t, err)
	// SHARE conflicts with the ROW EXCLUSIVE of a bot's write: rows can be read, not written.
	_, err = lock.Exec(ctx, `LOCK TABLE items IN SHARE MODE`)
	require.NoError(t, err)

	worker := []string{"worker", "--run", "1", "--target-db", e.target, "--table", e.table, "--bucket", e.bucket,
		"--allow-private-urls", "--concurrency", "3", "--lease", "1m", "--log-format", "json"}
	cmd, stderr := startRagmigrate(t, e.env, worker...)
	var owner string
	require.Eventually(t, func() bool {
		var blocked int
		require.NoError(t, watch.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE relation = 'items'::regclass AND NOT granted`).Scan(&blocked))
		err := watch.QueryRow(ctx, `SELECT lease_owner FROM ragmigrate.bot_jobs
			WHERE run_id = 1 AND status = 'pending' AND lease_owner <> '' AND lease_until > now() LIMIT 1`).Scan(&owner)
		return blocked > 0 && err == nil
	}, 2*time.Minute, 20*time.Millisecond, "a bot's write blocked, leases held: %s", stderr)

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	// The kernel keeps one pending SIGTERM: the second is sent once the first was taken.
	taken := func() bool {
		return strings.Contains(stderr.String(), "interrupted: the bots being written are finished")
	}
	require.Eventually(t, taken, time.Minute, 20*time.Millisecond, "the first SIGTERM taken: %s", stderr)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	var exit *exec.ExitError
	require.ErrorAs(t, cmd.Wait(), &exit, stderr.String())
	var leased int
	require.NoError(t, watch.QueryRow(ctx, `SELECT count(*) FROM ragmigrate.bot_jobs
		WHERE run_id = 1 AND status = 'pending' AND lease_owner = $1 AND lease_until > now()`, owner).Scan(&leased))
	require.Zero(t, leased, "a pending bot still leased to the signalled worker: %s", stderr)
	require.Equal(t, exitInterrupted, exit.ExitCode(), stderr.String())
	require.Contains(t, stderr.String(), "second signal: exiting now, its writes in progress aborted")
	requireOwnStderr(t, result{stderr: stderr.String()}, true, "worker --run, signalled twice")
	// The app's items are put back as they were before the claims, none left RUNNING as this
	// run's (the app would show those bots syncing until the next run).
	for id, bot := range e.bots(t) {
		ours := strings.HasPrefix(bot.LastExecID, "ragmigrate-run1-")
		require.False(t, ours && bot.SyncStatus == botstore.StatusRunning, "bot %s left RUNNING by the signalled worker: %s", id, stderr)
	}
	require.NoError(t, lock.Rollback(ctx))

	again := ragmigrate(t, e.env, worker...)
	require.Zero(t, again.code, again.stderr)
	require.Equal(t, wantRows, appRows(t, e.target), "every bot's rows once, as the local runner's")
	require.Equal(t, want, syncStates(e.bots(t)))
	var pending int
	require.NoError(t, watch.QueryRow(ctx, `SELECT count(*) FROM ragmigrate.bot_jobs WHERE run_id = 1 AND status = 'pending'`).Scan(&pending))
	require.Zero(t, pending)
}

// TestReembedECSWorkersShellBudget: a RAGMIGRATE_RPM left in the operator's shell, which the
// coordinator's --rpm overrides, does not reach the workers as a budget of their own: they join
// the run's and finish, instead of each being refused for a budget that differs.
func TestReembedECSWorkersShellBudget(t *testing.T) {
	t.Parallel()
	e := setupECSWorkers(t, 12, bedrocksim.Knobs{})
	e.env = append(e.env, "RAGMIGRATE_RPM=100") // e.args give --rpm 0
	r := e.workerRun(t, e.target, 2)
	require.NotContains(t, r.stderr, "budget differs")
	tasks := e.workerTasks(t)
	require.Len(t, tasks, 2, r.stderr)
	for _, tr := range tasks {
		require.EqualValues(t, 0, *tr.ExitCode, "the worker joined the run's budget: %s", e.tasks.output(tr))
	}
}

// TestReembedECSWorkerKilled kills one of three worker tasks (kill -9) while it holds a bot:
// the coordinator launches a task in its place (--task-retries 1), never more than three at
// once; the bot's lease expires and another worker claims it, the run completes, and every bot
// has exactly the local runner's rows: nothing lost, nothing written twice.
func TestReembedECSWorkerKilled(t *testing.T) {
	t.Parallel()
	// Each request takes 300 ms: the kill lands while the workers hold bots.
	e := setupECSWorkers(t, 12, bedrocksim.Knobs{Latency: 300 * time.Millisecond})
	wantRows, want := e.localBaseline(t)

	conn, err := pgx.Connect(t.Context(), e.target)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	args := append(slices.Clone(e.args), "--ecs-task", "worker", "--image", workerImage, "--workers", "3", "--lease", "3s",
		"--concurrency", "2", "--task-retries", "1", "--report", filepath.Join(t.TempDir(), "r.json"))
	cmd, stderr := startRagmigrate(t, e.env, args...)
	// A worker task holding a bot that has chunks to embed.
	var victim, bot string
	require.Eventually(t, func() bool {
		for _, tr := range e.workerTasks(t) {
			if tr.LastStatus != "RUNNING" {
				continue
			}
			var held string
			err := conn.QueryRow(t.Context(), `SELECT bot_id FROM ragmigrate.bot_jobs WHERE lease_owner = $1 AND status = 'pending' LIMIT 1`, tr.ID).Scan(&held)
			if err == nil && e.wantRows[held] > 3 {
				victim, bot = tr.ID, held
				return true
			}
		}
		return false
	}, 2*time.Minute, 20*time.Millisecond, stderr.String())
	require.NoError(t, e.tasks.sim.Kill(victim, syscall.SIGKILL, ""))
	var exit *exec.ExitError
	require.ErrorAs(t, cmd.Wait(), &exit, stderr.String())
	require.Equal(t, exitFailure, exit.ExitCode(), "the bot with a missing file fails, and only it: %s", stderr.String())

	require.Equal(t, wantRows, appRows(t, e.target), "every bot's rows once, as the local runner's")
	require.Equal(t, want, syncStates(e.bots(t)))
	var attempts int
	var owner string
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT attempts, lease_owner FROM ragmigrate.bot_jobs WHERE bot_id = $1`, bot).Scan(&attempts, &owner))
	require.Equal(t, 2, attempts, "the killed worker's bot was claimed again")
	require.NotEqual(t, victim, owner, "by another worker")
	for _, tr := range e.workerTasks(t) {
		if tr.ID == victim {
			require.EqualValues(t, 137, *tr.ExitCode)
		}
	}
	require.Contains(t, stderr.String(), "worker task ended before the run's bots were done")
	require.Contains(t, stderr.String(), "launching a worker task in place of one that ended")
	require.Len(t, e.workerTasks(t), 4, "the killed task replaced once")
	require.LessOrEqual(t, e.tasks.sim.State().MaxInFlight, 3, "never more than --workers at once")
}

// TestReembedECSWorkersInterruptAndRestart: Ctrl-C stops the worker tasks (StopTask) and
// leaves the run resumable, no bot left RUNNING; a coordinator killed with kill -9 leaves its
// tasks working, and the next invocation follows them instead of launching more than --workers.
// The run then completes with the local runner's rows.
func TestReembedECSWorkersInterruptAndRestart(t *testing.T) {
	t.Parallel()
	// Each request takes 1 s: the run lasts while it is interrupted.
	e := setupECSWorkers(t, 12, bedrocksim.Knobs{Latency: time.Second})
	wantRows, want := e.localBaseline(t)

	conn, err := pgx.Connect(t.Context(), e.target)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	args := append(slices.Clone(e.args), "--ecs-task", "worker", "--image", workerImage, "--workers", "2", "--lease", "5s",
		"--concurrency", "2", "--report", filepath.Join(t.TempDir(), "r.json"))
	held := func() bool {
		var n int
		require.NoError(t, conn.QueryRow(t.Context(), `SELECT count(*) FROM ragmigrate.bot_jobs WHERE status = 'pending' AND lease_owner <> ''`).Scan(&n))
		return n > 0
	}
	journalReady := func() bool {
		var ok bool
		require.NoError(t, conn.QueryRow(t.Context(), `SELECT to_regclass('ragmigrate.bot_jobs') IS NOT NULL`).Scan(&ok))
		return ok
	}

	cmd, stderr := startRagmigrate(t, e.env, args...)
	require.Eventually(t, func() bool { return journalReady() && held() }, 2*time.Minute, 20*time.Millisecond, stderr.String())
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	require.Error(t, cmd.Wait())
	require.Contains(t, stderr.String(), "interrupted: run 'ragmigrate reembed' again to continue it")
	for _, tr := range e.workerTasks(t) {
		require.Equal(t, "STOPPED", tr.LastStatus)
		require.Equal(t, "UserInitiated", tr.StopCode, "stopped by the coordinator")
	}
	var pending int
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT count(*) FROM ragmigrate.bot_jobs WHERE status = 'pending'`).Scan(&pending))
	require.Positive(t, pending, "the run is resumable")
	for id, b := range e.bots(t) {
		require.NotEqual(t, "RUNNING", string(b.SyncStatus), "bot %s: the stopped workers put its status back", id)
	}
	stopped := len(e.workerTasks(t))

	// kill -9 of the coordinator once its new tasks hold bots: the tasks go on.
	cmd, stderr = startRagmigrate(t, e.env, args...)
	require.Eventually(t, func() bool {
		var open int
		require.NoError(t, conn.QueryRow(t.Context(), `SELECT count(*) FROM ragmigrate.worker_tasks WHERE ended = ''`).Scan(&open))
		return open == 2 && held()
	}, 2*time.Minute, 20*time.Millisecond, stderr.String())
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()

	r := ragmigrate(t, e.env, args...)
	require.Equal(t, exitFailure, r.code, "the bot with a missing file fails: %s", r.stderr)
	require.Contains(t, r.stderr, "following the worker task an earlier invocation started")
	require.Equal(t, wantRows, appRows(t, e.target), "the local runner's rows, each once")
	require.Equal(t, want, syncStates(e.bots(t)))
	tasks := e.workerTasks(t)
	require.LessOrEqual(t, len(tasks)-stopped, 4, "the restart launched only what the followed tasks did not cover")
	require.LessOrEqual(t, e.tasks.sim.State().MaxInFlight, 2, "never more than --workers tasks at once")
}

// TestReembedECSWorkersShareBudget: three workers of a run keep together to the run's budget
// (--rpm 600, the contract server's quota too), as one process would, where each pacing by the
// whole of it would send three times as much. Titan takes one text a request, so the ~300
// chunks are ~300 requests, each seen by a proxy in front of the contract server: no 3-second
// window holds more than 1.5 times the budget's share (wide bounds: the shared bucket paces
// evenly; three separate ones would reach 3 times), and the contract server throttled nothing.
func TestReembedECSWorkersShareBudget(t *testing.T) {
	t.Parallel()
	const rpm = 600
	b := setupReembed(t, 12, bedrocksim.Knobs{RequestsPerMinute: rpm, Latency: 50 * time.Millisecond})
	seen := &requestTimes{}
	proxy := httptest.NewServer(seen.wrap(t, b.bedrock))
	t.Cleanup(proxy.Close)
	for i, kv := range b.env {
		if strings.HasPrefix(kv, "AWS_ENDPOINT_URL_BEDROCK_RUNTIME=") {
			b.env[i] = "AWS_ENDPOINT_URL_BEDROCK_RUNTIME=" + proxy.URL
		}
	}
	target := appTarget(t)
	e := &ecsReembed{reembedBundle: b, target: target}
	e.tasks = newAppTaskRig(t, nil, b.env)
	e.tasks.sim.MapImage(workerImage, []string{binary})
	e.env = append(slices.Clone(b.env), "AWS_ENDPOINT_URL_ECS="+e.tasks.url)

	r := ragmigrate(t, e.env, "reembed", "--yes", "--table", b.table, "--bucket", b.bucket, "--target-db", target,
		"--allow-private-urls", "--on-source-error", "skip-url", "--model", "amazon.titan-embed-text-v2:0", "--rpm", strconv.Itoa(rpm), "--tpm", "0",
		"--runner", "ecs", "--cluster", "embedding", "--subnets", "subnet-0a,subnet-0b", "--security-groups", "sg-0embed",
		"--task-definition", appTaskFamily, "--task-poll", "100ms", "--ecs-task", "worker", "--image", workerImage, "--workers", "3",
		"--concurrency", "8", "--report", filepath.Join(t.TempDir(), "r.json"))
	require.Equal(t, exitFailure, r.code, "the bot with a missing file fails, and only it: %s", r.stderr)
	require.Len(t, e.workerTasks(t), 3)

	times := seen.times()
	require.Greater(t, len(times), 150, "a request per chunk: %s", r.stderr)
	window := 3 * time.Second
	most := 0
	for i := range times {
		n := sort.Search(len(times), func(k int) bool { return times[k].Sub(times[i]) >= window })
		most = max(most, n-i)
	}
	share := rpm * window.Seconds() / 60
	t.Logf("%d requests, at most %d in %s (the budget's share: %.0f)", len(times), most, window, share)
	require.LessOrEqual(t, float64(most), 1.5*share, "at most %.0f requests in %s at %d/min, all workers together", share, window, rpm)
	st := bedrockStats(t, b.bedrock+"/stats")
	require.EqualValues(t, len(times), st.Requests)
	var full struct{ Throttled int64 }
	resp, err := http.Get(b.bedrock + "/stats")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&full))
	require.Zero(t, full.Throttled, "the provider throttled nothing")
}

// requestTimes records when each request reached the provider.
type requestTimes struct {
	mu sync.Mutex
	at []time.Time
}

func (rt *requestTimes) wrap(t *testing.T, upstream string) http.Handler {
	u, err := url.Parse(upstream)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(u)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/invoke") {
			rt.mu.Lock()
			rt.at = append(rt.at, time.Now())
			rt.mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	})
}

func (rt *requestTimes) times() []time.Time {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	out := slices.Clone(rt.at)
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

// TestReembedECSWorkerPausedLosesLease pauses a worker task (SIGSTOP, as a stalled host or a
// network partition would) while it embeds a bot: its lease expires, the other worker claims the
// bot and writes it; resumed, the paused worker finds its lease taken and writes nothing of the
// bot's, neither rows, nor status, nor outcome. The bot has the local runner's rows, once.
func TestReembedECSWorkerPausedLosesLease(t *testing.T) {
	t.Parallel()
	e := setupECSWorkers(t, 12, bedrocksim.Knobs{Latency: time.Second})
	wantRows, want := e.localBaseline(t)

	conn, err := pgx.Connect(t.Context(), e.target)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	args := append(slices.Clone(e.args), "--ecs-task", "worker", "--image", workerImage, "--workers", "2", "--lease", "2s",
		"--concurrency", "2", "--report", filepath.Join(t.TempDir(), "r.json"))
	cmd, stderr := startRagmigrate(t, e.env, args...)
	// A worker embedding a bot with chunks (RUNNING under its exec id).
	var paused, bot string
	require.Eventually(t, func() bool {
		for _, tr := range e.workerTasks(t) {
			if tr.LastStatus != "RUNNING" {
				continue
			}
			rows, err := conn.Query(t.Context(), `SELECT bot_id FROM ragmigrate.bot_jobs WHERE lease_owner = $1 AND status = 'pending'`, tr.ID)
			require.NoError(t, err)
			ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
			require.NoError(t, err)
			for _, id := range ids {
				b := e.bots(t)[id]
				if e.wantRows[id] > 3 && b.SyncStatus == "RUNNING" && strings.HasSuffix(b.LastExecID, tr.ID[len(tr.ID)-8:]) {
					paused, bot = tr.ID, id
					return true
				}
			}
		}
		return false
	}, 2*time.Minute, 20*time.Millisecond, stderr.String())
	require.NoError(t, e.tasks.sim.Kill(paused, syscall.SIGSTOP, ""))
	var owner string
	require.Eventually(t, func() bool {
		var status string
		require.NoError(t, conn.QueryRow(t.Context(), `SELECT status, lease_owner FROM ragmigrate.bot_jobs WHERE bot_id = $1`, bot).Scan(&status, &owner))
		return status == "done" && owner != paused
	}, 2*time.Minute, 50*time.Millisecond, "another worker writes the bot once the paused one's lease expired: %s", stderr.String())
	require.NoError(t, e.tasks.sim.Kill(paused, syscall.SIGCONT, ""))
	var exit *exec.ExitError
	require.ErrorAs(t, cmd.Wait(), &exit, stderr.String())
	require.Equal(t, exitFailure, exit.ExitCode(), "the bot with a missing file fails, and only it: %s", stderr.String())

	require.Equal(t, wantRows, appRows(t, e.target), "every bot's rows once, as the local runner's")
	require.Equal(t, want, syncStates(e.bots(t)))
	require.True(t, strings.HasSuffix(e.bots(t)[bot].LastExecID, owner[len(owner)-8:]), "the bot's status is the claiming worker's")
	var status string
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT status, lease_owner FROM ragmigrate.bot_jobs WHERE bot_id = $1`, bot).Scan(&status, &owner))
	require.Equal(t, "done", status)
	for _, tr := range e.workerTasks(t) {
		if tr.ID == paused {
			require.Contains(t, e.tasks.output(tr), "lease lost", "the resumed worker knows it lost the bot")
		}
	}
}

// TestReembedECSWorkersProviderRefuses: the provider refuses every call (access denied): a
// worker exits with its error, the coordinator stops the other workers instead of replacing it,
// names the worker's log stream, and the run is left to continue, no bot marked FAILED for it
// or left RUNNING.
func TestReembedECSWorkersProviderRefuses(t *testing.T) {
	t.Parallel()
	e := setupECSWorkers(t, 12, bedrocksim.Knobs{FailRate: 1, FailError: "AccessDeniedException"})
	// The coordinator's CloudWatch Logs has no such stream: it says so in one line and the run
	// ends with the worker's failure, as it would without the quote.
	noLogs, err := logssim.New(t.TempDir())
	require.NoError(t, err)
	e.env = append(e.env, "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS="+stacktest.AWSServer(t, noLogs.Register))
	before := syncStates(e.bots(t))
	r := e.workerRun(t, e.target, 2, "--task-retries", "2")
	require.Equal(t, exitFailure, r.code, r.stderr)
	require.Regexp(t, `level=WARN msg="could not read the worker task's log for its error" task=[0-9a-f]+ log_group=/ecs/embed-\S+ log_stream=ragmigrate/ragmigrate/[0-9a-f]+ error=".*ResourceNotFoundException`, r.stderr)
	require.Contains(t, r.stderr, "its log stream ragmigrate/ragmigrate/")
	require.Contains(t, r.stderr, "says why")
	tasks := e.workerTasks(t)
	require.Len(t, tasks, 2, "a worker's own error is not retried by another task")
	conn, err := pgx.Connect(t.Context(), e.target)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	var failed, pending int
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT count(*) FILTER (WHERE status = 'failed'), count(*) FILTER (WHERE status = 'pending') FROM ragmigrate.bot_jobs`).Scan(&failed, &pending))
	require.Positive(t, pending, "the run continues once the access is fixed")
	after := syncStates(e.bots(t))
	for id, st := range after {
		if before[id].Status != "RUNNING" {
			require.NotEqual(t, "RUNNING", string(st.Status), "bot %s left RUNNING (was %s)", id, before[id].Status)
		}
		if st.Status == "FAILED" && before[id].Status != "FAILED" && strings.Contains(st.Reason, "AccessDenied") {
			// A QUEUED bot is put back as FAILED saying the run stopped (ragmigrate never writes
			// QUEUED), as a local run does; no bot is failed for the refusal itself.
			require.Equal(t, "QUEUED", string(before[id].Status), "bot %s marked FAILED for the provider's refusal: %s", id, st.Reason)
			require.Contains(t, st.Reason, "stopped before this bot finished")
		}
	}
}
