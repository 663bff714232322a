package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/spf13/pflag"

	"github.com/ragmigrate/ragmigrate/internal/dbcred"
	"github.com/ragmigrate/ragmigrate/internal/plan"
	"github.com/ragmigrate/ragmigrate/internal/reembed"
	"github.com/ragmigrate/ragmigrate/internal/remote"
	"github.com/ragmigrate/ragmigrate/internal/runner"
)

// ecsRunOptions are reembed's --runner ecs flags: where the app's embedding tasks run, how many
// at once, and how long and how often each bot's task may run.
type ecsRunOptions struct {
	Runner      string
	Task        string
	Target      remote.Target
	MaxTasks    int
	TaskTimeout time.Duration
	TaskRetries int
	Poll        time.Duration
	// Image, Workers and Lease are --ecs-task worker's (reembed_workers.go).
	Image   string
	Workers int
	Lease   time.Duration
}

func (o *ecsRunOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Runner, "runner", "local", "where bots are re-embedded: local (this process) or ecs (tasks on ECS Fargate, --ecs-task)")
	fs.StringVar(&o.Task, "ecs-task", "app", "with --runner ecs, what the tasks run: app (a task per bot of the app's own embedding task definition and command, the guide's path) or worker (--workers tasks of ragmigrate's --image claiming the bots, sharing one budget)")
	fs.StringVar(&o.Target.TaskRole, "task-role", "", "with --ecs-task worker: the IAM role the workers run as, holding 'iam-policy worker's grants (default: the task role of --task-definition, the app's, with which the workers reach the table through the app's table access role, per user, as the app's code does)")
	fs.StringVar(&o.Image, "image", "", "with --ecs-task worker: URI of the ragmigrate image the workers run (as for 'ragmigrate remote')")
	fs.IntVar(&o.Workers, "workers", 1, fmt.Sprintf("with --ecs-task worker: worker tasks at once (1 to %d), each working on --concurrency bots", maxWorkers))
	fs.DurationVar(&o.Lease, "lease", 2*time.Minute, "with --ecs-task worker: how long a bot stays a worker's without its renewal; a killed worker's bots are claimed by another after it")
	fs.StringVar(&o.Target.Cluster, "cluster", "", "with --runner ecs: the app's embedding cluster (stack output EmbeddingClusterName…)")
	fs.StringSliceVar(&o.Target.Subnets, "subnets", nil, "with --runner ecs: the stack's private subnets, comma-separated (PrivateSubnetId0,PrivateSubnetId1); every task may be placed in any of them")
	fs.StringSliceVar(&o.Target.SecurityGroups, "security-groups", nil, "with --runner ecs: the embedding task's security group, which the database admits (EmbeddingTaskSecurityGroupId…)")
	fs.StringVar(&o.Target.TaskDefinition, "task-definition", "", "with --runner ecs: the app's embedding task definition (EmbeddingTaskDefinitionName…)")
	fs.StringVar(&o.Target.AppContainer, "app-container", remote.DefaultAppContainer, "with --runner ecs: the container of --task-definition that runs embedding/main.py")
	fs.IntVar(&o.MaxTasks, "max-tasks", 0, "with --runner ecs: most tasks at once (default: what Fargate's On-Demand vCPU quota fits of the task's size and the provider budget feeds at the app's pace, said with why)")
	fs.DurationVar(&o.TaskTimeout, "task-timeout", time.Hour, "with --runner ecs: a bot's task running longer is stopped, and the bot run again (--task-retries); with --ecs-task worker, a worker task running longer is stopped (and replaced)")
	fs.IntVar(&o.TaskRetries, "task-retries", 2, "with --runner ecs: times a bot is run again after its task ended without an outcome (killed, timed out, never started); with --ecs-task worker, worker tasks launched in all in place of tasks that ended while bots remained")
	fs.DurationVar(&o.Poll, "task-poll", 5*time.Second, "with --runner ecs: pause between reads of a task's status")
}

// validate checks the values whichever the runner, so that a typo is caught before a run that
// would use them.
func (o *ecsRunOptions) validate() []error {
	var errs []error
	if o.Runner != "local" && o.Runner != "ecs" {
		errs = append(errs, fmt.Errorf("--runner %q: want local or ecs", o.Runner))
	}
	if o.Task != "app" && o.Task != "worker" {
		errs = append(errs, fmt.Errorf("--ecs-task %q: want app or worker", o.Task))
	}
	errs = append(errs, o.validateWorkers()...)
	if o.MaxTasks < 0 {
		errs = append(errs, fmt.Errorf("--max-tasks %d: want 1 or more (0: the default)", o.MaxTasks))
	}
	if o.TaskTimeout < time.Second {
		errs = append(errs, fmt.Errorf("--task-timeout %s: want at least 1s", o.TaskTimeout))
	}
	if o.TaskRetries < 0 {
		errs = append(errs, fmt.Errorf("--task-retries %d: want 0 or more", o.TaskRetries))
	}
	if o.Poll < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("--task-poll %s: want at least 100ms", o.Poll))
	}
	if o.Target.AppContainer == "" {
		errs = append(errs, errors.New("--app-container: name the container of the app's task definition"))
	}
	return errs
}

// unused names the flags given that the chosen runner would ignore: --workers 3 without
// --runner ecs --ecs-task worker ran a local run (or a task per bot) as if it were not there.
func (o *ecsRunOptions) unused(fs *pflag.FlagSet) []error {
	var errs []error
	given := func(names ...string) []string {
		var out []string
		for _, n := range names {
			if fs.Changed(n) {
				out = append(out, "--"+n)
			}
		}
		return out
	}
	if o.Runner != "ecs" {
		if g := given("ecs-task", "image", "workers", "lease", "task-role", "cluster", "subnets", "security-groups", "task-definition",
			"app-container", "max-tasks", "task-timeout", "task-retries", "task-poll"); len(g) > 0 {
			errs = append(errs, fmt.Errorf("%s: only with --runner ecs (the run is --runner %s)", strings.Join(g, ", "), o.Runner))
		}
	} else if o.Task != "worker" {
		if g := given("image", "workers", "lease", "task-role"); len(g) > 0 {
			errs = append(errs, fmt.Errorf("%s: only with --ecs-task worker (--ecs-task %s runs the app's task per bot)", strings.Join(g, ", "), o.Task))
		}
	}
	return errs
}

// appIgnores are reembed's flags for its own pipeline, which the app's task (--ecs-task app) does
// not take: the app's code chunks, reads and embeds as it does.
var appIgnores = []string{"truncate", "on-source-error", "allow-private-urls", "url-timeout", "url-retries", "max-url-bytes",
	"max-sitemap-pages", "sitemap-any-host", "user-agent", "max-file-bytes", "max-bot-bytes", "concurrency", "batch-linger",
	"request-timeout", "provider-timeout"}

// warnAppIgnores names the flags given that the app's tasks do not take, so that a run of
// --ecs-task app with --truncate END is not expected to cut over-long chunks.
func (o *reembedOptions) warnAppIgnores(ctx context.Context, log *slog.Logger) {
	if o.ECS.Runner != "ecs" || o.ECS.Task != "app" || o.flags == nil {
		return
	}
	var given []string
	for _, n := range appIgnores {
		if o.flags.Changed(n) {
			given = append(given, "--"+n)
		}
	}
	if len(given) > 0 {
		log.WarnContext(ctx, fmt.Sprintf("--ecs-task app: %s not passed to the app's tasks, which chunk, read and embed as the app's code does (an over-long chunk fails its bot, as --truncate NONE); --ecs-task worker applies them",
			strings.Join(given, ", ")))
	}
}

// runner builds the ECS runner (nil for the local one): the placement from the flags or the
// stack's outputs, the task definition read for its size, and the bound on tasks at once,
// said with its reason (p, the run's plan, holds the provider budget and the tokens a chunk).
func (o *ecsRunOptions) runner(ctx context.Context, g *globalOptions, cfg aws.Config, job *reembed.Job, dims int, p *plan.Plan, log *slog.Logger) (reembed.Runner, error) {
	if o.Runner != "ecs" {
		return nil, nil
	}
	if err := fillRemoteTarget(&o.Target, g); err != nil {
		return nil, err
	}
	switch {
	case o.Target.Cluster == "":
		return nil, usageError{errors.New("--runner ecs: --cluster (or --stack): the app's embedding cluster")}
	case o.Target.TaskDefinition == "":
		return nil, usageError{errors.New("--runner ecs: --task-definition (or --stack): the app's embedding task definition")}
	case len(o.Target.Subnets) == 0:
		return nil, usageError{errors.New("--runner ecs: --subnets (or --stack): the stack's private subnets")}
	case len(o.Target.SecurityGroups) == 0:
		return nil, usageError{errors.New("--runner ecs: --security-groups (or --stack): the embedding task's security group")}
	}
	// ECS calls are retried by remote's backoff, each retry said.
	client := ecs.NewFromConfig(cfg, func(eo *ecs.Options) { eo.RetryMaxAttempts = 1 })
	td, err := client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(o.Target.TaskDefinition)})
	if err != nil {
		return nil, fmt.Errorf("--task-definition %s: %w", o.Target.TaskDefinition, err)
	}
	// A wrong container name would fail every RunTask: said before any.
	i := slices.IndexFunc(td.TaskDefinition.ContainerDefinitions, func(c ecstypes.ContainerDefinition) bool {
		return aws.ToString(c.Name) == o.Target.AppContainer
	})
	if i < 0 {
		var names []string
		for _, c := range td.TaskDefinition.ContainerDefinitions {
			names = append(names, aws.ToString(c.Name))
		}
		return nil, usageError{fmt.Errorf("--app-container %q: task definition %s has no such container (it has %s); check --app-container: Bedrock Chat's is %q",
			o.Target.AppContainer, o.Target.TaskDefinition, strings.Join(names, ", "), remote.DefaultAppContainer)}
	}
	app := td.TaskDefinition.ContainerDefinitions[i]
	if err := o.checkAppDeployment(g, app); err != nil {
		return nil, err
	}
	if err := o.checkAppDatabase(ctx, g, cfg, app, log); err != nil {
		return nil, err
	}
	// The roles ECS passes to the tasks, named when iam:PassRole is refused.
	o.Target.TaskRole, o.Target.ExecutionRole = aws.ToString(td.TaskDefinition.TaskRoleArn), aws.ToString(td.TaskDefinition.ExecutionRoleArn)
	limit := o.MaxTasks
	if limit == 0 {
		m := plan.DefaultMaxTasks(readFargateVCPU(ctx, cfg), taskSize(td.TaskDefinition), p.Reembed.Budget, p.TokensPerChunk())
		limit = m.N
		tasks := "tasks"
		if limit == 1 {
			tasks = "task"
		}
		log.InfoContext(ctx, fmt.Sprintf("at most %d %s at once: %s; --max-tasks sets it", limit, tasks, m.Reason))
	}
	log.InfoContext(ctx, "bots run as the app's embedding task", slog.String("cluster", o.Target.Cluster),
		slog.String("task_definition", o.Target.TaskDefinition), slog.String("container", o.Target.AppContainer),
		slog.Any("subnets", o.Target.Subnets), slog.Any("security_groups", o.Target.SecurityGroups), slog.Int("max_tasks", limit))
	return &runner.ECSApp{
		Starter: &remote.Runner{ECS: client, Region: cfg.Region}, Tasks: client,
		Target: o.Target, TaskDefinition: o.Target.TaskDefinition, Container: o.Target.AppContainer,
		MaxTasks: limit, TaskTimeout: o.TaskTimeout, TaskRetries: o.TaskRetries, Poll: o.Poll,
		Judge: reembed.TaskJudge{Job: job, Dimensions: dims}, Logger: log,
	}, nil
}

// checkAppDeployment refuses an app container c whose environment names another table or
// bucket than this run's: the app's tasks work on those, whatever this run reads, so a task
// definition of another deployment would re-embed that one's bots (same keys, another table)
// while this run waited for its own.
func (o *ecsRunOptions) checkAppDeployment(g *globalOptions, c ecstypes.ContainerDefinition) error {
	env := remote.Environment(c)
	for _, f := range []struct{ name, flag, want string }{{"TABLE_NAME", "--table", g.Table}, {"DOCUMENT_BUCKET", "--bucket", g.Bucket}} {
		if value, ok := env[f.name]; ok && value != f.want {
			return usageError{fmt.Errorf("%s %s: the app's tasks (task definition %s, container %s) work on %s %s, another deployment's: they would re-embed its bots, not this run's; give %s %s, or the task definition of this deployment, or --ecs-task worker, whose tasks are given this run's",
				f.flag, f.want, o.Target.TaskDefinition, o.Target.AppContainer, f.name, value, f.flag, value)}
		}
	}
	return nil
}

// dbEndpoint is a PostgreSQL database as a place: host, port and database name. The role is not
// part of it: the app's tasks and this run may log in as different users to the same database.
type dbEndpoint struct {
	Host string
	Port int
	Name string
}

func (d dbEndpoint) String() string {
	return net.JoinHostPort(d.Host, strconv.Itoa(d.Port)) + "/" + d.Name
}

// same tells whether d and e are one database: host names compare without case (DNS ignores
// it), and two loopback names are one host.
func (d dbEndpoint) same(e dbEndpoint) bool {
	dh, eh := strings.TrimSuffix(strings.ToLower(d.Host), "."), strings.TrimSuffix(strings.ToLower(e.Host), ".")
	return (dh == eh || (dbcred.IsLoopback(dh) && dbcred.IsLoopback(eh))) && d.Port == e.Port && d.Name == e.Name
}

// checkAppDatabase refuses a task definition whose container c writes to another database than
// --target-db. The app's tasks write the bots' rows where their environment says (v1: the
// DB_SECRETS_ARN secret; v0.4.x: DB_HOST, DB_PORT, DB_NAME), whatever this run was given, while
// this run checks each bot's rows in --target-db: every bot would fail its check, or pass it on
// rows an earlier run left there. What cannot be compared (a secret this identity may not read)
// is said in one line, and the run goes on.
func (o *ecsRunOptions) checkAppDatabase(ctx context.Context, g *globalOptions, cfg aws.Config, c ecstypes.ContainerDefinition, log *slog.Logger) error {
	env := remote.Environment(c)
	notCompared := func(why string) {
		log.WarnContext(ctx, fmt.Sprintf("the app's database could not be compared with --target-db: %s; the app's tasks write the bots' rows where task definition %s names, and this run checks them in --target-db",
			why, o.Target.TaskDefinition))
	}
	var app dbEndpoint
	var via, fix string
	switch arn := env["DB_SECRETS_ARN"]; {
	case arn != "" && arn == g.awsStack.TargetSecret:
		// --target-db is this very secret's database (--target-secret, or the stack's
		// DbConfigSecretArn, which the stack's task definition names).
		return nil
	case arn != "":
		sm := boundedSecrets{api: secretsmanager.NewFromConfig(cfg), bound: g.lookupBound(cfg)}
		s, err := dbcred.ReadSecret(ctx, sm, arn)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			why := err.Error() // names the secret, never its value
			var ae smithy.APIError
			if errors.As(err, &ae) && ae.ErrorCode() == "AccessDeniedException" {
				why += " (secretsmanager:GetSecretValue on it lets this run compare)"
			}
			notCompared(why)
			return nil
		}
		if s.Host == "" {
			notCompared("secret " + arn + " (DB_SECRETS_ARN) names no host")
			return nil
		}
		app, via = dbEndpoint{Host: s.Host, Port: s.Port, Name: s.DBName}, "DB_SECRETS_ARN "+arn
		fix = "give --target-secret " + arn + " (the app's secret) or point --target-db at the app's database (" + app.String() + ")"
	case env["DB_HOST"] != "":
		// The app's code defaults, as 'worker' reads them in the app's task.
		port, err := strconv.Atoi(cmp.Or(env["DB_PORT"], "5432"))
		if err != nil {
			notCompared(fmt.Sprintf("DB_PORT %q is not a number", env["DB_PORT"]))
			return nil
		}
		app, via = dbEndpoint{Host: env["DB_HOST"], Port: port, Name: cmp.Or(env["DB_NAME"], "postgres")}, "DB_HOST, DB_PORT, DB_NAME"
		fix = "point --target-db at the app's database (" + app.String() + ")"
	default:
		notCompared(fmt.Sprintf("container %s's environment names neither DB_SECRETS_ARN nor DB_HOST", o.Target.AppContainer))
		return nil
	}
	pc, err := pgconn.ParseConfig(g.TargetDB)
	if err != nil {
		// Not reached in practice: the run has connected to it. The error is not quoted, as it
		// may quote the URL.
		notCompared("--target-db is not a database URL this run can read")
		return nil
	}
	// A URL without a database names the user's, as the server takes it.
	target := dbEndpoint{Host: pc.Host, Port: int(pc.Port), Name: cmp.Or(pc.Database, pc.User)}
	if app.same(target) {
		return nil
	}
	given := "--target-db " + target.String()
	if g.awsStack.TargetSecret != "" {
		given = "--target-secret " + g.awsStack.TargetSecret + " (" + target.String() + ")"
	}
	return usageError{fmt.Errorf("%s: the app's tasks (task definition %s, container %s) write to %s (%s), another database: this run would check the bots' rows in %s, where the tasks write none; %s, or give the task definition of this deployment, or --ecs-task worker, whose tasks write to --target-db",
		given, o.Target.TaskDefinition, o.Target.AppContainer, app, via, target, fix)}
}
