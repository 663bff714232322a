package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/ragmigrate/ragmigrate/internal/journal"
	"github.com/ragmigrate/ragmigrate/internal/progress"
	"github.com/ragmigrate/ragmigrate/internal/reembed/botjob"
	"github.com/ragmigrate/ragmigrate/internal/remote"
)

// ECSWorkers runs a run's jobs in Workers tasks of ragmigrate's own image, each running
// `ragmigrate worker --run ID` (Command), which claim the run's pending jobs from the journal
// under leases until none is left. This process launches and follows the tasks and reads the
// jobs' progress from the journal; the tasks write the bots' rows, SyncStatus and outcomes.
type ECSWorkers struct {
	Starter *remote.Runner
	Tasks   TaskAPI
	// DB is the target's journal, where the jobs' outcomes and the run's worker tasks are.
	DB journal.DB
	// Target places the tasks: cluster, subnets (all the stack's private ones), security groups.
	Target remote.Target
	// TaskDefinition is ragmigrate's task definition (remote.Runner.TaskDefinition), whose
	// container remote.ContainerName runs Command(run id) with Env.
	TaskDefinition string
	Command        func(runID int64) []string
	Env            []types.KeyValuePair
	// Workers is how many tasks work at once. Default 1.
	Workers int
	// TaskTimeout stops a worker task that runs longer. Default 1 h.
	TaskTimeout time.Duration
	// TaskRetries is how many worker tasks may be launched in place of tasks that ended while
	// jobs were left (killed, timed out, never started).
	TaskRetries int
	// Prepare, if set, readies run runID for the workers before any is launched (the run's
	// shared budget, which they join).
	Prepare func(ctx context.Context, runID int64) error
	// ExitHint, if set, is added to a WorkerExitError: what to check in the worker's log that
	// this run's setup makes likely.
	ExitHint string
	// Poll is the pause between reads of the tasks and the journal. Default 5 s.
	Poll    time.Duration
	Backoff remote.Backoff
	Logger  *slog.Logger

	observe func(botjob.Job)
}

// Observe makes Run call f with each job it sees finished in the journal (progress).
func (e *ECSWorkers) Observe(f func(botjob.Job)) { e.observe = f }

// maxFailedReads is how many DescribeTasks calls in a row may fail before the run stops.
const maxFailedReads = 10

// workerTask is a worker task being followed.
type workerTask struct {
	arn, id  string
	deadline time.Time
	stopped  bool // StopTask was called
	timedOut bool
}

// WorkerExitError is a worker task that exited with an error of its own (the provider refused
// the run, the target failed): not one a replacement would fix.
type WorkerExitError struct {
	End TaskEnd
	// LogStream is where its reason is.
	LogStream string
	// Said is the worker's last error line, read from LogStream; "" when it could not be read or had none.
	Said string
	// Hint is ECSWorkers.ExitHint.
	Hint string
}

func (e *WorkerExitError) Error() string {
	why := fmt.Sprintf("; its log stream %s says why", e.LogStream)
	if e.Said != "" {
		why = fmt.Sprintf(", and said: %s; its log stream %s has the rest", e.Said, e.LogStream)
	}
	msg := fmt.Sprintf("worker %s%s; the bots not done are pending, and 'ragmigrate reembed' continues the run once it is fixed", e.End, why)
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return msg
}

// Run launches the worker tasks (following those an earlier invocation launched first, so that
// the run never has more than Workers), replaces a task that ended while jobs were left (up to
// TaskRetries), and returns once no job is pending and every task has ended. An interrupt stops
// the tasks (StopTask); their jobs stay pending for the next invocation.
func (e *ECSWorkers) Run(ctx context.Context, jobs []botjob.Job, _ func(context.Context, botjob.Job) error) error {
	if len(jobs) == 0 {
		return nil
	}
	log := cmp.Or(e.Logger, slog.Default())
	runID := jobs[0].RunID
	todo := map[string]bool{}
	for _, j := range jobs {
		todo[j.BotID] = true
	}
	workers := cmp.Or(e.Workers, 1)
	timeout := cmp.Or(e.TaskTimeout, time.Hour)
	poll := cmp.Or(e.Poll, 5*time.Second)
	// The journal and ECS are read on, and tasks stopped, after an interrupt.
	work := context.WithoutCancel(ctx)

	if e.Prepare != nil {
		if err := e.Prepare(ctx, runID); err != nil {
			return err
		}
	}
	live := map[string]*workerTask{}
	open, err := botjob.OpenTasks(ctx, e.DB, runID)
	if err != nil {
		return err
	}
	for _, arn := range open {
		id := arn[strings.LastIndex(arn, "/")+1:]
		live[arn] = &workerTask{arn: arn, id: id, deadline: time.Now().Add(timeout)}
		log.InfoContext(ctx, "following the worker task an earlier invocation started", slog.String("task", id))
	}
	start := func() error {
		task, err := e.Starter.StartTask(ctx, e.Target, e.TaskDefinition, types.ContainerOverride{
			Name: aws.String(remote.ContainerName), Command: e.Command(runID), Environment: e.Env,
		}, "ragmigrate-reembed", e.Backoff, log)
		if err != nil {
			return err
		}
		arn := aws.ToString(task.TaskArn)
		t := &workerTask{arn: arn, id: arn[strings.LastIndex(arn, "/")+1:], deadline: time.Now().Add(timeout)}
		live[arn] = t
		if err := botjob.TaskStarted(work, e.DB, runID, arn); err != nil {
			return err
		}
		log.InfoContext(ctx, "worker task started", slog.String("task", t.id), slog.Int("tasks", len(live)), slog.Int("workers", workers))
		return nil
	}

	seen := map[string]bool{}
	failedReads := 0
	replaced := 0
	first := true // the first launch is not in place of anything
	var fatal error
	for {
		if ctx.Err() != nil && fatal == nil {
			fatal = ctx.Err()
			e.stopAll(work, live, "ragmigrate reembed was interrupted", log)
		}
		ended, err := e.describe(work, live)
		switch {
		case err == nil:
			failedReads = 0
		case failedReads < maxFailedReads:
			// A dropped connection, a throttled call: the tasks are read again at the next poll.
			failedReads++
			log.WarnContext(ctx, "could not read the worker tasks; reading them again", slog.Any("error", err), slog.Int("tries", failedReads))
		default:
			return errors.Join(fatal, fmt.Errorf("%w (%d tries); the worker tasks go on, and 'ragmigrate reembed' follows them", err, failedReads+1))
		}
		for _, end := range ended {
			t := live[end.TaskArn]
			delete(live, end.TaskArn)
			end.TimedOut = t.timedOut
			if err := botjob.TaskEnded(work, e.DB, runID, end.TaskArn, end.String()); err != nil {
				return errors.Join(fatal, err)
			}
			switch {
			case end.ExitCode != nil && *end.ExitCode == 0:
				log.InfoContext(ctx, "worker task ended: no bot left to claim", slog.String("task", end.TaskID))
			case t.stopped && !t.timedOut:
				// Stopped by this process (interrupt, or another worker's failure).
			case end.ExitCode != nil && *end.ExitCode != 137 && *end.ExitCode != 143 && !t.timedOut && fatal == nil:
				// The worker's own error: every worker would meet it. Stop the others.
				said := e.lastError(work, end.TaskID, log)
				fatal = &WorkerExitError{End: end, LogStream: remote.LogStream(end.TaskID), Said: said, Hint: e.ExitHint}
				attrs := []any{slog.String("ended", end.String())}
				if said != "" {
					attrs = append(attrs, slog.String("last_error", said))
				}
				log.ErrorContext(ctx, "worker task failed", attrs...)
				e.stopAll(work, live, "ragmigrate reembed: another worker failed", log)
			default:
				attrs := []any{slog.String("ended", end.String())}
				if said := e.lastError(work, end.TaskID, log); said != "" {
					attrs = append(attrs, slog.String("last_error", said))
				}
				log.WarnContext(ctx, "worker task ended before the run's bots were done", attrs...)
			}
		}
		// What the workers finished since the last look: read after the tasks, so that a task
		// seen ended with nothing left to claim is matched by no bot pending here.
		all, err := botjob.List(work, e.DB, runID)
		if err != nil {
			return errors.Join(fatal, err)
		}
		pending, outside := 0, 0
		for _, j := range all {
			switch {
			case j.Status == botjob.Pending:
				pending++
				if !todo[j.BotID] {
					outside++
				}
			case todo[j.BotID] && !seen[j.BotID]:
				seen[j.BotID] = true
				if e.observe != nil {
					e.observe(j)
				}
			}
		}
		if first && outside > 0 {
			// The workers claim every pending bot of the run; this invocation's scope does not
			// reach them.
			log.WarnContext(ctx, "the run has pending bots outside this invocation's --bot/--user: the workers re-embed them too", slog.Int("bots", outside))
		}
		if fatal != nil {
			if len(live) == 0 {
				return fatal
			}
		} else {
			want := min(workers, pending)
			for len(live) < want && (first || replaced < e.TaskRetries) {
				if !first {
					replaced++
					log.WarnContext(ctx, "launching a worker task in place of one that ended", slog.Int("replacement", replaced), slog.Int("task_retries", e.TaskRetries))
				}
				if err := start(); err != nil {
					fatal = err
					e.stopAll(work, live, "ragmigrate reembed could not launch every worker", log)
					break
				}
			}
			first = false
			if fatal == nil && pending > 0 && len(live) == 0 {
				return fmt.Errorf("%s still pending and no worker task left: %s launched in place of ended ones (--task-retries %d); 'ragmigrate reembed' continues the run",
					progress.Plural(pending, "bot", "bots"), progress.Plural(replaced, "task was", "tasks were"), e.TaskRetries)
			}
			if pending == 0 && len(live) == 0 {
				return nil
			}
		}
		now := time.Now()
		for _, t := range live {
			if !t.stopped && now.After(t.deadline) {
				t.timedOut = true
				e.stop(work, t, "ragmigrate reembed: the worker task ran past --task-timeout", log)
			}
		}
		// Once interrupted, the tasks being stopped are read at the same pace.
		wake := ctx.Done()
		if fatal != nil {
			wake = nil
		}
		timer := time.NewTimer(poll)
		select {
		case <-timer.C:
		case <-wake:
		}
		timer.Stop()
	}
}

// tailEvents is how many of a failed worker's last log events are searched for its error, and
// tailWait bounds the reading: the error is a courtesy, never a reason to hold up the run.
const (
	tailEvents = 20
	tailWait   = 5 * time.Second
)

// lastError reads the end of worker task id's log stream and returns its last error line. A
// stream that cannot be read (denied, not created: the container never ran) is said in one
// line, and is "".
func (e *ECSWorkers) lastError(ctx context.Context, id string, log *slog.Logger) string {
	if e.Starter == nil || e.Starter.Logs == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, tailWait)
	defer cancel()
	stream := remote.LogStream(id)
	lines, err := e.Starter.Tail(ctx, e.Target.LogGroup, stream, tailEvents, remote.Backoff{Attempts: 2})
	if err != nil {
		log.WarnContext(ctx, "could not read the worker task's log for its error", slog.String("task", id),
			slog.String("log_group", e.Target.LogGroup), slog.String("log_stream", stream), slog.Any("error", err))
		return ""
	}
	return remote.FinalError(lines)
}

// describe reads the live tasks, and returns those STOPPED (or that ECS no longer knows).
func (e *ECSWorkers) describe(ctx context.Context, live map[string]*workerTask) ([]TaskEnd, error) {
	if len(live) == 0 {
		return nil, nil
	}
	arns := make([]string, 0, len(live))
	for arn := range live {
		arns = append(arns, arn)
	}
	var ended []TaskEnd
	for i := 0; i < len(arns); i += 100 {
		batch := arns[i:min(i+100, len(arns))]
		out, err := e.Tasks.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(e.Target.Cluster), Tasks: batch})
		if err != nil {
			return nil, fmt.Errorf("describe worker tasks: %w", err)
		}
		known := map[string]bool{}
		for _, t := range out.Tasks {
			arn := aws.ToString(t.TaskArn)
			known[arn] = true
			if aws.ToString(t.LastStatus) != "STOPPED" {
				continue
			}
			end := TaskEnd{TaskArn: arn, TaskID: arn[strings.LastIndex(arn, "/")+1:], StopCode: string(t.StopCode), StoppedReason: aws.ToString(t.StoppedReason)}
			for _, c := range t.Containers {
				if aws.ToString(c.Name) == remote.ContainerName {
					end.ExitCode = c.ExitCode
				}
			}
			ended = append(ended, end)
		}
		for _, f := range out.Failures {
			// ECS forgets a stopped task after a while.
			if arn := aws.ToString(f.Arn); live[arn] != nil && !known[arn] {
				ended = append(ended, TaskEnd{TaskArn: arn, TaskID: live[arn].id, StoppedReason: "ECS no longer knows the task (" + aws.ToString(f.Reason) + ")"})
			}
		}
	}
	return ended, nil
}

// stopAll stops every live task.
func (e *ECSWorkers) stopAll(ctx context.Context, live map[string]*workerTask, reason string, log *slog.Logger) {
	for _, t := range live {
		e.stop(ctx, t, reason, log)
	}
}

// stop stops one task once. A failure is said: the task then ends by itself when no job is left.
func (e *ECSWorkers) stop(ctx context.Context, t *workerTask, reason string, log *slog.Logger) {
	if t.stopped {
		return
	}
	t.stopped = true
	_, err := e.Tasks.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(e.Target.Cluster), Task: aws.String(t.arn), Reason: aws.String(reason)})
	if err != nil {
		log.WarnContext(ctx, "could not stop the worker task", slog.String("task", t.id), slog.Any("error", err))
		return
	}
	log.WarnContext(ctx, "worker task stopped", slog.String("task", t.id), slog.String("reason", reason))
}
