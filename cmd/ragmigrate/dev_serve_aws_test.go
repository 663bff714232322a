//go:build dev

package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/awssim"
	"github.com/ragmigrate/ragmigrate/internal/dev/cfnsim"
	"github.com/ragmigrate/ragmigrate/internal/dev/stack"
	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/dev/stssim"
	"github.com/ragmigrate/ragmigrate/internal/plan"
)

// TestStackServiceQuotasSetAtRunTime: the stack's Service Quotas (the services 'dev serve aws'
// registers) lists no Bedrock quota until one is PUT under /_dev/servicequotas/quotas, only
// Fargate's vCPU quota as a new account has it; plan then reads it, without a restart.
func TestStackServiceQuotasSetAtRunTime(t *testing.T) {
	t.Parallel()
	clients := stacktest.AWS(t)
	table := stacktest.BotTable(t, clients.DynamoDB)
	bucket := stacktest.Bucket(t, clients.S3)
	srv := awssim.New()
	shared := &awsShared{}
	atExit := []func(){}
	t.Cleanup(func() {
		for _, f := range atExit {
			f()
		}
	})
	for _, register := range awsServices {
		require.NoError(t, register(srv, awsServeOptions{dir: t.TempDir(), atExit: &atExit}, shared, slog.New(slog.DiscardHandler)))
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	env := append(stackEnv(t), "AWS_ENDPOINT_URL_SERVICE_QUOTAS="+hs.URL)
	budget := func() plan.Budget {
		t.Helper()
		r := ragmigrate(t, env, "plan", "--json", "--table", table, "--bucket", bucket)
		require.Zero(t, r.code, r.stderr)
		var p plan.Plan
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &p))
		return p.Reembed.Budget
	}
	put := func(body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPut, hs.URL+"/_dev/servicequotas/quotas", strings.NewReader(body))
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	require.Equal(t, plan.Budget{Source: "Service Quotas lists no on-demand per-minute quota for cohere.embed-multilingual-v3 in us-east-1"}, budget())
	list := func() []map[string]any {
		t.Helper()
		resp, err := http.Get(hs.URL + "/_dev/servicequotas/quotas")
		require.NoError(t, err)
		defer resp.Body.Close()
		var listed []map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&listed))
		return listed
	}
	require.Equal(t, []map[string]any{{"ServiceCode": "fargate", "QuotaCode": "L-3032A538", "QuotaName": "Fargate On-Demand vCPU resource count", "Value": 6.0}}, list())

	code, _ := put(`[{"ServiceCode":"bedrock","QuotaCode":"L-T","QuotaName":"On-demand InvokeModel tokens per minute for Cohere Embed Multilingual","Value":2000000}]`)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, plan.Budget{TokensPerMinute: 2_000_000,
		Source: `Service Quotas, us-east-1: "On-demand InvokeModel tokens per minute for Cohere Embed Multilingual" = 2000000`}, budget())

	listed := list()
	require.Len(t, listed, 1)
	require.Equal(t, "L-T", listed[0]["QuotaCode"])

	code, msg := put(`[{"ServiceCode":"bedrock","QuotaName":"no code","Value":1}]`)
	require.Equal(t, http.StatusBadRequest, code, msg)
	code, msg = put(`[{"Service":"bedrock"}]`)
	require.Equal(t, http.StatusBadRequest, code, msg)
	require.Equal(t, 2_000_000, budget().TokensPerMinute, "a refused PUT changes nothing")

	code, _ = put(`[]`)
	require.Equal(t, http.StatusOK, code)
	require.Zero(t, budget().TokensPerMinute)
}

// TestStackServesSTS: the stack's aws server (the services 'dev serve aws' registers) answers
// STS, through which the app's table access role is assumed; the call is recorded under
// /_dev/sts/calls.
func TestStackServesSTS(t *testing.T) {
	t.Parallel()
	hs := serveAWS(t, awsServeOptions{})
	client := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(hs.URL),
		Credentials: credentials.NewStaticCredentialsProvider("ragmigrate-local", "s", "")})
	out, err := client.AssumeRole(t.Context(), &sts.AssumeRoleInput{RoleArn: aws.String(cfnsim.TableAccessRoleARN), RoleSessionName: aws.String("ragmigrate-worker")})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(aws.ToString(out.Credentials.AccessKeyId), "ASIA"))
	resp, err := http.Get(hs.URL + "/_dev/sts/calls")
	require.NoError(t, err)
	defer resp.Body.Close()
	var rec struct{ Calls []stssim.Call }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&rec))
	require.Len(t, rec.Calls, 1)
	require.Equal(t, aws.ToString(out.Credentials.AccessKeyId), rec.Calls[0].AccessKeyID)
}

// TestStackRunsAppImageAsWorker: the stack's ECS runs the app's embedding image (the published
// task definition's) as 'ragmigrate worker', which takes the app's command; before, it ran bare
// ragmigrate, which refused "-u embedding/main.py" with exit 2, so every task of 'reembed
// --ecs-task app' on the local stack failed.
func TestStackRunsAppImageAsWorker(t *testing.T) {
	t.Parallel()
	hs := serveAWS(t, awsServeOptions{ecsBinary: binary})
	client := ecs.New(ecs.Options{Region: "us-east-1", BaseEndpoint: aws.String(hs.URL),
		Credentials: credentials.NewStaticCredentialsProvider("ragmigrate-local", "s", "")})
	_, err := client.RegisterTaskDefinition(t.Context(), &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("embedding"), NetworkMode: ecstypes.NetworkModeAwsvpc,
		RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate},
		Cpu:                     aws.String("1024"), Memory: aws.String("2048"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{
			Name: aws.String("Container"), Image: aws.String(stack.EmbeddingImage), Essential: aws.Bool(true),
		}},
	})
	require.NoError(t, err)
	out, err := client.RunTask(t.Context(), &ecs.RunTaskInput{
		Cluster: aws.String("embedding"), TaskDefinition: aws.String("embedding"), LaunchType: ecstypes.LaunchTypeFargate,
		NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: []string{"subnet-0a"}}},
		Overrides: &ecstypes.TaskOverride{ContainerOverrides: []ecstypes.ContainerOverride{{
			Name: aws.String("Container"), Command: []string{"-u", "embedding/main.py", "--help"},
		}}},
	})
	require.NoError(t, err)
	require.Len(t, out.Tasks, 1, "failures: %v", out.Failures)
	var task ecstypes.Task
	require.Eventually(t, func() bool {
		d, err := client.DescribeTasks(t.Context(), &ecs.DescribeTasksInput{Cluster: aws.String("embedding"), Tasks: []string{aws.ToString(out.Tasks[0].TaskArn)}})
		if err != nil || len(d.Tasks) != 1 || aws.ToString(d.Tasks[0].LastStatus) != "STOPPED" {
			return false
		}
		task = d.Tasks[0]
		return true
	}, time.Minute, 50*time.Millisecond)
	require.EqualValues(t, 0, aws.ToInt32(task.Containers[0].ExitCode), "worker took the app's command: %s", aws.ToString(task.StoppedReason))
}

// serveAWS serves every AWS contract server 'dev serve aws' registers, with opts (dir and atExit
// are the test's).
func serveAWS(t *testing.T, opts awsServeOptions) *httptest.Server {
	t.Helper()
	srv := awssim.New()
	atExit := []func(){}
	t.Cleanup(func() {
		for _, f := range atExit {
			f()
		}
	})
	opts.dir, opts.atExit = t.TempDir(), &atExit
	for _, register := range awsServices {
		require.NoError(t, register(srv, opts, &awsShared{}, slog.New(slog.DiscardHandler)))
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return hs
}
