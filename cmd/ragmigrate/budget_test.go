package main

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/servicequotasim"
	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/plan"
)

// TestPlanReadsTheQuota: plan reads the model's quotas from Service Quotas (the contract server,
// through AWS_ENDPOINT_URL_SERVICE_QUOTAS) and says so; --rpm overrides the requests quota only;
// denied access, or a Bedrock endpoint whose quotas Service Quotas does not describe, leave the
// pace to be found adaptively, and plan says why.
func TestPlanReadsTheQuota(t *testing.T) {
	t.Parallel()
	clients := stacktest.AWS(t)
	table := stacktest.BotTable(t, clients.DynamoDB)
	bucket := stacktest.Bucket(t, clients.S3)
	sq := servicequotasim.New(
		servicequotasim.Quota{ServiceCode: "bedrock", QuotaCode: "L-R", QuotaName: "On-demand InvokeModel requests per minute for Cohere Embed Multilingual", Value: 2000},
		servicequotasim.Quota{ServiceCode: "bedrock", QuotaCode: "L-T", QuotaName: "On-demand InvokeModel tokens per minute for Cohere Embed Multilingual", Value: 300_000},
	)
	srv := httptest.NewServer(sq)
	t.Cleanup(srv.Close)
	withQuotas := append(stackEnv(t), "AWS_ENDPOINT_URL_SERVICE_QUOTAS="+srv.URL)
	budget := func(t *testing.T, env []string, args ...string) plan.Budget {
		t.Helper()
		r := ragmigrate(t, env, append([]string{"plan", "--json", "--table", table, "--bucket", bucket}, args...)...)
		require.Zero(t, r.code, r.stderr)
		var p plan.Plan
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &p))
		return p.Reembed.Budget
	}

	b := budget(t, withQuotas)
	require.Equal(t, 2000, b.RequestsPerMinute)
	require.Equal(t, 300_000, b.TokensPerMinute)
	require.Equal(t, `Service Quotas, us-east-1: "On-demand InvokeModel requests per minute for Cohere Embed Multilingual" = 2000, `+
		`"On-demand InvokeModel tokens per minute for Cohere Embed Multilingual" = 300000`, b.Source)

	b = budget(t, withQuotas, "--rpm", "120")
	require.Equal(t, plan.Budget{RequestsPerMinute: 120, TokensPerMinute: 300_000,
		Source: `Service Quotas, us-east-1: "On-demand InvokeModel tokens per minute for Cohere Embed Multilingual" = 300000; --rpm given`}, b)

	b = budget(t, withQuotas, "--rpm", "120", "--tpm", "0")
	require.Equal(t, plan.Budget{RequestsPerMinute: 120, Source: "given: --rpm and --tpm"}, b)

	calls := sq.Calls("ListServiceQuotas")
	// The stack's own environment points Service Quotas at its control-plane server: unset it.
	b = budget(t, append(stackEnv(t), "AWS_ENDPOINT_URL_SERVICE_QUOTAS=",
		"AWS_ENDPOINT_URL_BEDROCK_RUNTIME="+stacktest.Getenv(t, "AWS_ENDPOINT_URL_BEDROCK_RUNTIME")))
	require.Equal(t, 0, b.RequestsPerMinute+b.TokensPerMinute)
	require.Contains(t, b.Source, "Service Quotas not read: AWS_ENDPOINT_URL_BEDROCK_RUNTIME points elsewhere")
	require.Equal(t, calls, sq.Calls("ListServiceQuotas"))

	b = budget(t, withQuotas, "--model", "hash")
	require.Equal(t, plan.Budget{Source: "hash has no account quota to read"}, b)

	sq.SetDenied(true)
	b = budget(t, withQuotas, "--tpm", "5000")
	require.Equal(t, plan.Budget{TokensPerMinute: 5000,
		Source: "given: --tpm; Service Quotas denies access (servicequotas:ListServiceQuotas), so the quotas were not read"}, b)

	r := ragmigrate(t, withQuotas, "plan", "--table", table, "--bucket", bucket)
	require.Zero(t, r.code, r.stderr)
	require.Contains(t, r.stdout, "none known: the run takes what the provider accepts until its first throttle, then paces at that (Service Quotas denies access")
}
