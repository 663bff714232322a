package awsstack_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/awsstack"
	"github.com/ragmigrate/ragmigrate/internal/dev/cfnsim"
	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
)

var deployment = cfnsim.Deployment{
	Table: "BedrockChatStack-DatabaseConversationTable03F3FAE2-X", Bucket: "bedrockchatstack-documentbucketae41e5a9-x",
	SecretARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:DbSecret-abcdef", DBHost: "db.cluster-x.us-east-1.rds.amazonaws.com", DBPort: 5432,
	Cluster: "BedrockChatStack-EmbeddingCluster-X", TaskDefinition: "BedrockChatStackEmbeddingTaskDefinitionX", SecurityGroup: "sg-0embed",
	Subnets: [2]string{"subnet-0a", "subnet-1b"},
}

// client is the real SDK client against the CloudFormation contract server, through awssim's
// dispatcher as on the stack.
func client(t *testing.T, cfn *cfnsim.Server) *cloudformation.Client {
	return cloudformation.New(cloudformation.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(stacktest.AWSServer(t, cfn.Register)),
		Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""),
	})
}

func TestDescribeV1(t *testing.T) {
	cfn, _ := cfnsim.New("")
	require.NoError(t, cfn.Put("BedrockChatStack", cfnsim.BedrockChatV1(deployment)))
	st, err := awsstack.Describe(context.Background(), client(t, cfn), "BedrockChatStack")
	require.NoError(t, err)
	require.Equal(t, awsstack.Value{Value: deployment.Table, Output: "DatabaseConversationTableNameDDF11821"}, st.Table)
	require.Equal(t, awsstack.Value{Value: deployment.Bucket, Output: "DocumentBucketName"}, st.Bucket)
	require.Equal(t, awsstack.Value{Value: deployment.SecretARN, Output: "DbConfigSecretArn"}, st.DBSecretARN)
	require.Equal(t, awsstack.Value{Value: deployment.DBHost, Output: "DbConfigHostname"}, st.DBHost)
	require.Equal(t, awsstack.Value{Value: "5432", Output: "DbConfigPort"}, st.DBPort)
	require.Equal(t, awsstack.Value{Value: deployment.Cluster, Output: "EmbeddingClusterNameA6A626C4"}, st.EmbeddingCluster)
	require.Equal(t, awsstack.Value{Value: deployment.TaskDefinition, Output: "EmbeddingTaskDefinitionName9C442847"}, st.EmbeddingTaskDefinition)
	require.Equal(t, awsstack.Value{Value: deployment.SecurityGroup, Output: "EmbeddingTaskSecurityGroupId223DB337"}, st.EmbeddingSecurityGroup)
	require.Equal(t, []awsstack.Value{{Value: "subnet-0a", Output: "PrivateSubnetId0"}, {Value: "subnet-1b", Output: "PrivateSubnetId1"}}, st.PrivateSubnets)
	require.NoError(t, st.Require("table", "document bucket", "database secret", "embedding cluster",
		"embedding task definition", "embedding task security group", "private subnets"))
}

// TestDescribeV0 reads a v0.4.x stack: the table comes from ConversationTableName, and the
// embedding task's settings, which v0.4.x does not output, are missing with the flag to pass.
func TestDescribeV0(t *testing.T) {
	cfn, _ := cfnsim.New("")
	require.NoError(t, cfn.Put("BedrockChatStack", cfnsim.BedrockChatV0(deployment)))
	st, err := awsstack.Describe(context.Background(), client(t, cfn), "BedrockChatStack")
	require.NoError(t, err)
	require.Equal(t, awsstack.Value{Value: deployment.Table, Output: "ConversationTableName"}, st.Table)
	require.NoError(t, st.Require("table", "document bucket", "database secret", "private subnets"))
	err = st.Require("embedding cluster")
	var missing *awsstack.MissingError
	require.ErrorAs(t, err, &missing)
	require.EqualError(t, err, "stack BedrockChatStack has no output EmbeddingClusterName… (the embedding cluster): pass --cluster")

	// Its resources have them: the cluster, the task definition's family (not its roles, which
	// share the prefix) and the task's security group.
	require.NoError(t, cfn.Put("BedrockChatStack", cfnsim.BedrockChatV0(deployment), cfnsim.BedrockChatResources(deployment)...))
	require.NoError(t, st.FillFromResources(context.Background(), client(t, cfn)))
	require.Equal(t, awsstack.Value{Value: deployment.Cluster, Resource: "EmbeddingCluster6D1A1E4B"}, st.EmbeddingCluster)
	require.Equal(t, awsstack.Value{Value: deployment.TaskDefinition, Resource: "EmbeddingTaskDefinition1A2B3C4D"}, st.EmbeddingTaskDefinition)
	require.Equal(t, awsstack.Value{Value: deployment.SecurityGroup, Resource: "EmbeddingTaskSecurityGroup5E0F2C7D"}, st.EmbeddingSecurityGroup)
	require.NoError(t, st.Require("embedding cluster", "embedding task definition", "embedding task security group"))
}

func TestDescribeMissingAndUnknown(t *testing.T) {
	cfn, _ := cfnsim.New("")
	out := cfnsim.Without(cfnsim.BedrockChatV1(deployment), "DocumentBucketName")
	require.NoError(t, cfn.Put("S", out))
	c := client(t, cfn)
	st, err := awsstack.Describe(context.Background(), c, "S")
	require.NoError(t, err)
	require.EqualError(t, st.Require("table", "document bucket"), "stack S has no output DocumentBucketName (the document bucket): pass --bucket")

	// A v1 stack has every embedding setting as an output, which FillFromResources keeps.
	require.NoError(t, st.FillFromResources(context.Background(), c))
	require.Equal(t, "EmbeddingClusterNameA6A626C4", st.EmbeddingCluster.Output)

	_, err = awsstack.Describe(context.Background(), c, "NoSuchStack")
	require.True(t, errors.Is(err, awsstack.ErrNotFound), "%v", err)
	require.ErrorContains(t, err, "Stack with id NoSuchStack does not exist")
}
