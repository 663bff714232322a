package dbcred_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/ragmigrate/ragmigrate/internal/dbcred"
	"github.com/ragmigrate/ragmigrate/internal/dev/secretsim"
	"github.com/ragmigrate/ragmigrate/internal/dev/stack"
	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

func TestParseClusterSecret(t *testing.T) {
	c, err := dbcred.ParseClusterSecret(`{"host":"h.rds.amazonaws.com","port":5432,"username":"postgres","password":"p@ss w'rd","dbname":"postgres","engine":"postgres","dbClusterIdentifier":"x"}`)
	require.NoError(t, err)
	require.Equal(t, dbcred.ClusterSecret{Host: "h.rds.amazonaws.com", Port: 5432, Username: "postgres", Password: "p@ss w'rd", DBName: "postgres"}, c)
	require.NotContains(t, c.String(), "p@ss")
	c, err = dbcred.ParseClusterSecret(`{"host":"h","port":"6543","username":"u","password":"pw"}`)
	require.NoError(t, err)
	require.Equal(t, 6543, c.Port)
	require.Equal(t, "postgres", c.DBName, "the app's defaultDatabaseName")
	for _, bad := range []string{`{"host":"h","username":"u"}`, `not json secret-value`, `{"host":"h","port":"x","username":"u","password":"secret-value"}`} {
		_, err := dbcred.ParseClusterSecret(bad)
		require.Error(t, err)
		require.NotContains(t, err.Error(), "secret-value", "errors never quote the secret")
	}
}

func TestURL(t *testing.T) {
	require.Equal(t, "postgres://app@db.example.com:5432/postgres?sslmode=require", dbcred.URL("db.example.com", 5432, "app", "postgres"))
	require.Equal(t, "postgres://app@127.0.0.1:15433/postgres?sslmode=prefer", dbcred.URL("127.0.0.1", 15433, "app", "postgres"))
	require.Equal(t, "postgres://app@[::1]:5432/x?sslmode=prefer", dbcred.URL("::1", 5432, "app", "x"))
}

// TestIAMToken checks the token --iam-auth logs in with: an RDS connect token for the user,
// signed for the cluster's endpoint; and that a URL carrying a password is refused.
func TestIAMToken(t *testing.T) {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret-key", "")}
	tok, err := dbcred.NewIAMSource("db.cluster-x.us-east-1.rds.amazonaws.com", 5432, "app", cfg).Password(context.Background(), "")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(tok, "db.cluster-x.us-east-1.rds.amazonaws.com:5432?"), tok)
	require.Contains(t, tok, "Action=connect")
	require.Contains(t, tok, "DBUser=app")
	require.Contains(t, tok, "X-Amz-Signature=")
	require.NotContains(t, tok, "secret-key")
	require.ErrorContains(t, dbcred.UseIAM("postgres://app:pw@h:5432/db", cfg), "carries a password")
	require.NoError(t, dbcred.UseIAM("postgres://app@h:5432/db", cfg))
}

// TestPoolSurvivesRotation opens a pool from a secret, rotates the password through the
// contract server (the role's password changes at once), and makes the pool open new sessions:
// they log in with the new password after one refused login, and the secret is read again once.
func TestPoolSurvivesRotation(t *testing.T) {
	ctx := stacktest.Context(t)
	db := stacktest.Database(t, "RAGMIGRATE_TARGET_DB")
	u, _ := url.Parse(db)
	port, _ := strconv.Atoi(u.Port())
	admin, err := pgx.Connect(ctx, db)
	require.NoError(t, err)
	defer admin.Close(ctx)
	role := "rot_" + stacktest.Suffix()
	require.NoError(t, stack.GrantAppRole(ctx, admin, role, "first-password"))
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), db)
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP OWNED BY "+role+"; DROP ROLE "+role)
			c.Close(context.Background())
		}
	})

	store, err := secretsim.New("", []string{db})
	require.NoError(t, err)
	sm := secretsmanager.New(secretsmanager.Options{Region: "us-east-1", BaseEndpoint: aws.String(stacktest.AWSServer(t, store.Register)),
		Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")})
	value, _ := json.Marshal(map[string]any{"host": "127.0.0.1", "port": port, "username": role, "password": "first-password", "dbname": strings.TrimPrefix(u.Path, "/")})
	arn, err := store.Put("s-"+role, string(value))
	require.NoError(t, err)

	_, err = sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("no-such-secret")})
	var notFound *smtypes.ResourceNotFoundException
	require.ErrorAs(t, err, &notFound)

	// An RDS-managed secret (what 'snapshot restore' prints) holds username and password only:
	// the endpoint comes from a password-less URL.
	managed, _ := json.Marshal(map[string]any{"username": role, "password": "first-password"})
	managedARN, err := store.Put("rds!cluster-"+role, string(managed))
	require.NoError(t, err)
	_, _, err = dbcred.FromSecret(ctx, sm, managedARN, "", dbcred.Options{})
	require.ErrorIs(t, err, dbcred.ErrNoEndpoint)
	_, _, err = dbcred.FromSecret(ctx, sm, managedARN, "postgres://x:pw@"+u.Host+u.Path, dbcred.Options{})
	require.ErrorContains(t, err, "carries a password")
	require.NotContains(t, err.Error(), "pw@")
	managedURL, mc, err := dbcred.FromSecret(ctx, sm, managedARN, "postgres://"+u.Host+u.Path, dbcred.Options{})
	require.NoError(t, err)
	require.Equal(t, role, mc.Username)
	mconn, err := vectorstore.Connect(ctx, managedURL, "test", vectorstore.Timeouts{})
	require.NoError(t, err, "logs in with the managed secret's password at the URL's endpoint")
	mconn.Close(ctx)

	dbURL, c, err := dbcred.FromSecret(ctx, sm, arn, "", dbcred.Options{})
	require.NoError(t, err)
	require.NotContains(t, dbURL, "first-password")
	require.Empty(t, c.Password)
	pool, err := vectorstore.NewPool(ctx, dbURL, "test", 4, vectorstore.Timeouts{})
	require.NoError(t, err)
	defer pool.Close()
	require.Equal(t, 1, store.Gets("s-"+role))

	_, err = store.Rotate(ctx, arn)
	require.NoError(t, err)
	_, err = pgx.Connect(ctx, "postgres://"+role+":first-password@"+u.Host+u.Path+"?sslmode=disable")
	require.True(t, vectorstore.IsAuthFailure(err), "the old password stops working at once: %v", err)

	pool.Reset() // every session from now on is a new one
	var g errgroup.Group
	conns := make([]*pgxpool.Conn, 4)
	for i := range conns {
		g.Go(func() error {
			c, err := pool.Acquire(ctx) // four new sessions at once, all refused the old password
			if err == nil {
				err = c.QueryRow(ctx, `SELECT current_user`).Scan(new(string))
			}
			conns[i] = c
			return err
		})
	}
	require.NoError(t, g.Wait())
	for _, c := range conns {
		c.Release()
	}
	require.Equal(t, 2, store.Gets("s-"+role), "refused logins read the secret once more, not once each")

	// A single session (Connect, pgcopy) retries the same way.
	_, err = store.Rotate(ctx, arn)
	require.NoError(t, err)
	conn, err := vectorstore.Connect(ctx, dbURL, "test", vectorstore.Timeouts{})
	require.NoError(t, err)
	conn.Close(ctx)
	require.Equal(t, 3, store.Gets("s-"+role))

	// Read last: every read of the secret counts above.
	_, _, err = dbcred.FromSecret(ctx, sm, arn, "postgres://"+u.Host+u.Path, dbcred.Options{})
	require.ErrorIs(t, err, dbcred.ErrEndpointTwice, "a secret with a host takes no URL")
}

// TestReadSecret reads what a secret names without its password, with the app's defaults for a
// missing port and database; an RDS-managed secret names no host; an error names the secret.
func TestReadSecret(t *testing.T) {
	ctx := stacktest.Context(t)
	store, err := secretsim.New("", nil)
	require.NoError(t, err)
	sm := secretsmanager.New(secretsmanager.Options{Region: "us-east-1", BaseEndpoint: aws.String(stacktest.AWSServer(t, store.Register)),
		Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")})
	arn, err := store.Put("app-db", `{"host":"Cluster.Example","username":"app","password":"never-returned"}`)
	require.NoError(t, err)
	c, err := dbcred.ReadSecret(ctx, sm, arn)
	require.NoError(t, err)
	require.Equal(t, dbcred.ClusterSecret{Host: "Cluster.Example", Port: 5432, Username: "app", DBName: "postgres"}, c)

	managed, err := store.Put("rds!cluster-app", `{"username":"app","password":"never-returned"}`)
	require.NoError(t, err)
	c, err = dbcred.ReadSecret(ctx, sm, managed)
	require.NoError(t, err)
	require.Empty(t, c.Host)
	require.Empty(t, c.Password)

	_, err = dbcred.ReadSecret(ctx, sm, "no-such-secret")
	require.ErrorContains(t, err, "read secret no-such-secret: ")
}
