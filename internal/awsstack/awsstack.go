// Package awsstack reads what a migration needs from a deployed Bedrock Chat CloudFormation
// stack: its outputs, read with DescribeStacks and matched by output-key prefix, so that the
// operator types a stack name instead of pasting six values from the console.
//
// # Overview
//
// CDK names a top-level output by its id (ConversationTableName) and an output declared inside a
// construct by the construct path plus an 8-hex hash (EmbeddingClusterNameA6A626C4), so keys are
// matched by prefix, never whole. v0.4.x and v1.x stacks share most keys; v1 adds the construct
// outputs of the embedding task (cluster, task definition, security group) and a second table
// output (DatabaseConversationTableName…). A v0.4.x stack has the embedding task's resources but
// no outputs for them: FillFromResources finds them with ListStackResources, for the commands
// that need them. Each value records the output (or resource) it came from, which the CLI
// prints, so the operator can check what was picked.
//
// Use: st, err := Describe(ctx, cfnClient, name); then st.Require("table", …) before using a
// value; the CLI keeps the stack --stack read in globalOptions.awsStack.Resolved.
package awsstack

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/smithy-go"
)

// Value is one resolved setting and where it was read: the output key, or for a setting a
// v0.4.x stack has no output for, the logical id of the stack resource (both "" for a default,
// or when the stack has neither).
type Value struct {
	Value    string `json:"value"`
	Output   string `json:"output,omitempty"`
	Resource string `json:"resource,omitempty"`
}

// Set reports whether the stack gave the value.
func (v Value) Set() bool { return v.Value != "" }

// Stack is what a migration uses from a Bedrock Chat stack. A field whose output the stack lacks
// is the zero Value; Require turns that into an error naming the output and the flag to use.
type Stack struct {
	Name string `json:"name"`
	// Table is the DynamoDB conversation table holding the bots.
	Table Value `json:"table"`
	// Bucket is the S3 document bucket.
	Bucket Value `json:"bucket"`
	// DBSecretARN is the Aurora cluster's Secrets Manager secret (host, port, username,
	// password, dbname); DBHost and DBPort the cluster endpoint, which the secret also holds.
	DBSecretARN Value `json:"db_secret_arn"`
	DBHost      Value `json:"db_host"`
	DBPort      Value `json:"db_port"`
	// EmbeddingCluster, EmbeddingTaskDefinition and EmbeddingSecurityGroup are the embedding
	// task's ECS cluster, task definition family and security group (which the database's group
	// admits). v1.x stacks only; a v0.4.x stack needs flags for them.
	EmbeddingCluster        Value `json:"embedding_cluster"`
	EmbeddingTaskDefinition Value `json:"embedding_task_definition"`
	EmbeddingSecurityGroup  Value `json:"embedding_security_group"`
	// PrivateSubnets are the VPC's private subnets (with NAT), in output order; Outputs names the
	// key of each.
	PrivateSubnets []Value `json:"private_subnets"`
}

// field describes how one value is found: output-key prefixes in order of preference, and the
// flag an operator uses instead when the stack lacks it. A prefix ending in "…" is a construct
// output's, which CDK suffixes with a hash; the others are top-level ids, but are matched by
// prefix too.
type field struct {
	Name     string
	Prefixes []string
	Flag     string
	get      func(*Stack) *Value
}

// fields lists every single-valued setting. The v1 construct output DatabaseConversationTableName…
// comes first because it names the table the v1 app uses; ConversationTableName (both versions)
// holds the same table.
var fields = []field{
	{"table", []string{"DatabaseConversationTableName…", "ConversationTableName"}, "--table", func(s *Stack) *Value { return &s.Table }},
	{"document bucket", []string{"DocumentBucketName"}, "--bucket", func(s *Stack) *Value { return &s.Bucket }},
	{"database secret", []string{"DbConfigSecretArn"}, "--target-secret or --target-db", func(s *Stack) *Value { return &s.DBSecretARN }},
	{"database host", []string{"DbConfigHostname"}, "--target-db", func(s *Stack) *Value { return &s.DBHost }},
	{"database port", []string{"DbConfigPort"}, "--target-db", func(s *Stack) *Value { return &s.DBPort }},
	{"embedding cluster", []string{"EmbeddingClusterName…"}, "--cluster", func(s *Stack) *Value { return &s.EmbeddingCluster }},
	{"embedding task definition", []string{"EmbeddingTaskDefinitionName…"}, "--task-definition", func(s *Stack) *Value { return &s.EmbeddingTaskDefinition }},
	{"embedding task security group", []string{"EmbeddingTaskSecurityGroupId…"}, "--security-groups", func(s *Stack) *Value { return &s.EmbeddingSecurityGroup }},
}

// privateSubnetPrefix names the subnets' outputs: PrivateSubnetId0, PrivateSubnetId1, …
const privateSubnetPrefix = "PrivateSubnetId"

// ErrNotFound is returned (wrapped) when no stack has the name.
var ErrNotFound = errors.New("stack not found")

// MissingError says that a stack lacks an output a command needs, and which flag replaces it.
type MissingError struct {
	Stack    string
	What     string
	Prefixes []string
	Flag     string
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("stack %s has no output %s (the %s): pass %s", e.Stack, strings.Join(e.Prefixes, " or "), e.What, e.Flag)
}

// DescribeStacksAPI is the one CloudFormation call Describe makes.
type DescribeStacksAPI interface {
	DescribeStacks(ctx context.Context, in *cloudformation.DescribeStacksInput, optFns ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
}

// Describe reads stack name's outputs and resolves them. A stack that does not exist is an
// ErrNotFound; missing outputs are not errors here (see Require).
func Describe(ctx context.Context, api DescribeStacksAPI, name string) (*Stack, error) {
	out, err := api.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: &name})
	if err != nil {
		// CloudFormation answers an unknown name with a ValidationError, not a modeled type.
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "ValidationError" && strings.Contains(ae.ErrorMessage(), "does not exist") {
			return nil, fmt.Errorf("describe stack %s: %w: %s", name, ErrNotFound, ae.ErrorMessage())
		}
		return nil, fmt.Errorf("describe stack %s: %w", name, err)
	}
	if len(out.Stacks) == 0 {
		return nil, fmt.Errorf("describe stack %s: %w", name, ErrNotFound)
	}
	return Resolve(name, out.Stacks[0].Outputs), nil
}

// Resolve matches outputs to the settings by key prefix. When several keys share a prefix
// (never in a real stack), the lexically first wins, so the choice does not depend on order.
func Resolve(name string, outputs []types.Output) *Stack {
	byKey := map[string]string{}
	keys := make([]string, 0, len(outputs))
	for _, o := range outputs {
		if o.OutputKey == nil || o.OutputValue == nil {
			continue
		}
		byKey[*o.OutputKey] = *o.OutputValue
		keys = append(keys, *o.OutputKey)
	}
	sort.Strings(keys)
	s := &Stack{Name: name}
	for _, f := range fields {
	prefixes:
		for _, p := range f.Prefixes {
			p = strings.TrimSuffix(p, "…")
			for _, k := range keys {
				if strings.HasPrefix(k, p) && byKey[k] != "" {
					*f.get(s) = Value{Value: byKey[k], Output: k}
					break prefixes
				}
			}
		}
	}
	// PrivateSubnetId0, PrivateSubnetId1, …: exactly a number after the prefix, in numeric order.
	type subnet struct {
		n int
		v Value
	}
	var subnets []subnet
	for _, k := range keys {
		if n, err := strconv.Atoi(strings.TrimPrefix(k, privateSubnetPrefix)); err == nil && strings.HasPrefix(k, privateSubnetPrefix) && byKey[k] != "" {
			subnets = append(subnets, subnet{n, Value{Value: byKey[k], Output: k}})
		}
	}
	sort.Slice(subnets, func(i, j int) bool { return subnets[i].n < subnets[j].n })
	for _, sn := range subnets {
		s.PrivateSubnets = append(s.PrivateSubnets, sn.v)
	}
	return s
}

// ListStackResourcesAPI is the CloudFormation call FillFromResources makes.
type ListStackResourcesAPI interface {
	ListStackResources(ctx context.Context, in *cloudformation.ListStackResourcesInput, optFns ...func(*cloudformation.Options)) (*cloudformation.ListStackResourcesOutput, error)
}

// resourceFields find the embedding task's settings among the stack's resources: logical-id
// prefix, resource type, and how the physical id gives the value.
var resourceFields = []struct {
	prefix, typ string
	get         func(*Stack) *Value
	value       func(physical string) string
}{
	{"EmbeddingCluster", "AWS::ECS::Cluster", func(s *Stack) *Value { return &s.EmbeddingCluster }, func(p string) string { return p }},
	// A task definition's physical id is its ARN, …:task-definition/FAMILY:REVISION.
	{"EmbeddingTaskDefinition", "AWS::ECS::TaskDefinition", func(s *Stack) *Value { return &s.EmbeddingTaskDefinition }, taskDefinitionFamily},
	{"EmbeddingTaskSecurityGroup", "AWS::EC2::SecurityGroup", func(s *Stack) *Value { return &s.EmbeddingSecurityGroup }, func(p string) string { return p }},
}

func taskDefinitionFamily(arn string) string {
	_, fam, ok := strings.Cut(arn, ":task-definition/")
	if !ok {
		return arn
	}
	fam, _, _ = strings.Cut(fam, ":")
	return fam
}

// FillFromResources fills the embedding cluster, task definition and task security group that
// the outputs lacked (a v0.4.x stack has no outputs for them) from the stack's resources, by
// logical-id prefix and type; the prefix alone would also match the task definition's roles. It
// lists the resources only when something is missing, so a v1 stack costs no call.
func (s *Stack) FillFromResources(ctx context.Context, api ListStackResourcesAPI) error {
	missing := false
	for _, f := range resourceFields {
		missing = missing || !f.get(s).Set()
	}
	if !missing {
		return nil
	}
	p := cloudformation.NewListStackResourcesPaginator(api, &cloudformation.ListStackResourcesInput{StackName: &s.Name})
	var all []types.StackResourceSummary
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list resources of stack %s: %w", s.Name, err)
		}
		all = append(all, page.StackResourceSummaries...)
	}
	sort.Slice(all, func(i, j int) bool { return deref(all[i].LogicalResourceId) < deref(all[j].LogicalResourceId) })
	for _, f := range resourceFields {
		if f.get(s).Set() {
			continue
		}
		for _, r := range all {
			id, phys := deref(r.LogicalResourceId), deref(r.PhysicalResourceId)
			if strings.HasPrefix(id, f.prefix) && deref(r.ResourceType) == f.typ && phys != "" {
				*f.get(s) = Value{Value: f.value(phys), Resource: id}
				break
			}
		}
	}
	return nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// Require returns a *MissingError for the first of the named settings the stack lacks, or nil.
// Names are the ones in the field table: "table", "document bucket", "database secret",
// "embedding cluster", "embedding task definition", "embedding task security group", and
// "private subnets".
func (s *Stack) Require(names ...string) error {
	for _, n := range names {
		if n == "private subnets" {
			if len(s.PrivateSubnets) == 0 {
				return &MissingError{Stack: s.Name, What: n, Prefixes: []string{privateSubnetPrefix}, Flag: "--subnets"}
			}
			continue
		}
		f, ok := fieldByName(n)
		if !ok {
			panic("awsstack: unknown setting " + n)
		}
		if !f.get(s).Set() {
			return &MissingError{Stack: s.Name, What: f.Name, Prefixes: f.Prefixes, Flag: f.Flag}
		}
	}
	return nil
}

func fieldByName(name string) (field, bool) {
	for _, f := range fields {
		if f.Name == name {
			return f, true
		}
	}
	return field{}, false
}
