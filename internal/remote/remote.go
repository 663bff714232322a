// Package remote runs one ragmigrate command as a one-off ECS Fargate task inside the Bedrock
// Chat stack's VPC, where the private Aurora cluster is reachable, and follows it from the
// operator's terminal: it registers (or reuses, by content) the task definition family
// "ragmigrate", starts the task in the private subnets with the embedding task's security group
// and no public IP, streams the task's CloudWatch Logs in order as they arrive, and reports the
// task's exit code.
//
// Every ECS answer is read fully: failures[] entries, throttling and capacity errors are retried
// with a bounded backoff and explained; everything else stops the run with the reason and, where
// there is one, the fix.
package remote

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
)

// Family is the task definition family remote registers; ContainerName is its one container and
// StreamPrefix its awslogs stream prefix, so a task's log stream is
// "ragmigrate/ragmigrate/<task id>".
const (
	Family        = "ragmigrate"
	ContainerName = "ragmigrate"
	StreamPrefix  = "ragmigrate"
)

// DefaultAppContainer is the container name of Bedrock Chat's embedding task definition in every
// release (embedding.ts); no stack output carries it.
const DefaultAppContainer = "Container"

// Target is where the task runs and with which identity. Its fields come from flags, or from the
// stack's outputs (--stack), or from the app's embedding task definition: Resolve fills the
// roles and the log group from the latter when they are not given.
type Target struct {
	Cluster string
	// TaskDefinition is the app's embedding task definition (family, family:revision or ARN);
	// optional, the source of the roles and the log group not given.
	TaskDefinition string
	// AppContainer is the container of TaskDefinition whose log configuration is read. Default
	// DefaultAppContainer.
	AppContainer   string
	Subnets        []string
	SecurityGroups []string
	TaskRole       string
	ExecutionRole  string
	LogGroup       string
	// LogRegion is the awslogs-region; default the region of the ECS client.
	LogRegion string
}

// Options are one remote run.
type Options struct {
	Target
	// Image is the ragmigrate image URI the task runs; its entry point is ragmigrate.
	Image string
	// CPU and Memory are the task size in Fargate units ("1024", "2048").
	CPU, Memory string
	// Command is the ragmigrate command line, without the program name.
	Command []string
	// Env is the container's environment (database URLs and settings as RAGMIGRATE_* variables).
	Env []types.KeyValuePair
	// PollInterval is the pause between DescribeTasks and GetLogEvents rounds. Default 2 s.
	PollInterval time.Duration
	// StopWait bounds the wait for STOPPED after StopTask. Default 3 min.
	StopWait time.Duration
	// Backoff bounds the retries of throttled calls and of retryable failures[].
	Backoff Backoff
	// Out receives the task's log lines.
	Out    io.Writer
	Logger *slog.Logger
	// ConfirmStop is asked after the run's context ends (Ctrl-C) whether to stop the task; nil
	// never stops it.
	ConfirmStop func(taskID string) bool
}

// Backoff is a bounded exponential backoff.
type Backoff struct {
	// Attempts is the most calls in all, the first included. Default 8.
	Attempts int
	// Base is the first pause, doubled each time up to Max. Defaults 1 s and 30 s.
	Base, Max time.Duration
}

func (b Backoff) withDefaults() Backoff {
	b.Attempts = cmp.Or(b.Attempts, 8)
	b.Base = cmp.Or(b.Base, time.Second)
	b.Max = cmp.Or(b.Max, 30*time.Second)
	return b
}

func (b Backoff) pause(attempt int) time.Duration {
	d := b.Base
	for i := 1; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// ECS is what remote calls of Amazon ECS; *ecs.Client is one.
type ECS interface {
	RegisterTaskDefinition(context.Context, *ecs.RegisterTaskDefinitionInput, ...func(*ecs.Options)) (*ecs.RegisterTaskDefinitionOutput, error)
	DescribeTaskDefinition(context.Context, *ecs.DescribeTaskDefinitionInput, ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error)
	RunTask(context.Context, *ecs.RunTaskInput, ...func(*ecs.Options)) (*ecs.RunTaskOutput, error)
	DescribeTasks(context.Context, *ecs.DescribeTasksInput, ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error)
	StopTask(context.Context, *ecs.StopTaskInput, ...func(*ecs.Options)) (*ecs.StopTaskOutput, error)
}

// Logs is what remote calls of CloudWatch Logs; *cloudwatchlogs.Client is one.
type Logs interface {
	GetLogEvents(context.Context, *cloudwatchlogs.GetLogEventsInput, ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.GetLogEventsOutput, error)
}

// Result is how a task ended.
type Result struct {
	TaskArn       string
	TaskID        string
	LogGroup      string
	LogStream     string
	ExitCode      *int32
	StopCode      string
	StoppedReason string
	// Interrupted: the run's context ended; Stopped: remote then stopped the task.
	Interrupted, Stopped bool
	// Lines is the number of log lines printed.
	Lines int
}

// NotStartedError reports a task that stopped without its container running to an exit code.
type NotStartedError struct {
	TaskID, StopCode, Reason string
}

func (e *NotStartedError) Error() string {
	msg := fmt.Sprintf("task %s did not start (%s: %s)", e.TaskID, e.StopCode, e.Reason)
	if hint := explainStop(e.Reason); hint != "" {
		msg += ": " + hint
	}
	return msg
}

// explainStop says what a task's stoppedReason usually means, and what fixes it.
func explainStop(reason string) string {
	switch {
	case strings.HasPrefix(reason, "CannotPullContainerError"):
		return "the image could not be pulled: check that --image exists, that the execution role may pull it (ecr:GetAuthorizationToken, ecr:BatchGetImage, ecr:GetDownloadUrlForLayer) and that the subnets reach the registry (NAT gateway or ECR VPC endpoints)"
	case strings.HasPrefix(reason, "ResourceInitializationError"):
		return "ECS could not prepare the task: usually the execution role cannot write the log group (logs:CreateLogStream, logs:PutLogEvents) or the subnets cannot reach CloudWatch Logs"
	case strings.HasPrefix(reason, "CannotStartContainerError"):
		return "the container could not start: check that the image's entry point is ragmigrate"
	case strings.Contains(reason, "network interface"):
		return "no network interface could be attached in the subnets: check their free IP addresses"
	case strings.HasPrefix(reason, "Task stopped by user"), strings.Contains(reason, "stopped by"):
		return "someone stopped it before it started"
	}
	return ""
}

// failureAdvice classifies a RunTask failures[] reason: whether a retry can help, and what it
// means.
func failureAdvice(reason string) (retryable bool, meaning string) {
	switch {
	case strings.HasPrefix(reason, "RESOURCE:ENI"):
		return true, "no elastic network interface could be created in the subnets right now"
	case strings.HasPrefix(reason, "RESOURCE:"):
		return true, "the cluster has no room for the task's " + strings.ToLower(strings.TrimPrefix(reason, "RESOURCE:")) + " right now"
	case reason == "AGENT":
		return true, "the ECS agent of the chosen capacity was not connected"
	case strings.Contains(reason, "Capacity is unavailable"):
		return true, "Fargate has no capacity in the subnets' availability zones right now; subnets in more zones help"
	case strings.Contains(reason, "reached the limit"):
		return true, "the account's Fargate quota is in use by other tasks (Service Quotas: Fargate On-Demand vCPU resource count)"
	case reason == "MISSING":
		return false, "the cluster or the capacity named does not exist"
	case reason == "ATTRIBUTE":
		return false, "no capacity has the attributes the task definition requires"
	case reason == "INACTIVE":
		return false, "the task definition or the cluster is inactive"
	}
	return false, ""
}

// Runner runs tasks with one pair of clients.
type Runner struct {
	ECS  ECS
	Logs Logs
	// Region is the client's region, the default awslogs-region.
	Region string
}

// Resolved is the target after Resolve: every field the task needs.
type Resolved struct {
	Target
	// FromApp lists the fields taken from the app's task definition.
	FromApp []string
	// AppEnv is the environment of the app's container (AppContainer) in its task definition,
	// when Resolve read it: TABLE_ACCESS_ROLE_ARN, which its task role needs, is there.
	AppEnv map[string]string
}

// Environment is container c's environment in its task definition, by name.
func Environment(c types.ContainerDefinition) map[string]string {
	env := make(map[string]string, len(c.Environment))
	for _, kv := range c.Environment {
		env[aws.ToString(kv.Name)] = aws.ToString(kv.Value)
	}
	return env
}

// Resolve fills the roles and the log group the target lacks from the app's task definition, and
// checks that nothing the task needs is missing.
func (r *Runner) Resolve(ctx context.Context, t Target, b Backoff) (Resolved, error) {
	res := Resolved{Target: t}
	res.AppContainer = cmp.Or(res.AppContainer, DefaultAppContainer)
	res.LogRegion = cmp.Or(res.LogRegion, r.Region)
	if t.TaskDefinition != "" && (t.TaskRole == "" || t.ExecutionRole == "" || t.LogGroup == "") {
		var out *ecs.DescribeTaskDefinitionOutput
		err := call(ctx, nil, b, "DescribeTaskDefinition", func(ctx context.Context) (err error) {
			out, err = r.ECS.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(t.TaskDefinition)})
			return err
		})
		if err != nil {
			return res, fmt.Errorf("read the app's task definition %s (--task-definition): %w", t.TaskDefinition, err)
		}
		td := out.TaskDefinition
		for _, c := range td.ContainerDefinitions {
			if aws.ToString(c.Name) == res.AppContainer {
				res.AppEnv = Environment(c)
			}
		}
		if res.TaskRole == "" && aws.ToString(td.TaskRoleArn) != "" {
			res.TaskRole = aws.ToString(td.TaskRoleArn)
			res.FromApp = append(res.FromApp, "task role")
		}
		if res.ExecutionRole == "" && aws.ToString(td.ExecutionRoleArn) != "" {
			res.ExecutionRole = aws.ToString(td.ExecutionRoleArn)
			res.FromApp = append(res.FromApp, "execution role")
		}
		if res.LogGroup == "" {
			var names []string
			for _, c := range td.ContainerDefinitions {
				names = append(names, aws.ToString(c.Name))
				if aws.ToString(c.Name) != res.AppContainer {
					continue
				}
				if lc := c.LogConfiguration; lc != nil && lc.LogDriver == types.LogDriverAwslogs && lc.Options["awslogs-group"] != "" {
					res.LogGroup = lc.Options["awslogs-group"]
					if region := lc.Options["awslogs-region"]; region != "" && t.LogRegion == "" {
						res.LogRegion = region
					}
					res.FromApp = append(res.FromApp, "log group")
				}
			}
			if !slices.Contains(names, res.AppContainer) {
				return res, fmt.Errorf("the app's task definition %s has no container named %q (it has %s)",
					aws.ToString(td.TaskDefinitionArn), res.AppContainer, strings.Join(names, ", "))
			}
		}
	}
	var missing []string
	for _, m := range []struct{ v, what string }{
		{res.TaskRole, "--task-role"}, {res.ExecutionRole, "--execution-role"}, {res.LogGroup, "--log-group"},
	} {
		if m.v == "" {
			missing = append(missing, m.what)
		}
	}
	if len(missing) > 0 {
		src := "set them, or name the app's embedding task definition with --task-definition to take them from it"
		if t.TaskDefinition != "" {
			src = fmt.Sprintf("the app's task definition %s does not give them either", t.TaskDefinition)
		}
		return res, fmt.Errorf("missing %s: %s", strings.Join(missing, ", "), src)
	}
	return res, nil
}

// desired is the task definition remote wants for o.
func desired(t Target, o Options) *ecs.RegisterTaskDefinitionInput {
	return &ecs.RegisterTaskDefinitionInput{
		Family:                  aws.String(Family),
		TaskRoleArn:             aws.String(t.TaskRole),
		ExecutionRoleArn:        aws.String(t.ExecutionRole),
		NetworkMode:             types.NetworkModeAwsvpc,
		RequiresCompatibilities: []types.Compatibility{types.CompatibilityFargate},
		Cpu:                     aws.String(o.CPU),
		Memory:                  aws.String(o.Memory),
		RuntimePlatform: &types.RuntimePlatform{
			CpuArchitecture: types.CPUArchitectureX8664, OperatingSystemFamily: types.OSFamilyLinux,
		},
		ContainerDefinitions: []types.ContainerDefinition{{
			Name:      aws.String(ContainerName),
			Image:     aws.String(o.Image),
			Essential: aws.Bool(true),
			// ragmigrate checkpoints and exits on SIGTERM; a minute covers the batch in flight.
			StopTimeout: aws.Int32(60),
			LogConfiguration: &types.LogConfiguration{LogDriver: types.LogDriverAwslogs, Options: map[string]string{
				"awslogs-group": t.LogGroup, "awslogs-region": t.LogRegion, "awslogs-stream-prefix": StreamPrefix,
			}},
		}},
	}
}

// differences names what differs between a registered task definition and the one wanted.
func differences(have *types.TaskDefinition, want *ecs.RegisterTaskDefinitionInput) []string {
	var diff []string
	check := func(what string, same bool) {
		if !same {
			diff = append(diff, what)
		}
	}
	check("status", have.Status == types.TaskDefinitionStatusActive)
	check("task role", aws.ToString(have.TaskRoleArn) == aws.ToString(want.TaskRoleArn))
	check("execution role", aws.ToString(have.ExecutionRoleArn) == aws.ToString(want.ExecutionRoleArn))
	check("network mode", have.NetworkMode == want.NetworkMode)
	check("cpu", aws.ToString(have.Cpu) == aws.ToString(want.Cpu))
	check("memory", aws.ToString(have.Memory) == aws.ToString(want.Memory))
	check("compatibilities", slices.Equal(have.RequiresCompatibilities, want.RequiresCompatibilities))
	check("runtime platform", have.RuntimePlatform != nil && *have.RuntimePlatform == *want.RuntimePlatform)
	if len(have.ContainerDefinitions) != 1 {
		return append(diff, "containers")
	}
	h, w := have.ContainerDefinitions[0], want.ContainerDefinitions[0]
	check("container name", aws.ToString(h.Name) == aws.ToString(w.Name))
	check("image", aws.ToString(h.Image) == aws.ToString(w.Image))
	check("essential", aws.ToBool(h.Essential) == aws.ToBool(w.Essential))
	check("stop timeout", aws.ToInt32(h.StopTimeout) == aws.ToInt32(w.StopTimeout))
	check("command", len(h.Command) == 0 && len(h.EntryPoint) == 0 && len(h.Environment) == 0 && len(h.Secrets) == 0)
	check("log configuration", h.LogConfiguration != nil && h.LogConfiguration.LogDriver == w.LogConfiguration.LogDriver &&
		mapsEqual(h.LogConfiguration.Options, w.LogConfiguration.Options))
	return diff
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// taskDefinition returns the ARN of the family's latest revision when its content is what o
// wants, and registers a new revision otherwise.
func (r *Runner) taskDefinition(ctx context.Context, t Target, o Options, log *slog.Logger) (string, error) {
	want := desired(t, o)
	var have *ecs.DescribeTaskDefinitionOutput
	err := call(ctx, log, o.Backoff, "DescribeTaskDefinition", func(ctx context.Context) (err error) {
		have, err = r.ECS.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(Family)})
		return err
	})
	var reason string
	switch {
	case err == nil:
		diff := differences(have.TaskDefinition, want)
		if len(diff) == 0 {
			arn := aws.ToString(have.TaskDefinition.TaskDefinitionArn)
			log.InfoContext(ctx, "task definition reused: same content", slog.String("task_definition", arn))
			return arn, nil
		}
		reason = "differs in " + strings.Join(diff, ", ")
	case apiCode(err) == "ClientException":
		// ECS's answer for a family with no revision.
		reason = "none registered yet"
	default:
		return "", fmt.Errorf("describe task definition %s: %w", Family, err)
	}
	var out *ecs.RegisterTaskDefinitionOutput
	err = call(ctx, log, o.Backoff, "RegisterTaskDefinition", func(ctx context.Context) (err error) {
		out, err = r.ECS.RegisterTaskDefinition(ctx, want)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("register task definition %s: %w%s", Family, err, explainAPI(err, t))
	}
	arn := aws.ToString(out.TaskDefinition.TaskDefinitionArn)
	log.InfoContext(ctx, "task definition registered", slog.String("task_definition", arn), slog.String("why", reason))
	return arn, nil
}

// TaskDefinition returns the ARN of family Family's task definition running image at cpu and
// memory with t's roles and log group: the latest revision when its content is that, a new
// revision otherwise (as remote's own run does). reembed --ecs-task worker starts its workers
// from it.
func (r *Runner) TaskDefinition(ctx context.Context, t Target, image, cpu, memory string, b Backoff, log *slog.Logger) (string, error) {
	return r.taskDefinition(ctx, t, Options{Image: image, CPU: cpu, Memory: memory, Backoff: b}, cmp.Or(log, slog.Default()))
}

// explainAPI adds the likely fix for an ECS error, or nothing.
func explainAPI(err error, t Target) string {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return ""
	}
	msg := ae.ErrorMessage()
	switch {
	case ae.ErrorCode() == "AccessDeniedException" && strings.Contains(msg, "iam:PassRole"):
		return fmt.Sprintf(" (your identity needs iam:PassRole on %s and %s)", t.TaskRole, t.ExecutionRole)
	case ae.ErrorCode() == "AccessDeniedException":
		return " (your identity needs ecs:RegisterTaskDefinition, ecs:DescribeTaskDefinition, ecs:RunTask, ecs:DescribeTasks, ecs:StopTask, iam:PassRole on the two roles and logs:GetLogEvents on the log group)"
	case strings.Contains(msg, "is not a container in the TaskDefinition"):
		return fmt.Sprintf(" (check --app-container: name the container of task definition %s; Bedrock Chat's is %q)", t.TaskDefinition, DefaultAppContainer)
	case ae.ErrorCode() == "ClusterNotFoundException":
		return fmt.Sprintf(" (no cluster %q in this account and region: check --cluster and --region)", t.Cluster)
	case strings.Contains(msg, "subnet"):
		return " (check --subnets: the stack's private subnets, PrivateSubnetId0/1)"
	case strings.Contains(msg, "security group"):
		return " (check --security-groups: the embedding task's security group, EmbeddingTaskSecurityGroupId…)"
	case strings.Contains(msg, "execution role"):
		return " (check --execution-role)"
	}
	return ""
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// retryable tells whether an ECS or Logs error may pass on a later try: throttling, a server
// error, a broken connection.
func retryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary ||
		retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
}

// call runs fn, retrying retryable errors with the backoff, each retry logged with its cause.
func call(ctx context.Context, log *slog.Logger, b Backoff, op string, fn func(context.Context) error) error {
	b = b.withDefaults()
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil || !retryable(err) || attempt >= b.Attempts {
			if err != nil && retryable(err) {
				return fmt.Errorf("%s still failing after %d attempts: %w", op, attempt, err)
			}
			return err
		}
		wait := b.pause(attempt)
		if log != nil {
			why := "a retryable error"
			if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary {
				why = "throttled by ECS (the account's API rate)"
			}
			log.WarnContext(ctx, op+" will be retried", slog.String("cause", why), slog.String("error", err.Error()),
				slog.Int("attempt", attempt), slog.Int("max_attempts", b.Attempts), slog.Duration("wait", wait))
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "ragmigrate-" + hex.EncodeToString(b)
}

// start runs the task: RunTask with a client token (a retried call cannot start a second task),
// failures[] retried when capacity may free up, explained otherwise.
func (r *Runner) start(ctx context.Context, t Target, o Options, tdArn string, log *slog.Logger) (*types.Task, error) {
	return r.StartTask(ctx, t, tdArn, types.ContainerOverride{
		Name: aws.String(ContainerName), Command: o.Command, Environment: o.Env,
	}, "ragmigrate-remote", o.Backoff, log)
}

// StartTask starts one Fargate task of task definition tdArn in t's subnets and security groups,
// with no public IP and the container override ov: RunTask with a client token (a retried call
// cannot start a second task), throttling and server errors retried with b, failures[] retried
// when capacity may free up and explained otherwise. remote and reembed --runner ecs start
// their tasks with it.
func (r *Runner) StartTask(ctx context.Context, t Target, tdArn string, ov types.ContainerOverride, startedBy string, b Backoff, log *slog.Logger) (*types.Task, error) {
	b = b.withDefaults()
	for attempt := 1; ; attempt++ {
		// Checked here because the call itself is not cancelled (below).
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		in := &ecs.RunTaskInput{
			Cluster:        aws.String(t.Cluster),
			TaskDefinition: aws.String(tdArn),
			LaunchType:     types.LaunchTypeFargate,
			Count:          aws.Int32(1),
			ClientToken:    aws.String(newToken()),
			StartedBy:      aws.String(startedBy),
			NetworkConfiguration: &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{
				Subnets: t.Subnets, SecurityGroups: t.SecurityGroups,
				// The database is private; the task reaches AWS through the subnets' NAT or endpoints.
				AssignPublicIp: types.AssignPublicIpDisabled,
			}},
			Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{ov}},
		}
		var out *ecs.RunTaskOutput
		err := call(ctx, log, b, "RunTask", func(ctx context.Context) (err error) {
			// An interrupt must not cut a RunTask short: ECS may have started the task, which
			// then would run unseen. The call completes, and follow asks about stopping it.
			out, err = r.ECS.RunTask(context.WithoutCancel(ctx), in)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("run task in cluster %s: %w%s", t.Cluster, err, explainAPI(err, t))
		}
		if len(out.Tasks) > 0 {
			return &out.Tasks[0], nil
		}
		if len(out.Failures) == 0 {
			return nil, fmt.Errorf("run task in cluster %s: ECS answered neither a task nor a failure", t.Cluster)
		}
		f := out.Failures[0]
		reason := aws.ToString(f.Reason)
		again, meaning := failureAdvice(reason)
		desc := reason
		if d := aws.ToString(f.Detail); d != "" {
			desc += " (" + d + ")"
		}
		if meaning != "" {
			desc += ": " + meaning
		}
		if !again {
			return nil, fmt.Errorf("run task in cluster %s: ECS did not start it: %s", t.Cluster, desc)
		}
		if attempt >= b.Attempts {
			return nil, fmt.Errorf("run task in cluster %s: ECS did not start it after %d attempts: %s", t.Cluster, attempt, desc)
		}
		wait := b.pause(attempt)
		log.WarnContext(ctx, "RunTask started no task; will retry", slog.String("failure", desc),
			slog.Int("attempt", attempt), slog.Int("max_attempts", b.Attempts), slog.Duration("wait", wait))
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// Run runs o's command as a task and follows it to its end.
func (r *Runner) Run(ctx context.Context, t Resolved, o Options) (*Result, error) {
	log := cmp.Or(o.Logger, slog.Default())
	o.PollInterval = cmp.Or(o.PollInterval, 2*time.Second)
	o.StopWait = cmp.Or(o.StopWait, 3*time.Minute)
	tdArn, err := r.taskDefinition(ctx, t.Target, o, log)
	if err != nil {
		return nil, err
	}
	task, err := r.start(ctx, t.Target, o, tdArn, log)
	if err != nil {
		return nil, err
	}
	arn := aws.ToString(task.TaskArn)
	res := &Result{TaskArn: arn, TaskID: arn[strings.LastIndex(arn, "/")+1:], LogGroup: t.LogGroup}
	res.LogStream = LogStream(res.TaskID)
	log.InfoContext(ctx, "task started", slog.String("task", arn), slog.String("cluster", t.Cluster),
		slog.String("log_group", res.LogGroup), slog.String("log_stream", res.LogStream))
	return res, r.follow(ctx, t.Target, o, res, log)
}

// follow streams the task's log lines until it is STOPPED, and handles an interrupt.
func (r *Runner) follow(ctx context.Context, t Target, o Options, res *Result, log *slog.Logger) error {
	// After an interrupt the calls go on, on a context that is not cancelled, bounded by StopWait.
	work := context.WithoutCancel(ctx)
	var token *string
	drain := func() error {
		for {
			out, err := r.logEvents(work, log, o.Backoff, &cloudwatchlogs.GetLogEventsInput{
				LogGroupName: aws.String(res.LogGroup), LogStreamName: aws.String(res.LogStream),
				StartFromHead: aws.Bool(true), NextToken: token,
			})
			var nf *logtypes.ResourceNotFoundException
			if errors.As(err, &nf) {
				// The stream appears when the container starts.
				return nil
			}
			if err != nil {
				return fmt.Errorf("read the task's log %s %s: %w; the task may still be running (aws ecs stop-task --cluster %s --task %s)",
					res.LogGroup, res.LogStream, err, t.Cluster, res.TaskID)
			}
			for _, e := range out.Events {
				fmt.Fprintln(o.Out, aws.ToString(e.Message))
				res.Lines++
			}
			// The forward token comes back unchanged at the end of the stream; before it, a page
			// may be empty and still move the token on.
			same := token != nil && aws.ToString(out.NextForwardToken) == aws.ToString(token)
			token = out.NextForwardToken
			if same || out.NextForwardToken == nil {
				return nil
			}
		}
	}
	var stopDeadline time.Time
	lastStatus := ""
	for {
		var out *ecs.DescribeTasksOutput
		err := call(work, log, o.Backoff, "DescribeTasks", func(ctx context.Context) (err error) {
			out, err = r.ECS.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(t.Cluster), Tasks: []string{res.TaskArn}})
			return err
		})
		if err != nil {
			return fmt.Errorf("describe task %s: %w; the task may still be running (aws ecs stop-task --cluster %s --task %s)",
				res.TaskID, err, t.Cluster, res.TaskID)
		}
		if len(out.Tasks) == 0 {
			reason := "no answer"
			if len(out.Failures) > 0 {
				reason = aws.ToString(out.Failures[0].Reason)
			}
			return fmt.Errorf("describe task %s: %s", res.TaskID, reason)
		}
		task := out.Tasks[0]
		if s := aws.ToString(task.LastStatus); s != lastStatus {
			log.InfoContext(ctx, "task status", slog.String("task", res.TaskID), slog.String("status", s))
			lastStatus = s
		}
		if err := drain(); err != nil {
			return err
		}
		if lastStatus == "STOPPED" {
			// The log driver may deliver the last lines just after the task stops: read until a
			// round brings nothing new. An interrupt cuts this wait short (the task has ended:
			// there is nothing to stop), unless it was handled already by stopping the task.
			waitCtx := ctx
			if res.Interrupted {
				waitCtx = work
			}
			for range 3 {
				before := res.Lines
				if sleep(waitCtx, o.PollInterval) != nil {
					break
				}
				if err := drain(); err != nil {
					return err
				}
				if res.Lines == before {
					break
				}
			}
			res.StopCode, res.StoppedReason = string(task.StopCode), aws.ToString(task.StoppedReason)
			for _, c := range task.Containers {
				if aws.ToString(c.Name) == ContainerName {
					res.ExitCode = c.ExitCode
				}
			}
			return nil
		}
		if ctx.Err() != nil && !res.Interrupted {
			res.Interrupted = true
			if o.ConfirmStop == nil || !o.ConfirmStop(res.TaskID) {
				log.WarnContext(work, "task left running", slog.String("task", res.TaskArn),
					slog.String("stop_with", fmt.Sprintf("aws ecs stop-task --cluster %s --task %s", t.Cluster, res.TaskID)),
					slog.String("log_group", res.LogGroup), slog.String("log_stream", res.LogStream))
				return nil
			}
			err := call(work, log, o.Backoff, "StopTask", func(ctx context.Context) error {
				_, err := r.ECS.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(t.Cluster), Task: aws.String(res.TaskArn),
					Reason: aws.String("ragmigrate remote was interrupted and asked to stop the task")})
				return err
			})
			if err != nil {
				return fmt.Errorf("stop task %s: %w", res.TaskID, err)
			}
			res.Stopped = true
			stopDeadline = time.Now().Add(o.StopWait)
			log.InfoContext(work, "task stopping", slog.String("task", res.TaskID), slog.Duration("wait_at_most", o.StopWait))
		}
		if !stopDeadline.IsZero() && time.Now().After(stopDeadline) {
			return fmt.Errorf("task %s did not reach STOPPED within %s after StopTask (last status %s)", res.TaskID, o.StopWait, lastStatus)
		}
		// Wake at once on an interrupt, to ask about the task without waiting out the pause.
		waitCtx := ctx
		if res.Interrupted {
			waitCtx = work
		}
		_ = sleep(waitCtx, o.PollInterval) // ends early only on the interrupt, handled above
	}
}

// Err is the run's outcome as an error: nil when the task's container exited 0, a
// *NotStartedError when it never ran, an *ExitError with the container's exit code otherwise.
func (r *Result) Err() error {
	switch {
	case r.ExitCode == nil:
		return &NotStartedError{TaskID: r.TaskID, StopCode: r.StopCode, Reason: r.StoppedReason}
	case *r.ExitCode == 0:
		return nil
	}
	return &ExitError{TaskID: r.TaskID, Code: int(*r.ExitCode), StopCode: r.StopCode, Reason: r.StoppedReason}
}

// ExitError is a task whose container exited with a code other than 0.
type ExitError struct {
	TaskID           string
	Code             int
	StopCode, Reason string
}

func (e *ExitError) Error() string {
	msg := fmt.Sprintf("task %s exited with code %d (%s: %s)", e.TaskID, e.Code, e.StopCode, e.Reason)
	switch e.Code {
	case 2:
		// ragmigrate's usage exit: in a task the usual cause is a write without --yes.
		msg += "; 2 is ragmigrate's usage error (its message is in the log above): a task has no terminal, so a command that writes needs --yes after --"
	case 137:
		msg += "; 137 is a SIGKILL, often the container running out of memory (--memory)"
	}
	return msg
}

// ValidSize tells whether Fargate runs a task of cpu units and memory MiB, and lists the memory
// sizes it accepts for cpu (none: cpu is not a Fargate size).
func ValidSize(cpu, memory string) (bool, []string) {
	steps := func(from, to, step int) []string {
		var out []string
		for m := from; m <= to; m += step {
			out = append(out, fmt.Sprint(m))
		}
		return out
	}
	var sizes []string
	switch cpu {
	case "256":
		sizes = []string{"512", "1024", "2048"}
	case "512":
		sizes = steps(1024, 4096, 1024)
	case "1024":
		sizes = steps(2048, 8192, 1024)
	case "2048":
		sizes = steps(4096, 16384, 1024)
	case "4096":
		sizes = steps(8192, 30720, 1024)
	case "8192":
		sizes = steps(16384, 61440, 4096)
	case "16384":
		sizes = steps(32768, 122880, 8192)
	}
	return slices.Contains(sizes, memory), sizes
}

// CPUSizes are the task CPU units Fargate offers.
var CPUSizes = []string{"256", "512", "1024", "2048", "4096", "8192", "16384"}

// AppRolePermissions is what Bedrock Chat's CDK grants the embedding task role.
const AppRolePermissions = "bedrock:* on *, read on the document bucket and on the DB secret, sts:AssumeRole on the table access role"
