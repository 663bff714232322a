package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/ecssim"
	"github.com/ragmigrate/ragmigrate/internal/dev/logssim"
	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
)

// remoteBundle is an ECS and CloudWatch Logs contract server in process, whose tasks run the
// test's ragmigrate binary, with the app's embedding task definition registered.
type remoteBundle struct {
	sim      *ecssim.Server
	logs     *logssim.Server
	ecs      *ecs.Client
	env      []string // reaches the contract servers
	args     []string // remote's flags
	logGroup string
}

func setupRemote(t *testing.T) *remoteBundle {
	t.Helper()
	sim, logs, endpoint := stacktest.ECS(t, "", ecssim.Options{
		Binary: binary,
		// The stack's endpoints, as a task in the VPC would reach the services.
		Env: func() ([]string, error) {
			var env []string
			for _, kv := range os.Environ() {
				if strings.HasPrefix(kv, "AWS_") {
					env = append(env, kv)
				}
			}
			return env, nil
		},
	})

	b := &remoteBundle{sim: sim, logs: logs, logGroup: "/ecs/embed-" + stacktest.Suffix(),
		ecs: ecs.New(ecs.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
			Credentials: credentials.NewStaticCredentialsProvider("k", "s", "")})}
	b.registerAppTask(t, "BedrockChatStackEmbeddingTaskDefinition", "2048", "4096")
	b.env = []string{"AWS_ENDPOINT_URL_ECS=" + endpoint, "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS=" + endpoint}
	b.args = []string{"remote", "--image", "ragmigrate:test", "--cluster", "embedding",
		"--subnets", "subnet-0a,subnet-0b", "--security-groups", "sg-0embed",
		"--task-definition", "BedrockChatStackEmbeddingTaskDefinition", "--poll-interval", "100ms"}
	return b
}

// registerAppTask registers task definition family as Bedrock Chat's CDK registers the app's
// embedding task: Fargate, container "Container" logging to b.logGroup, a task role and an
// execution role.
func (b *remoteBundle) registerAppTask(t *testing.T, family, cpu, memory string) {
	t.Helper()
	_, err := b.ecs.RegisterTaskDefinition(t.Context(), &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(family), NetworkMode: types.NetworkModeAwsvpc,
		RequiresCompatibilities: []types.Compatibility{types.CompatibilityFargate},
		Cpu:                     aws.String(cpu), Memory: aws.String(memory),
		TaskRoleArn:      aws.String("arn:aws:iam::000000000000:role/EmbeddingTaskRole"),
		ExecutionRoleArn: aws.String("arn:aws:iam::000000000000:role/EmbeddingExecutionRole"),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("Container"), Image: aws.String("embedding:latest"), Essential: aws.Bool(true),
			LogConfiguration: &types.LogConfiguration{LogDriver: types.LogDriverAwslogs, Options: map[string]string{
				"awslogs-group": b.logGroup, "awslogs-region": "us-east-1", "awslogs-stream-prefix": "embed-task"}},
		}},
	})
	require.NoError(t, err)
}

func (b *remoteBundle) remote(t *testing.T, env []string, command ...string) result {
	t.Helper()
	args := append(slices.Clone(b.args), "--")
	return ragmigrate(t, append(slices.Clone(b.env), env...), append(args, command...)...)
}

// lines are a task's log events as the contract server stored them.
func (b *remoteBundle) lines(task ecssim.TaskRecord) []string {
	var out []string
	for _, e := range b.logs.Events(task.LogGroup, task.LogStream) {
		out = append(out, e.Message)
	}
	return out
}

// TestRemoteCopyThenVerify runs copy as a task: the data arrives, the task's log lines reach the
// terminal in the order the task wrote them, and the exit code is the task's; the database URLs
// travel in the task's environment, never on its command line or in the output. verify after a
// row changed exits 3 through the task, on the reused task definition.
func TestRemoteCopyThenVerify(t *testing.T) {
	t.Parallel()
	b := setupRemote(t)
	c := setupCopy(t, 300, "", nil)
	dbs := []string{"RAGMIGRATE_SOURCE_DB=" + c.src, "RAGMIGRATE_TARGET_DB=" + c.dst}

	// A task has no terminal: a write without --yes is refused there, and remote says why.
	r := b.remote(t, dbs, "copy")
	require.Equal(t, exitUsage, r.code, r.stderr)
	require.Contains(t, r.stdout, "refusing to write without --yes")
	require.Contains(t, r.stderr, "a command that writes needs --yes after --")

	r = b.remote(t, dbs, "copy", "--yes")
	require.Zero(t, r.code, r.stderr)
	c.requireSameItems(t)
	require.Contains(t, r.stderr, "task definition reused: same content")
	require.Contains(t, r.stderr, "from=\"the app's task definition BedrockChatStackEmbeddingTaskDefinition\"")

	st := b.sim.State()
	require.Len(t, st.Tasks, 2)
	task := st.Tasks[1]
	require.Equal(t, "EssentialContainerExited", task.StopCode)
	require.EqualValues(t, 0, *task.ExitCode)
	require.Equal(t, "embedding", task.Cluster)
	require.Equal(t, "subnet-0a", task.Subnet)
	require.Equal(t, []string{"sg-0embed"}, task.SecurityGroups)
	require.Equal(t, "DISABLED", task.AssignPublicIp)
	require.Equal(t, []string{binary, "copy", "--yes"}, task.Argv)
	require.Equal(t, b.logGroup, task.LogGroup, "the app's log group")
	require.Equal(t, "ragmigrate/ragmigrate/"+task.ID, task.LogStream)
	var envNames []string
	for _, kv := range task.Overrides.ContainerOverrides[0].Environment {
		envNames = append(envNames, kv.Name)
	}
	require.Equal(t, []string{"RAGMIGRATE_SOURCE_DB", "RAGMIGRATE_TARGET_DB"}, envNames)

	logged := b.lines(task)
	require.Greater(t, len(logged), 3)
	require.Equal(t, logged, strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n"), "every line, in order")
	require.Contains(t, r.stdout, "pgvector_source=", "copy's own log lines")
	require.NotContains(t, r.stdout+r.stderr, "ragmigrate-local-secret", "no password in output")

	conn := connectTest(t, c.dst)
	_, err := conn.Exec(stacktest.Context(t), `UPDATE items SET content = content || ' mutated' WHERE id = (SELECT min(id) FROM items)`)
	require.NoError(t, err)
	v := b.remote(t, dbs, "verify", "--expect", "copy")
	require.Equal(t, exitMismatch, v.code, v.stdout+v.stderr)
	require.Contains(t, v.stderr, "task definition reused: same content")
	require.Contains(t, v.stderr, "exited with code 3")
	st = b.sim.State()
	require.Len(t, st.Tasks, 3)
	require.Equal(t, st.Tasks[1].TaskDefinitionArn, st.Tasks[2].TaskDefinitionArn)
	require.Equal(t, 2, st.Calls["RegisterTaskDefinition"], "the app's, then remote's once for three tasks")
}

// TestRemoteJSON: with --json, stdout is exactly one JSON document — the task and its command's
// own --json result — and the task's log lines go to stderr; a task whose command printed no
// result (a write refused without --yes) still gives the document, with result null.
func TestRemoteJSON(t *testing.T) {
	t.Parallel()
	b := setupRemote(t)
	c := setupCopy(t, 300, "", nil)
	dbs := []string{"RAGMIGRATE_SOURCE_DB=" + c.src, "RAGMIGRATE_TARGET_DB=" + c.dst}
	type doc struct {
		Task struct {
			ID       string `json:"id"`
			Cluster  string `json:"cluster"`
			ExitCode *int   `json:"exit_code"`
			StopCode string `json:"stop_code"`
		} `json:"task"`
		Result *struct {
			RunID  int64 `json:"run_id"`
			Tables []struct {
				Rows int64 `json:"rows"`
			} `json:"tables"`
		} `json:"result"`
	}
	// one decodes stdout as one JSON document and nothing else.
	one := func(t *testing.T, stdout string) doc {
		t.Helper()
		dec := json.NewDecoder(strings.NewReader(stdout))
		var d doc
		require.NoError(t, dec.Decode(&d), "stdout:\n%s", stdout)
		var rest json.RawMessage
		require.ErrorIs(t, dec.Decode(&rest), io.EOF, "stdout holds one JSON document and nothing after it:\n%s", stdout)
		return d
	}

	// --json as a flag of remote reaches the task as well; the task refuses to write without --yes.
	args := append(slices.Clone(b.args), "--json", "--", "copy")
	r := ragmigrate(t, append(slices.Clone(b.env), dbs...), args...)
	require.Equal(t, exitUsage, r.code, r.stderr)
	d := one(t, r.stdout)
	require.NotNil(t, d.Task.ExitCode)
	require.Equal(t, exitUsage, *d.Task.ExitCode)
	require.Nil(t, d.Result, "the command printed no result")
	require.Contains(t, r.stderr, "refusing to write without --yes")

	r = b.remote(t, append(dbs, "RAGMIGRATE_JSON=true"), "copy", "--yes")
	require.Zero(t, r.code, r.stderr)
	c.requireSameItems(t)
	d = one(t, r.stdout)
	task := b.sim.State().Tasks[1]
	require.Equal(t, task.ID, d.Task.ID)
	require.Equal(t, "embedding", d.Task.Cluster)
	require.Equal(t, "EssentialContainerExited", d.Task.StopCode)
	require.NotNil(t, d.Task.ExitCode)
	require.Zero(t, *d.Task.ExitCode)
	require.NotNil(t, d.Result, "copy's own --json report")
	require.Positive(t, d.Result.RunID)
	require.Len(t, d.Result.Tables, 1)
	require.Positive(t, d.Result.Tables[0].Rows)
	require.Contains(t, r.stderr, "pgvector_source=", "the task's log lines, on stderr")
	require.NotContains(t, r.stderr, `"run_id"`, "the result is on stdout only")
}

// TestRemoteInterrupt sends SIGINT to remote with --yes while its task runs: remote stops the
// task (StopTask, then SIGTERM to the task's process) and exits 130 once the task is STOPPED
// with UserInitiated.
func TestRemoteInterrupt(t *testing.T) {
	t.Parallel()
	b := setupRemote(t)
	args := append(slices.Clone(b.args), "--yes", "--", "dev", "serve", "web", "--addr", "127.0.0.1:0")
	cmd, stderr := startRagmigrate(t, b.env, args...)
	require.Eventually(t, func() bool {
		st := b.sim.State()
		return len(st.Tasks) == 1 && slices.ContainsFunc(b.lines(st.Tasks[0]), func(l string) bool { return strings.Contains(l, "msg=serving") })
	}, time.Minute, 50*time.Millisecond, stderr.String())
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	err := cmd.Wait()
	require.Error(t, err)
	require.Equal(t, exitInterrupted, cmd.ProcessState.ExitCode(), stderr.String())

	st := b.sim.State()
	require.Equal(t, 1, st.Calls["StopTask"])
	task := st.Tasks[0]
	require.Equal(t, "STOPPED", task.LastStatus)
	require.Equal(t, "UserInitiated", task.StopCode)
	require.Equal(t, []string{"SIGTERM"}, task.Signals, "the task's process ended on SIGTERM")
	require.Contains(t, stderr.String(), "interrupted: task "+task.ID+" stopped (UserInitiated")
}

// TestRemoteRetries: throttled RunTask calls, a failures[] answer and a capacity failure are each
// retried and said; the task then runs.
func TestRemoteRetries(t *testing.T) {
	t.Parallel()
	b := setupRemote(t)
	b.sim.InjectFault(ecssim.Fault{Operation: "RunTask", Error: "ThrottlingException", Count: 2})
	b.sim.InjectFault(ecssim.Fault{Operation: "RunTask", Failures: []ecssim.Failure{{Reason: "RESOURCE:CPU"}}})
	b.sim.InjectFault(ecssim.Fault{Operation: "RunTask", Failures: []ecssim.Failure{{Reason: ecssim.CapacityReason}}})
	r := b.remote(t, nil, "inspect", "--help")
	require.Zero(t, r.code, r.stderr)
	require.Contains(t, r.stdout, "Inspect reads one source")
	require.Contains(t, r.stderr, `msg="RunTask will be retried" cause="throttled by ECS`)
	require.Contains(t, r.stderr, `failure="RESOURCE:CPU: the cluster has no room for the task's cpu right now"`)
	require.Contains(t, r.stderr, "Fargate has no capacity in the subnets' availability zones right now")
	st := b.sim.State()
	require.Equal(t, 5, st.Calls["RunTask"])
	require.Len(t, st.Tasks, 1, "one task started in all")
}

// TestRemoteTaskNotStarted: a task that stops before its container runs exits 5 with ECS's
// reason and what to check.
func TestRemoteTaskNotStarted(t *testing.T) {
	t.Parallel()
	b := setupRemote(t)
	b.sim.InjectFault(ecssim.Fault{Operation: "start", StoppedReason: "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref ragmigrate:test"})
	r := b.remote(t, nil, "inspect", "--help")
	require.Equal(t, exitTaskNotStarted, r.code, r.stderr)
	require.Contains(t, r.stderr, "did not start (TaskFailedToStart: CannotPullContainerError")
	require.Contains(t, r.stderr, "the image could not be pulled")
}

// TestRemoteUsage: refused before any AWS call.
func TestRemoteUsage(t *testing.T) {
	t.Parallel()
	b := setupRemote(t)
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"remote", "--cluster", "c", "--subnets", "subnet-1", "--security-groups", "sg-1", "--", "copy"}, "--image"},
		{append(slices.Clone(b.args), "copy"), "put the task's command after --"},
		{append(slices.Clone(b.args), "--", "nonsense"), "not a ragmigrate command"},
		{append(slices.Clone(b.args), "--", "remote"), "not a ragmigrate command"},
		{append(slices.Clone(b.args), "--cpu", "512", "--memory", "512", "--", "copy"), "--memory \"512\": Fargate offers 1024, 2048, 3072, 4096 MiB with --cpu 512"},
	} {
		r := ragmigrate(t, b.env, tc.args...)
		require.Equal(t, exitUsage, r.code, r.stderr)
		require.Contains(t, r.stderr, tc.says)
	}
	require.Equal(t, map[string]int{"RegisterTaskDefinition": 1}, b.sim.State().Calls, "only the setup's call")
}

// TestRedactArg: passwords in the task's arguments never reach remote's output.
func TestRedactArg(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"--source-db=postgres://u:pw@h/db":     "--source-db=postgres://u:xxxxx@h/db",
		"postgres://u:pw@h/db?sslmode=require": "postgres://u:xxxxx@h/db?sslmode=require",
		"host=h user=u password=pw dbname=d":   "host=h user=u password=xxxxx dbname=d",
		"--target-db=host=h password=pw":       "--target-db=host=h password=xxxxx",
		"copy":                                 "copy",
		"postgres://u@h/db":                    "postgres://u@h/db",
	} {
		require.Equal(t, want, redactArg(in), in)
	}
}

// TestRemoteThroughDevServeAWS runs a task on the binary's own 'dev serve aws', as the stack
// does: the task is this binary, and its environment has the AWS_* variables of the stack's env
// file (not its RAGMIGRATE_* ones), the override's, and ECS's own.
func TestRemoteThroughDevServeAWS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	envFile := filepath.Join(dir, "env")
	require.NoError(t, os.WriteFile(envFile, []byte("export AWS_ENDPOINT_URL_S3='http://127.0.0.1:1'\nexport RAGMIGRATE_TABLE='stack-table'\n"), 0o600))
	_, stderr := startRagmigrate(t, nil, "dev", "serve", "aws", "--addr", "127.0.0.1:0", "--dir", filepath.Join(dir, "aws"), "--ecs-task-env-file", envFile)
	addr := regexp.MustCompile(`msg=serving server=aws addr=(\S+)`)
	require.Eventually(t, func() bool { return addr.MatchString(stderr.String()) }, time.Minute, 20*time.Millisecond)
	url := "http://" + addr.FindStringSubmatch(stderr.String())[1]

	r := ragmigrate(t, []string{"AWS_ENDPOINT_URL_ECS=" + url, "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS=" + url, "RAGMIGRATE_TARGET_DB=postgres://u:hunter2@127.0.0.1:1/x"},
		"remote", "--image", "ragmigrate:test", "--cluster", "c", "--subnets", "subnet-1", "--security-groups", "sg-1",
		"--task-role", "arn:aws:iam::000000000000:role/t", "--execution-role", "arn:aws:iam::000000000000:role/e", "--log-group", "/g",
		"--poll-interval", "100ms", "--", "inspect", "--help")
	require.Zero(t, r.code, r.stderr)
	require.Contains(t, r.stdout, "Inspect reads one source")
	require.Contains(t, r.stderr, "environment=RAGMIGRATE_TARGET_DB ")
	require.NotContains(t, r.stdout+r.stderr, "hunter2")

	resp, err := http.Get(url + "/_dev/ecs/state")
	require.NoError(t, err)
	defer resp.Body.Close()
	var st ecssim.State
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	require.Len(t, st.Tasks, 1)
	task := st.Tasks[0]
	require.Equal(t, "STOPPED", task.LastStatus)
	require.EqualValues(t, 0, *task.ExitCode)
	self, err := filepath.EvalSymlinks(binary)
	require.NoError(t, err)
	require.Equal(t, []string{self, "inspect", "--help"}, task.Argv)
	require.Contains(t, task.EnvNames, "AWS_ENDPOINT_URL_S3")
	require.Contains(t, task.EnvNames, "RAGMIGRATE_TARGET_DB")
	require.Contains(t, task.EnvNames, "ECS_CONTAINER_METADATA_URI_V4")
	require.NotContains(t, task.EnvNames, "RAGMIGRATE_TABLE", "only the env file's AWS_* variables")
}

// TestRemoteFromStack places the task from the stack's outputs alone, as 'make demo' does: the
// local stack publishes BedrockChatStack (v1 outputs, its DB secret, the app's embedding task
// definition). The cluster, subnets and security group come from the outputs, the roles and log
// group from the app's task definition; the task gets only RAGMIGRATE_STACK and resolves the
// table and the database secret itself (with its role, inside the VPC). A stack without a
// needed output is an error naming it.
func TestRemoteFromStack(t *testing.T) {
	t.Parallel()
	b := setupRemote(t)
	// The published stack names its task definition family; register it in this ECS.
	b.registerAppTask(t, "BedrockChatStackEmbeddingTaskDefinition1A2B3C4D", "1024", "2048")
	// Nothing but the stack: the stack's own env names the table, bucket and databases.
	env := append(slices.Clone(b.env), "RAGMIGRATE_TABLE=", "RAGMIGRATE_BUCKET=", "RAGMIGRATE_TARGET_DB=", "RAGMIGRATE_SOURCE_DB=")
	r := ragmigrate(t, env, "remote", "--image", "ragmigrate:test", "--poll-interval", "100ms", "--stack", "BedrockChatStack", "--", "status")
	require.Zero(t, r.code, "stdout (the task's lines):\n%s\nstderr:\n%s", r.stdout, r.stderr)
	for _, want := range []string{
		"flag=--cluster value=BedrockChatStack-EmbeddingCluster6D1A1E4B-AbCdEfGh1234 output=EmbeddingClusterNameA6A626C4",
		"flag=--subnets value=subnet-0a1b2c3d4e5f60001,subnet-0a1b2c3d4e5f60002",
		"flag=--security-groups value=sg-0e1b2e3d4d5e6f708 output=EmbeddingTaskSecurityGroupId223DB337",
		"environment=RAGMIGRATE_STACK",
		"needs=\"cloudformation:DescribeStacks, secretsmanager:GetSecretValue",
	} {
		require.Contains(t, r.stderr, want)
	}
	require.Contains(t, r.stdout, "flag=--target-secret", "the task resolved the stack itself (its log lines reach stdout)")
	// The stack's target may hold a journal or not (a fresh stack has none): either answer is
	// status's, printed by the task.
	require.Regexp(t, `(?m)^(RUN |no runs: the target has no ragmigrate journal)`, r.stdout, "status's answer, printed by the task")
	st := b.sim.State()
	require.Len(t, st.Tasks, 1)
	td, err := b.ecs.DescribeTaskDefinition(t.Context(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(st.Tasks[0].TaskDefinitionArn)})
	require.NoError(t, err)
	require.Equal(t, "arn:aws:iam::000000000000:role/EmbeddingTaskRole", aws.ToString(td.TaskDefinition.TaskRoleArn), "the app's task role by default")

	missing := ragmigrate(t, env, "remote", "--image", "ragmigrate:test", "--stack", "BedrockChatStackV0", "--", "status")
	require.Equal(t, exitUsage, missing.code, missing.stderr)
	require.Contains(t, missing.stderr, "stack BedrockChatStackV0 has no output EmbeddingClusterName… (the embedding cluster): pass --cluster")
}

// TestRemoteInterruptAfterTaskStopped: Ctrl-C while remote waits for a task that has already
// ended. Before, remote found it STOPPED and then waited out up to three --poll-interval pauses for
// late log lines on a context the interrupt could not cut (ten minutes each here), so Ctrl-C did
// nothing; now it stops waiting and exits with the task's code.
func TestRemoteInterruptAfterTaskStopped(t *testing.T) {
	t.Parallel()
	b := setupRemote(t)
	args := append(slices.Clone(b.args), "--poll-interval", "10m", "--", "inspect", "--help")
	cmd, stderr := startRagmigrate(t, b.env, args...)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	require.Eventually(t, func() bool {
		st := b.sim.State()
		return len(st.Tasks) == 1 && st.Tasks[0].LastStatus == "STOPPED"
	}, time.Minute, 50*time.Millisecond, stderr.String())
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	select {
	case <-exited:
	case <-time.After(time.Minute):
		t.Fatalf("remote did not end within a minute of SIGINT, its task long STOPPED: %s", stderr)
	}
	require.Zero(t, cmd.ProcessState.ExitCode(), "the task's exit code: %s", stderr)
	require.Contains(t, stderr.String(), "status=STOPPED")
}
