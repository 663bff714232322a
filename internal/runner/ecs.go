package runner

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"golang.org/x/sync/errgroup"

	"github.com/ragmigrate/ragmigrate/internal/reembed/botjob"
	"github.com/ragmigrate/ragmigrate/internal/remote"
)

// AppCommand is the app's embedding task command for a bot: `python3 -u embedding/main.py KEYS`
// without the entry point, KEYS being the bot item's keys in DynamoDB JSON (what the app's Pipe
// and migrate.py pass).
func AppCommand(userID, botID string) []string {
	keys, _ := json.Marshal(map[string]map[string]string{"PK": {"S": userID}, "SK": {"S": userID + "#BOT#" + botID}})
	return []string{"-u", "embedding/main.py", string(keys)}
}

// TaskEnd is how a bot's task ended.
type TaskEnd struct {
	TaskArn, TaskID string
	ExitCode        *int32
	StopCode        string
	StoppedReason   string
	// TimedOut: the task ran past the timeout and was stopped.
	TimedOut bool
}

func (e TaskEnd) String() string {
	s := fmt.Sprintf("task %s", e.TaskID)
	if e.TimedOut {
		s += " ran past --task-timeout and was stopped"
	}
	if e.ExitCode != nil {
		s += fmt.Sprintf(", exit code %d", *e.ExitCode)
	}
	if e.StopCode != "" {
		s += ", " + e.StopCode
	}
	if e.StoppedReason != "" {
		s += ": " + e.StoppedReason
	}
	return s
}

// Verdict is what a bot's ended task means for its job.
type Verdict int

const (
	// Finished: the job has its outcome (done or failed), recorded.
	Finished Verdict = iota
	// Retry: the task ended without the bot reaching an outcome; run it again if retries remain.
	Retry
)

// Judge is what the ECS runner asks of the strategy about a job's tasks.
type Judge interface {
	// Launched records that task taskID works on job j (an attempt).
	Launched(ctx context.Context, j *botjob.Job, taskID string) error
	// Settle reads what task end left for job j (the bot's SyncStatus and LastExecId, its rows)
	// and records the job's outcome; last says no retry remains, so an ending without outcome
	// must be recorded as a failure. An error stops the run.
	Settle(ctx context.Context, j botjob.Job, end TaskEnd, last bool) (Verdict, error)
}

// TaskAPI is what the ECS runner calls of Amazon ECS besides RunTask (remote.Runner.StartTask).
type TaskAPI interface {
	DescribeTasks(context.Context, *ecs.DescribeTasksInput, ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error)
	StopTask(context.Context, *ecs.StopTaskInput, ...func(*ecs.Options)) (*ecs.StopTaskOutput, error)
}

// ECSApp runs each bot job as one task of the app's embedding task definition with the app's
// command (AppCommand): the guide's path, bounded, retried and watched. The job does not run in
// this process: the task writes the bot's rows and SyncStatus, and Judge reads them.
type ECSApp struct {
	Starter *remote.Runner
	Tasks   TaskAPI
	// Target places the tasks: cluster, subnets (all the stack's private ones), security groups.
	Target remote.Target
	// TaskDefinition is the app's embedding task definition; Container its container's name.
	TaskDefinition, Container string
	// MaxTasks bounds the tasks in flight. Default 1.
	MaxTasks int
	// TaskTimeout stops a task that runs longer. Default 1 h.
	TaskTimeout time.Duration
	// TaskRetries is how many times a bot whose task ended without an outcome is run again.
	TaskRetries int
	// Poll is the pause between DescribeTasks calls on a task. Default 5 s.
	Poll    time.Duration
	Backoff remote.Backoff
	Judge   Judge
	Logger  *slog.Logger

	settled func()
}

// OnSettled makes Run call f each time a job gets its outcome (progress).
func (e *ECSApp) OnSettled(f func()) { e.settled = f }

// Run starts a task per job, at most MaxTasks at once, and returns once each job has an
// outcome or the run stopped. A permanent RunTask error (a wrong container name, a missing
// role) stops the run at once; do is not called, since the jobs run in the tasks.
func (e *ECSApp) Run(ctx context.Context, jobs []botjob.Job, _ func(context.Context, botjob.Job) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cmp.Or(e.MaxTasks, 1))
	for _, j := range jobs {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if gctx.Err() != nil {
				return nil
			}
			if err := e.runJob(gctx, j); err != nil {
				return err
			}
			if e.settled != nil && gctx.Err() == nil {
				e.settled()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

func (e *ECSApp) log() *slog.Logger { return cmp.Or(e.Logger, slog.Default()) }

// runJob runs one job's tasks until it has an outcome or its retries are spent.
func (e *ECSApp) runJob(ctx context.Context, j botjob.Job) error {
	log := e.log().With(slog.String("bot_id", j.BotID))
	attempt := 0
	if j.Task != "" {
		// An earlier invocation of the run launched a task for the job and stopped before it
		// ended: follow that task first, so that a bot it re-embedded is not launched again.
		log.InfoContext(ctx, "following the task an earlier invocation started", slog.String("task", j.Task))
		end, err := e.wait(ctx, j.Task, j.Task, log)
		if err != nil {
			return fmt.Errorf("bot %s: %w", j.BotID, err)
		}
		attempt = max(j.Attempts, 1)
		last := attempt > e.TaskRetries
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		v, err := e.Judge.Settle(sctx, j, end, last)
		cancel()
		if err != nil || v == Finished || last {
			return err
		}
	}
	for ; ; attempt++ {
		task, err := e.Starter.StartTask(ctx, e.Target, e.TaskDefinition, types.ContainerOverride{
			Name: aws.String(e.Container), Command: AppCommand(j.UserID, j.BotID),
		}, "ragmigrate-reembed", e.Backoff, log)
		if err != nil {
			return fmt.Errorf("bot %s: %w", j.BotID, err)
		}
		arn := aws.ToString(task.TaskArn)
		id := arn[strings.LastIndex(arn, "/")+1:]
		if err := e.Judge.Launched(ctx, &j, id); err != nil {
			return err
		}
		log.InfoContext(ctx, "task started", slog.String("task", id), slog.Int("attempt", attempt+1))
		end, err := e.wait(ctx, arn, id, log)
		if err != nil {
			return fmt.Errorf("bot %s: %w", j.BotID, err)
		}
		last := attempt >= e.TaskRetries
		// Past this point the task has ended: record it even if the run is being interrupted.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		v, err := e.Judge.Settle(sctx, j, end, last)
		cancel()
		if err != nil {
			return err
		}
		if v == Finished {
			return nil
		}
		if last {
			return nil
		}
		log.WarnContext(ctx, "the bot's task ended without an outcome; running it again", slog.String("ended", end.String()),
			slog.Int("attempt", attempt+1), slog.Int("task_retries", e.TaskRetries))
	}
}

// wait follows a task to STOPPED, stopping it past the timeout (or when ctx ends).
func (e *ECSApp) wait(ctx context.Context, arn, id string, log *slog.Logger) (TaskEnd, error) {
	end := TaskEnd{TaskArn: arn, TaskID: id}
	deadline := time.Now().Add(cmp.Or(e.TaskTimeout, time.Hour))
	poll := cmp.Or(e.Poll, 5*time.Second)
	work := context.WithoutCancel(ctx)
	stopped := false
	stop := func(reason string) error {
		if stopped {
			return nil
		}
		stopped = true
		_, err := e.Tasks.StopTask(work, &ecs.StopTaskInput{Cluster: aws.String(e.Target.Cluster), Task: aws.String(arn), Reason: aws.String(reason)})
		if err != nil {
			return fmt.Errorf("stop task %s: %w", id, err)
		}
		log.WarnContext(ctx, "task stopped", slog.String("task", id), slog.String("reason", reason))
		return nil
	}
	for {
		out, err := e.Tasks.DescribeTasks(work, &ecs.DescribeTasksInput{Cluster: aws.String(e.Target.Cluster), Tasks: []string{arn}})
		if err != nil {
			return end, fmt.Errorf("describe task %s: %w", id, err)
		}
		if len(out.Tasks) == 0 {
			// ECS forgets a stopped task after a while.
			end.StoppedReason = "ECS no longer knows the task"
			return end, nil
		}
		if len(out.Tasks) == 1 {
			t := out.Tasks[0]
			if aws.ToString(t.LastStatus) == "STOPPED" {
				end.StopCode, end.StoppedReason = string(t.StopCode), aws.ToString(t.StoppedReason)
				for _, c := range t.Containers {
					if aws.ToString(c.Name) == e.Container {
						end.ExitCode = c.ExitCode
					}
				}
				return end, nil
			}
		}
		switch {
		case ctx.Err() != nil:
			// Interrupted: a task left running would go on writing unseen.
			if err := stop("ragmigrate reembed was interrupted"); err != nil {
				return end, errors.Join(ctx.Err(), err)
			}
			return end, ctx.Err()
		case time.Now().After(deadline) && !stopped:
			end.TimedOut = true
			if err := stop("ragmigrate reembed: the task ran past --task-timeout"); err != nil {
				return end, err
			}
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}
