package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ragmigrate/ragmigrate/internal/awsclient"
	"github.com/ragmigrate/ragmigrate/internal/iampolicy"
	"github.com/ragmigrate/ragmigrate/internal/remote"
)

// remoteOptions are the remote command's flags. The target's fields are the seam the stack
// discovery (--stack) fills: cluster, subnets, security group and the app's task definition.
type remoteOptions struct {
	Target       remote.Target
	Image        string
	CPU, Memory  string
	Env          []string
	PollInterval time.Duration
	StopWait     time.Duration
}

func (o *remoteOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Image, "image", "", "URI of the ragmigrate image the task runs (its entry point is ragmigrate), in a registry the execution role can pull from")
	fs.StringVar(&o.CPU, "cpu", "1024", "task CPU units: "+strings.Join(remote.CPUSizes, ", "))
	fs.StringVar(&o.Memory, "memory", "", "task memory in MiB, one Fargate offers for --cpu (default twice --cpu)")
	fs.StringVar(&o.Target.Cluster, "cluster", "", "ECS cluster to run the task in: the app's embedding cluster (stack output EmbeddingClusterName…)")
	fs.StringSliceVar(&o.Target.Subnets, "subnets", nil, "private subnets of the stack's VPC, comma-separated (PrivateSubnetId0,PrivateSubnetId1)")
	fs.StringSliceVar(&o.Target.SecurityGroups, "security-groups", nil, "security groups of the task: the embedding task's, which the database admits (EmbeddingTaskSecurityGroupId…)")
	fs.StringVar(&o.Target.TaskDefinition, "task-definition", "", "the app's embedding task definition (EmbeddingTaskDefinitionName…), whose task role, execution role and log group are the defaults")
	fs.StringVar(&o.Target.AppContainer, "app-container", remote.DefaultAppContainer, "the container of --task-definition whose log group is used")
	fs.StringVar(&o.Target.TaskRole, "task-role", "", "IAM role ARN the task runs as (default: the task role of --task-definition)")
	fs.StringVar(&o.Target.ExecutionRole, "execution-role", "", "IAM role ARN ECS pulls the image and writes the logs with (default: that of --task-definition)")
	fs.StringVar(&o.Target.LogGroup, "log-group", "", "CloudWatch Logs group of the task's output (default: that of --task-definition)")
	fs.StringArrayVar(&o.Env, "env", nil, "NAME=VALUE, or NAME to pass this shell's value, added to the task's environment (repeatable)")
	fs.DurationVar(&o.PollInterval, "poll-interval", 2*time.Second, "pause between reads of the task's status and log")
	fs.DurationVar(&o.StopWait, "stop-wait", 3*time.Minute, "after Ctrl-C has stopped the task, how long to wait for it to reach STOPPED")
}

// Validate checks the flags before any AWS call.
func (o *remoteOptions) Validate() error {
	switch {
	case o.Image == "":
		return errors.New("--image: give the URI of the ragmigrate image the task runs (build and push it as README 'Running against AWS' shows)")
	case !slices.Contains(remote.CPUSizes, o.CPU):
		return fmt.Errorf("--cpu %q: want one of %s", o.CPU, strings.Join(remote.CPUSizes, ", "))
	case o.Target.Cluster == "":
		return errors.New("--cluster: name the ECS cluster (the app's embedding cluster)")
	case len(o.Target.Subnets) == 0:
		return errors.New("--subnets: name the stack's private subnets")
	case len(o.Target.SecurityGroups) == 0:
		return errors.New("--security-groups: name the embedding task's security group, which the database admits")
	case o.PollInterval < 100*time.Millisecond:
		return fmt.Errorf("--poll-interval %s: want at least 100ms", o.PollInterval)
	case o.StopWait < time.Second:
		return fmt.Errorf("--stop-wait %s: want at least 1s", o.StopWait)
	}
	for _, s := range o.Target.Subnets {
		if s == "" {
			return errors.New("--subnets: an empty subnet id")
		}
	}
	for _, s := range o.Target.SecurityGroups {
		if s == "" {
			return errors.New("--security-groups: an empty security group id")
		}
	}
	if o.Memory == "" {
		o.Memory = doubled(o.CPU)
	}
	if ok, sizes := remote.ValidSize(o.CPU, o.Memory); !ok {
		return fmt.Errorf("--memory %q: Fargate offers %s MiB with --cpu %s", o.Memory, strings.Join(sizes, ", "), o.CPU)
	}
	for _, e := range o.Env {
		name, _, _ := strings.Cut(e, "=")
		if !envName.MatchString(name) {
			return fmt.Errorf("--env %q: want NAME=VALUE or NAME", redactArg(e))
		}
	}
	return nil
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func doubled(cpu string) string {
	var n int
	fmt.Sscan(cpu, &n)
	return fmt.Sprint(2 * n)
}

func newRemoteCommand(g *globalOptions) *cobra.Command {
	var o remoteOptions
	cmd := &cobra.Command{
		Use:   "remote [flags] -- <command> [flags]",
		Short: "Run a ragmigrate command as a one-off ECS Fargate task in the stack's VPC, and follow it",
		Long: `remote runs one ragmigrate command inside the Bedrock Chat stack's VPC, where the private Aurora
cluster is reachable: it registers (or reuses, when its content is the same) the task definition
family "ragmigrate" with --image, starts one Fargate task in the private subnets with the embedding
task's security group and no public IP, prints the task's CloudWatch Logs lines as they arrive,
and exits with the task's exit code (5 when the task never started, with ECS's reason).

The command after -- is the task's command. Database URLs and other settings reach the task as
environment variables, never on its command line: the global flags given to remote
(--source-db, --target-db, --table, ...) and the RAGMIGRATE_* variables of this shell (except
RAGMIGRATE_YES) are passed as RAGMIGRATE_* variables, and --env adds more. ECS keeps a task's
command and environment in its description (ecs:DescribeTasks); ragmigrate prints neither.

Ctrl-C asks whether to stop the task (--yes stops it without asking), then calls StopTask and
waits up to --stop-wait for it to stop; a second Ctrl-C leaves at once, the task running.

` + remoteJSONHelp + `

Example:
  ragmigrate remote --image 123456789012.dkr.ecr.us-east-1.amazonaws.com/ragmigrate:1 \
    --cluster C --subnets subnet-a,subnet-b --security-groups sg-x --task-definition F \
    --source-db "$OLD" --target-db "$NEW" -- copy --yes`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 0 {
				return usageError{errors.New("put the task's command after --: ragmigrate remote [flags] -- <command> [flags]")}
			}
			if err := fillRemoteTarget(&o.Target, g); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return usageError{err}
			}
			sub, _, err := cmd.Root().Find(args)
			if err != nil || sub == cmd.Root() || sub == cmd {
				return usageError{fmt.Errorf("remote %s: not a ragmigrate command to run in the task", redactArg(args[0]))}
			}
			env, err := remoteEnv(cmd.Flags(), o.Env)
			if err != nil {
				return usageError{err}
			}
			return runRemote(cmd.Context(), &o, g, args, env)
		},
	}
	o.AddFlags(cmd.Flags())
	g.checkFlagsFirst(cmd, func(*globalOptions) error {
		// What --stack places the task with (fillRemoteTarget) counts as given until it is read.
		pending := o
		if g.awsStack.Stack != "" {
			pending.Target.Cluster = cmp.Or(pending.Target.Cluster, fromStack)
			if len(pending.Target.Subnets) == 0 {
				pending.Target.Subnets = []string{fromStack}
			}
			if len(pending.Target.SecurityGroups) == 0 {
				pending.Target.SecurityGroups = []string{fromStack}
			}
		}
		if err := pending.Validate(); err != nil {
			return usageError{err}
		}
		return nil
	})
	return cmd
}

// remoteEnv is the task's environment: the global flags set for remote, this shell's other
// RAGMIGRATE_* variables, and extra (--env), in that order of precedence, later first.
func remoteEnv(fs *pflag.FlagSet, extra []string) ([]types.KeyValuePair, error) {
	vars := map[string]string{}
	globalEnv := map[string]bool{}
	for _, ef := range append(globalEnvFlags, stackEnvFlags...) {
		globalEnv[ef.env] = true
		// The task's own command answers its confirmations; remote's --yes is for stopping it.
		if ef.flag == "yes" {
			continue
		}
		if f := fs.Lookup(ef.flag); f != nil && f.Changed {
			vars[ef.env] = f.Value.String()
		}
	}
	for _, kv := range os.Environ() {
		name, value, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "RAGMIGRATE_") && !globalEnv[name] && value != "" {
			vars[name] = value
		}
	}
	for _, e := range extra {
		name, value, ok := strings.Cut(e, "=")
		if !ok {
			v, set := os.LookupEnv(name)
			if !set {
				return nil, fmt.Errorf("--env %s: not set in this shell", name)
			}
			value = v
		}
		vars[name] = value
	}
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]types.KeyValuePair, len(names))
	for i, n := range names {
		out[i] = types.KeyValuePair{Name: aws.String(n), Value: aws.String(vars[n])}
	}
	return out, nil
}

// passwordParam matches a key=value connection string's password.
var passwordParam = regexp.MustCompile(`(?i)(password=)[^\s&]*`)

// redactArg hides a password in a URL or a key=value connection string, also after "--flag=".
func redactArg(a string) string {
	prefix, rest := "", a
	if strings.HasPrefix(a, "-") {
		if i := strings.Index(a, "="); i >= 0 {
			prefix, rest = a[:i+1], a[i+1:]
		}
	}
	if u, err := url.Parse(rest); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			rest = u.Redacted()
		}
	}
	return prefix + passwordParam.ReplaceAllString(rest, "${1}xxxxx")
}

func runRemote(ctx context.Context, o *remoteOptions, g *globalOptions, command []string, env []types.KeyValuePair) error {
	clients, err := awsclient.Load(ctx, g.awsOptions())
	if err != nil {
		return err
	}
	// remote retries throttled ECS calls itself, so that each retry is said and bounded.
	r := &remote.Runner{
		ECS:    ecs.NewFromConfig(clients.Config, func(eo *ecs.Options) { eo.RetryMaxAttempts = 1 }),
		Logs:   cloudwatchlogs.NewFromConfig(clients.Config, func(lo *cloudwatchlogs.Options) { lo.RetryMaxAttempts = 1 }),
		Region: clients.Config.Region,
	}
	target, err := r.Resolve(ctx, o.Target, remote.Backoff{})
	if err != nil {
		if ctx.Err() != nil {
			return interrupted(err, "remote stopped before it started a task: nothing runs: run it again")
		}
		return err
	}
	log := g.logger
	shown := make([]string, len(command))
	for i, a := range command {
		shown[i] = redactArg(a)
	}
	names := make([]string, len(env))
	for i, kv := range env {
		names[i] = aws.ToString(kv.Name)
	}
	role := []any{slog.String("task_role", target.TaskRole)}
	if slices.Contains(target.FromApp, "task role") {
		role = append(role, slog.String("from", "the app's task definition "+o.Target.TaskDefinition),
			slog.String("has", remote.AppRolePermissions))
	}
	if needs := taskNeeds(command, env); needs != "" {
		role = append(role, slog.String("needs", needs))
	}
	log.InfoContext(ctx, "task role", role...)
	log.InfoContext(ctx, "remote task", slog.String("command", strings.Join(shown, " ")),
		slog.String("environment", strings.Join(names, ",")), slog.String("image", o.Image),
		slog.String("cpu", o.CPU), slog.String("memory", o.Memory), slog.String("cluster", target.Cluster),
		slog.String("subnets", strings.Join(target.Subnets, ",")), slog.String("security_groups", strings.Join(target.SecurityGroups, ",")),
		slog.String("execution_role", target.ExecutionRole), slog.String("log_group", target.LogGroup))

	var out io.Writer = g.stdout
	var taskOut *taskOutput
	if g.JSON {
		// stdout is the one JSON document; the task's lines go to stderr.
		taskOut = &taskOutput{stderr: g.stderr}
		out = taskOut
	}
	res, err := r.Run(ctx, target, remote.Options{
		Target: target.Target, Image: o.Image, CPU: o.CPU, Memory: o.Memory, Command: command, Env: env,
		PollInterval: o.PollInterval, StopWait: o.StopWait, Out: out, Logger: log,
		ConfirmStop: func(taskID string) bool { return confirmStop(g, taskID) },
	})
	if taskOut != nil {
		taskOut.close()
	}
	if err != nil {
		if res == nil && ctx.Err() != nil {
			// Run starts no task once interrupted (RunTask itself is never cut short).
			return interrupted(err, "remote stopped before it started a task: nothing runs: run it again")
		}
		return err
	}
	if taskOut != nil {
		if err := writeJSON(g, newRemoteJSON(res, target.Cluster, taskOut)); err != nil {
			return err
		}
	}
	switch {
	case res.Interrupted && res.Stopped:
		code := "none"
		if res.ExitCode != nil {
			code = fmt.Sprint(*res.ExitCode)
		}
		msg := fmt.Sprintf("task %s stopped (%s: %s; exit code %s)", res.TaskID, res.StopCode, res.StoppedReason, code)
		if res.ExitCode != nil && *res.ExitCode == exitInterrupted {
			// ragmigrate in the task handled the SIGTERM: its last line says how it continues.
			msg += "; the task's last log line says what its command left and how to continue"
		}
		return interrupted(nil, "%s", msg)
	case res.Interrupted:
		return interrupted(nil, "task %s left running; stop it with: aws ecs stop-task --cluster %s --task %s",
			res.TaskID, target.Cluster, res.TaskID)
	}
	log.InfoContext(ctx, "task stopped", slog.String("task", res.TaskID), slog.String("stop_code", res.StopCode),
		slog.String("reason", res.StoppedReason), slog.Int("log_lines", res.Lines))
	return res.Err()
}

// confirmStop asks, after Ctrl-C, whether to stop the task: --yes answers yes; without a
// terminal there is nobody to ask, and the task is left running.
func confirmStop(g *globalOptions, taskID string) bool {
	if g.Yes {
		return true
	}
	if !g.stdinIsTerminal() {
		g.logger.Warn("not stopping the task: no terminal to ask and no --yes", slog.String("task", taskID))
		return false
	}
	return g.ask("\nStop task " + taskID + "? (Ctrl-C again leaves it running)")
}

// fillRemoteTarget places the task from the --stack outputs where no flag did: the embedding
// cluster, its task definition and container, the private subnets and the embedding task's
// security group (which the database admits). A needed output the stack lacks is an error
// naming it and the flag that replaces it.
func fillRemoteTarget(t *remote.Target, g *globalOptions) error {
	st := g.awsStack.Resolved
	if st == nil {
		return nil
	}
	if err := g.fillFromStack(st, &t.Cluster, st.EmbeddingCluster, "embedding cluster", "--cluster"); err != nil {
		return err
	}
	if t.TaskDefinition == "" && st.EmbeddingTaskDefinition.Set() {
		if err := g.fillFromStack(st, &t.TaskDefinition, st.EmbeddingTaskDefinition, "embedding task definition", "--task-definition"); err != nil {
			return err
		}
	}
	if len(t.SecurityGroups) == 0 {
		var sg string
		if err := g.fillFromStack(st, &sg, st.EmbeddingSecurityGroup, "embedding task security group", "--security-groups"); err != nil {
			return err
		}
		t.SecurityGroups = []string{sg}
	}
	if len(t.Subnets) == 0 {
		if err := st.Require("private subnets"); err != nil {
			return usageError{err}
		}
		for _, v := range st.PrivateSubnets {
			t.Subnets = append(t.Subnets, v.Value)
		}
		g.logger.Info("from the stack", slog.String("stack", st.Name), slog.String("flag", "--subnets"),
			slog.String("value", strings.Join(t.Subnets, ",")), slog.Int("outputs", len(st.PrivateSubnets)))
	}
	return nil
}

// taskNeeds says which permissions the task role needs for the command it runs, from the same
// table as 'ragmigrate iam-policy', scoped by the settings the task receives.
func taskNeeds(command []string, env []types.KeyValuePair) string {
	if len(command) == 0 || !slices.Contains(iampolicy.Commands, command[0]) {
		return ""
	}
	var s iampolicy.Scope
	for _, kv := range env {
		v := aws.ToString(kv.Value)
		switch aws.ToString(kv.Name) {
		case "RAGMIGRATE_STACK":
			s.Stack = v
		case "RAGMIGRATE_TARGET_SECRET":
			s.TargetSecret = v
		case "RAGMIGRATE_SOURCE_SECRET":
			s.SourceSecret = v
		case "RAGMIGRATE_TABLE":
			s.Table = v
		case "RAGMIGRATE_BUCKET":
			s.Bucket = v
		}
	}
	for i, a := range command {
		// A reembed whose bots run as the app's tasks needs the ECS calls, not the embedding.
		if a == "--runner=ecs" || (a == "--runner" && i+1 < len(command) && command[i+1] == "ecs") {
			s.Runner = "ecs"
		}
	}
	p, _, err := iampolicy.Build(s, command[:1])
	if err != nil {
		return ""
	}
	var actions []string
	for _, st := range p.Statement {
		actions = append(actions, st.Action...)
	}
	if len(actions) == 0 {
		return "no AWS permission: network access to the clusters (the embedding task's security group is admitted by the app's database)"
	}
	return strings.Join(actions, ", ") + " ('ragmigrate iam-policy " + command[0] + "' prints the policy with its resources)"
}
