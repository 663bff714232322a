package main

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
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
	"github.com/ragmigrate/ragmigrate/internal/dev/awssim"
	"github.com/ragmigrate/ragmigrate/internal/dev/bedrocksim"
	"github.com/ragmigrate/ragmigrate/internal/dev/cfnsim"
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
	require.NotContains(t, r.stderr, "0 requests", "the app's requests are not counted here, so not said")
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

// TestReembedECSAppOtherDatabase: the app's tasks write to the database their task definition
// names (v1: the DB_SECRETS_ARN secret; v0.4.x: DB_HOST, DB_PORT, DB_NAME), not to --target-db.
// A task definition naming another database is refused before any RunTask (this run would check
// the bots' rows where the tasks write none), naming both and no password; one naming the same
// database (host case, loopback, user and password aside) or the very secret --target-secret
// names goes on, as does one whose secret cannot be read, with a warning. (Every RunTask here is
// refused by ECS, so that a run past the check stops at its first task.)
func TestReembedECSAppOtherDatabase(t *testing.T) {
	t.Parallel()
	e := setupECSReembed(t, 12, bedrocksim.Knobs{})
	bot := e.botWithRows(t, 0)
	u, err := url.Parse(e.target)
	require.NoError(t, err)
	targetPassword, _ := u.User.Password()
	db := strings.TrimPrefix(u.Path, "/")
	target := u.Hostname() + ":" + u.Port() + "/" + db
	e.tasks.sim.InjectFault(ecssim.Fault{Operation: "RunTask", Count: 100, Error: "AccessDeniedException",
		Message: "User: arn:aws:iam::000000000000:user/op is not authorized to perform: iam:PassRole"})
	runTasks := func() int { return e.tasks.sim.State().Calls["RunTask"] }

	// appTask registers the app's task definition as family with env's variables set (an empty
	// value drops the variable).
	appTask := func(family string, env map[string]string) {
		t.Helper()
		out, err := e.tasks.client.DescribeTaskDefinition(t.Context(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(appTaskFamily)})
		require.NoError(t, err)
		td := out.TaskDefinition
		c := td.ContainerDefinitions[0]
		c.Environment = slices.DeleteFunc(slices.Clone(c.Environment), func(kv ecstypes.KeyValuePair) bool {
			_, set := env[aws.ToString(kv.Name)]
			return set
		})
		for k, v := range env {
			if v != "" {
				c.Environment = append(c.Environment, ecstypes.KeyValuePair{Name: aws.String(k), Value: aws.String(v)})
			}
		}
		_, err = e.tasks.client.RegisterTaskDefinition(t.Context(), &ecs.RegisterTaskDefinitionInput{
			Family: aws.String(family), NetworkMode: td.NetworkMode, RequiresCompatibilities: td.RequiresCompatibilities,
			Cpu: td.Cpu, Memory: td.Memory, TaskRoleArn: td.TaskRoleArn, ExecutionRoleArn: td.ExecutionRoleArn,
			ContainerDefinitions: []ecstypes.ContainerDefinition{c},
		})
		require.NoError(t, err)
	}
	noDBEnv := map[string]string{"DB_HOST": "", "DB_PORT": "", "DB_USER": "", "DB_PASSWORD": "", "DB_NAME": ""}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := maps.Clone(m)
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}

	// v0.4.x: another database on the same cluster (one that does not exist: nothing is written
	// if the check lets it through).
	appTask("OtherDBv0", map[string]string{"DB_NAME": "appdb_other_" + stacktest.Suffix()})
	r := e.run(t, "--bot", bot.ID, "--task-definition", "OtherDBv0")
	require.Equal(t, exitUsage, r.code, r.stderr)
	require.Contains(t, r.stderr, "--target-db "+target+": the app's tasks (task definition OtherDBv0, container Container) write to "+
		u.Hostname()+":"+u.Port()+"/appdb_other_")
	require.Contains(t, r.stderr, "(DB_HOST, DB_PORT, DB_NAME), another database")
	require.Contains(t, r.stderr, "--ecs-task worker, whose tasks write to --target-db")
	require.NotContains(t, r.stderr, targetPassword)
	require.Zero(t, runTasks(), "no RunTask")

	// v1: the secret names another cluster; its password is never shown.
	sm := newAWSRig(t)
	smEnv := append(slices.Clone(e.env), sm.env...)
	const appPassword = "app-password-never-shown"
	otherARN, err := sm.sm.Put("OtherDbSecret", `{"host":"OtherStack-Cluster.cluster-abc.us-east-1.rds.amazonaws.com","port":5432,"username":"app","password":"`+appPassword+`","dbname":"postgres"}`)
	require.NoError(t, err)
	appTask("OtherDBv1", with(noDBEnv, "DB_SECRETS_ARN", otherARN))
	r = ragmigrate(t, smEnv, append(slices.Clone(e.args), "--bot", bot.ID, "--task-definition", "OtherDBv1")...)
	require.Equal(t, exitUsage, r.code, r.stderr)
	require.Contains(t, r.stderr, "--target-db "+target+": the app's tasks (task definition OtherDBv1, container Container) write to "+
		"OtherStack-Cluster.cluster-abc.us-east-1.rds.amazonaws.com:5432/postgres (DB_SECRETS_ARN "+otherARN+"), another database")
	require.NotContains(t, r.stderr, appPassword)
	require.NotContains(t, r.stderr, targetPassword)
	require.Equal(t, 1, sm.sm.Gets("OtherDbSecret"))
	require.Zero(t, runTasks(), "no RunTask")

	// v1: the same database under the name "LOCALHOST", the port as a string, another user: the
	// same database, so the run goes on to its task.
	sameARN, err := sm.sm.Put("SameDbSecret", `{"host":"LOCALHOST","port":"`+u.Port()+`","username":"app","password":"`+appPassword+`","dbname":"`+db+`"}`)
	require.NoError(t, err)
	appTask("SameDBv1", with(noDBEnv, "DB_SECRETS_ARN", sameARN))
	r = ragmigrate(t, smEnv, append(slices.Clone(e.args), "--bot", bot.ID, "--task-definition", "SameDBv1", "--fresh")...)
	require.NotEqual(t, exitUsage, r.code, r.stderr)
	require.Contains(t, r.stderr, "iam:PassRole")
	require.NotContains(t, r.stderr, "another database")
	require.Equal(t, 1, sm.sm.Gets("SameDbSecret"))
	require.Equal(t, 1, runTasks(), "the run went on to its task")

	// A secret this identity may not read: said in one line, and the run goes on.
	denied := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		awssim.WriteJSONError(w, http.StatusBadRequest, "AccessDeniedException", "User: op is not authorized to perform: secretsmanager:GetSecretValue")
	}))
	t.Cleanup(denied.Close)
	r = ragmigrate(t, append(slices.Clone(e.env), "AWS_ENDPOINT_URL_SECRETS_MANAGER="+denied.URL),
		append(slices.Clone(e.args), "--bot", bot.ID, "--task-definition", "OtherDBv1", "--fresh")...)
	require.NotEqual(t, exitUsage, r.code, r.stderr)
	require.Contains(t, r.stderr, "the app's database could not be compared with --target-db")
	require.Contains(t, r.stderr, "AccessDeniedException")
	require.Equal(t, 2, runTasks(), "the run went on to its task")

	// --target-secret naming the secret the task definition names: the same database, and the
	// secret is not read again for it.
	appARN, appName := sm.appSecret(t, e.target)
	appTask("AppDBv1", with(noDBEnv, "DB_SECRETS_ARN", appARN))
	args := slices.Clone(e.args)
	i := slices.Index(args, "--target-db")
	args = slices.Delete(args, i, i+2)
	r = ragmigrate(t, smEnv, append(args, "--target-secret", appARN, "--bot", bot.ID, "--task-definition", "AppDBv1", "--fresh")...)
	require.NotEqual(t, exitUsage, r.code, r.stderr)
	require.Contains(t, r.stderr, "iam:PassRole")
	require.Equal(t, 1, sm.sm.Gets(appName), "read once, for --target-secret")
	require.Equal(t, 3, runTasks(), "the run went on to its task")

	// The common path: --stack, whose DbConfigSecretArn is the secret its embedding task
	// definition names, gives the table, bucket, target and task definition.
	port, err := strconv.Atoi(u.Port())
	require.NoError(t, err)
	require.NoError(t, sm.cfn.Put("AppDBStack", cfnsim.BedrockChatV1(cfnsim.Deployment{Table: e.table, Bucket: e.bucket, SecretARN: appARN,
		DBHost: u.Hostname(), DBPort: port, Cluster: "embedding", TaskDefinition: "AppDBv1", SecurityGroup: "sg-0embed",
		Subnets: [2]string{"subnet-0a", "subnet-0b"}})))
	r = ragmigrate(t, smEnv, "reembed", "--yes", "--rpm", "0", "--stack", "AppDBStack", "--allow-private-urls", "--truncate", "END",
		"--runner", "ecs", "--task-poll", "100ms", "--bot", bot.ID, "--fresh", "--report", filepath.Join(t.TempDir(), "r.json"))
	require.NotEqual(t, exitUsage, r.code, r.stderr)
	require.Contains(t, r.stderr, "iam:PassRole")
	require.Equal(t, 2, sm.sm.Gets(appName), "read once, for the stack's database")
	require.Equal(t, 4, runTasks(), "the run went on to its task")
}
