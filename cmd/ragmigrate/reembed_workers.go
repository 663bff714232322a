package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ragmigrate/ragmigrate/internal/plan"
	"github.com/ragmigrate/ragmigrate/internal/remote"
	"github.com/ragmigrate/ragmigrate/internal/runbudget"
	"github.com/ragmigrate/ragmigrate/internal/runner"
)

// maxWorkers bounds --workers: one DescribeTasks call reads them all.
const maxWorkers = 100

// workerRunner builds the runner of --ecs-task worker: ragmigrate's task definition for --image
// (registered by content, as remote does), placed as the app's embedding task (--stack or the
// flags), and the command and environment of each worker task. The target database and the
// other global settings reach the tasks as RAGMIGRATE_* variables, never on their command line.
func (o *reembedOptions) workerRunner(ctx context.Context, g *globalOptions, cfg aws.Config, pool *pgxpool.Pool, budget plan.Budget, log *slog.Logger) (*runner.ECSWorkers, error) {
	e := &o.ECS
	if err := fillRemoteTarget(&e.Target, g); err != nil {
		return nil, err
	}
	switch {
	case e.Image == "":
		return nil, usageError{errors.New("--ecs-task worker: --image: the URI of the ragmigrate image the workers run (as for 'ragmigrate remote')")}
	case e.Target.Cluster == "":
		return nil, usageError{errors.New("--runner ecs: --cluster (or --stack): the app's embedding cluster")}
	case len(e.Target.Subnets) == 0:
		return nil, usageError{errors.New("--runner ecs: --subnets (or --stack): the stack's private subnets")}
	case len(e.Target.SecurityGroups) == 0:
		return nil, usageError{errors.New("--runner ecs: --security-groups (or --stack): the embedding task's security group")}
	}
	env, err := remoteEnv(o.flags, nil)
	if err != nil {
		return nil, usageError{err}
	}
	// The run's budget is this process's, which the workers join in the target; a RAGMIGRATE_RPM
	// or RAGMIGRATE_TPM of this shell (which --rpm/--tpm override here) would be each worker's
	// own budget, which the run's refuses, and every worker would exit.
	env = slices.DeleteFunc(env, func(kv types.KeyValuePair) bool {
		n := aws.ToString(kv.Name)
		return n == "RAGMIGRATE_RPM" || n == "RAGMIGRATE_TPM"
	})
	// ECS calls are retried by remote's backoff, each retry said.
	client := ecs.NewFromConfig(cfg, func(eo *ecs.Options) { eo.RetryMaxAttempts = 1 })
	r := &remote.Runner{ECS: client, Region: cfg.Region}
	target, err := r.Resolve(ctx, e.Target, remote.Backoff{})
	if err != nil {
		return nil, err
	}
	var exitHint string
	if slices.Contains(target.FromApp, "task role") {
		// The app's embedding task role reads the bucket and the secret and invokes the model,
		// but reaches the table only by assuming the table access role, scoped to one user's
		// items: each worker does so for each bot's user, as the app's code does (worker --run
		// under AWS_EXECUTION_ENV, which ECS sets).
		if role := target.AppEnv["TABLE_ACCESS_ROLE_ARN"]; role != "" {
			env = append(env, types.KeyValuePair{Name: aws.String("TABLE_ACCESS_ROLE_ARN"), Value: aws.String(role)})
			exitHint = fmt.Sprintf("if it says the table access role %s refused the workers, let the app's task role %s assume it, or give --task-role a role with the grants of 'ragmigrate iam-policy worker'",
				role, target.TaskRole)
			log.InfoContext(ctx, "the workers run as the app's embedding task role, taken from its task definition: they reach the table through the app's table access role, scoped to each bot's user",
				slog.String("task_role", target.TaskRole), slog.String("table_access_role", role))
		} else {
			log.WarnContext(ctx, "the workers run as the app's embedding task role, taken from its task definition, which names no table access role (TABLE_ACCESS_ROLE_ARN): they reach the table with that role's own grants, which the app's does not have, so DynamoDB may refuse them; give --task-role a role with the grants of 'ragmigrate iam-policy worker'",
				slog.String("task_role", target.TaskRole))
		}
	}
	// A worker that fails is asked why: the coordinator quotes the end of its log stream, in
	// the log group's region. Its calls are retried by remote's backoff, as the ECS calls are.
	r.Logs = cloudwatchlogs.NewFromConfig(cfg, func(lo *cloudwatchlogs.Options) {
		lo.RetryMaxAttempts = 1
		lo.Region = target.LogRegion
	})
	td, err := r.TaskDefinition(ctx, target.Target, e.Image, strconv.Itoa(plan.WorkerTaskCPU), strconv.Itoa(plan.WorkerTaskMemory), remote.Backoff{}, log)
	if err != nil {
		return nil, err
	}
	// The run's settings are recorded with it; these are how each worker paces and holds bots.
	args := []string{"--concurrency", strconv.Itoa(o.Concurrency), "--batch-linger", o.BatchLinger.String(),
		"--lease", e.Lease.String(), "--request-timeout", o.RequestTimeout.String(), "--provider-timeout", o.ProviderTimeout.String()}
	// The budget this process resolved (flags, Service Quotas) is the run's: the workers join it
	// in the target (worker --run), whatever their own flags or quotas would say.
	// Reset: the budget this invocation resolved is the run's, also when it resumes a run that
	// had another (the operator raised --rpm); the buckets keep their place.
	shared := runbudget.Config{RequestsPerMinute: budget.RequestsPerMinute, TokensPerMinute: budget.TokensPerMinute, Discover: o.discovers(budget), Reset: true, Logger: log}
	names := make([]string, len(env))
	for i, kv := range env {
		names[i] = aws.ToString(kv.Name)
	}
	log.InfoContext(ctx, "bots run by ragmigrate workers on ECS", slog.Int("workers", e.Workers), slog.String("image", e.Image),
		slog.String("task_definition", td), slog.String("cluster", target.Cluster), slog.Any("subnets", target.Subnets),
		slog.Any("security_groups", target.SecurityGroups), slog.String("worker_args", strings.Join(args, " ")),
		slog.String("environment", strings.Join(names, ",")))
	return &runner.ECSWorkers{
		Starter: r, Tasks: client, DB: pool, Target: target.Target, TaskDefinition: td,
		Command: func(runID int64) []string {
			return append([]string{"worker", "--run", strconv.FormatInt(runID, 10)}, args...)
		},
		Env: env, Workers: e.Workers, TaskTimeout: e.TaskTimeout, TaskRetries: e.TaskRetries, Poll: e.Poll, Logger: log, ExitHint: exitHint,
		// The run's budget exists before its workers join it, so that a budget the run already
		// has and this invocation contradicts is said here, once, not by every worker.
		Prepare: func(ctx context.Context, runID int64) error {
			b, err := runbudget.Open(ctx, pool, runID, shared)
			if err != nil {
				return fmt.Errorf("the run's budget: %w", err)
			}
			b.Close()
			return nil
		},
	}, nil
}

// validateWorkers checks --ecs-task worker's flags, whichever the runner.
func (o *ecsRunOptions) validateWorkers() []error {
	var errs []error
	if o.Workers < 1 || o.Workers > maxWorkers {
		errs = append(errs, fmt.Errorf("--workers %d: want 1 to %d", o.Workers, maxWorkers))
	}
	if o.Lease.Seconds() < 1 {
		errs = append(errs, fmt.Errorf("--lease %s: want at least 1s", o.Lease))
	}
	return errs
}
