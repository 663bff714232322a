package main

import (
	"encoding/json"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/bedrocksim"
	"github.com/ragmigrate/ragmigrate/internal/dev/servicequotasim"
	"github.com/ragmigrate/ragmigrate/internal/plan"
)

// TestPlanECS: plan --runner ecs prices the seeded deployment re-embedded as the app's tasks on
// Fargate: a task per bot, the app's calls of 10 texts (Σ ceil(rows / 10) over the bots that
// succeed), each task's start (60 s) plus its calls at 120 a minute (the requests quota, which
// feeds one task at the app's pace), Fargate's price of 2 vCPU and 4 GB for that time (the task
// definition's size, read), and the model's cost beside it; in text and JSON. --max-tasks
// wins; without the task definition, the app's default size is said; without Fargate's quota in
// Service Quotas, a new account's.
func TestPlanECS(t *testing.T) {
	t.Parallel()
	b := setupReembed(t, 12, bedrocksim.Knobs{})
	tasks := newAppTaskRig(t, nil, nil)
	sq := servicequotasim.New(
		servicequotasim.Quota{ServiceCode: "fargate", QuotaCode: "L-3032A538", QuotaName: "Fargate On-Demand vCPU resource count", Value: 8},
		servicequotasim.Quota{ServiceCode: "bedrock", QuotaCode: "L-R", QuotaName: "On-demand InvokeModel requests per minute for Cohere Embed Multilingual", Value: 120})
	srv := httptest.NewServer(sq)
	t.Cleanup(srv.Close)
	env := append(slices.Clone(b.env), "AWS_ENDPOINT_URL_ECS="+tasks.url, "AWS_ENDPOINT_URL_SERVICE_QUOTAS="+srv.URL)
	args := []string{"plan", "--table", b.table, "--bucket", b.bucket, "--exact", "--allow-private-urls", "--runner", "ecs"}
	planJSON := func(t *testing.T, extra ...string) *plan.Plan {
		t.Helper()
		r := ragmigrate(t, env, append(append(slices.Clone(args), "--json"), extra...)...)
		require.Zero(t, r.code, r.stderr)
		var p plan.Plan
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &p))
		require.NotNil(t, p.ECS, r.stdout)
		return &p
	}

	p := planJSON(t, "--task-definition", appTaskFamily)
	e := p.ECS
	var calls int64
	for _, rows := range b.wantRows {
		calls += (rows + 9) / 10
	}
	bots := len(b.wantRows) + len(b.wantFail) + len(b.empty)
	hours := (float64(bots)*60 + float64(calls)/120*60) / 3600
	require.Equal(t, "app", e.Task)
	require.Equal(t, plan.TaskSize{CPU: 2048, Memory: 4096, Source: "task definition " + appTaskFamily + ":1"}, e.Size)
	require.Equal(t, bots, e.Tasks, "a task per bot, as the app's task per bot (with knowledge or not)")
	require.Equal(t, 1, e.MaxTasks.N, "120 calls/min at ~0.5 s each keep one task busy")
	require.Contains(t, e.MaxTasks.Reason, `the provider budget, 120 requests/min, keeps 1 task busy (~120 of the app's calls of 10 texts a minute, each task making one call of ~500ms at a time)`)
	require.Contains(t, e.MaxTasks.Reason, `Fargate's On-Demand vCPU quota of 8 (Service Quotas, us-east-1: "Fargate On-Demand vCPU resource count") fits 4 tasks of 2 vCPU`)
	require.Equal(t, calls, e.Requests)
	require.Equal(t, "tasks", e.Bound)
	require.InDelta(t, hours, e.TaskHours, 1e-9)
	require.InDelta(t, hours*2, e.VCPUHours, 1e-9)
	require.InDelta(t, hours*4, e.GBHours, 1e-9)
	require.Equal(t, time.Duration(hours*float64(time.Hour)).Round(time.Second), e.Duration, "one task at a time")
	require.InDelta(t, hours*(2*0.04048+4*0.004445), e.FargateUSD, 1e-12)
	require.Equal(t, p.Reembed.CostUSD, e.EmbeddingUSD)
	require.InDelta(t, e.FargateUSD+p.Reembed.CostUSD, e.TotalUSD, 1e-12)
	require.Equal(t, plan.FargatePrices{VCPUHourUSD: 0.04048, GBHourUSD: 0.004445, Source: "Fargate on-demand, Linux/x86, us-east-1, 2026-06"}, e.Prices)

	// --max-tasks 3: three tasks share the 120 calls/min, 40 each.
	three := planJSON(t, "--task-definition", appTaskFamily, "--max-tasks", "3").ECS
	require.Equal(t, plan.MaxTasks{N: 3, Reason: "given (--max-tasks)"}, three.MaxTasks)
	require.Equal(t, "provider", three.Bound)
	require.InDelta(t, (float64(bots)*60+float64(calls)/40*60)/3600, three.TaskHours, 1e-9)

	// The text says the same.
	r := ragmigrate(t, env, append(slices.Clone(args), "--task-definition", appTaskFamily)...)
	require.Zero(t, r.code, r.stderr)
	require.Contains(t, r.stdout, "app tasks, one per bot · at most 1 at once · 2 vCPU, 4 GB each (task definition "+appTaskFamily+":1)")
	require.Contains(t, r.stdout, "$0.04048/vCPU-hour, $0.004445/GB-hour: Fargate on-demand, Linux/x86, us-east-1, 2026-06) + cohere.embed-multilingual-v3 $")
	require.Contains(t, r.stdout, "at most 1 at once: the provider budget, 120 requests/min, keeps 1 task busy")
	require.Empty(t, sq.Calls("GetServiceQuota"), "read with ListServiceQuotas, which the model's quotas need anyway")

	// ragmigrate's own workers: three tasks of 1 vCPU, 2 GB, the plan's full requests at the
	// budget (120/min read above), each running from its start (30 s) to the run's end.
	w := planJSON(t, "--ecs-task", "worker", "--workers", "3").ECS
	require.Equal(t, "worker", w.Task)
	require.Equal(t, 3, w.Tasks)
	require.Equal(t, plan.TaskSize{CPU: 1024, Memory: 2048, Source: "ragmigrate's worker task"}, w.Size)
	require.Equal(t, p.Reembed.Requests, w.Requests, "full batches, as a local run")
	require.Less(t, w.Requests, calls, "fewer requests than the app's calls of 10 texts")
	run := 30*time.Second + p.Reembed.Duration
	require.Equal(t, run.Round(time.Second), w.Duration)
	require.InDelta(t, 3*max(time.Minute, run).Hours(), w.TaskHours, 1e-9)
	r = ragmigrate(t, env, append(slices.Clone(args), "--ecs-task", "worker", "--workers", "3")...)
	require.Zero(t, r.code, r.stderr)
	require.Contains(t, r.stdout, "3 ragmigrate workers claiming the bots · 1 vCPU, 2 GB each")

	// Neither the task definition nor Fargate's quota known: the app's size and a new account's
	// quota, said.
	sq.SetQuotas(nil)
	d := planJSON(t).ECS
	require.Equal(t, plan.TaskSize{CPU: 2048, Memory: 4096, Source: "the app's default; --task-definition or --stack reads the deployment's"}, d.Size)
	require.Equal(t, 3, d.MaxTasks.N)
	require.Equal(t, `Fargate's On-Demand vCPU quota of 6 (a new account's default: Service Quotas lists no "Fargate On-Demand vCPU resource count" in us-east-1) fits 3 tasks of 2 vCPU; no provider budget is known to bound them further`, d.MaxTasks.Reason)

	for _, bad := range [][]string{{"--runner", "lambda"}, {"--ecs-task", "lambda"}, {"--workers", "0"}, {"--max-tasks", "-1"}} {
		r := ragmigrate(t, env, append(slices.Clone(args), bad...)...)
		require.Equal(t, exitUsage, r.code, "%v: %s", bad, r.stderr)
	}
	r = ragmigrate(t, env, append(slices.Clone(args), "--task-definition", "no-such-family")...)
	require.NotZero(t, r.code)
	require.Contains(t, r.stderr, "--task-definition no-such-family")
}
