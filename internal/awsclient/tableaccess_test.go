package awsclient_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/awsclient"
	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/dev/stssim"
)

// TestTableAccess: a user's credentials are the role's session scoped to that user, assumed once
// however many callers ask at once; another user gets a session of their own; a refused role is
// a TableAccessError naming the role and the user.
func TestTableAccess(t *testing.T) {
	t.Parallel()
	sim, err := stssim.New("")
	require.NoError(t, err)
	endpoint := stacktest.AWSServer(t, sim.Register)
	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("task-role", "s", "")}
	const role = "arn:aws:iam::123456789012:role/TableAccess"
	ta := awsclient.NewTableAccess(cfg, role)

	var wg sync.WaitGroup
	keys := make([]string, 16)
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := ta.For("user-a").Retrieve(t.Context())
			if err == nil {
				keys[i] = c.AccessKeyID
			}
		}()
	}
	wg.Wait()
	calls := sim.Calls()
	require.Len(t, calls, 1, "one session for the user, whatever the callers")
	for _, k := range keys {
		require.Equal(t, calls[0].AccessKeyID, k)
	}
	require.Equal(t, role, calls[0].RoleARN)
	require.JSONEq(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"dynamodb:*","Resource":"*",
		"Condition":{"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["user-a*"]}}}]}`, calls[0].Policy)

	b, err := ta.For("user-b").Retrieve(t.Context())
	require.NoError(t, err)
	require.NotEqual(t, keys[0], b.AccessKeyID)
	require.Len(t, sim.Calls(), 2)
	require.Contains(t, sim.Calls()[1].Policy, `["user-b*"]`)

	require.NoError(t, sim.Deny(role))
	_, err = ta.For("user-c").Retrieve(t.Context())
	var tae *awsclient.TableAccessError
	require.True(t, errors.As(err, &tae), "%v", err)
	require.Equal(t, role, tae.Role)
	require.Equal(t, "user-c", tae.User)
	require.ErrorContains(t, err, "assume the app's table access role "+role+" (TABLE_ACCESS_ROLE_ARN) for user user-c's items")
	require.ErrorContains(t, err, "AccessDenied")
}

// TestAppTableAccessRole: the role only in the app's environment (AWS_EXECUTION_ENV), as the
// app's code assumes it.
func TestAppTableAccessRole(t *testing.T) {
	t.Setenv("TABLE_ACCESS_ROLE_ARN", "arn:aws:iam::123456789012:role/T")
	t.Setenv("AWS_EXECUTION_ENV", "")
	require.Empty(t, awsclient.AppTableAccessRole())
	t.Setenv("AWS_EXECUTION_ENV", "AWS_ECS_FARGATE")
	require.Equal(t, "arn:aws:iam::123456789012:role/T", awsclient.AppTableAccessRole())
}
