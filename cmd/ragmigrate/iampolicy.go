package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ragmigrate/ragmigrate/internal/embed"
	"github.com/ragmigrate/ragmigrate/internal/iampolicy"
)

// iamPolicyOptions scope the policy's resources; what is not given stays a placeholder.
type iamPolicyOptions struct {
	scope iampolicy.Scope
}

func (o *iamPolicyOptions) AddFlags(fs *pflag.FlagSet) {
	s := &o.scope
	fs.StringVar(&s.Account, "account", "", "the AWS account id (12 digits) the resources are in")
	fs.StringVar(&s.Stack, "stack", "", "the Bedrock Chat stack: adds cloudformation:DescribeStacks on it and the secret read of its DbConfigSecretArn; without --table/--bucket, scopes them to the names CloudFormation generates for it")
	fs.StringVar(&s.TargetSecret, "target-secret", "", "the target database's secret (ARN or name): adds secretsmanager:GetSecretValue on it")
	fs.StringVar(&s.SourceSecret, "source-secret", "", "the source database's secret (ARN or name): adds secretsmanager:GetSecretValue on it")
	fs.StringVar(&s.Model, "model", "cohere.embed-multilingual-v3", "the Bedrock embedding model reembed invokes: "+strings.Join(bedrockModels(), ", "))
	fs.StringVar(&s.Runner, "runner", "local", "plan, reembed: the --runner they run with; ecs adds the ECS calls of the app's task per bot, and leaves the reading and embedding to the tasks' role")
	fs.StringVar(&s.ECSTask, "ecs-task", "app", "reembed --runner ecs: app (the app's task per bot, on --task-definition) or worker (ragmigrate's own workers: its task definition family ragmigrate, registered and run)")
	fs.StringVar(&s.TaskDefinition, "task-definition", "", "reembed --runner ecs: the app's embedding task definition family the tasks run")
	fs.StringVar(&s.TableAccessRole, "table-access-role", "", "worker: the app's table access role (name or ARN; TABLE_ACCESS_ROLE_ARN) it assumes as the app's embedding task role (the app's task, or reembed --ecs-task worker without --task-role), in place of its own DynamoDB grants")
	fs.StringVar(&s.ECSCluster, "ecs-cluster", "", "remote, reembed --runner ecs: the ECS cluster the tasks run in")
	fs.StringVar(&s.TaskRole, "task-role", "", "remote, reembed --runner ecs: the task role (name or ARN) passed to the tasks")
	fs.StringVar(&s.ExecutionRole, "execution-role", "", "remote, reembed --runner ecs: the task execution role (name or ARN) passed to the tasks")
	fs.StringVar(&s.LogGroup, "log-group", "", "remote: the CloudWatch Logs group of the task's output")
	fs.StringVar(&s.KMSKey, "kms-key", "", "snapshot: the customer managed KMS key (id or ARN) of the restored cluster's master user secret; adds the key's use")
}

// bedrockModels are the catalogue's models that are invoked on Bedrock.
func bedrockModels() []string {
	var out []string
	for _, m := range embed.Models {
		if m.Kind == embed.KindBedrockCohere || m.Kind == embed.KindBedrockTitan {
			out = append(out, m.ID)
		}
	}
	return out
}

var (
	accountRE = regexp.MustCompile(`^\d{12}$`)
	// nameRE is what may stand in an ARN's resource part: no placeholder brackets, no spaces,
	// no wildcard the operator did not mean.
	nameRE = regexp.MustCompile(`^[A-Za-z0-9_+=,.@:/!-]+$`)
)

func (o *iamPolicyOptions) Validate(args []string) error {
	for _, c := range args {
		if !slices.Contains(iampolicy.Commands, c) {
			return fmt.Errorf("unknown command %q: known are %s", c, strings.Join(iampolicy.Commands, ", "))
		}
	}
	s := o.scope
	if s.Account != "" && !accountRE.MatchString(s.Account) {
		return fmt.Errorf("--account %q: want the 12-digit account id", s.Account)
	}
	if s.Runner != "local" && s.Runner != "ecs" {
		return fmt.Errorf("--runner %q: want local or ecs", s.Runner)
	}
	if s.ECSTask != "app" && s.ECSTask != "worker" {
		return fmt.Errorf("--ecs-task %q: want app or worker", s.ECSTask)
	}
	if !slices.Contains(bedrockModels(), s.Model) {
		return fmt.Errorf("--model %q: want a Bedrock model: %s (an --openai-url model needs no AWS permission)", s.Model, strings.Join(bedrockModels(), ", "))
	}
	for _, f := range []struct{ name, v string }{
		{"--stack", s.Stack}, {"--target-secret", s.TargetSecret}, {"--source-secret", s.SourceSecret}, {"--ecs-cluster", s.ECSCluster},
		{"--task-role", s.TaskRole}, {"--execution-role", s.ExecutionRole}, {"--log-group", s.LogGroup}, {"--kms-key", s.KMSKey},
		{"--task-definition", s.TaskDefinition}, {"--table-access-role", s.TableAccessRole},
	} {
		if f.v != "" && !nameRE.MatchString(f.v) {
			return fmt.Errorf("%s %q: not a name or ARN", f.name, f.v)
		}
	}
	return nil
}

func newIAMPolicyCommand(g *globalOptions) *cobra.Command {
	o := &iamPolicyOptions{}
	cmd := &cobra.Command{
		Use:   "iam-policy [command...]",
		Short: "Print the least-privilege IAM policy for the commands you will run",
		Long: `iam-policy prints, as JSON on stdout, the IAM policy (Version 2012-10-17) that allows what the
given commands call in AWS and nothing else; without a command, what every command calls.
Commands: ` + strings.Join(iampolicy.Commands, ", ") + `. It calls no AWS API itself.

What each command needs:
  plan       dynamodb:Scan on the table; s3:ListBucket on the bucket; s3:GetObject on its uploads
             (--exact reads them); servicequotas:ListServiceQuotas (the model's quotas; with
             --runner ecs also Fargate's vCPU quota); with --runner ecs, ecs:DescribeTaskDefinition
  reembed    dynamodb:Scan, GetItem, UpdateItem on the table (bots and their SyncStatus);
             s3:ListBucket (its plan); s3:GetObject; bedrock:InvokeModel on the model;
             servicequotas:ListServiceQuotas. With --runner ecs the app's tasks read and embed
             (their task role needs that: 'iam-policy worker' is what ragmigrate's worker
             needs in them), so no GetObject and InvokeModel; instead ecs:DescribeTaskDefinition,
             RunTask (--task-definition, in --ecs-cluster), DescribeTasks, StopTask, and
             iam:PassRole of the task's roles (--task-role, --execution-role); with --ecs-task
             worker, ecs:RegisterTaskDefinition and RunTask of the family ragmigrate instead of
             the app's, and logs:GetLogEvents on --log-group (a failed worker's last lines).
             With --ecs-task app it compares the database the app's task definition names with
             the target: a DB_SECRETS_ARN that is --stack's or --target-secret's secret (as in a
             deployment) is not read again; another is not granted here, and without
             GetSecretValue on it the run says it could not compare them and goes on
  worker     dynamodb:GetItem, UpdateItem on the table, or with --table-access-role only
             sts:AssumeRole of that role (as in the app's task); s3:GetObject;
             bedrock:InvokeModel; servicequotas:ListServiceQuotas; GetSecretValue on the
             database secret (the app's DB_SECRETS_ARN: --target-secret)
  verify     dynamodb:Scan (with --table); s3:GetObject (with --bucket)
  inspect    s3:GetObject (an s3:// argument in the document bucket)
  copy       with --merge, dynamodb:Scan on the table (the bots' SyncStatus), granted when --table
             or --stack names it; a plain copy calls nothing in AWS
  status, cleanup, replicate: nothing in AWS (PostgreSQL only)
  remote     ecs:RegisterTaskDefinition, DescribeTaskDefinition, RunTask (family ragmigrate, in
             the cluster), DescribeTasks, StopTask; iam:PassRole of the task and execution roles
             to ecs-tasks.amazonaws.com; logs:GetLogEvents. The command the task runs needs its
             own permissions on the task role: 'iam-policy remote reembed' lists both; the
             Remote... and ECS... statements (and ReadStackOutputs, with --stack) are yours,
             the rest the task role's.
  snapshot   rds: describe snapshots, clusters, instances and tags; restore the cluster, create
             its instance, let RDS manage its master password (ModifyDBCluster), tag; delete
             both on cleanup; secretsmanager:CreateSecret, TagResource (RDS creates the master
             user secret rds!cluster-... in your name) and GetSecretValue on it; kms:DescribeKey
             (and, with --kms-key, Decrypt, GenerateDataKey, CreateGrant through Secrets Manager)
  --stack NAME adds cloudformation:DescribeStacks on the stack, and secretsmanager:GetSecretValue
             on its DbConfigSecretArn (the target's credentials); --target-secret and
             --source-secret add GetSecretValue on those secrets.

What is scoped: the table (--table; or, with only --stack, the tables CloudFormation generated
for the stack, named STACK-*), the bucket (--bucket; or stack-*) and within it only the uploads
(*/documents/*), the model, the stack, the secrets, the ECS cluster, task family, roles and log
group, the snapshot and the restored cluster and instance. What cannot be: ListServiceQuotas,
RegisterTaskDefinition and DescribeTaskDefinition (no resource-level permissions: "*"), the RDS
describe calls (all clusters, instances and snapshots of the account and region), and the subnet
group, security groups and parameter and option groups a restore uses.

The region is --region, else AWS_REGION or the shared config's; the account is --account. What is
not known stays a placeholder such as <ACCOUNT_ID> or <RESTORED_CLUSTER>, listed on stderr:
replace each before use (an ARN that keeps one matches no resource, so it grants nothing).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Validate(args); err != nil {
				return usageError{err}
			}
			return runIAMPolicy(cmd.Context(), o, g, args)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runIAMPolicy(ctx context.Context, o *iamPolicyOptions, g *globalOptions, cmds []string) error {
	s := o.scope
	s.Table, s.Bucket, s.Region = g.Table, g.Bucket, g.Region
	if s.Region == "" {
		// The region the other commands would use (AWS_REGION, the profile's); this reads the
		// environment and the shared files only, no AWS API.
		if cfg, err := config.LoadDefaultConfig(ctx); err == nil {
			s.Region = cfg.Region
		}
	}
	policy, left, err := iampolicy.Build(s, cmds)
	if err != nil {
		return usageError{err}
	}
	enc := json.NewEncoder(g.stdout)
	enc.SetIndent("", "  ")
	// Placeholders are <NAME>: escaped as \u003c they would be unreadable.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(policy); err != nil {
		return err
	}
	if len(policy.Statement) == 0 {
		g.logger.InfoContext(ctx, "these commands call nothing in AWS with the options given: they need no IAM policy")
	}
	if len(left) > 0 {
		g.logger.WarnContext(ctx, "the policy holds placeholders: replace them, or give the flags that fill them (see --help)",
			slog.String("placeholders", strings.Join(left, " ")))
	}
	return nil
}
