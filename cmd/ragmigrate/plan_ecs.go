package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/servicequotas"
	"github.com/spf13/pflag"

	"github.com/ragmigrate/ragmigrate/internal/plan"
	"github.com/ragmigrate/ragmigrate/internal/quota"
)

// addECSFlags registers plan's --runner ecs flags: those of reembed's that size and bound the
// tasks, so that plan prices the run reembed would make with them.
func (o *planOptions) addECSFlags(fs *pflag.FlagSet) {
	o.ecs = &ecsRunOptions{}
	e := o.ecs
	fs.StringVar(&e.Runner, "runner", "local", "also estimate a re-embed on ECS Fargate: ecs (a task per bot, as reembed --runner ecs) or local")
	fs.StringVar(&e.Task, "ecs-task", "app", "with --runner ecs, what the tasks run: app (a task per bot of the app's own embedding task) or worker (--workers tasks of ragmigrate's own worker sharing the run's budget)")
	fs.IntVar(&e.Workers, "workers", 1, fmt.Sprintf("with --ecs-task worker: worker tasks (1 to %d)", maxWorkers))
	fs.StringVar(&e.Target.TaskDefinition, "task-definition", "", "with --runner ecs: the app's embedding task definition, read for the task's size (or --stack; default: the app's 2 vCPU, 4 GB)")
	fs.IntVar(&e.MaxTasks, "max-tasks", 0, "with --runner ecs: most tasks at once (default: what Fargate's vCPU quota fits and the provider budget feeds, said with why)")
}

// validatePlan checks plan's --runner ecs flags (nil: reembed's, which it checks itself).
func (o *ecsRunOptions) validatePlan() []error {
	if o == nil {
		return nil
	}
	var errs []error
	if o.Runner != "local" && o.Runner != "ecs" {
		errs = append(errs, fmt.Errorf("--runner %q: want local or ecs", o.Runner))
	}
	if o.Task != "app" && o.Task != "worker" {
		errs = append(errs, fmt.Errorf("--ecs-task %q: want app or worker", o.Task))
	}
	if o.Workers < 1 || o.Workers > maxWorkers {
		errs = append(errs, fmt.Errorf("--workers %d: want 1 to %d", o.Workers, maxWorkers))
	}
	if o.MaxTasks < 0 {
		errs = append(errs, fmt.Errorf("--max-tasks %d: want 1 or more (0: the default)", o.MaxTasks))
	}
	return errs
}

// planECS is what plan needs to price a run on ECS: the task's size (its task definition, read
// when --task-definition or --stack names it) and Fargate's vCPU quota. nil unless --runner ecs.
func (o *ecsRunOptions) planECS(ctx context.Context, g *globalOptions, cfg aws.Config) (*plan.ECSOptions, error) {
	if o == nil || o.Runner != "ecs" {
		return nil, nil
	}
	if o.Task == "worker" {
		// ragmigrate's own task definition, of a fixed size: nothing to read.
		return &plan.ECSOptions{Workers: o.Workers}, nil
	}
	eo := &plan.ECSOptions{MaxTasks: o.MaxTasks, VCPUQuota: readFargateVCPU(ctx, cfg),
		Size: plan.TaskSize{CPU: plan.AppTaskCPU, Memory: plan.AppTaskMemory,
			Source: "the app's default; --task-definition or --stack reads the deployment's"}}
	name := o.Target.TaskDefinition
	if st := g.awsStack.Resolved; name == "" && st != nil && st.EmbeddingTaskDefinition.Set() {
		if err := g.fillFromStack(st, &name, st.EmbeddingTaskDefinition, "embedding task definition", "--task-definition"); err != nil {
			return nil, err
		}
	}
	if name == "" {
		return eo, nil
	}
	out, err := ecs.NewFromConfig(cfg).DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(name)})
	if err != nil {
		return nil, fmt.Errorf("--task-definition %s: %w", name, err)
	}
	eo.TaskDefinition = name
	eo.Size = taskSize(out.TaskDefinition)
	return eo, nil
}

// taskSize is a task definition's Fargate size, named by family and revision.
func taskSize(td *types.TaskDefinition) plan.TaskSize {
	cpu, _ := strconv.Atoi(aws.ToString(td.Cpu))
	mem, _ := strconv.Atoi(aws.ToString(td.Memory))
	return plan.TaskSize{CPU: cpu, Memory: mem, Source: fmt.Sprintf("task definition %s:%d", aws.ToString(td.Family), td.Revision)}
}

// readFargateVCPU is the account's Fargate On-Demand vCPU quota from Service Quotas, or a new
// account's default with why it was not read.
func readFargateVCPU(ctx context.Context, cfg aws.Config) plan.VCPUQuota {
	fallback := func(why string) plan.VCPUQuota {
		return plan.VCPUQuota{VCPU: plan.FargateVCPUDefault, Source: "a new account's default: " + why}
	}
	if os.Getenv("AWS_ENDPOINT_URL_ECS") != "" && os.Getenv("AWS_ENDPOINT_URL_SERVICE_QUOTAS") == "" {
		// The account's quotas do not describe another ECS endpoint.
		return fallback("Service Quotas not read, AWS_ENDPOINT_URL_ECS points elsewhere (set AWS_ENDPOINT_URL_SERVICE_QUOTAS too)")
	}
	ctx, cancel := context.WithTimeout(ctx, quotaTimeout)
	defer cancel()
	v, err := quota.FargateVCPU(ctx, servicequotas.NewFromConfig(cfg))
	switch {
	case errors.Is(err, quota.ErrDenied):
		return fallback("Service Quotas denies access (servicequotas:ListServiceQuotas)")
	case errors.Is(err, quota.ErrNotListed):
		return fallback(fmt.Sprintf("Service Quotas lists no %q in %s", quota.FargateVCPUQuotaName, cfg.Region))
	case err != nil:
		return fallback(fmt.Sprintf("Service Quotas could not be read (%v)", err))
	}
	return plan.VCPUQuota{VCPU: v, Source: fmt.Sprintf("Service Quotas, %s: %q", cfg.Region, quota.FargateVCPUQuotaName)}
}
