// Package iampolicy is the least-privilege IAM policy for the ragmigrate commands an operator
// runs: one table (Grants) says which AWS actions each command needs, on which resources, and
// when; Build turns the commands and what is known of the deployment into a policy document.
//
// The table is checked against the code: cmd/ragmigrate/iampolicy_test.go lists the AWS SDK
// operations linked into the operator's binary (the linker keeps only reachable code) and fails
// when one is missing here, so the policy cannot fall behind the code.
package iampolicy

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Commands are the commands the table knows, in the order help lists them.
var Commands = []string{"plan", "reembed", "copy", "verify", "status", "cleanup", "inspect", "remote", "worker", "snapshot", "replicate"}

// dbCommands connect to PostgreSQL, so a database secret (--target-secret, --source-secret, the
// stack's DbConfigSecretArn) is read by them.
var dbCommands = []string{"plan", "reembed", "copy", "verify", "status", "cleanup", "snapshot", "replicate", "worker"}

// Scope is what is known of the deployment. Empty fields become placeholders such as
// <ACCOUNT_ID> in the resource ARNs (Build returns those left): an ARN that keeps one matches no
// resource, so a placeholder forgotten grants nothing rather than too much.
type Scope struct {
	Region  string
	Account string
	// Table and Bucket are the conversation table and the document bucket. With only Stack
	// known, they are matched by the prefix CloudFormation gives generated names.
	Table, Bucket string
	Stack         string
	// TargetSecret and SourceSecret are the database secrets (ARN or name).
	TargetSecret, SourceSecret string
	// Model is the Bedrock embedding model reembed invokes.
	Model string
	// ECS and CloudWatch Logs (remote; reembed --runner ecs).
	ECSCluster, TaskRole, ExecutionRole, LogGroup string
	// Runner is plan's and reembed's --runner: "ecs" runs each bot as the app's embedding task
	// (TaskDefinition, its family), which embeds in place of reembed.
	Runner, TaskDefinition string
	// ECSTask is reembed's --ecs-task with --runner ecs: "app" (the app's task per bot) or
	// "worker" (tasks of ragmigrate's own family, registered by content, running worker --run).
	ECSTask string
	// TableAccessRole is the app's table access role, which worker assumes in the app's task
	// (TABLE_ACCESS_ROLE_ARN) to reach the table; empty: worker reaches it with its own grants.
	TableAccessRole string
	// KMSKey is the customer managed key of a restored cluster's master user secret (snapshot);
	// empty: the key Secrets Manager provides.
	KMSKey string
}

// Statement is one IAM policy statement.
type Statement struct {
	Sid       string                    `json:"Sid"`
	Effect    string                    `json:"Effect"`
	Action    []string                  `json:"Action"`
	Resource  []string                  `json:"Resource"`
	Condition map[string]map[string]any `json:"Condition,omitempty"`
}

// Policy is an IAM policy document.
type Policy struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Grant is one row of the table: actions a set of commands needs on some resources.
type Grant struct {
	Sid      string
	Commands []string
	// Why says what in ragmigrate makes the call, for the help text and the reader of the table.
	Why     string
	Actions []string
	// When, if set, says whether the options in play need the grant at all.
	When func(s Scope, cmds []string) bool
	// Resources are the grant's ARNs, built from the scope.
	Resources func(a arns, cmds []string) []string
	Condition func(a arns) map[string]map[string]any
}

// Grants is the table. Each action appears in one row only, so a policy never lists an action
// twice.
var Grants = []Grant{
	{
		Sid: "ReadBots", Commands: []string{"plan", "reembed", "verify", "copy"},
		Why:     "botstore: the bots, Scan of the conversation table (no index is read); copy only with --merge, which names the table",
		Actions: []string{"dynamodb:Scan"},
		When: func(s Scope, cmds []string) bool {
			return s.Table != "" || s.Stack != "" || slices.ContainsFunc(cmds, func(c string) bool { return c == "plan" || c == "reembed" || c == "verify" })
		},
		Resources: func(a arns, _ []string) []string {
			return []string{a.table()}
		},
	},
	{
		Sid: "UpdateBotStatus", Commands: []string{"reembed", "worker"},
		Why: "botstore: each bot's SyncStatus, read again (GetItem) and compared-and-set (UpdateItem), as the app's embedding task does; " +
			"worker as the app's embedding task role (the app's task contract, or worker --run of reembed --ecs-task worker without --task-role) does it as the table access role it assumes (--table-access-role)",
		Actions: []string{"dynamodb:GetItem", "dynamodb:UpdateItem"},
		When: func(s Scope, cmds []string) bool {
			return slices.Contains(cmds, "reembed") || s.TableAccessRole == ""
		},
		Resources: func(a arns, _ []string) []string {
			return []string{a.table()}
		},
	},
	{
		Sid: "ListDocuments", Commands: []string{"plan", "reembed"},
		Why:     "docstore: each bot's uploads listed (ListObjectsV2) for their sizes, by plan and by the plan reembed shows before it runs",
		Actions: []string{"s3:ListBucket"},
		Resources: func(a arns, _ []string) []string {
			return []string{a.bucket()}
		},
	},
	{
		Sid: "ReadDocuments", Commands: readDocuments,
		Why:     "docstore: the uploads, {user}/{bot}/documents/{file} in the document bucket (reembed --runner ecs: the app's tasks read them)",
		Actions: []string{"s3:GetObject"},
		When:    unlessAppTasks(readDocuments),
		Resources: func(a arns, _ []string) []string {
			return []string{a.bucket() + "/*/documents/*"}
		},
	},
	{
		Sid: "InvokeEmbeddingModel", Commands: []string{"reembed", "worker"},
		Why:     "embed: InvokeModel on the embedding model (reembed --runner ecs: the app's tasks call it)",
		Actions: []string{"bedrock:InvokeModel"},
		When:    unlessAppTasks([]string{"reembed", "worker"}),
		Resources: func(a arns, _ []string) []string {
			return []string{a.arn("bedrock", a.region(), "", "foundation-model/"+a.or(a.s.Model, "MODEL_ID"))}
		},
	},
	{
		Sid: "ReadModelQuotas", Commands: []string{"plan", "reembed", "worker"},
		Why:     "quota: the model's Bedrock quotas, the run's pace, and with --runner ecs Fargate's On-Demand vCPU quota (ListServiceQuotas has no resource to scope it to)",
		Actions: []string{"servicequotas:ListServiceQuotas"},
		Resources: func(arns, []string) []string {
			return []string{"*"}
		},
	},
	{
		Sid: "ReadStackOutputs", Commands: Commands,
		Why:     "--stack: the stack's outputs (DescribeStacks)",
		Actions: []string{"cloudformation:DescribeStacks"},
		When:    func(s Scope, _ []string) bool { return s.Stack != "" },
		Resources: func(a arns, _ []string) []string {
			return []string{a.arn("cloudformation", a.region(), a.account(), "stack/"+a.s.Stack+"/*")}
		},
	},
	{
		Sid: "ReadDatabaseSecrets", Commands: dbCommands,
		Why:     "--target-secret, --source-secret, the stack's DbConfigSecretArn (reembed --ecs-task app: the app's DB_SECRETS_ARN, that secret in a deployment, compared with the target); snapshot: the restored cluster's master user secret",
		Actions: []string{"secretsmanager:GetSecretValue"},
		When: func(s Scope, cmds []string) bool {
			return s.Stack != "" || s.TargetSecret != "" || s.SourceSecret != "" || slices.Contains(cmds, "snapshot")
		},
		Resources: func(a arns, cmds []string) []string {
			var out []string
			if a.s.Stack != "" || a.s.TargetSecret != "" {
				out = append(out, a.secret(a.s.TargetSecret, "TARGET_SECRET"))
			}
			if a.s.SourceSecret != "" {
				out = append(out, a.secret(a.s.SourceSecret, ""))
			}
			if slices.Contains(cmds, "snapshot") {
				out = append(out, a.rdsSecret())
			}
			return out
		},
	},
	{
		Sid: "RemoteRegisterTaskDefinition", Commands: []string{"remote", "reembed"},
		Why:     "remote, reembed --ecs-task worker: the task definition family ragmigrate, registered when its content changed (no resource to scope it to)",
		Actions: []string{"ecs:RegisterTaskDefinition"},
		When: func(s Scope, cmds []string) bool {
			return slices.Contains(cmds, "remote") || (slices.Contains(cmds, "reembed") && ragmigrateWorkers(s))
		},
		Resources: func(arns, []string) []string {
			return []string{"*"}
		},
	},
	{
		Sid: "ECSDescribeTaskDefinition", Commands: []string{"remote", "reembed", "plan"},
		Why: "remote: the family ragmigrate, reused by content; reembed --runner ecs: the app's task definition, its container and roles checked; " +
			"plan --runner ecs: its size (no resource to scope it to)",
		Actions: []string{"ecs:DescribeTaskDefinition"},
		When:    remoteOrAppTasks,
		Resources: func(arns, []string) []string {
			return []string{"*"}
		},
	},
	{
		Sid: "ECSRunTask", Commands: []string{"remote", "reembed"},
		Why:     "remote: one Fargate task of the ragmigrate family in the cluster; reembed --runner ecs: a task of the app's task definition per bot",
		Actions: []string{"ecs:RunTask"},
		When:    remoteOrAppTasks,
		Resources: func(a arns, cmds []string) []string {
			var out []string
			if slices.Contains(cmds, "remote") || (slices.Contains(cmds, "reembed") && ragmigrateWorkers(a.s)) {
				out = append(out, a.arn("ecs", a.region(), a.account(), "task-definition/ragmigrate:*"))
			}
			if slices.Contains(cmds, "reembed") && a.s.Runner == "ecs" && !ragmigrateWorkers(a.s) {
				out = append(out, a.arn("ecs", a.region(), a.account(), "task-definition/"+a.or(a.s.TaskDefinition, "TASK_DEFINITION")+":*"))
			}
			return out
		},
		Condition: func(a arns) map[string]map[string]any {
			return map[string]map[string]any{"ArnEquals": {"ecs:cluster": a.cluster()}}
		},
	},
	{
		Sid: "ECSWatchTasks", Commands: []string{"remote", "reembed"},
		Why:     "remote, reembed --runner ecs: the tasks' state and exit code (DescribeTasks); a task interrupted or past its timeout is stopped (StopTask)",
		Actions: []string{"ecs:DescribeTasks", "ecs:StopTask"},
		When:    remoteOrAppTasks,
		Resources: func(a arns, _ []string) []string {
			return []string{a.arn("ecs", a.region(), a.account(), "task/"+a.or(a.s.ECSCluster, "ECS_CLUSTER")+"/*")}
		},
	},
	{
		Sid: "ECSPassTaskRoles", Commands: []string{"remote", "reembed"},
		Why:     "remote, reembed --runner ecs: RunTask hands the task its task role and execution role",
		Actions: []string{"iam:PassRole"},
		When:    remoteOrAppTasks,
		Resources: func(a arns, _ []string) []string {
			return []string{a.role(a.s.TaskRole, "TASK_ROLE"), a.role(a.s.ExecutionRole, "EXECUTION_ROLE")}
		},
		Condition: func(arns) map[string]map[string]any {
			return map[string]map[string]any{"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
		},
	},
	{
		Sid: "AssumeTableAccessRole", Commands: []string{"worker"},
		Why:     "worker as the app's embedding task role (TABLE_ACCESS_ROLE_ARN; also worker --run of reembed --ecs-task worker without --task-role): the table reached as the app's table access role, scoped to each bot's user, one session per user",
		Actions: []string{"sts:AssumeRole"},
		When:    func(s Scope, _ []string) bool { return s.TableAccessRole != "" },
		Resources: func(a arns, _ []string) []string {
			return []string{a.role(a.s.TableAccessRole, "TABLE_ACCESS_ROLE")}
		},
	},
	{
		Sid: "RemoteReadTaskLogs", Commands: []string{"remote", "reembed"},
		Why:     "remote: the task's output, streamed from its log stream (GetLogEvents); reembed --ecs-task worker: a failed worker's last lines, for its error",
		Actions: []string{"logs:GetLogEvents"},
		When: func(s Scope, cmds []string) bool {
			return slices.Contains(cmds, "remote") || (slices.Contains(cmds, "reembed") && ragmigrateWorkers(s))
		},
		Resources: func(a arns, _ []string) []string {
			return []string{a.arn("logs", a.region(), a.account(), "log-group:"+a.or(a.s.LogGroup, "LOG_GROUP")+":log-stream:*")}
		},
	},
	{
		Sid: "DescribeClusters", Commands: []string{"snapshot"},
		Why:     "snapshot: the snapshots, the restored cluster and instance and their tags, read (describe calls are not scoped by name)",
		Actions: []string{"rds:DescribeDBClusterSnapshots", "rds:DescribeDBClusters", "rds:DescribeDBInstances"},
		Resources: func(a arns, _ []string) []string {
			return []string{a.rds("cluster-snapshot:*"), a.rds("cluster:*"), a.rds("db:*")}
		},
	},
	{
		Sid: "RestoreSnapshot", Commands: []string{"snapshot"},
		Why: "snapshot restore: a cluster from the v0 snapshot, its writer instance, its master user password managed by RDS (ModifyDBCluster), tagged; " +
			"the snapshot and the new cluster and instance are scoped by name, the subnet group, security groups and parameter and option groups they use are not",
		Actions: []string{"rds:RestoreDBClusterFromSnapshot", "rds:CreateDBInstance", "rds:ModifyDBCluster", "rds:AddTagsToResource"},
		Resources: func(a arns, _ []string) []string {
			return []string{a.rds("cluster-snapshot:<SNAPSHOT>"), a.rds("cluster:<RESTORED_CLUSTER>"), a.rds("db:<RESTORED_INSTANCE>"),
				a.rds("subgrp:*"), a.rds("secgrp:*"), a.rds("cluster-pg:*"), a.rds("pg:*"), a.rds("og:*")}
		},
	},
	{
		Sid: "DeleteRestored", Commands: []string{"snapshot"},
		Why:     "snapshot cleanup: the restored instance and cluster, deleted",
		Actions: []string{"rds:DeleteDBInstance", "rds:DeleteDBCluster"},
		Resources: func(a arns, _ []string) []string {
			return []string{a.rds("cluster:<RESTORED_CLUSTER>"), a.rds("db:<RESTORED_INSTANCE>")}
		},
	},
	{
		Sid: "ManagedMasterSecret", Commands: []string{"snapshot"},
		Why:     "snapshot restore: RDS creates the restored cluster's master user secret (rds!cluster-…) in the caller's name, as the RDS user guide's Secrets Manager integration requires",
		Actions: []string{"secretsmanager:CreateSecret", "secretsmanager:TagResource"},
		Resources: func(a arns, _ []string) []string {
			return []string{a.rdsSecret()}
		},
	},
	{
		Sid: "MasterSecretKey", Commands: []string{"snapshot"},
		Why:     "snapshot restore: the key of the master user secret, described (and, with a customer managed --kms-key, used) by RDS through Secrets Manager",
		Actions: []string{"kms:DescribeKey"},
		Resources: func(a arns, _ []string) []string {
			return []string{a.kmsKey()}
		},
	},
	{
		Sid: "MasterSecretCustomerKey", Commands: []string{"snapshot"},
		Why:     "snapshot restore with --kms-key: the customer managed key encrypts the master user secret",
		Actions: []string{"kms:Decrypt", "kms:GenerateDataKey", "kms:CreateGrant"},
		When:    func(s Scope, _ []string) bool { return s.KMSKey != "" },
		Resources: func(a arns, _ []string) []string {
			return []string{a.kmsKey()}
		},
		Condition: func(a arns) map[string]map[string]any {
			return map[string]map[string]any{"StringEquals": {"kms:ViaService": "secretsmanager." + a.region() + ".amazonaws.com"}}
		},
	},
}

// readDocuments are the commands that read the uploads.
var readDocuments = []string{"plan", "reembed", "verify", "inspect", "worker"}

// unlessAppTasks is a grant's When for grants that reembed --runner ecs does not need itself,
// since the app's tasks load and embed (their task role holds the grants): needed when one of
// cmds (of the grant's commands) is another command, or reembed with the local runner.
func unlessAppTasks(commands []string) func(Scope, []string) bool {
	return func(s Scope, cmds []string) bool {
		return slices.ContainsFunc(cmds, func(c string) bool {
			return slices.Contains(commands, c) && (c != "reembed" || s.Runner != "ecs")
		})
	}
}

// ragmigrateWorkers says reembed runs ragmigrate's own workers on ECS (--ecs-task worker).
func ragmigrateWorkers(s Scope) bool { return s.Runner == "ecs" && s.ECSTask == "worker" }

// remoteOrAppTasks is the When of the ECS grants: remote, or plan and reembed with --runner ecs.
func remoteOrAppTasks(s Scope, cmds []string) bool {
	return slices.Contains(cmds, "remote") || s.Runner == "ecs"
}

// Build returns the policy for cmds (every command when empty) and the placeholders left in it.
func Build(s Scope, cmds []string) (Policy, []string, error) {
	if len(cmds) == 0 {
		cmds = Commands
	}
	for _, c := range cmds {
		if !slices.Contains(Commands, c) {
			return Policy{}, nil, fmt.Errorf("unknown command %q: known are %s", c, strings.Join(Commands, ", "))
		}
	}
	a := arns{s: s}
	p := Policy{Version: "2012-10-17", Statement: []Statement{}}
	for _, g := range Grants {
		if !slices.ContainsFunc(g.Commands, func(c string) bool { return slices.Contains(cmds, c) }) {
			continue
		}
		if g.When != nil && !g.When(s, cmds) {
			continue
		}
		st := Statement{Sid: g.Sid, Effect: "Allow", Action: slices.Clone(g.Actions), Resource: g.Resources(a, cmds)}
		if g.Condition != nil {
			st.Condition = g.Condition(a)
		}
		p.Statement = append(p.Statement, st)
	}
	return p, placeholders(p), nil
}

// Actions are every action of the table.
func Actions() []string {
	var out []string
	for _, g := range Grants {
		out = append(out, g.Actions...)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

var placeholderRE = regexp.MustCompile(`<[A-Z_]+>`)

func placeholders(p Policy) []string {
	seen := map[string]bool{}
	for _, st := range p.Statement {
		for _, r := range st.Resource {
			for _, m := range placeholderRE.FindAllString(r, -1) {
				seen[m] = true
			}
		}
		for _, cond := range st.Condition {
			for _, v := range cond {
				for _, m := range placeholderRE.FindAllString(fmt.Sprint(v), -1) {
					seen[m] = true
				}
			}
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// arns builds resource ARNs from a Scope, with placeholders for what it does not know.
type arns struct{ s Scope }

func (arns) or(v, placeholder string) string {
	if v != "" {
		return v
	}
	return "<" + placeholder + ">"
}

func (a arns) region() string  { return a.or(a.s.Region, "REGION") }
func (a arns) account() string { return a.or(a.s.Account, "ACCOUNT_ID") }

// partition is the region's AWS partition (China and GovCloud have their own).
func (a arns) partition() string {
	switch {
	case strings.HasPrefix(a.s.Region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(a.s.Region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

func (a arns) arn(service, region, account, resource string) string {
	return strings.Join([]string{"arn", a.partition(), service, region, account, resource}, ":")
}

// table is the conversation table. CloudFormation names a table it generates
// "{stack}-{logical id}-{suffix}", so a stack alone narrows it to the stack's tables.
func (a arns) table() string {
	name := a.s.Table
	if name == "" && a.s.Stack != "" {
		name = a.s.Stack + "-*"
	}
	return a.arn("dynamodb", a.region(), a.account(), "table/"+a.or(name, "TABLE"))
}

// bucket is the document bucket; a generated bucket name is the stack's name in lower case,
// then the logical id and a suffix.
func (a arns) bucket() string {
	name := a.s.Bucket
	if name == "" && a.s.Stack != "" {
		name = strings.ToLower(a.s.Stack) + "-*"
	}
	return a.arn("s3", "", "", a.or(name, "BUCKET"))
}

// secret is a secret given by ARN or name. Secrets Manager appends "-" and six characters to a
// name in the ARN.
func (a arns) secret(v, placeholder string) string {
	if strings.HasPrefix(v, "arn:") {
		return v
	}
	if v == "" {
		return a.arn("secretsmanager", a.region(), a.account(), "secret:"+a.or("", placeholder))
	}
	return a.arn("secretsmanager", a.region(), a.account(), "secret:"+v+"-??????")
}

// rdsSecret is a master user secret RDS manages: it names them rds!cluster-{id}-{suffix}.
func (a arns) rdsSecret() string {
	return a.arn("secretsmanager", a.region(), a.account(), "secret:rds!cluster-*")
}

func (a arns) rds(resource string) string { return a.arn("rds", a.region(), a.account(), resource) }

func (a arns) cluster() string {
	return a.arn("ecs", a.region(), a.account(), "cluster/"+a.or(a.s.ECSCluster, "ECS_CLUSTER"))
}

func (a arns) role(v, placeholder string) string {
	if strings.HasPrefix(v, "arn:") {
		return v
	}
	return a.arn("iam", "", a.account(), "role/"+a.or(v, placeholder))
}

// kmsKey is --kms-key (a key ARN or id); without it, the key Secrets Manager provides, whose id
// is the account's own and not known here.
func (a arns) kmsKey() string {
	if strings.HasPrefix(a.s.KMSKey, "arn:") {
		return a.s.KMSKey
	}
	if a.s.KMSKey != "" {
		return a.arn("kms", a.region(), a.account(), "key/"+a.s.KMSKey)
	}
	return a.arn("kms", a.region(), a.account(), "key/*")
}
