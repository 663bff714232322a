package stack

import (
	"context"
	"net/url"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/awsstack"
	"github.com/ragmigrate/ragmigrate/internal/dbcred"
	"github.com/ragmigrate/ragmigrate/internal/dev/cfnsim"
	"github.com/ragmigrate/ragmigrate/internal/dev/ecssim"
	"github.com/ragmigrate/ragmigrate/internal/dev/secretsim"
	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// TestPublish publishes a v1 and a v0.4.x stack on the test's own databases and contract
// servers, then reads them back the way --stack does: the outputs resolve, the secret logs in
// as the app's role (not a superuser), a second publish keeps a rotated password, and the
// superuser still logs in after a rotation.
func TestPublish(t *testing.T) {
	ctx := stacktest.Context(t)
	target, source := stacktest.Database(t, "RAGMIGRATE_TARGET_DB"), stacktest.Database(t, "RAGMIGRATE_SOURCE_DB")
	role := "pub_" + stacktest.Suffix()
	t.Cleanup(func() {
		for _, db := range []string{target, source} {
			if c, err := pgx.Connect(context.Background(), db); err == nil {
				_, _ = c.Exec(context.Background(), "DROP OWNED BY "+role)
				c.Close(context.Background())
			}
		}
		if c, err := pgx.Connect(context.Background(), target); err == nil {
			_, _ = c.Exec(context.Background(), "DROP ROLE IF EXISTS "+role)
			c.Close(context.Background())
		}
	})
	cfn, err := cfnsim.New(t.TempDir())
	require.NoError(t, err)
	sm, err := secretsim.New(t.TempDir(), []string{target, source})
	require.NoError(t, err)
	tasks, err := ecssim.New(ecssim.Options{Dir: t.TempDir(), Binary: "/bin/true"})
	require.NoError(t, err)
	endpoint := stacktest.AWSServer(t, cfn.Register, sm.Register, tasks.Register)
	t.Cleanup(tasks.Close)

	stacks := []Published{{Name: "V1", AdminURL: target, Role: role}, {Name: "V0", AdminURL: source, Role: role + "_v0", V0: true}}
	t.Cleanup(func() {
		if c, err := pgx.Connect(context.Background(), source); err == nil {
			_, _ = c.Exec(context.Background(), "DROP OWNED BY "+role+"_v0; DROP ROLE IF EXISTS "+role+"_v0")
			c.Close(context.Background())
		}
	})
	require.NoError(t, publish(ctx, endpoint, stacks, "the-table", "the-bucket"))

	creds := credentials.NewStaticCredentialsProvider("a", "b", "")
	cf := cloudformation.New(cloudformation.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), Credentials: creds})
	sec := secretsmanager.New(secretsmanager.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), Credentials: creds})
	login := func(name string) string {
		t.Helper()
		st, err := awsstack.Describe(ctx, cf, name)
		require.NoError(t, err)
		require.Equal(t, "the-table", st.Table.Value)
		require.Equal(t, "the-bucket", st.Bucket.Value)
		u, _, err := dbcred.FromSecret(ctx, sec, st.DBSecretARN.Value, "", dbcred.Options{})
		require.NoError(t, err)
		conn, err := vectorstore.Connect(ctx, u, "test", vectorstore.Timeouts{})
		require.NoError(t, err)
		defer conn.Close(ctx)
		p, err := vectorstore.ReadPrivileges(ctx, conn)
		require.NoError(t, err)
		require.False(t, p.Superuser)
		require.True(t, p.CreateInDatabase, "the journal's schema can be created")
		return p.Role
	}
	require.Equal(t, role, login("V1"))
	require.Equal(t, role+"_v0", login("V0"))
	v1, err := awsstack.Describe(ctx, cf, "V1")
	require.NoError(t, err)
	require.NoError(t, v1.Require("embedding cluster", "embedding task definition", "embedding task security group", "private subnets"))
	v0, err := awsstack.Describe(ctx, cf, "V0")
	require.NoError(t, err)
	require.Error(t, v0.Require("embedding cluster"), "v0.4.x has no embedding outputs")
	require.NoError(t, v0.FillFromResources(ctx, cf))
	require.NoError(t, v0.Require("embedding cluster", "embedding task definition", "embedding task security group"), "but has the resources")

	_, err = sm.Rotate(ctx, "V1-DbSecret")
	require.NoError(t, err)
	rotated, _ := sm.SecretString("V1-DbSecret")
	require.NoError(t, publish(ctx, endpoint, stacks, "the-table", "the-bucket"))
	again, _ := sm.SecretString("V1-DbSecret")
	require.Equal(t, rotated, again, "publishing again keeps the rotated password")
	ecsClient := ecs.New(ecs.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), Credentials: creds})
	td, err := ecsClient.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(v1.EmbeddingTaskDefinition.Value)})
	require.NoError(t, err, "the v1 stack's embedding task definition is registered")
	require.EqualValues(t, 1, td.TaskDefinition.Revision, "publishing again registers no second revision")
	require.Equal(t, "Container", aws.ToString(td.TaskDefinition.ContainerDefinitions[0].Name))
	env := map[string]string{}
	for _, kv := range td.TaskDefinition.ContainerDefinitions[0].Environment {
		env[aws.ToString(kv.Name)] = aws.ToString(kv.Value)
	}
	require.Equal(t, cfnsim.TableAccessRoleARN, env["TABLE_ACCESS_ROLE_ARN"], "the role its task role reaches the table as")
	require.Equal(t, "the-table", env["TABLE_NAME"])
	require.Equal(t, v1.DBSecretARN.Value, env["DB_SECRETS_ARN"])
	require.Equal(t, role, login("V1"))

	su, err := pgx.Connect(ctx, target)
	require.NoError(t, err, "the superuser is untouched by the rotation")
	su.Close(ctx)
	u, _ := url.Parse(target)
	require.Equal(t, "postgres", u.User.Username())
}
