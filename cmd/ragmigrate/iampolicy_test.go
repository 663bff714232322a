package main

import (
	"cmp"
	"encoding/json"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/iampolicy"
)

// iamPrefix is the IAM service prefix of each AWS SDK service package. A package missing here
// fails TestIAMPolicyCoversLinkedOperations: add it (and the grants its calls need).
var iamPrefix = map[string]string{
	"dynamodb": "dynamodb", "s3": "s3", "bedrockruntime": "bedrock", "servicequotas": "servicequotas",
	"cloudformation": "cloudformation", "secretsmanager": "secretsmanager", "ecs": "ecs",
	"cloudwatchlogs": "logs", "rds": "rds", "iam": "iam", "kms": "kms",
	// The SDK's own credential providers; they authenticate, no policy allows them.
	"sts": "", "sso": "", "ssooidc": "", "signin": "",
}

// iamAction is the action that allows an operation where the names differ (the Service
// Authorization Reference's mapping).
var iamAction = map[string]string{
	"s3:ListObjectsV2": "s3:ListBucket",
	"s3:HeadObject":    "s3:GetObject",
	"s3:HeadBucket":    "s3:ListBucket",
}

// sdkInternal are operations the SDK links for its own machinery, which ragmigrate never causes.
var sdkInternal = map[string]string{
	"dynamodb:DescribeEndpoints": "endpoint discovery, which no DynamoDB operation ragmigrate calls requires",
	"s3:CreateSession":           "S3 Express One Zone directory buckets only; the app's document bucket is a general purpose bucket",
}

// notCalled are actions of the table that no ragmigrate code calls: AWS checks them on an
// operation ragmigrate calls.
var notCalled = map[string]string{
	"iam:PassRole":                "checked by ecs:RunTask for the task's roles",
	"secretsmanager:CreateSecret": "RDS creates the managed master user secret in the caller's name",
	"secretsmanager:TagResource":  "RDS tags the managed master user secret in the caller's name",
	"kms:DescribeKey":             "RDS describes the master user secret's key in the caller's name",
	"kms:Decrypt":                 "Secrets Manager uses the customer managed key in the caller's name",
	"kms:GenerateDataKey":         "Secrets Manager uses the customer managed key in the caller's name",
	"kms:CreateGrant":             "Secrets Manager uses the customer managed key in the caller's name",
	"rds:AddTagsToResource":       "RDS checks it for the Tags of RestoreDBClusterFromSnapshot and CreateDBInstance (tag on create)",
	"sts:AssumeRole":              "worker calls it through stscreds for the app's table access role; iamPrefix leaves the sts client to the SDK's credential providers",
}

var clientMethodRE = regexp.MustCompile(`(?m) github\.com/aws/aws-sdk-go-v2/service/([a-z0-9]+)\.\(\*Client\)\.([A-Z][A-Za-z0-9]*)$`)

// linkedOperations are the AWS operations the binary can call, as IAM actions, by service
// prefix: the exported methods of the SDK clients that the linker kept. The linker drops every
// method nothing reachable calls, so a call in the development rig or in code only tests use is
// not here, and a call anywhere in the operator's code paths is.
func linkedOperations(t *testing.T, bin string) map[string][]string {
	t.Helper()
	nm, err := exec.Command("go", "tool", "nm", bin).Output()
	require.NoError(t, err)
	ops := map[string][]string{}
	for _, m := range clientMethodRE.FindAllStringSubmatch(string(nm), -1) {
		pkg, method := m[1], m[2]
		if method == "Options" { // the client's configuration, not an operation
			continue
		}
		prefix, ok := iamPrefix[pkg]
		require.True(t, ok, "the operator's binary calls AWS service package %q (%s): add its IAM prefix to iamPrefix and its actions to iampolicy.Grants", pkg, method)
		if prefix == "" {
			continue
		}
		action := prefix + ":" + method
		action = cmp.Or(iamAction[action], action)
		if _, internal := sdkInternal[action]; internal {
			continue
		}
		if !slices.Contains(ops[prefix], action) {
			ops[prefix] = append(ops[prefix], action)
		}
	}
	for _, v := range ops {
		sort.Strings(v)
	}
	return ops
}

// TestIAMPolicyCoversLinkedOperations: every AWS operation the operator's binary (built the
// Dockerfile's way) can call is allowed by the iam-policy table, so the policy cannot fall
// behind the code; and every action the table grants on a service the binary talks to is one it
// calls (or one AWS checks on a call it makes, notCalled), so the policy grants nothing the code
// does not need. Services no linked code calls yet (the table may list them for commands that
// other work adds) are only reported.
func TestIAMPolicyCoversLinkedOperations(t *testing.T) {
	t.Parallel()
	bin, _ := buildFromDockerfile(t)
	linked := linkedOperations(t, bin)
	require.Contains(t, linked, "dynamodb", "the check must see the operations it looks for")
	require.Contains(t, linked["dynamodb"], "dynamodb:Scan")
	require.Contains(t, linked["s3"], "s3:ListBucket", "ListObjectsV2 maps to s3:ListBucket")

	table := iampolicy.Actions()
	for _, ops := range linked {
		for _, op := range ops {
			require.Contains(t, table, op, "the operator's binary can call %s: add it to iampolicy.Grants for the commands that call it", op)
		}
	}
	for _, action := range table {
		prefix, _, _ := strings.Cut(action, ":")
		if _, ok := notCalled[action]; ok {
			continue
		}
		ops, ok := linked[prefix]
		if !ok {
			t.Logf("%s: no %s client is linked yet", action, prefix)
			continue
		}
		require.Contains(t, ops, action, "iampolicy.Grants allows %s, which the operator's binary never calls: remove it", action)
	}
}

// TestIAMPolicyCommand runs 'ragmigrate iam-policy' through the binary: JSON on stdout, each
// command's statements, scoped by the flags given, placeholders named on stderr, usage errors.
func TestIAMPolicyCommand(t *testing.T) {
	t.Parallel()
	env := []string{"AWS_REGION=eu-central-1", "RAGMIGRATE_TABLE=", "RAGMIGRATE_BUCKET="}
	decode := func(t *testing.T, out string) iampolicy.Policy {
		t.Helper()
		var p iampolicy.Policy
		dec := json.NewDecoder(strings.NewReader(out))
		dec.DisallowUnknownFields()
		require.NoError(t, dec.Decode(&p), out)
		require.Equal(t, "2012-10-17", p.Version)
		return p
	}
	sids := func(p iampolicy.Policy) []string {
		var out []string
		for _, s := range p.Statement {
			out = append(out, s.Sid)
		}
		return out
	}

	t.Run("EveryCommand", func(t *testing.T) {
		r := ragmigrate(t, env, "iam-policy")
		require.Zero(t, r.code, r.stderr)
		p := decode(t, r.stdout)
		for _, sid := range []string{"ReadBots", "UpdateBotStatus", "InvokeEmbeddingModel", "ECSRunTask", "RestoreSnapshot"} {
			require.Contains(t, sids(p), sid)
		}
		require.NotContains(t, sids(p), "ReadStackOutputs", "no --stack, no CloudFormation")
		require.Contains(t, r.stdout, "arn:aws:dynamodb:eu-central-1:<ACCOUNT_ID>:table/<TABLE>", "the region from AWS_REGION")
		require.Contains(t, r.stderr, "the policy holds placeholders")
		require.Contains(t, r.stderr, "<ACCOUNT_ID>")
	})

	t.Run("ReembedScoped", func(t *testing.T) {
		r := ragmigrate(t, env, "iam-policy", "reembed", "--table", "conv", "--bucket", "docs", "--account", "123456789012",
			"--region", "us-gov-west-1", "--model", "amazon.titan-embed-text-v2:0")
		require.Zero(t, r.code, r.stderr)
		p := decode(t, r.stdout)
		require.Equal(t, []string{"ReadBots", "UpdateBotStatus", "ListDocuments", "ReadDocuments", "InvokeEmbeddingModel", "ReadModelQuotas"}, sids(p),
			"the plan reembed shows first lists each bot's uploads")
		require.Contains(t, r.stdout, `"arn:aws-us-gov:dynamodb:us-gov-west-1:123456789012:table/conv"`)
		require.Contains(t, r.stdout, `"arn:aws-us-gov:s3:::docs/*/documents/*"`)
		require.Contains(t, r.stdout, `"arn:aws-us-gov:bedrock:us-gov-west-1::foundation-model/amazon.titan-embed-text-v2:0"`)
		require.NotContains(t, r.stdout, "<")
		require.NotContains(t, r.stderr, "placeholders", "everything was known")
	})

	t.Run("StackAndSecrets", func(t *testing.T) {
		secret := "arn:aws:secretsmanager:eu-central-1:123456789012:secret:src-AbCdEf"
		r := ragmigrate(t, env, "iam-policy", "copy", "--stack", "BedrockChatStack", "--source-secret", secret,
			"--target-secret", "tgt", "--account", "123456789012")
		require.Zero(t, r.code, r.stderr)
		p := decode(t, r.stdout)
		require.Equal(t, []string{"ReadBots", "ReadStackOutputs", "ReadDatabaseSecrets"}, sids(p), "copy --merge scans the stack's table; nothing else in AWS")
		require.Equal(t, []string{"arn:aws:secretsmanager:eu-central-1:123456789012:secret:tgt-??????", secret}, p.Statement[2].Resource)
		require.Equal(t, []string{"arn:aws:cloudformation:eu-central-1:123456789012:stack/BedrockChatStack/*"}, p.Statement[1].Resource)
	})

	// copy --merge --table reads every bot's SyncStatus (a Scan): before, iam-policy copy granted
	// nothing in AWS, and a task role built from it failed the merge with AccessDenied.
	t.Run("CopyMerge", func(t *testing.T) {
		r := ragmigrate(t, env, "iam-policy", "copy", "--table", "conv", "--account", "123456789012")
		require.Zero(t, r.code, r.stderr)
		p := decode(t, r.stdout)
		require.Equal(t, []string{"ReadBots"}, sids(p))
		require.Equal(t, []string{"dynamodb:Scan"}, p.Statement[0].Action)
		require.Equal(t, []string{"arn:aws:dynamodb:eu-central-1:123456789012:table/conv"}, p.Statement[0].Resource)
		r = ragmigrate(t, env, "iam-policy", "copy")
		require.Zero(t, r.code, r.stderr)
		require.Empty(t, decode(t, r.stdout).Statement, "a plain copy, no table named: nothing in AWS")
	})

	t.Run("Remote", func(t *testing.T) {
		r := ragmigrate(t, env, "iam-policy", "remote", "--account", "123456789012", "--ecs-cluster", "emb",
			"--task-role", "arn:aws:iam::123456789012:role/task", "--execution-role", "exec", "--log-group", "/ragmigrate")
		require.Zero(t, r.code, r.stderr)
		p := decode(t, r.stdout)
		require.Equal(t, []string{"RemoteRegisterTaskDefinition", "ECSDescribeTaskDefinition", "ECSRunTask", "ECSWatchTasks", "ECSPassTaskRoles", "RemoteReadTaskLogs"}, sids(p))
		require.Equal(t, map[string]map[string]any{"ArnEquals": {"ecs:cluster": "arn:aws:ecs:eu-central-1:123456789012:cluster/emb"}}, p.Statement[2].Condition)
		require.Equal(t, []string{"arn:aws:iam::123456789012:role/task", "arn:aws:iam::123456789012:role/exec"}, p.Statement[4].Resource)
		require.NotContains(t, r.stdout, "<")
	})

	// reembed --runner ecs: the app's tasks read and embed, so reembed itself needs the ECS calls
	// of a task per bot (on the app's task definition, in the cluster, passing its roles), and
	// neither GetObject nor InvokeModel.
	t.Run("ReembedECS", func(t *testing.T) {
		r := ragmigrate(t, env, "iam-policy", "reembed", "--runner", "ecs", "--table", "conv", "--bucket", "docs", "--account", "123456789012",
			"--ecs-cluster", "emb", "--task-definition", "BedrockChatStackEmbeddingTaskDefinition", "--task-role", "EmbTask", "--execution-role", "EmbExec")
		require.Zero(t, r.code, r.stderr)
		p := decode(t, r.stdout)
		require.Equal(t, []string{"ReadBots", "UpdateBotStatus", "ListDocuments", "ReadModelQuotas",
			"ECSDescribeTaskDefinition", "ECSRunTask", "ECSWatchTasks", "ECSPassTaskRoles"}, sids(p))
		require.Equal(t, []string{"ecs:RunTask"}, p.Statement[5].Action)
		require.Equal(t, []string{"arn:aws:ecs:eu-central-1:123456789012:task-definition/BedrockChatStackEmbeddingTaskDefinition:*"}, p.Statement[5].Resource)
		require.Equal(t, []string{"ecs:DescribeTasks", "ecs:StopTask"}, p.Statement[6].Action)
		require.Equal(t, []string{"arn:aws:ecs:eu-central-1:123456789012:task/emb/*"}, p.Statement[6].Resource)
		require.Equal(t, []string{"arn:aws:iam::123456789012:role/EmbTask", "arn:aws:iam::123456789012:role/EmbExec"}, p.Statement[7].Resource)
		require.NotContains(t, r.stdout, "bedrock:InvokeModel")
		require.NotContains(t, r.stdout, "s3:GetObject")
		require.NotContains(t, r.stdout, "<")

		// plan --runner ecs reads the task definition's size.
		r = ragmigrate(t, env, "iam-policy", "plan", "--runner", "ecs")
		require.Zero(t, r.code, r.stderr)
		require.Contains(t, sids(decode(t, r.stdout)), "ECSDescribeTaskDefinition")
	})

	// worker, as ragmigrate's worker in the app's task: the bot's documents, the model, the
	// quotas, the database secret, and the table as the table access role it assumes.
	t.Run("Worker", func(t *testing.T) {
		r := ragmigrate(t, env, "iam-policy", "worker", "--table", "conv", "--bucket", "docs", "--account", "123456789012",
			"--target-secret", "arn:aws:secretsmanager:eu-central-1:123456789012:secret:db-AbCdEf", "--table-access-role", "TableAccess")
		require.Zero(t, r.code, r.stderr)
		p := decode(t, r.stdout)
		require.Equal(t, []string{"ReadDocuments", "InvokeEmbeddingModel", "ReadModelQuotas", "ReadDatabaseSecrets", "AssumeTableAccessRole"}, sids(p))
		require.Equal(t, []string{"sts:AssumeRole"}, p.Statement[4].Action)
		require.Equal(t, []string{"arn:aws:iam::123456789012:role/TableAccess"}, p.Statement[4].Resource)
		require.NotContains(t, r.stdout, "<")

		r = ragmigrate(t, env, "iam-policy", "worker", "--table", "conv", "--bucket", "docs", "--account", "123456789012")
		require.Zero(t, r.code, r.stderr)
		require.Equal(t, []string{"UpdateBotStatus", "ReadDocuments", "InvokeEmbeddingModel", "ReadModelQuotas"}, sids(decode(t, r.stdout)),
			"outside the app's task: the table with its own grants")
	})

	t.Run("NoAWS", func(t *testing.T) {
		r := ragmigrate(t, env, "iam-policy", "status", "replicate")
		require.Zero(t, r.code, r.stderr)
		require.Empty(t, decode(t, r.stdout).Statement)
	})

	for name, args := range map[string][]string{
		"UnknownCommand": {"iam-policy", "reembd"},
		"ShortAccount":   {"iam-policy", "--account", "1234"},
		"OpenAIModel":    {"iam-policy", "--model", "hash"},
		"Placeholder":    {"iam-policy", "--stack", "<STACK>"},
		"Runner":         {"iam-policy", "reembed", "--runner", "fargate"},
	} {
		t.Run(name, func(t *testing.T) {
			r := ragmigrate(t, env, args...)
			require.Equal(t, exitUsage, r.code, r.stderr)
			require.Empty(t, r.stdout)
		})
	}
}

// TestTaskNeedsRunner: what remote says a task role needs follows the command's --runner: a
// reembed whose bots run as the app's tasks makes the ECS calls and embeds nothing itself.
func TestTaskNeedsRunner(t *testing.T) {
	t.Parallel()
	local := taskNeeds([]string{"reembed", "--yes"}, nil)
	require.Contains(t, local, "bedrock:InvokeModel")
	require.NotContains(t, local, "ecs:RunTask")
	for _, cmd := range [][]string{{"reembed", "--runner", "ecs"}, {"reembed", "--runner=ecs"}} {
		ecs := taskNeeds(cmd, nil)
		require.Contains(t, ecs, "ecs:RunTask, ecs:DescribeTasks, ecs:StopTask, iam:PassRole")
		require.NotContains(t, ecs, "bedrock:InvokeModel")
	}
}
