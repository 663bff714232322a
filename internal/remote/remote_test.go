package remote_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/ecssim"
	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/remote"
)

type testBundle struct {
	runner *remote.Runner
	client *ecs.Client
	sim    *ecssim.Server
	opts   remote.Options
	out    *stacktest.SyncBuffer
	log    *stacktest.SyncBuffer
}

// setup runs the ECS and Logs contract servers in process with every image mapped to /bin/sh -c:
// a task's command is one shell script.
func setup(t *testing.T) *testBundle {
	t.Helper()
	sim, _, endpoint := stacktest.ECS(t, "", ecssim.Options{
		Program: func(string) ([]string, error) { return []string{"/bin/sh", "-c"}, nil }})
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""), RetryMaxAttempts: 1}
	client := ecs.NewFromConfig(cfg, func(o *ecs.Options) { o.BaseEndpoint = aws.String(endpoint) })
	b := &testBundle{
		client: client, sim: sim, out: &stacktest.SyncBuffer{}, log: &stacktest.SyncBuffer{},
		runner: &remote.Runner{ECS: client, Region: "us-east-1",
			Logs: cloudwatchlogs.NewFromConfig(cfg, func(o *cloudwatchlogs.Options) { o.BaseEndpoint = aws.String(endpoint) })},
	}
	b.opts = remote.Options{
		Target: remote.Target{Cluster: "c", Subnets: []string{"subnet-1"}, SecurityGroups: []string{"sg-1"},
			TaskRole: "arn:aws:iam::000000000000:role/t", ExecutionRole: "arn:aws:iam::000000000000:role/e", LogGroup: "/g", LogRegion: "us-east-1"},
		Image: "img:1", CPU: "256", Memory: "512", PollInterval: 20 * time.Millisecond, Out: b.out,
		Logger:  slog.New(slog.NewTextHandler(b.log, nil)),
		Backoff: remote.Backoff{Base: time.Millisecond, Max: 5 * time.Millisecond},
	}
	return b
}

func (b *testBundle) run(t *testing.T, ctx context.Context, o remote.Options) (*remote.Result, error) {
	t.Helper()
	return b.runner.Run(ctx, remote.Resolved{Target: o.Target}, o)
}

// TestLinesInOrderAcrossPages prints more lines than one GetLogEvents page holds: every one
// arrives, in order, and the exit code is the task's.
func TestLinesInOrderAcrossPages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	o := b.opts
	o.Command = []string{`i=0; while [ $i -lt 25000 ]; do i=$((i+1)); echo "line $i"; done; exit 3`}
	res, err := b.run(t, t.Context(), o)
	require.NoError(t, err)
	var want strings.Builder
	for i := 1; i <= 25000; i++ {
		fmt.Fprintf(&want, "line %d\n", i)
	}
	require.Equal(t, want.String(), b.out.String())
	require.Equal(t, 25000, res.Lines)
	var exit *remote.ExitError
	require.ErrorAs(t, res.Err(), &exit)
	require.Equal(t, 3, exit.Code)
}

// TestTaskDefinitionReusedByContent registers the family once for the same content, and a new
// revision, saying why, when the content changes.
func TestTaskDefinitionReusedByContent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	o := b.opts
	o.Command = []string{"exit 0"}
	for range 2 {
		res, err := b.run(t, t.Context(), o)
		require.NoError(t, err)
		require.NoError(t, res.Err())
	}
	o.Image = "img:2"
	_, err := b.run(t, t.Context(), o)
	require.NoError(t, err)
	st := b.sim.State()
	require.Len(t, st.Tasks, 3)
	require.Equal(t, 2, st.Calls["RegisterTaskDefinition"])
	require.Equal(t, st.Tasks[0].TaskDefinitionArn, st.Tasks[1].TaskDefinitionArn)
	require.Equal(t, "arn:aws:ecs:us-east-1:000000000000:task-definition/ragmigrate:2", st.Tasks[2].TaskDefinitionArn)
	require.Contains(t, b.log.String(), `why="differs in image"`)
}

// TestResolve takes the roles and the log group from the app's task definition, and names the
// flags that are missing otherwise.
func TestResolve(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.client.RegisterTaskDefinition(t.Context(), &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("app"), NetworkMode: types.NetworkModeAwsvpc, Cpu: aws.String("2048"), Memory: aws.String("4096"),
		RequiresCompatibilities: []types.Compatibility{types.CompatibilityFargate},
		TaskRoleArn:             aws.String("task-role"), ExecutionRoleArn: aws.String("exec-role"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("Container"), Image: aws.String("x"),
			LogConfiguration: &types.LogConfiguration{LogDriver: types.LogDriverAwslogs, Options: map[string]string{
				"awslogs-group": "/app", "awslogs-region": "eu-west-1", "awslogs-stream-prefix": "embed-task"}}}},
	})
	require.NoError(t, err)
	res, err := b.runner.Resolve(t.Context(), remote.Target{Cluster: "c", TaskDefinition: "app", TaskRole: "mine"}, remote.Backoff{})
	require.NoError(t, err)
	require.Equal(t, "mine", res.TaskRole, "a given role wins")
	require.Equal(t, "exec-role", res.ExecutionRole)
	require.Equal(t, "/app", res.LogGroup)
	require.Equal(t, "eu-west-1", res.LogRegion)
	require.Equal(t, []string{"execution role", "log group"}, res.FromApp)

	_, err = b.runner.Resolve(t.Context(), remote.Target{TaskDefinition: "app", AppContainer: "Other"}, remote.Backoff{})
	require.ErrorContains(t, err, `has no container named "Other" (it has Container)`)
	_, err = b.runner.Resolve(t.Context(), remote.Target{TaskRole: "r"}, remote.Backoff{})
	require.ErrorContains(t, err, "missing --execution-role, --log-group: set them, or name the app's embedding task definition with --task-definition")
	_, err = b.runner.Resolve(t.Context(), remote.Target{TaskDefinition: "nope"}, remote.Backoff{})
	require.ErrorContains(t, err, "read the app's task definition nope (--task-definition)")
}

// TestInterrupt: after the context ends, a task is stopped when ConfirmStop says so and waited
// for within StopWait, and left running otherwise.
func TestInterrupt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		confirm bool
		script  string
		wantErr string
	}{
		{"Stopped", true, `trap 'exit 0' TERM; echo up; while :; do sleep 0.02; done`, ""},
		{"LeftRunning", false, `trap 'exit 0' TERM; echo up; while :; do sleep 0.02; done`, ""},
		// remote's task definition gives the container a minute to stop; StopWait is shorter.
		{"StopWaitBounded", true, `trap '' TERM; echo up; while :; do sleep 0.02; done`, "did not reach STOPPED within 500ms after StopTask"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			o := b.opts
			o.Command = []string{tc.script}
			o.StopWait = 500 * time.Millisecond
			asked := 0
			o.ConfirmStop = func(string) bool { asked++; return tc.confirm }
			ctx, cancel := context.WithCancel(t.Context())
			go func() {
				// The interrupt comes once the task has printed its first line.
				for !strings.Contains(b.out.String(), "up") {
					time.Sleep(5 * time.Millisecond)
				}
				cancel()
			}()
			res, err := b.run(t, ctx, o)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, 1, asked)
			require.True(t, res.Interrupted)
			require.Equal(t, tc.confirm, res.Stopped)
			task := b.sim.State().Tasks[0]
			if tc.confirm {
				require.Equal(t, "STOPPED", task.LastStatus)
				require.Equal(t, "UserInitiated", task.StopCode)
				require.Equal(t, "UserInitiated", res.StopCode)
			} else {
				require.Equal(t, "RUNNING", task.LastStatus)
				require.Contains(t, b.log.String(), "stop_with=\"aws ecs stop-task --cluster c --task "+task.ID+"\"")
			}
		})
	}
}

// TestRunTaskRefusals: failures[] that no retry can fix, and errors ECS refuses with, stop at
// once with the reason; retryable ones stop after the bound.
func TestRunTaskRefusals(t *testing.T) {
	t.Parallel()
	b := setup(t)
	o := b.opts
	o.Command = []string{"exit 0"}
	o.Backoff.Attempts = 3

	b.sim.InjectFault(ecssim.Fault{Operation: "RunTask", Failures: []ecssim.Failure{{Reason: "MISSING"}}})
	_, err := b.run(t, t.Context(), o)
	require.ErrorContains(t, err, "ECS did not start it: MISSING: the cluster or the capacity named does not exist")

	b.sim.InjectFault(ecssim.Fault{Operation: "RunTask", Failures: []ecssim.Failure{{Reason: "RESOURCE:MEMORY"}}, Count: 3})
	_, err = b.run(t, t.Context(), o)
	require.ErrorContains(t, err, "ECS did not start it after 3 attempts: RESOURCE:MEMORY")

	b.sim.InjectFault(ecssim.Fault{Operation: "RunTask", Error: "ThrottlingException", Count: 3})
	_, err = b.run(t, t.Context(), o)
	require.ErrorContains(t, err, "RunTask still failing after 3 attempts")

	b.sim.InjectFault(ecssim.Fault{Operation: "RunTask", Error: "AccessDeniedException",
		Message: "User: arn:aws:iam::000000000000:user/op is not authorized to perform: iam:PassRole on resource: arn:aws:iam::000000000000:role/t"})
	_, err = b.run(t, t.Context(), o)
	require.ErrorContains(t, err, "(your identity needs iam:PassRole on arn:aws:iam::000000000000:role/t and arn:aws:iam::000000000000:role/e)")

	o.Target.Subnets = []string{"private-a"}
	_, err = b.run(t, t.Context(), o)
	require.ErrorContains(t, err, "InvalidParameterException")
	require.ErrorContains(t, err, "(check --subnets")
	require.Empty(t, b.sim.State().Tasks)

	var notStarted *remote.NotStartedError
	r := &remote.Result{TaskID: "x", StopCode: "TaskFailedToStart", StoppedReason: "ResourceInitializationError: unable to pull secrets"}
	require.True(t, errors.As(r.Err(), &notStarted))
	require.ErrorContains(t, r.Err(), "the execution role cannot")
}

// TestFinalError: a task's last error is found in ragmigrate's output under either log format,
// the "ragmigrate: " line it ends with or its last ERROR record, and lines after it that are
// not errors do not hide it.
func TestFinalError(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		lines []string
		want  string
	}{
		{"text", []string{`time=2026-12-03T17:00:00Z level=INFO msg="bot claimed" bot=b1`,
			"ragmigrate: assume the app's table access role r: AccessDenied: not authorized"}, "assume the app's table access role r: AccessDenied: not authorized"},
		{"text record", []string{`time=2026-12-03T17:00:00Z level=ERROR msg="embed bot" bot=b1 error="invoke model: AccessDeniedException: no"`,
			`time=2026-12-03T17:00:01Z level=INFO msg="worker stopping"`}, "embed bot: invoke model: AccessDeniedException: no"},
		{"json", []string{`{"time":"2026-12-03T17:00:00Z","level":"INFO","msg":"bot claimed"}`,
			`{"time":"2026-12-03T17:00:01Z","level":"ERROR","msg":"ragmigrate: target: connection refused","exit_code":1}`}, "target: connection refused"},
		{"json record", []string{`{"level":"ERROR","msg":"embed bot","error":"throttled"}`, `{"level":"WARN","msg":"retrying"}`}, "embed bot: throttled"},
		{"none", []string{`time=2026-12-03T17:00:00Z level=INFO msg="bot claimed"`, "plain output"}, ""},
	} {
		require.Equal(t, tt.want, remote.FinalError(tt.lines), tt.name)
	}
}
