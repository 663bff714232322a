package plan

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/embed"
)

var appSize = TaskSize{CPU: 2048, Memory: 4096, Source: "task definition embed:3"}

// TestDefaultMaxTasks: the bound is the smaller of what Fargate's vCPU quota fits and what the
// provider budget feeds at the app's one call of 10 texts at a time (~0.5 s each), said with
// why; with no budget known, Fargate's alone.
func TestDefaultMaxTasks(t *testing.T) {
	q6 := VCPUQuota{VCPU: 6, Source: "the default of a new account"}
	for _, tt := range []struct {
		name           string
		q              VCPUQuota
		size           TaskSize
		b              Budget
		tokensPerChunk float64
		want           int
		why            string
	}{
		{"NoBudget", q6, appSize, Budget{}, 250, 3, "fits 3 tasks of 2 vCPU; no provider budget is known"},
		// 120 calls/min × 0.5 s / 60 = 1 task busy.
		{"Requests120", q6, appSize, Budget{RequestsPerMinute: 120}, 250, 1, "the provider budget, 120 requests/min, keeps 1 task busy (~120 of the app's calls of 10 texts a minute, each task making one call of ~500ms at a time)"},
		// 2000 × 0.5 / 60 = 16.7: 17, but 48 vCPU over 2 fit 24.
		{"Requests2000", VCPUQuota{VCPU: 48, Source: "read"}, appSize, Budget{RequestsPerMinute: 2000}, 250, 17, "keeps 17 tasks busy"},
		// 2000 requests/min would feed 17, Fargate's default fits 3.
		{"FargateBinds", q6, appSize, Budget{RequestsPerMinute: 2000}, 250, 3, "Fargate's On-Demand vCPU quota of 6 (the default of a new account) fits 3 tasks of 2 vCPU; the provider budget"},
		// 300,000 tokens/min over 10 × 250 tokens a call: 120 calls/min, below the 2000 requests.
		{"Tokens", VCPUQuota{VCPU: 48, Source: "read"}, appSize, Budget{RequestsPerMinute: 2000, TokensPerMinute: 300_000}, 250, 1, "keeps 1 task busy (~120 of the app's calls"},
		{"QuotaBelowTask", VCPUQuota{VCPU: 1, Source: "read"}, appSize, Budget{}, 250, 1, "fits no task of 2 vCPU: none starts until it is raised"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := DefaultMaxTasks(tt.q, tt.size, tt.b, tt.tokensPerChunk)
			require.Equal(t, tt.want, m.N)
			require.Contains(t, m.Reason, tt.why)
		})
	}
}

// ecsPlan is a known deployment: a bot of 95 chunks (10 of the app's calls), one of 10 (1
// call), one without knowledge and one that fails, under 120 requests/min and $0.10/1M tokens.
func ecsPlan() *Plan {
	m, _ := embed.LookupModel("cohere.embed-multilingual-v3")
	return &Plan{Model: m,
		Reembed: Estimate{Chunks: 105, Tokens: 26_250, CostUSD: 0.002625, Budget: Budget{RequestsPerMinute: 120, Source: "given: --rpm"}},
		PerBot: []BotPlan{{BotID: "a", Chunks: 95, Tokens: 23_750}, {BotID: "b", Chunks: 10, Tokens: 2_500}, {BotID: "empty"},
			{BotID: "bad", Chunks: 40, Problems: []string{"s3://docs/u/bad/documents/x.pdf: not in the bucket"}}}}
}

// TestEstimateECS prices the known deployment as app tasks. By default one task at a time
// (120 calls/min feed one): the tasks take 60 s to start each, plus 10 and 1 calls at 120 a
// minute (5 s, 0.5 s): 245.5 s, 0.0682 task-hours of 2 vCPU and 4 GB. With --max-tasks 3 the
// three share the 120 calls/min (40 each): 75 + 61.5 + 60 + 60 = 256.5 s over 3 tasks at once.
func TestEstimateECS(t *testing.T) {
	p := ecsPlan()
	o := ECSOptions{TaskDefinition: "embed", Size: appSize, VCPUQuota: VCPUQuota{VCPU: 6, Source: "read"}}
	e := estimateECS(p, o)
	hours := 245.5 / 3600
	require.Equal(t, 4, e.Tasks, "one per bot, with knowledge or not")
	require.Equal(t, 1, e.MaxTasks.N)
	require.Equal(t, int64(11), e.Requests)
	require.Equal(t, "tasks", e.Bound)
	require.InDelta(t, hours, e.TaskHours, 1e-9)
	require.InDelta(t, 2*hours, e.VCPUHours, 1e-9)
	require.InDelta(t, 4*hours, e.GBHours, 1e-9)
	require.Equal(t, 246*time.Second, e.Duration)
	require.InDelta(t, hours*(2*0.04048+4*0.004445), e.FargateUSD, 1e-12)
	require.InDelta(t, 0.002625, e.EmbeddingUSD, 1e-12)
	require.InDelta(t, e.FargateUSD+0.002625, e.TotalUSD, 1e-12)

	o.MaxTasks = 3
	e = estimateECS(p, o)
	require.Equal(t, MaxTasks{N: 3, Reason: "given (--max-tasks)"}, e.MaxTasks)
	require.Equal(t, "provider", e.Bound)
	require.InDelta(t, 256.5/3600, e.TaskHours, 1e-9)
	require.Equal(t, 86*time.Second, e.Duration, "256.5 s over 3 tasks")

	p.ECS = e
	var out bytes.Buffer
	require.NoError(t, p.WriteText(&out))
	require.Contains(t, out.String(), "ecs tasks       4 app tasks, one per bot · at most 3 at once · 2 vCPU, 4 GB each (task definition embed:3)\n")
	require.Contains(t, out.String(), "~11 requests of ≤10 texts · ~0.07 task-hours · ~0:01:26, the tasks at once sharing the provider budget\n")
	require.Contains(t, out.String(), "Fargate ~$0.0070 ($0.04048/vCPU-hour, $0.004445/GB-hour: Fargate on-demand, Linux/x86, us-east-1, 2026-06) + cohere.embed-multilingual-v3 ~$0.0026 = ~$0.0097\n")
}

// TestEstimateWorkers prices the known deployment as ragmigrate's workers: the plan's full
// requests at the budget, every worker running from its start to the run's end. 2 requests at
// 120/min are 1 s, under the workers' own pace only when the budget is the bound: with 3 workers
// 30 s start + 1 s, each billed its minute at least. Without a budget, the workers' assumed
// pace sets the time: 1200 requests at 600 a minute each for 2 workers are 60 s.
func TestEstimateWorkers(t *testing.T) {
	p := ecsPlan()
	p.Reembed.Requests, p.Reembed.Duration = 2, time.Second
	e := estimateECS(p, ECSOptions{Workers: 3})
	require.Equal(t, "worker", e.Task)
	require.Equal(t, 3, e.Tasks)
	require.Equal(t, int64(2), e.Requests, "full batches, as a local run")
	require.Equal(t, "provider", e.Bound)
	require.Equal(t, 31*time.Second, e.Duration)
	require.InDelta(t, 3.0/60, e.TaskHours, 1e-9, "three workers, a minute each at least")
	require.InDelta(t, 3.0/60*(1*0.04048+2*0.004445), e.FargateUSD, 1e-12)
	require.InDelta(t, e.FargateUSD+0.002625, e.TotalUSD, 1e-12)

	p.Reembed.Requests, p.Reembed.Duration = 1200, 0
	e = estimateECS(p, ECSOptions{Workers: 2})
	require.Equal(t, "tasks", e.Bound)
	require.Equal(t, 90*time.Second, e.Duration, "30 s start + 1200 requests at 2 × 600/min")
	require.InDelta(t, 2*90.0/3600, e.TaskHours, 1e-9)

	p.ECS = e
	var out bytes.Buffer
	require.NoError(t, p.WriteText(&out))
	require.Contains(t, out.String(), "ecs tasks       2 ragmigrate workers claiming the bots · 1 vCPU, 2 GB each (ragmigrate's worker task)\n")
	require.Contains(t, out.String(), "~1200 requests (full batches) · ~0.05 task-hours · ~0:01:30, each worker's own pace (~600 requests/min)\n")
}
