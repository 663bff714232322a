package cfnsim

import "strconv"

// Deployment names the resources a published Bedrock Chat stack points at.
type Deployment struct {
	Table, Bucket, SecretARN string
	DBHost                   string
	DBPort                   int
	// Cluster, TaskDefinition and SecurityGroup are the embedding task's (v1 outputs only).
	Cluster, TaskDefinition, SecurityGroup string
	Subnets                                [2]string
}

// TableAccessRoleARN is the app's table access role in the published stacks (output
// TableAccessRoleArn, and TABLE_ACCESS_ROLE_ARN of the embedding task's environment).
const TableAccessRoleARN = "arn:aws:iam::123456789012:role/BedrockChatStack-DatabaseTableAccessRole-ABC"

// BedrockChatV1 returns the outputs of a Bedrock Chat v1.x stack with their real keys: the
// top-level ids and exports, and the construct outputs with a CDK hash after the prefix (the
// migration's ones as in bedrock-chat.md §7; the hashes of the others are made up), plus
// outputs a migration does not need, so that a reader matching too loosely would show it.
func BedrockChatV1(d Deployment) []Output {
	return append(bedrockChatCommon(d),
		Output{OutputKey: "DatabaseConversationTableNameDDF11821", OutputValue: d.Table},
		Output{OutputKey: "EmbeddingClusterNameA6A626C4", OutputValue: d.Cluster},
		Output{OutputKey: "EmbeddingTaskDefinitionName9C442847", OutputValue: d.TaskDefinition},
		Output{OutputKey: "EmbeddingTaskSecurityGroupId223DB337", OutputValue: d.SecurityGroup},
		Output{OutputKey: "BackendApiBackendApiUrl4A0A7879", OutputValue: "https://abcdefghij.execute-api.us-east-1.amazonaws.com"},
		Output{OutputKey: "WebSocketWebSocketEndpointBA1F5A5F", OutputValue: "wss://klmnopqrst.execute-api.us-east-1.amazonaws.com/dev"},
		Output{OutputKey: "LargeMessageBucketName", OutputValue: "bedrockchatstack-largemessagebucketad0c9b6b-1a2b3c4d5e6f"},
	)
}

// BedrockChatV0 returns the outputs of a Bedrock Chat v0.4.x stack: no construct outputs, so
// no embedding cluster, task definition or task security group.
func BedrockChatV0(d Deployment) []Output { return bedrockChatCommon(d) }

func bedrockChatCommon(d Deployment) []Output {
	const export = "BedrockClaudeChat"
	return []Output{
		{OutputKey: "ConversationTableName", OutputValue: d.Table, ExportName: export + "ConversationTableName"},
		{OutputKey: "DocumentBucketName", OutputValue: d.Bucket},
		{OutputKey: "DbConfigSecretArn", OutputValue: d.SecretARN, ExportName: export + "DbConfigSecretArn"},
		{OutputKey: "DbConfigHostname", OutputValue: d.DBHost, ExportName: export + "DbConfigHostname"},
		{OutputKey: "DbConfigPort", OutputValue: strconv.Itoa(d.DBPort), ExportName: export + "DbConfigPort"},
		{OutputKey: "DbSecurityGroupId", OutputValue: "sg-0db0000000000000a", ExportName: export + "DbSecurityGroupId"},
		{OutputKey: "PrivateSubnetId0", OutputValue: d.Subnets[0], ExportName: export + "PrivateSubnetId0"},
		{OutputKey: "PrivateSubnetId1", OutputValue: d.Subnets[1], ExportName: export + "PrivateSubnetId1"},
		{OutputKey: "PublicSubnetId0", OutputValue: "subnet-0pub0000000000000", ExportName: export + "PublicSubnetId0"},
		{OutputKey: "PublicSubnetId1", OutputValue: "subnet-1pub0000000000000", ExportName: export + "PublicSubnetId1"},
		{OutputKey: "VpcId", OutputValue: "vpc-0a1b2c3d4e5f60718", ExportName: export + "VpcId"},
		{OutputKey: "AvailabilityZone0", OutputValue: "us-east-1a", ExportName: export + "AvailabilityZone0"},
		{OutputKey: "AvailabilityZone1", OutputValue: "us-east-1b", ExportName: export + "AvailabilityZone1"},
		{OutputKey: "TableAccessRoleArn", OutputValue: TableAccessRoleARN, ExportName: export + "TableAccessRoleArn"},
		{OutputKey: "FrontendURL", OutputValue: "https://d1234abcdef.cloudfront.net"},
	}
}

// BedrockChatResources returns the stack resources a migration may look up, with CDK's logical
// ids (construct path plus a made-up hash) and types: the embedding task's cluster, task
// definition (and its roles, which share the prefix) and security group. A v0.4.x stack has them
// but no outputs for them.
func BedrockChatResources(d Deployment) []Resource {
	return []Resource{
		{"EmbeddingCluster6D1A1E4B", d.Cluster, "AWS::ECS::Cluster"},
		{"EmbeddingTaskDefinitionTaskRole2B1A0F51", "BedrockChatStack-EmbeddingTaskDefinitionTaskRole-X", "AWS::IAM::Role"},
		{"EmbeddingTaskDefinitionExecutionRole1C4D8E1A", "BedrockChatStack-EmbeddingTaskDefinitionExecutionRole-X", "AWS::IAM::Role"},
		{"EmbeddingTaskDefinition1A2B3C4D", "arn:aws:ecs:us-east-1:123456789012:task-definition/" + d.TaskDefinition + ":3", "AWS::ECS::TaskDefinition"},
		{"EmbeddingTaskSecurityGroup5E0F2C7D", d.SecurityGroup, "AWS::EC2::SecurityGroup"},
		{"DatabaseConversationTable03F3FAE2", d.Table, "AWS::DynamoDB::Table"},
	}
}

// Without returns outputs minus the ones whose key starts with prefix, for a test of a stack
// that lacks an output.
func Without(outputs []Output, prefix string) []Output {
	var out []Output
	for _, o := range outputs {
		if len(o.OutputKey) < len(prefix) || o.OutputKey[:len(prefix)] != prefix {
			out = append(out, o)
		}
	}
	return out
}
