package ecssim_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/ecssim"
	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
)

type testBundle struct {
	url  string
	ecs  *ecs.Client
	logs *cloudwatchlogs.Client
	sim  *ecssim.Server
	dir  string
}

// setup starts the two contract servers in process, with every image mapped to /bin/sh -c, so a
// task's command is a shell script.
func setup(t *testing.T, dir string) *testBundle {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	sim, _, endpoint := stacktest.ECS(t, dir, ecssim.Options{
		Program: func(string) ([]string, error) { return []string{"/bin/sh", "-c"}, nil },
		Env:     func() ([]string, error) { return []string{"AWS_ENDPOINT_URL_S3=http://s3.local"}, nil },
	})
	cfg := aws.Config{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("k", "s", ""),
		RetryMaxAttempts: 1, // the tests see each answer, throttling included
	}
	return &testBundle{
		ecs:  ecs.NewFromConfig(cfg, func(o *ecs.Options) { o.BaseEndpoint = aws.String(endpoint) }),
		logs: cloudwatchlogs.NewFromConfig(cfg, func(o *cloudwatchlogs.Options) { o.BaseEndpoint = aws.String(endpoint) }),
		sim:  sim, dir: dir, url: endpoint,
	}
}

func (b *testBundle) register(t *testing.T, stopTimeout int32) *types.TaskDefinition {
	t.Helper()
	out, err := b.ecs.RegisterTaskDefinition(t.Context(), &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("sim"), NetworkMode: types.NetworkModeAwsvpc,
		RequiresCompatibilities: []types.Compatibility{types.CompatibilityFargate},
		Cpu:                     aws.String("256"), Memory: aws.String("512"),
		ExecutionRoleArn: aws.String("arn:aws:iam::000000000000:role/exec"),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("Container"), Image: aws.String("img"), Essential: aws.Bool(true),
			Command:     []string{"exit 0"},
			Environment: []types.KeyValuePair{{Name: aws.String("FROM_DEF"), Value: aws.String("def")}},
			StopTimeout: aws.Int32(stopTimeout),
			LogConfiguration: &types.LogConfiguration{LogDriver: types.LogDriverAwslogs, Options: map[string]string{
				"awslogs-group": "/sim", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "p"}},
		}},
	})
	require.NoError(t, err)
	return out.TaskDefinition
}

func (b *testBundle) run(t *testing.T, script string, env ...types.KeyValuePair) types.Task {
	t.Helper()
	out, err := b.ecs.RunTask(t.Context(), runInput(script, env...))
	require.NoError(t, err)
	require.Empty(t, out.Failures)
	require.Len(t, out.Tasks, 1)
	require.Equal(t, "PROVISIONING", aws.ToString(out.Tasks[0].LastStatus))
	return out.Tasks[0]
}

func runInput(script string, env ...types.KeyValuePair) *ecs.RunTaskInput {
	return &ecs.RunTaskInput{
		Cluster: aws.String("c"), TaskDefinition: aws.String("sim"), LaunchType: types.LaunchTypeFargate,
		NetworkConfiguration: &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{
			Subnets: []string{"subnet-1"}, SecurityGroups: []string{"sg-1"}, AssignPublicIp: types.AssignPublicIpDisabled}},
		Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{
			Name: aws.String("Container"), Command: []string{script}, Environment: env}}},
	}
}

func (b *testBundle) waitStopped(t *testing.T, arn string) types.Task {
	t.Helper()
	var last types.Task
	require.Eventually(t, func() bool {
		out, err := b.ecs.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Cluster: aws.String("c"), Tasks: []string{arn}})
		require.NoError(t, err)
		require.Len(t, out.Tasks, 1)
		last = out.Tasks[0]
		return aws.ToString(last.LastStatus) == "STOPPED"
	}, 30*time.Second, 20*time.Millisecond)
	return last
}

func (b *testBundle) lines(t *testing.T, stream string) []string {
	t.Helper()
	out, err := b.logs.GetLogEvents(t.Context(), &cloudwatchlogs.GetLogEventsInput{
		LogGroupName: aws.String("/sim"), LogStreamName: aws.String(stream), StartFromHead: aws.Bool(true)})
	require.NoError(t, err)
	var lines []string
	for _, e := range out.Events {
		lines = append(lines, aws.ToString(e.Message))
	}
	return lines
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func taskID(arn string) string { return arn[len(arn)-32:] }

// TestLifecycle runs a task to its end: the statuses in order, the exit code, the environment
// (ambient, definition, override and ECS's own), and its lines in the log stream in order, with
// the forward token coming back unchanged once everything is read.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	b.register(t, 30)
	task := b.run(t, `echo "one $FROM_DEF $FROM_OVERRIDE $AWS_ENDPOINT_URL_S3"; echo two >&2; echo "$AWS_EXECUTION_ENV"; exit 7`,
		types.KeyValuePair{Name: aws.String("FROM_OVERRIDE"), Value: aws.String("over")})
	done := b.waitStopped(t, aws.ToString(task.TaskArn))
	require.Equal(t, "EssentialContainerExited", string(done.StopCode))
	require.Equal(t, "Essential container in task exited", aws.ToString(done.StoppedReason))
	require.EqualValues(t, 7, aws.ToInt32(done.Containers[0].ExitCode))
	require.NotNil(t, done.StartedAt)
	require.NotNil(t, done.StoppedAt)

	st := b.sim.State()
	require.Len(t, st.Tasks, 1)
	var statuses []string
	for _, h := range st.Tasks[0].History {
		statuses = append(statuses, h.Status)
	}
	require.Equal(t, []string{"PROVISIONING", "PENDING", "RUNNING", "DEPROVISIONING", "STOPPED"}, statuses)

	stream := "p/Container/" + taskID(aws.ToString(task.TaskArn))
	require.Equal(t, []string{"one def over http://s3.local", "two", "AWS_ECS_FARGATE"}, b.lines(t, stream))

	first, err := b.logs.GetLogEvents(t.Context(), &cloudwatchlogs.GetLogEventsInput{
		LogGroupName: aws.String("/sim"), LogStreamName: aws.String(stream), StartFromHead: aws.Bool(true), Limit: aws.Int32(2)})
	require.NoError(t, err)
	require.Len(t, first.Events, 2)
	next, err := b.logs.GetLogEvents(t.Context(), &cloudwatchlogs.GetLogEventsInput{
		LogGroupName: aws.String("/sim"), LogStreamName: aws.String(stream), NextToken: first.NextForwardToken})
	require.NoError(t, err)
	require.Len(t, next.Events, 1)
	end, err := b.logs.GetLogEvents(t.Context(), &cloudwatchlogs.GetLogEventsInput{
		LogGroupName: aws.String("/sim"), LogStreamName: aws.String(stream), NextToken: next.NextForwardToken})
	require.NoError(t, err)
	require.Empty(t, end.Events)
	require.Equal(t, aws.ToString(next.NextForwardToken), aws.ToString(end.NextForwardToken), "the same token at the end")

	_, err = b.logs.GetLogEvents(t.Context(), &cloudwatchlogs.GetLogEventsInput{
		LogGroupName: aws.String("/sim"), LogStreamName: aws.String("p/Container/nope")})
	require.Equal(t, "ResourceNotFoundException", apiCode(err))
	_, err = b.logs.GetLogEvents(t.Context(), &cloudwatchlogs.GetLogEventsInput{
		LogGroupName: aws.String("/nope"), LogStreamName: aws.String(stream)})
	require.Equal(t, "ResourceNotFoundException", apiCode(err))

	// Task definitions, task records and logs survive a restart of the servers.
	b.sim.Close()
	again := setup(t, b.dir)
	td, err := again.ecs.DescribeTaskDefinition(t.Context(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("sim:1")})
	require.NoError(t, err)
	require.Equal(t, "Container", aws.ToString(td.TaskDefinition.ContainerDefinitions[0].Name))
	require.Equal(t, "STOPPED", aws.ToString(again.waitStopped(t, aws.ToString(task.TaskArn)).LastStatus))
	require.Equal(t, []string{"one def over http://s3.local", "two", "AWS_ECS_FARGATE"}, again.lines(t, stream))
}

// TestStopTask stops a running task: SIGTERM and the process's own exit code when it obeys, SIGKILL
// after the container's stopTimeout when it does not; both end UserInitiated.
func TestStopTask(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		script  string
		code    int32
		signals []string
	}{
		{"Obeys", `trap 'echo term; exit 0' TERM; echo ready; while :; do sleep 0.05; done`, 0, []string{"SIGTERM"}},
		{"Ignores", `trap '' TERM; echo ready; while :; do sleep 0.05; done`, 137, []string{"SIGTERM", "SIGKILL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, "")
			b.register(t, 1)
			task := b.run(t, tc.script)
			arn := aws.ToString(task.TaskArn)
			stream := "p/Container/" + taskID(arn)
			require.Eventually(t, func() bool {
				out, err := b.logs.GetLogEvents(context.Background(), &cloudwatchlogs.GetLogEventsInput{
					LogGroupName: aws.String("/sim"), LogStreamName: aws.String(stream), StartFromHead: aws.Bool(true)})
				return err == nil && len(out.Events) > 0
			}, 30*time.Second, 20*time.Millisecond)
			out, err := b.ecs.StopTask(t.Context(), &ecs.StopTaskInput{Cluster: aws.String("c"), Task: aws.String(taskID(arn)), Reason: aws.String("test")})
			require.NoError(t, err)
			require.Equal(t, "STOPPED", aws.ToString(out.Task.DesiredStatus))
			done := b.waitStopped(t, arn)
			require.Equal(t, "UserInitiated", string(done.StopCode))
			require.Equal(t, "test", aws.ToString(done.StoppedReason))
			require.Equal(t, tc.code, aws.ToInt32(done.Containers[0].ExitCode))
			require.Equal(t, tc.signals, b.sim.State().Tasks[0].Signals)
		})
	}
}

// TestValidation checks the errors ECS answers for calls it refuses.
func TestValidation(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	b.register(t, 30)
	ctx := t.Context()

	_, err := b.ecs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("nope")})
	require.Equal(t, "ClientException", apiCode(err))

	_, err = b.ecs.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("x"), NetworkMode: types.NetworkModeAwsvpc, Cpu: aws.String("256"), Memory: aws.String("4096"),
		RequiresCompatibilities: []types.Compatibility{types.CompatibilityFargate},
		ContainerDefinitions:    []types.ContainerDefinition{{Name: aws.String("c"), Image: aws.String("i")}},
	})
	require.Equal(t, "ClientException", apiCode(err))
	require.ErrorContains(t, err, "No Fargate configuration exists for given values: 256 CPU, 4096 memory")

	for name, tc := range map[string]struct {
		mutate func(*ecs.RunTaskInput)
		code   string
		msg    string
	}{
		"UnknownContainer": {func(in *ecs.RunTaskInput) { in.Overrides.ContainerOverrides[0].Name = aws.String("app") },
			"InvalidParameterException", "Override for container named app is not a container in the TaskDefinition."},
		"NoNetwork": {func(in *ecs.RunTaskInput) { in.NetworkConfiguration = nil },
			"InvalidParameterException", "Network Configuration must be provided when networkMode 'awsvpc' is specified."},
		"PublicIP": {func(in *ecs.RunTaskInput) { in.NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp = "YES" },
			"InvalidParameterException", "assignPublicIp"},
		"NoSubnet": {func(in *ecs.RunTaskInput) { in.NetworkConfiguration.AwsvpcConfiguration.Subnets = []string{} },
			"InvalidParameterException", "subnets can not be empty."},
		"UnknownTaskDefinition": {func(in *ecs.RunTaskInput) { in.TaskDefinition = aws.String("nope") },
			"InvalidParameterException", "TaskDefinition not found."},
		"EC2": {func(in *ecs.RunTaskInput) { in.LaunchType = types.LaunchTypeEc2 },
			"InvalidParameterException", "No Container Instances were found in your cluster."},
	} {
		in := runInput("exit 0")
		tc.mutate(in)
		_, err := b.ecs.RunTask(ctx, in)
		require.Equal(t, tc.code, apiCode(err), name)
		require.ErrorContains(t, err, tc.msg, name)
	}
	_, err = b.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("c"), Task: aws.String("0123")})
	require.Equal(t, "InvalidParameterException", apiCode(err))
	out, err := b.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("c"), Tasks: []string{"0123"}})
	require.NoError(t, err)
	require.Equal(t, "MISSING", aws.ToString(out.Failures[0].Reason))
	require.Empty(t, b.sim.State().Tasks, "no refused call started a task")

	req, err := http.NewRequest(http.MethodPost, b.url, strings.NewReader(`{"taskDefinition":"sim"}`))
	require.NoError(t, err)
	req.Header.Set("X-Amz-Target", ecssim.TargetPrefix+".DescribeTaskDefinition")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, "MissingAuthenticationTokenException", resp.Header.Get("X-Amzn-ErrorType"), "unsigned")
}

// TestFaults checks the knobs: a throttled call, failures[] answers, the capacity bound, a task
// that fails to start, and a repeated clientToken that starts nothing new.
func TestFaults(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	b.register(t, 30)
	ctx := t.Context()

	b.sim.InjectFault(ecssim.Fault{Operation: "RunTask", Error: "ThrottlingException", Count: 2})
	for range 2 {
		_, err := b.ecs.RunTask(ctx, runInput("exit 0"))
		require.Equal(t, "ThrottlingException", apiCode(err))
	}
	b.sim.InjectFault(ecssim.Fault{Operation: "RunTask", Failures: []ecssim.Failure{{Reason: "RESOURCE:CPU"}}})
	out, err := b.ecs.RunTask(ctx, runInput("exit 0"))
	require.NoError(t, err)
	require.Empty(t, out.Tasks)
	require.Equal(t, "RESOURCE:CPU", aws.ToString(out.Failures[0].Reason))

	b.sim.SetConfig(ecssim.Config{MaxTasks: 1})
	in := runInput(`trap 'exit 0' TERM; while :; do sleep 0.05; done`)
	in.ClientToken = aws.String("token-1")
	first, err := b.ecs.RunTask(ctx, in)
	require.NoError(t, err)
	require.Len(t, first.Tasks, 1)
	again, err := b.ecs.RunTask(ctx, in)
	require.NoError(t, err)
	require.Equal(t, aws.ToString(first.Tasks[0].TaskArn), aws.ToString(again.Tasks[0].TaskArn), "same clientToken, same task")
	full, err := b.ecs.RunTask(ctx, runInput("exit 0"))
	require.NoError(t, err)
	require.Empty(t, full.Tasks)
	require.Equal(t, ecssim.CapacityReason, aws.ToString(full.Failures[0].Reason))
	_, err = b.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("c"), Task: first.Tasks[0].TaskArn})
	require.NoError(t, err)
	b.waitStopped(t, aws.ToString(first.Tasks[0].TaskArn))
	b.sim.SetConfig(ecssim.Config{})

	b.sim.InjectFault(ecssim.Fault{Operation: "start", StoppedReason: "CannotPullContainerError: pull image manifest has been retried 5 time(s)"})
	task := b.run(t, "exit 0")
	done := b.waitStopped(t, aws.ToString(task.TaskArn))
	require.Equal(t, "TaskFailedToStart", string(done.StopCode))
	require.Contains(t, aws.ToString(done.StoppedReason), "CannotPullContainerError")
	require.Nil(t, done.Containers[0].ExitCode)

	st := b.sim.State()
	require.Equal(t, 7, st.Calls["RunTask"])
	require.Equal(t, 1, st.MaxInFlight)
	require.Len(t, st.RunTaskCalls, 7)
	require.Equal(t, "ThrottlingException", st.RunTaskCalls[0].Error)
}

// TestKillAndImages: a task whose process is killed stops with the signal's exit code and the
// reason given; an image can be mapped to another program.
func TestKillAndImages(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	b.register(t, 30)
	task := b.run(t, `echo up; while :; do sleep 0.05; done`)
	id := taskID(aws.ToString(task.TaskArn))
	require.Eventually(t, func() bool {
		return b.sim.Kill(id, syscall.SIGKILL, "OutOfMemoryError: Container killed due to memory usage") == nil
	},
		30*time.Second, 20*time.Millisecond)
	done := b.waitStopped(t, aws.ToString(task.TaskArn))
	require.EqualValues(t, 137, aws.ToInt32(done.Containers[0].ExitCode))
	require.Equal(t, "EssentialContainerExited", string(done.StopCode))
	require.Equal(t, "OutOfMemoryError: Container killed due to memory usage", aws.ToString(done.StoppedReason))
	require.ErrorIs(t, b.sim.Kill(id, syscall.SIGKILL, ""), ecssim.ErrNoSuchTask)

	b.sim.MapImage("img", []string{"/bin/echo", "mapped"})
	task = b.run(t, "hello")
	b.waitStopped(t, aws.ToString(task.TaskArn))
	require.Equal(t, []string{"mapped hello"}, b.lines(t, "p/Container/"+taskID(aws.ToString(task.TaskArn))))
}
