package main

import (
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/dev/bedrocksim"
	"github.com/ragmigrate/ragmigrate/internal/dev/ecssim"
	"github.com/ragmigrate/ragmigrate/internal/dev/servicequotasim"
	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/dev/stssim"
	"github.com/ragmigrate/ragmigrate/internal/reembed"
)

// ecsReembed is a seeded deployment whose bots reembed --runner ecs runs as the app's tasks on
// an ECS contract server, into a target of its own with the app's setup.
type ecsReembed struct {
	*reembedBundle
	tasks  *appTaskRig
	target string
	env    []string
	args   []string
	// sts is the STS the tasks assume the app's table access role through (its task definition
	// names it), and dynamo records who signed each of the tasks' DynamoDB requests.
	sts    *stssim.Server
	dynamo *stacktest.DynamoDBRecorder
}

// appTableRole is the app's table access role in the tests' embedding task definition.
const appTableRole = "arn:aws:iam::000000000000:role/BedrockChatStack-TableAccessRole"

func setupECSReembed(t *testing.T, bots int, knobs bedrocksim.Knobs) *ecsReembed {
	t.Helper()
	b := setupReembed(t, bots, knobs)
	target := appTarget(t)
	e := &ecsReembed{reembedBundle: b, target: target, dynamo: stacktest.RecordDynamoDB(t)}
	var err error
	e.sts, err = stssim.New("")
	require.NoError(t, err)
	// The tasks reach STS and DynamoDB from their VPC: the ambient environment.
	ambient := append(slices.Clone(b.env), "AWS_ENDPOINT_URL_STS="+stacktest.AWSServer(t, e.sts.Register), "AWS_ENDPOINT_URL_DYNAMODB="+e.dynamo.URL)
	e.tasks = newAppTaskRig(t, slices.Concat(workerAppEnv(b), appDBEnv(t, target), []string{"TABLE_ACCESS_ROLE_ARN=" + appTableRole}), ambient)
	t.Cleanup(func() {
		if t.Failed() {
			for _, tr := range e.tasks.sim.State().Tasks {
				t.Logf("task %s (%s, exit %v):\n%s", tr.ID, tr.StoppedReason, tr.ExitCode, e.tasks.output(tr))
			}
		}
	})
	e.env = append(slices.Clone(b.env), "AWS_ENDPOINT_URL_ECS="+e.tasks.url, "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS="+e.tasks.url)
	e.args = []string{"reembed", "--yes", "--rpm", "0", "--table", b.table, "--bucket", b.bucket, "--target-db", target,
		"--allow-private-urls", "--truncate", "END", "--on-source-error", "skip-url",
		"--runner", "ecs", "--cluster", "embedding", "--subnets", "subnet-0a,subnet-0b", "--security-groups", "sg-0embed",
		"--task-definition", appTaskFamily, "--task-poll", "100ms"}
	return e
}

func (e *ecsReembed) run(t *testing.T, extra ...string) result {
	t.Helper()
	args := append(slices.Clone(e.args), "--report", filepath.Join(t.TempDir(), "r.json"))
	return ragmigrate(t, e.env, append(args, extra...)...)
}

// TestReembedECSApp runs every bot as the app's embedding task (the image mapped to ragmigrate
// worker) at most 3 at once, the first RunTask answered with failures[] and the next throttled:
// both are retried, and the rows and SyncStatus are the local runner's (ids aside; bots without
// knowledge carry the task's "No contents to embed."). The journal then has every bot, and a
// second run starts no task.
func TestReembedECSApp(t *testing.T) {
	t.Parallel()
	e := setupECSReembed(t, 12, bedrocksim.Knobs{})
	local := e.reembed(t, "--on-source-error", "skip-url")
	require.Equal(t, exitFailure, local.code, local.stderr)
	wantRows := appRows(t, e.reembedBundle.target)
	want := syncStates(e.bots(t))
	for id := range e.empty {
		want[id] = syncState{botstore.StatusSucceeded, botstore.ReasonNoContents}
	}

	e.tasks.sim.InjectFault(ecssim.Fault{Operation: "RunTask", Failures: []ecssim.Failure{{Reason: "RESOURCE:CPU"}}})
	e.tasks.sim.InjectFault(ecssim.Fault{Operation: "RunTask", Error: "ThrottlingException", Message: "Rate exceeded"})
	r := e.run(t, "--max-tasks", "3", "--json")
	require.Equal(t, exitFailure, r.code, "the bot with a missing file fails: %s", r.stderr)
	require.Contains(t, r.stderr, "RESOURCE:CPU")
	require.Contains(t, r.stderr, "throttled by ECS")
	require.Contains(t, r.stderr, "--ecs-task app: --truncate, --on-source-error, --allow-private-urls not passed to the app's tasks")
	// The progress counts the bots the tasks settled (it stayed at done=0 before).
	done := regexp.MustCompile(`msg="phase done" phase=bots done=(\d+) total=(\d+)`).FindStringSubmatch(r.stderr)
	require.NotNil(t, done, r.stderr)
	require.Equal(t, done[2], done[1], "every bot counted in the progress")
	require.NotEqual(t, "0", done[1])
	var sum reembed.Summary
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &sum))

	require.Equal(t, wantRows, appRows(t, e.target), "the same rows per bot as the local runner's, ids aside")
	bots := e.bots(t)
	require.Equal(t, want, syncStates(bots), "the same SyncStatus and reasons as the local runner's")
	st := e.tasks.sim.State()
	require.LessOrEqual(t, st.MaxInFlight, 3, "--max-tasks never exceeded")
	require.Len(t, st.Tasks, len(bots), "one task per bot")
	byID := map[string]ecssim.TaskRecord{}
	for _, tr := range st.Tasks {
		byID[tr.ID] = tr
		require.Equal(t, "DISABLED", tr.AssignPublicIp)
		require.Equal(t, []string{"sg-0embed"}, tr.SecurityGroups)
		require.Equal(t, appTaskFamily, tr.Family)
		require.Equal(t, []string{binary, "worker", "-u", "embedding/main.py"}, tr.Argv[:4], "the app's command")
	}
	for id, bot := range bots {
		tr, ok := byID[bot.LastExecID]
		require.True(t, ok, "bot %s: LastExecId %q is one of the run's tasks", id, bot.LastExecID)
		require.True(t, strings.Contains(tr.Argv[4], id), "task %s ran bot %s", tr.ID, id)
	}
	require.Len(t, sum.Bots, len(bots))
	for _, o := range sum.Bots {
		if want[o.BotID].Status == botstore.StatusSucceeded {
			require.Equal(t, "done", o.Status, o.BotID)
			require.Equal(t, int64(len(wantRows[o.BotID])), o.Chunks, "the journal counts the rows checked")
		} else {
			require.Equal(t, "failed", o.Status, o.BotID)
		}
	}

	require.Equal(t, "the app's embedding tasks on ECS", sum.EmbeddedBy, "the report does not count the tasks' requests as this process's")

	again := e.run(t)
	require.Zero(t, again.code, again.stderr)
	require.Contains(t, again.stdout, "nothing to do")
	require.Len(t, e.tasks.sim.State().Tasks, len(bots), "no bot launched again")
}

// TestReembedECSAppKilledTask kills a bot's task while it embeds (as an out-of-memory kill
// would): the run sees the task end without the bot reaching SUCCEEDED and runs it again, and
// the bot ends SUCCEEDED under the second task, with its rows. A wrong container name stops
// the run before any task, naming the fix.
func TestReembedECSAppKilledTask(t *testing.T) {
	t.Parallel()
	e := setupECSReembed(t, 12, bedrocksim.Knobs{Latency: 2 * time.Second})
	bot := e.botWithRows(t, 3)
	// (Each embedding request takes 2 s: the kill below lands while the task works.)

	r := e.run(t, "--bot", bot.ID, "--reuse-from", "source-db")
	require.Equal(t, exitUsage, r.code, r.stderr)
	require.Contains(t, r.stderr, "--reuse-from: not with --runner ecs")

	wrong := e.run(t, "--bot", bot.ID, "--app-container", "embedding")
	require.Equal(t, exitUsage, wrong.code, wrong.stderr)
	require.Contains(t, wrong.stderr, "check --app-container")
	require.Contains(t, wrong.stderr, `"Container"`)
	require.Empty(t, e.tasks.sim.State().Tasks, "no task started")

	// Another deployment's task definition (its TABLE_NAME another table): its tasks would
	// re-embed that table's bots while the run waited for these. Refused before any task.
	other, err := e.tasks.client.DescribeTaskDefinition(t.Context(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(appTaskFamily)})
	require.NoError(t, err)
	td := other.TaskDefinition
	c := td.ContainerDefinitions[0]
	c.Environment = slices.DeleteFunc(slices.Clone(c.Environment), func(kv ecstypes.KeyValuePair) bool { return aws.ToString(kv.Name) == "TABLE_NAME" })
	c.Environment = append(c.Environment, ecstypes.KeyValuePair{Name: aws.String("TABLE_NAME"), Value: aws.String("OtherStack-ConversationTable")})
	_, err = e.tasks.client.RegisterTaskDefinition(t.Context(), &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("OtherStackEmbedding"), NetworkMode: td.NetworkMode, RequiresCompatibilities: td.RequiresCompatibilities,
		Cpu: td.Cpu, Memory: td.Memory, TaskRoleArn: td.TaskRoleArn, ExecutionRoleArn: td.ExecutionRoleArn,
		ContainerDefinitions: []ecstypes.ContainerDefinition{c},
	})
	require.NoError(t, err)
	wrong = e.run(t, "--bot", bot.ID, "--task-definition", "OtherStackEmbedding")
	require.Equal(t, exitUsage, wrong.code, wrong.stderr)
	require.Contains(t, wrong.stderr, "--table "+e.table+": the app's tasks (task definition OtherStackEmbedding, container Container) work on TABLE_NAME OtherStack-ConversationTable, another deployment's")
	require.Empty(t, e.tasks.sim.State().Tasks, "no task started")

	// Service Quotas with Fargate's vCPU quota and the model's tokens quota: the default
	// --max-tasks is what the tokens feed at the app's pace (--rpm 0: no requests budget).
	sq := httptest.NewServer(servicequotasim.New(
		servicequotasim.Quota{ServiceCode: "fargate", QuotaCode: "L-3032A538", QuotaName: "Fargate On-Demand vCPU resource count", Value: 8},
		servicequotasim.Quota{ServiceCode: "bedrock", QuotaCode: "L-T", QuotaName: "On-demand InvokeModel tokens per minute for Cohere Embed Multilingual", Value: 60_000}))
	t.Cleanup(sq.Close)
	cmd, stderr := startRagmigrate(t, append(slices.Clone(e.env), "AWS_ENDPOINT_URL_SERVICE_QUOTAS="+sq.URL), append(slices.Clone(e.args), "--bot", bot.ID, "--fresh",
		"--report", filepath.Join(t.TempDir(), "r.json"))...)
	// The bot's first task, once it has claimed the bot (RUNNING under its id).
	var first string
	require.Eventually(t, func() bool {
		for _, tr := range e.tasks.sim.State().Tasks {
			if tr.LastStatus == "RUNNING" {
				b := e.bots(t)[bot.ID]
				if b.SyncStatus == botstore.StatusRunning && b.LastExecID == tr.ID {
					first = tr.ID
					return true
				}
			}
		}
		return false
	}, 2*time.Minute, 50*time.Millisecond, stderr.String())
	require.NoError(t, e.tasks.sim.Kill(first, syscall.SIGKILL, "OutOfMemoryError: Container killed due to memory usage"))
	require.NoError(t, cmd.Wait(), stderr.String())
	require.Contains(t, stderr.String(), "running it again")
	// Without --max-tasks: 60,000 tokens/min over the app's calls of 10 chunks (about 250
	// tokens each) admit ~24 calls/min, which keep one task busy at ~0.5 s a call; Fargate's 8
	// vCPU would fit 4 of the app's 2-vCPU tasks. Said with both.
	require.Contains(t, stderr.String(), "at most 1 task at once: the provider budget, 60000 tokens/min, keeps 1 task busy (~")
	require.Contains(t, stderr.String(), `; Fargate's On-Demand vCPU quota of 8 (Service Quotas, us-east-1: \"Fargate On-Demand vCPU resource count\") fits 4 tasks of 2 vCPU; --max-tasks sets it`)

	got := e.bots(t)[bot.ID]
	require.Equal(t, botstore.StatusSucceeded, got.SyncStatus)
	require.NotEqual(t, first, got.LastExecID, "the second task finished the bot")
	tasks := e.tasks.sim.State().Tasks
	require.Len(t, tasks, 2)
	require.Equal(t, got.LastExecID, tasks[1].ID)
	require.EqualValues(t, 137, *tasks[0].ExitCode)
	conn, err := pgx.Connect(t.Context(), e.target)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	var rows int64
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT count(*) FROM items WHERE botid = $1`, bot.ID).Scan(&rows))
	require.Equal(t, e.wantRows[bot.ID], rows)
	var attempts int
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT attempts FROM ragmigrate.bot_jobs WHERE bot_id = $1 ORDER BY run_id DESC LIMIT 1`, bot.ID).Scan(&attempts))
	require.Equal(t, 2, attempts, "the journal counts both tasks")
}

// TestReembedECSAppTaskTimeout: a bot's task that runs past --task-timeout is stopped (StopTask),
// run again once (--task-retries 1), stopped again, and the bot is recorded as failed with why;
// the stopped worker gives the bot its SyncStatus back, so nothing is left RUNNING.
func TestReembedECSAppTaskTimeout(t *testing.T) {
	t.Parallel()
	// Every embedding request takes 20 s: no bot's task can finish within the 1 s timeout.
	e := setupECSReembed(t, 12, bedrocksim.Knobs{Latency: 20 * time.Second})
	var bot *botstore.Bot
	for id, b := range e.bots(t) {
		// (A QUEUED bot would be put back as FAILED: ragmigrate never writes QUEUED.)
		if e.wantRows[id] > 0 && b.SyncStatus == botstore.StatusSucceeded {
			bot = b
			break
		}
	}
	require.NotNil(t, bot)
	before := e.bots(t)[bot.ID]

	r := e.run(t, "--bot", bot.ID, "--task-timeout", "1s", "--task-retries", "1", "--json")
	require.Equal(t, exitFailure, r.code, r.stderr)
	require.Contains(t, r.stderr, "ran past --task-timeout")
	var sum reembed.Summary
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &sum))
	require.Len(t, sum.Bots, 1)
	require.Equal(t, "failed", sum.Bots[0].Status)
	require.Contains(t, sum.Bots[0].Error, "ran past --task-timeout")
	tasks := e.tasks.sim.State().Tasks
	require.Len(t, tasks, 2, "the bot was run again once")
	for _, tr := range tasks {
		require.Equal(t, "UserInitiated", tr.StopCode, "stopped by ragmigrate")
		require.Contains(t, tr.Signals, "SIGTERM")
	}
	after := e.bots(t)[bot.ID]
	require.NotEqual(t, botstore.StatusRunning, after.SyncStatus, "nothing left RUNNING")
	require.Equal(t, before.SyncStatus, after.SyncStatus, "the stopped worker put the bot's status back")
}

// TestReembedECSAppRestart kills ragmigrate (kill -9) while a bot's task runs: the task goes on
// and finishes the bot; the restarted run follows that task (recorded in the journal) instead of
// launching another, and records the bot done.
func TestReembedECSAppRestart(t *testing.T) {
	t.Parallel()
	e := setupECSReembed(t, 12, bedrocksim.Knobs{Latency: 2 * time.Second})
	bot := e.botWithRows(t, 3)
	args := append(slices.Clone(e.args), "--bot", bot.ID, "--report", filepath.Join(t.TempDir(), "r.json"))
	conn, err := pgx.Connect(t.Context(), e.target)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	cmd, stderr := startRagmigrate(t, e.env, args...)
	// Killed once the task runs and the journal has it. (Between RunTask's answer and that
	// record a kill -9 would leave the task unknown to the next run, which then starts another.)
	require.Eventually(t, func() bool {
		st := e.tasks.sim.State()
		if len(st.Tasks) != 1 || st.Tasks[0].LastStatus != "RUNNING" {
			return false
		}
		var task string
		err := conn.QueryRow(t.Context(), `SELECT task FROM ragmigrate.bot_jobs WHERE bot_id = $1`, bot.ID).Scan(&task)
		return err == nil && task == st.Tasks[0].ID
	}, 2*time.Minute, 50*time.Millisecond, stderr.String())
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	// The task does not depend on ragmigrate: it finishes the bot.
	require.Eventually(t, func() bool { return e.tasks.sim.State().Tasks[0].LastStatus == "STOPPED" }, 2*time.Minute, 50*time.Millisecond)
	task := e.tasks.sim.State().Tasks[0]

	r := ragmigrate(t, e.env, args...)
	require.Zero(t, r.code, r.stderr)
	require.Contains(t, r.stderr, "following the task an earlier invocation started")
	require.Len(t, e.tasks.sim.State().Tasks, 1, "no task launched again for a bot its task finished")
	got := e.bots(t)[bot.ID]
	require.Equal(t, botstore.StatusSucceeded, got.SyncStatus)
	require.Equal(t, task.ID, got.LastExecID)
	var status string
	var chunks int64
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT status, chunks FROM ragmigrate.bot_jobs WHERE bot_id = $1`, bot.ID).Scan(&status, &chunks))
	require.Equal(t, "done", status)
	require.Equal(t, e.wantRows[bot.ID], chunks)
}

// botWithRows is a bot whose rows are more than n, so that its task embeds for a while.
func (e *ecsReembed) botWithRows(t *testing.T, n int64) *botstore.Bot {
	t.Helper()
	for id, b := range e.bots(t) {
		if e.wantRows[id] > n {
			return b
		}
	}
	t.Fatalf("no bot with more than %d rows", n)
	return nil
}
