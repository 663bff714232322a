package plan

import (
	"fmt"
	"math"
	"time"

	"github.com/ragmigrate/ragmigrate/internal/progress"
)

// Fargate's on-demand prices for Linux/x86 tasks in us-east-1, per vCPU-hour and per GB-hour of
// memory, billed per second with a one-minute minimum (aws.amazon.com/fargate/pricing, as
// quoted by pricing guides of 2026-06; other regions are up to about 30 % dearer, ARM about 20 %
// cheaper). They sit here, beside the re-embed's other cost, as the models' prices sit in the
// embed catalogue.
const (
	FargateVCPUHourUSD = 0.04048
	FargateGBHourUSD   = 0.004445
	FargatePriceSource = "Fargate on-demand, Linux/x86, us-east-1, 2026-06"
)

// What the app's embedding task does (bedrock-chat.md §4), which sizes a run of one task per
// bot.
const (
	// AppBatch is the texts per InvokeModel call of the app's task (app/bedrock.py BATCH_SIZE).
	AppBatch = 10
	// AppCallLatency is the time assumed for one such call of 10 Cohere texts: a few hundred
	// milliseconds. The app's task waits for each call before it sends the next.
	AppCallLatency = 500 * time.Millisecond
	// AppTaskStart is the time assumed, and billed, before a task embeds: pulling the app's
	// image (Playwright, tesseract, poppler), starting python and reading the bot. It also
	// covers Fargate's one-minute minimum of a task with nothing to embed.
	AppTaskStart = time.Minute
	// AppTaskCPU and AppTaskMemory are the app's task size when its task definition is not
	// read: 2048 CPU units and 4096 MiB (embeddingContainerVcpu, embeddingContainerMemory).
	AppTaskCPU    = 2048
	AppTaskMemory = 4096
	// FargateVCPUDefault is the "Fargate On-Demand vCPU resource count" of a new account,
	// used when Service Quotas cannot be read.
	FargateVCPUDefault = 6
)

// TaskSize is a Fargate task's size, as its task definition gives it.
type TaskSize struct {
	CPU    int `json:"cpu_units"`  // 1024 a vCPU
	Memory int `json:"memory_mib"` // MiB
	// Source says where the size came from.
	Source string `json:"source"`
}

// VCPU is the task's vCPUs.
func (s TaskSize) VCPU() float64 { return float64(s.CPU) / 1024 }

// GB is the task's memory in GB, as Fargate bills it.
func (s TaskSize) GB() float64 { return float64(s.Memory) / 1024 }

// VCPUQuota is the account's Fargate On-Demand vCPU quota and where its value came from.
type VCPUQuota struct {
	VCPU   float64 `json:"vcpu"`
	Source string  `json:"source"`
}

// MaxTasks is a bound on the tasks at once, and why.
type MaxTasks struct {
	N      int    `json:"n"`
	Reason string `json:"reason"`
}

// appCallsPerMinute is how many of the app's calls the provider budget admits a minute: the
// requests quota, and the tokens quota over a call's tokens (AppBatch chunks of
// tokensPerChunk); 0 when neither is known.
func appCallsPerMinute(b Budget, tokensPerChunk float64) float64 {
	calls := 0.0
	if b.RequestsPerMinute > 0 {
		calls = float64(b.RequestsPerMinute)
	}
	if b.TokensPerMinute > 0 && tokensPerChunk > 0 {
		byTokens := float64(b.TokensPerMinute) / (AppBatch * tokensPerChunk)
		if calls == 0 || byTokens < calls {
			calls = byTokens
		}
	}
	return calls
}

// DefaultMaxTasks is the most app tasks (one per bot) worth running at once:
//
//   - Fargate: the account's On-Demand vCPU quota over the task's vCPUs (floor); more tasks
//     would not start (RunTask answers a vCPU limit). The quota is the account's and region's,
//     shared with every other Fargate task, the app's own included.
//   - The provider: each task makes one call of AppBatch texts at a time, so it sends at most
//     60 s / AppCallLatency calls a minute; the budget (calls a minute, by requests or by
//     tokens) keeps budget × latency / 60 tasks busy (Little's law), rounded up. More tasks
//     than that only share the same budget: they are throttled, and the app's task retries a
//     throttle only as botocore's defaults do, after which the bot FAILS.
//
// The bound is the smaller of the two (at least 1); with no budget known, Fargate's alone.
func DefaultMaxTasks(q VCPUQuota, size TaskSize, b Budget, tokensPerChunk float64) MaxTasks {
	vcpu := size.VCPU()
	fargate := int(math.Floor(q.VCPU/vcpu + 1e-9))
	fargateWhy := fmt.Sprintf("Fargate's On-Demand vCPU quota of %g (%s) fits %s of %g vCPU", q.VCPU, q.Source, progress.Plural(fargate, "task", "tasks"), vcpu)
	if fargate < 1 {
		// Not even one task fits: RunTask will say so; the run still tries one at a time.
		fargate = 1
		fargateWhy = fmt.Sprintf("Fargate's On-Demand vCPU quota of %g (%s) fits no task of %g vCPU: none starts until it is raised", q.VCPU, q.Source, vcpu)
	}
	calls := appCallsPerMinute(b, tokensPerChunk)
	if calls == 0 {
		return MaxTasks{N: fargate, Reason: fargateWhy + "; no provider budget is known to bound them further"}
	}
	provider := max(1, int(math.Ceil(calls*AppCallLatency.Seconds()/60-1e-9)))
	providerWhy := fmt.Sprintf("the provider budget, %s, keeps %s busy (~%.0f of the app's calls of %d texts a minute, each task making one call of ~%s at a time); more would only be throttled",
		budgetText(b), progress.Plural(provider, "task", "tasks"), calls, AppBatch, AppCallLatency)
	if provider < fargate {
		return MaxTasks{N: provider, Reason: providerWhy + "; " + fargateWhy}
	}
	return MaxTasks{N: fargate, Reason: fargateWhy + "; " + providerWhy}
}

// ECSOptions ask Make for the cost of re-embedding with one app task per bot on Fargate
// (reembed --runner ecs --ecs-task app).
type ECSOptions struct {
	// TaskDefinition names the task definition read for Size, "" if none was.
	TaskDefinition string
	Size           TaskSize
	VCPUQuota      VCPUQuota
	// MaxTasks is --max-tasks; 0 for DefaultMaxTasks.
	MaxTasks int
	// Workers, when set, prices ragmigrate's own workers instead (--ecs-task worker --workers
	// N): N tasks of WorkerTaskSize sharing the run's budget, with full requests.
	Workers int
}

// What a ragmigrate worker task is (reembed --runner ecs --ecs-task worker).
const (
	// WorkerTaskCPU and WorkerTaskMemory are its size: one vCPU reads, splits and sends, and
	// 2 GB holds the documents of the bots it works on at once.
	WorkerTaskCPU    = 1024
	WorkerTaskMemory = 2048
	// WorkerTaskStart is the time assumed, and billed, before a worker claims a bot: pulling
	// ragmigrate's small static image and joining the run. Fargate bills a minute at least.
	WorkerTaskStart = 30 * time.Second
	// WorkerRequestsPerMinute is what one worker is assumed to send a minute when no budget
	// bounds it: a few requests of full batches in flight at a few hundred milliseconds each.
	// It is an assumption, not a measure: without a budget the provider's throttles set the
	// pace, which no plan can know.
	WorkerRequestsPerMinute = 600
)

// ECSEstimate is a re-embed run as the app's tasks on Fargate: a task per bot, what they run
// for and cost, beside Bedrock's cost of the same tokens.
type ECSEstimate struct {
	Task           string   `json:"task"`
	TaskDefinition string   `json:"task_definition,omitempty"`
	Size           TaskSize `json:"size"`
	// Tasks is one per bot in scope: the app's task also runs for a bot without knowledge.
	Tasks    int      `json:"tasks"`
	MaxTasks MaxTasks `json:"max_tasks"`
	// Requests are the app's calls of at most AppBatch texts.
	Requests int64 `json:"requests"`
	// TaskHours is the tasks' time summed (start included), and VCPUHours and GBHours what
	// Fargate bills for it.
	TaskHours float64 `json:"task_hours"`
	VCPUHours float64 `json:"vcpu_hours"`
	GBHours   float64 `json:"gb_hours"`
	// Duration is the run's wall time with MaxTasks tasks at once.
	Duration time.Duration `json:"duration_ns"`
	// Bound says what paces the tasks: "provider" (the budget shared by the tasks at once) or
	// "tasks" (each task's one call at a time).
	Bound string `json:"bound"`
	// FargateUSD is the tasks' cost; EmbeddingUSD the model's (the plan's re-embed cost: the
	// same tokens, whatever the batch); TotalUSD both.
	FargateUSD   float64 `json:"fargate_cost_usd"`
	EmbeddingUSD float64 `json:"embedding_cost_usd"`
	TotalUSD     float64 `json:"total_cost_usd"`
	// Prices are the Fargate prices used, with their source.
	Prices FargatePrices `json:"prices"`
}

// FargatePrices are the prices an estimate used.
type FargatePrices struct {
	VCPUHourUSD float64 `json:"vcpu_hour_usd"`
	GBHourUSD   float64 `json:"gb_hour_usd"`
	Source      string  `json:"source"`
}

// TokensPerChunk is the re-embed's tokens per chunk, 0 without chunks.
func (p *Plan) TokensPerChunk() float64 {
	if p.Reembed.Chunks == 0 {
		return 0
	}
	return float64(p.Reembed.Tokens) / float64(p.Reembed.Chunks)
}

// estimateECS sizes the run of p's bots as app tasks: each bot's task starts (AppTaskStart),
// then makes its ceil(chunks / AppBatch) calls one at a time, at the pace of one call per
// AppCallLatency or its share of the budget among the tasks at once, whichever is slower. A bot
// the plan says will fail is counted with its start only (it fails on the source it cannot
// read, as it does before embedding in a local run).
func estimateECS(p *Plan, o ECSOptions) *ECSEstimate {
	if o.Workers > 0 {
		return estimateWorkers(p, o)
	}
	e := &ECSEstimate{Task: "app", TaskDefinition: o.TaskDefinition, Size: o.Size, Tasks: len(p.PerBot),
		Prices: FargatePrices{VCPUHourUSD: FargateVCPUHourUSD, GBHourUSD: FargateGBHourUSD, Source: FargatePriceSource}}
	tokensPerChunk := p.TokensPerChunk()
	e.MaxTasks = DefaultMaxTasks(o.VCPUQuota, o.Size, p.Reembed.Budget, tokensPerChunk)
	if o.MaxTasks > 0 {
		e.MaxTasks = MaxTasks{N: o.MaxTasks, Reason: "given (--max-tasks)"}
	}
	n := max(1, min(e.MaxTasks.N, e.Tasks))
	// Calls a minute of one task: one at a time, or its share of the budget.
	pace := time.Minute.Seconds() / AppCallLatency.Seconds()
	e.Bound = "tasks"
	if calls := appCallsPerMinute(p.Reembed.Budget, tokensPerChunk); calls > 0 && calls/float64(n) < pace {
		pace, e.Bound = calls/float64(n), "provider"
	}
	var total, longest time.Duration
	for _, b := range p.PerBot {
		t := AppTaskStart
		if len(b.Problems) == 0 && b.Chunks > 0 {
			calls := (b.Chunks + AppBatch - 1) / AppBatch
			e.Requests += calls
			t += time.Duration(float64(calls) / pace * float64(time.Minute))
		}
		total += t
		longest = max(longest, t)
	}
	e.TaskHours = total.Hours()
	e.VCPUHours, e.GBHours = e.TaskHours*o.Size.VCPU(), e.TaskHours*o.Size.GB()
	e.Duration = max(total/time.Duration(n), longest).Round(time.Second)
	if e.Tasks == 0 {
		e.Duration = 0
	}
	e.FargateUSD = e.VCPUHours*FargateVCPUHourUSD + e.GBHours*FargateGBHourUSD
	e.EmbeddingUSD = p.Reembed.CostUSD
	e.TotalUSD = e.FargateUSD + e.EmbeddingUSD
	return e
}

// estimateWorkers sizes the run as o.Workers ragmigrate worker tasks sharing the run's budget:
// the requests are the plan's (full batches, bots sharing them), the wall time the budget's (or
// WorkerRequestsPerMinute a worker without one), and every worker runs from its start to the
// run's end (a worker claims bots until none is left, so none ends much earlier), each billed a
// minute at least.
func estimateWorkers(p *Plan, o ECSOptions) *ECSEstimate {
	size := TaskSize{CPU: WorkerTaskCPU, Memory: WorkerTaskMemory, Source: "ragmigrate's worker task"}
	e := &ECSEstimate{Task: "worker", Size: size, Tasks: o.Workers, Requests: p.Reembed.Requests,
		MaxTasks: MaxTasks{N: o.Workers, Reason: "given (--workers)"},
		Prices:   FargatePrices{VCPUHourUSD: FargateVCPUHourUSD, GBHourUSD: FargateGBHourUSD, Source: FargatePriceSource}}
	run := p.Reembed.Duration
	e.Bound = "provider"
	if own := time.Duration(float64(e.Requests) / float64(WorkerRequestsPerMinute*o.Workers) * float64(time.Minute)); own > run {
		run, e.Bound = own, "tasks"
	}
	each := max(time.Minute, WorkerTaskStart+run)
	e.TaskHours = (time.Duration(o.Workers) * each).Hours()
	e.VCPUHours, e.GBHours = e.TaskHours*size.VCPU(), e.TaskHours*size.GB()
	e.Duration = (WorkerTaskStart + run).Round(time.Second)
	e.FargateUSD = e.VCPUHours*FargateVCPUHourUSD + e.GBHours*FargateGBHourUSD
	e.EmbeddingUSD = p.Reembed.CostUSD
	e.TotalUSD = e.FargateUSD + e.EmbeddingUSD
	return e
}

// ecsText is the estimate's lines for WriteText; model is the embedding model's id.
func ecsText(pr func(string, ...any), e *ECSEstimate, model, approx string) {
	if e.Task == "worker" {
		pace := fmt.Sprintf("each worker's own pace (~%d requests/min)", WorkerRequestsPerMinute)
		if e.Bound == "provider" {
			pace = "the workers sharing the provider budget"
		}
		pr("ecs tasks\t%s claiming the bots · %g vCPU, %g GB each (%s)",
			progress.Plural(e.Tasks, "ragmigrate worker", "ragmigrate workers"), e.Size.VCPU(), e.Size.GB(), e.Size.Source)
		pr("\t%s%s (full batches) · %s%.2f task-hours · %s%s, %s",
			approx, progress.Plural(e.Requests, "request", "requests"), approx, e.TaskHours, approx, fmtDuration(e.Duration), pace)
		pr("\tFargate %s$%.4f ($%g/vCPU-hour, $%g/GB-hour: %s) + %s %s$%.4f = %s$%.4f",
			approx, e.FargateUSD, e.Prices.VCPUHourUSD, e.Prices.GBHourUSD, e.Prices.Source, model, approx, e.EmbeddingUSD, approx, e.TotalUSD)
		return
	}
	pace := "each task making one call at a time"
	if e.Bound == "provider" {
		pace = "the tasks at once sharing the provider budget"
	}
	pr("ecs tasks\t%s, one per bot · at most %d at once · %g vCPU, %g GB each (%s)",
		progress.Plural(e.Tasks, "app task", "app tasks"), e.MaxTasks.N, e.Size.VCPU(), e.Size.GB(), e.Size.Source)
	pr("\t%s%s of ≤%d texts · %s%.2f task-hours · %s%s, %s",
		approx, progress.Plural(e.Requests, "request", "requests"), AppBatch, approx, e.TaskHours, approx, fmtDuration(e.Duration), pace)
	pr("\tFargate %s$%.4f ($%g/vCPU-hour, $%g/GB-hour: %s) + %s %s$%.4f = %s$%.4f",
		approx, e.FargateUSD, e.Prices.VCPUHourUSD, e.Prices.GBHourUSD, e.Prices.Source, model, approx, e.EmbeddingUSD, approx, e.TotalUSD)
	pr("\tat most %d at once: %s", e.MaxTasks.N, e.MaxTasks.Reason)
}
