package iampolicy

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// full is a scope with everything known.
var full = Scope{Region: "eu-west-1", Account: "123456789012", Table: "conv", Bucket: "docs", Stack: "BedrockChatStack",
	TargetSecret: "tgt", SourceSecret: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:src-AbCdEf", Model: "cohere.embed-multilingual-v3",
	ECSCluster: "emb", TaskRole: "task", ExecutionRole: "exec", LogGroup: "/ragmigrate", KMSKey: "1234abcd-12ab-34cd-56ef-1234567890ab",
	Runner: "ecs", TaskDefinition: "embed", TableAccessRole: "tar"}

// resourceRE is a well-formed resource: "*", or an ARN of the statement's service with the region
// and account each present exactly where the service's ARNs have them (or a placeholder).
var resourceRE = map[string]*regexp.Regexp{
	"dynamodb":       regexp.MustCompile(`^arn:aws:dynamodb:(eu-west-1|<REGION>):(\d{12}|<ACCOUNT_ID>):table/[A-Za-z0-9_.*<>-]+$`),
	"s3":             regexp.MustCompile(`^arn:aws:s3:::[a-z0-9.*<>A-Z_-]+(/\*/documents/\*)?$`),
	"bedrock":        regexp.MustCompile(`^arn:aws:bedrock:(eu-west-1|<REGION>)::foundation-model/[a-z0-9.:-]+$`),
	"servicequotas":  regexp.MustCompile(`^\*$`),
	"cloudformation": regexp.MustCompile(`^arn:aws:cloudformation:(eu-west-1|<REGION>):(\d{12}|<ACCOUNT_ID>):stack/[A-Za-z0-9-]+/\*$`),
	"secretsmanager": regexp.MustCompile(`^arn:aws:secretsmanager:(eu-west-1|<REGION>):(\d{12}|<ACCOUNT_ID>):secret:[A-Za-z0-9/_+=.@!*?<>-]+$`),
	"ecs":            regexp.MustCompile(`^(\*|arn:aws:ecs:(eu-west-1|<REGION>):(\d{12}|<ACCOUNT_ID>):(task-definition/[A-Za-z0-9_<>-]+:\*|task/[A-Za-z0-9_<>-]+/\*))$`),
	"iam":            regexp.MustCompile(`^arn:aws:iam::(\d{12}|<ACCOUNT_ID>):role/[A-Za-z0-9+=,.@_<>/-]+$`),
	"sts":            regexp.MustCompile(`^arn:aws:iam::(\d{12}|<ACCOUNT_ID>):role/[A-Za-z0-9+=,.@_<>/-]+$`),
	"logs":           regexp.MustCompile(`^arn:aws:logs:(eu-west-1|<REGION>):(\d{12}|<ACCOUNT_ID>):log-group:[A-Za-z0-9_./#<>-]+:log-stream:\*$`),
	"rds":            regexp.MustCompile(`^arn:aws:rds:(eu-west-1|<REGION>):(\d{12}|<ACCOUNT_ID>):(cluster-snapshot|cluster|db|subgrp|secgrp|cluster-pg|pg|og):[A-Za-z0-9<>_*-]+$`),
	"kms":            regexp.MustCompile(`^arn:aws:kms:(eu-west-1|<REGION>):(\d{12}|<ACCOUNT_ID>):key/[a-f0-9*-]+$`),
}

// TestBuild checks the policy for every command, with nothing and with everything known: it is
// valid JSON of the IAM grammar's shape, each action appears once, each statement has a unique
// Sid and only its own service's actions, and every resource is well formed for its service.
func TestBuild(t *testing.T) {
	t.Parallel()
	for name, scope := range map[string]Scope{"Unknown": {Model: "cohere.embed-multilingual-v3"}, "Known": full} {
		t.Run(name, func(t *testing.T) {
			p, left, err := Build(scope, nil)
			require.NoError(t, err)
			b, err := json.Marshal(p)
			require.NoError(t, err)
			var back Policy
			require.NoError(t, json.Unmarshal(b, &back))
			require.Equal(t, p, back)
			require.Equal(t, "2012-10-17", p.Version)

			seen := map[string]bool{}
			sids := map[string]bool{}
			for _, st := range p.Statement {
				require.Regexp(t, `^[A-Za-z0-9]+$`, st.Sid, "IAM allows only alphanumerics in a Sid")
				require.False(t, sids[st.Sid], "Sid %s twice", st.Sid)
				sids[st.Sid] = true
				require.Equal(t, "Allow", st.Effect)
				require.NotEmpty(t, st.Action)
				require.NotEmpty(t, st.Resource, st.Sid)
				service, _, _ := strings.Cut(st.Action[0], ":")
				for _, a := range st.Action {
					require.Regexp(t, `^[a-z0-9-]+:[A-Z][A-Za-z0-9]+$`, a)
					require.False(t, seen[a], "%s in two statements", a)
					seen[a] = true
					require.True(t, strings.HasPrefix(a, service+":"), "%s: one service per statement", st.Sid)
				}
				re, ok := resourceRE[service]
				require.True(t, ok, "no resource pattern for %s", service)
				for _, r := range st.Resource {
					require.Regexp(t, re, r, st.Sid)
				}
				require.Equal(t, len(st.Resource), len(slices.Compact(slices.Clone(st.Resource))), st.Sid)
			}
			if name == "Known" {
				// Only what no flag can fill: the snapshot's and the restored cluster's names.
				require.Equal(t, []string{"<RESTORED_CLUSTER>", "<RESTORED_INSTANCE>", "<SNAPSHOT>"}, left)
				require.Contains(t, sids, "MasterSecretCustomerKey", "--kms-key adds the key's use")
			} else {
				require.Contains(t, left, "<ACCOUNT_ID>")
				require.Contains(t, left, "<TABLE>")
				require.NotContains(t, sids, "ReadStackOutputs")
				require.NotContains(t, sids, "MasterSecretCustomerKey")
			}
		})
	}
}

// TestBuildPerCommand: each command gets its own statements and no other's; --runner ecs trades
// reembed's reading and embedding (the app's tasks do it) for the ECS calls; worker assumes the
// table access role when it is named, instead of its own DynamoDB grants.
func TestBuildPerCommand(t *testing.T) {
	t.Parallel()
	local := full
	local.Runner, local.TableAccessRole = "local", ""
	workers := full
	workers.ECSTask = "worker"
	for _, tt := range []struct {
		scope Scope
		cmds  []string
		want  []string
	}{
		{local, []string{"plan"}, []string{"ReadBots", "ListDocuments", "ReadDocuments", "ReadModelQuotas", "ReadStackOutputs", "ReadDatabaseSecrets"}},
		{full, []string{"plan"}, []string{"ReadBots", "ListDocuments", "ReadDocuments", "ReadModelQuotas", "ReadStackOutputs", "ReadDatabaseSecrets", "ECSDescribeTaskDefinition"}},
		{local, []string{"reembed"}, []string{"ReadBots", "UpdateBotStatus", "ListDocuments", "ReadDocuments", "InvokeEmbeddingModel", "ReadModelQuotas", "ReadStackOutputs", "ReadDatabaseSecrets"}},
		{full, []string{"reembed"}, []string{"ReadBots", "UpdateBotStatus", "ListDocuments", "ReadModelQuotas", "ReadStackOutputs", "ReadDatabaseSecrets",
			"ECSDescribeTaskDefinition", "ECSRunTask", "ECSWatchTasks", "ECSPassTaskRoles"}},
		{workers, []string{"reembed"}, []string{"ReadBots", "UpdateBotStatus", "ListDocuments", "ReadModelQuotas", "ReadStackOutputs", "ReadDatabaseSecrets",
			"RemoteRegisterTaskDefinition", "ECSDescribeTaskDefinition", "ECSRunTask", "ECSWatchTasks", "ECSPassTaskRoles", "RemoteReadTaskLogs"}},
		{local, []string{"worker"}, []string{"UpdateBotStatus", "ReadDocuments", "InvokeEmbeddingModel", "ReadModelQuotas", "ReadStackOutputs", "ReadDatabaseSecrets"}},
		{full, []string{"worker"}, []string{"ReadDocuments", "InvokeEmbeddingModel", "ReadModelQuotas", "ReadStackOutputs", "ReadDatabaseSecrets", "AssumeTableAccessRole"}},
		{full, []string{"reembed", "worker"}, []string{"ReadBots", "UpdateBotStatus", "ListDocuments", "ReadDocuments", "InvokeEmbeddingModel", "ReadModelQuotas", "ReadStackOutputs", "ReadDatabaseSecrets",
			"ECSDescribeTaskDefinition", "ECSRunTask", "ECSWatchTasks", "ECSPassTaskRoles", "AssumeTableAccessRole"}},
		{full, []string{"verify"}, []string{"ReadBots", "ReadDocuments", "ReadStackOutputs", "ReadDatabaseSecrets"}},
		{full, []string{"inspect"}, []string{"ReadDocuments", "ReadStackOutputs"}},
		{full, []string{"copy"}, []string{"ReadBots", "ReadStackOutputs", "ReadDatabaseSecrets"}},
		{local, []string{"remote"}, []string{"ReadStackOutputs", "RemoteRegisterTaskDefinition", "ECSDescribeTaskDefinition", "ECSRunTask", "ECSWatchTasks", "ECSPassTaskRoles", "RemoteReadTaskLogs"}},
	} {
		p, _, err := Build(tt.scope, tt.cmds)
		require.NoError(t, err)
		var got []string
		for _, st := range p.Statement {
			got = append(got, st.Sid)
		}
		require.Equal(t, tt.want, got, "%v, --runner %s", tt.cmds, tt.scope.Runner)
	}
	_, _, err := Build(full, []string{"reembd"})
	require.ErrorContains(t, err, `unknown command "reembd"`)
}

// TestBuildECSRunTask: RunTask is allowed on the family each command runs, in the cluster.
func TestBuildECSRunTask(t *testing.T) {
	t.Parallel()
	p, _, err := Build(full, []string{"remote", "reembed"})
	require.NoError(t, err)
	i := slices.IndexFunc(p.Statement, func(st Statement) bool { return st.Sid == "ECSRunTask" })
	require.GreaterOrEqual(t, i, 0)
	require.Equal(t, []string{"arn:aws:ecs:eu-west-1:123456789012:task-definition/ragmigrate:*", "arn:aws:ecs:eu-west-1:123456789012:task-definition/embed:*"}, p.Statement[i].Resource)
	require.Equal(t, map[string]map[string]any{"ArnEquals": {"ecs:cluster": "arn:aws:ecs:eu-west-1:123456789012:cluster/emb"}}, p.Statement[i].Condition)

	// ragmigrate's own workers run its family, not the app's.
	workers := full
	workers.ECSTask = "worker"
	p, _, err = Build(workers, []string{"reembed"})
	require.NoError(t, err)
	i = slices.IndexFunc(p.Statement, func(st Statement) bool { return st.Sid == "ECSRunTask" })
	require.Equal(t, []string{"arn:aws:ecs:eu-west-1:123456789012:task-definition/ragmigrate:*"}, p.Statement[i].Resource)

	p, left, err := Build(Scope{Runner: "ecs", Model: full.Model}, []string{"reembed"})
	require.NoError(t, err)
	require.Contains(t, left, "<TASK_DEFINITION>")
	require.Contains(t, left, "<TASK_ROLE>")
	require.Contains(t, left, "<ECS_CLUSTER>")
}

// TestEveryCommandInTable: each command the table names is one of Commands, and the commands
// that call AWS have a grant.
func TestEveryCommandInTable(t *testing.T) {
	t.Parallel()
	used := map[string]bool{}
	for _, g := range Grants {
		for _, c := range g.Commands {
			require.Contains(t, Commands, c, g.Sid)
			used[c] = true
		}
	}
	for _, c := range []string{"plan", "reembed", "verify", "inspect", "remote", "worker", "snapshot"} {
		require.True(t, used[c], c)
	}
}
