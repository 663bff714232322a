// Package stacktest gives tests isolated pieces of the running local stack: a fresh database on
// either cluster, a uniquely named table and bucket, SDK clients pointed at the stack. Tests fail —
// never skip — when the stack is not running, naming the command that starts it. It also starts a
// test's own AWS contract servers in process (AWSServer, ECS), where a test needs knobs or state
// of its own.
package stacktest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/awsclient"
	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/docstore"
)

const startHint = "the local stack is not running: start it with 'make stack-up' (or run 'make test')"

// Getenv returns a variable the stack's env file sets, failing the test when it is missing.
func Getenv(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: %s", name, startHint)
	}
	return v
}

// Suffix is a short random lowercase suffix for names.
func Suffix() string {
	var b [5]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Context is a test context with a deadline.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// AWS returns SDK clients pointed at the stack.
func AWS(t testing.TB) *awsclient.Clients {
	t.Helper()
	Getenv(t, "AWS_ENDPOINT_URL_DYNAMODB")
	Getenv(t, "AWS_ENDPOINT_URL_S3")
	c, err := awsclient.Load(Context(t), awsclient.Options{S3PathStyle: true})
	require.NoError(t, err)
	return c
}

// Database creates an empty database on the cluster of clusterURL (e.g. RAGMIGRATE_SOURCE_DB)
// and returns its URL; it is dropped when the test ends.
func Database(t testing.TB, clusterEnv string) string {
	t.Helper()
	base := Getenv(t, clusterEnv)
	ctx := Context(t)
	conn, err := pgx.Connect(ctx, base)
	require.NoError(t, err, startHint)
	defer conn.Close(ctx)
	name := "rmtest_" + Suffix()
	_, err = conn.Exec(ctx, "CREATE DATABASE "+name)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	require.NoError(t, err)
	u.Path = "/" + name
	return u.String()
}

// Table returns a unique table name, deleted (if created) when the test ends.
func Table(t testing.TB, c *dynamodb.Client) string {
	name := "rmtest-" + Suffix()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	return name
}

// BotTable creates a unique, empty conversation table with the app's keys and indexes, deleted
// when the test ends, and returns its name.
func BotTable(t testing.TB, c *dynamodb.Client) string {
	t.Helper()
	ctx := Context(t)
	name := Table(t, c)
	_, err := c.CreateTable(ctx, botstore.CreateTableInput(name))
	require.NoError(t, err)
	require.NoError(t, dynamodb.NewTableExistsWaiter(c).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, time.Minute,
		func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 50 * time.Millisecond }))
	return name
}

// Bucket returns a unique bucket name, emptied and deleted (if created) when the test ends.
func Bucket(t testing.TB, c *s3.Client) string {
	name := "rmtest-" + Suffix()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := docstore.New(c, name).DeletePrefix(ctx, ""); err != nil && !strings.Contains(err.Error(), "NoSuchBucket") {
			t.Errorf("empty bucket %s: %v", name, err)
		}
		c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(name)})
	})
	return name
}
