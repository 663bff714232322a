package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/bedrocksim"
	"github.com/ragmigrate/ragmigrate/internal/dev/cfnsim"
	"github.com/ragmigrate/ragmigrate/internal/dev/secretsim"
	"github.com/ragmigrate/ragmigrate/internal/dev/stack"
	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
)

// awsRig is a test's own CloudFormation and Secrets Manager contract servers, behind awssim's
// dispatcher as on the stack, reached by the binary through the SDK's endpoint variables.
type awsRig struct {
	url string
	env []string
	cfn *cfnsim.Server
	sm  *secretsim.Server
}

func newAWSRig(t *testing.T) *awsRig {
	t.Helper()
	cfn, err := cfnsim.New("")
	require.NoError(t, err)
	sm, err := secretsim.New("", []string{stacktest.Getenv(t, "RAGMIGRATE_SOURCE_DB"), stacktest.Getenv(t, "RAGMIGRATE_TARGET_DB")})
	require.NoError(t, err)
	endpoint := stacktest.AWSServer(t, cfn.Register, sm.Register)
	return &awsRig{url: endpoint, cfn: cfn, sm: sm,
		env: []string{"AWS_ENDPOINT_URL_CLOUDFORMATION=" + endpoint, "AWS_ENDPOINT_URL_SECRETS_MANAGER=" + endpoint}}
}

// appSecret makes the database at dbURL the app's the way a deployment has it: a login role
// that is not a superuser owns its objects, and a cluster secret names it. It returns the
// secret's ARN and name.
func (r *awsRig) appSecret(t *testing.T, dbURL string) (arn, name string) {
	t.Helper()
	ctx := stacktest.Context(t)
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	role := "app_" + stacktest.Suffix()
	password := "initial-" + stacktest.Suffix() + stacktest.Suffix()
	conn := connectTest(t, dbURL)
	require.NoError(t, stack.GrantAppRole(ctx, conn, role, password))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			t.Errorf("drop role %s: %v", role, err)
			return
		}
		defer c.Close(ctx)
		for _, q := range []string{"DROP OWNED BY " + role, "DROP ROLE " + role} {
			if _, err := c.Exec(ctx, q); err != nil {
				t.Errorf("%s: %v", q, err)
			}
		}
	})
	port, err := strconv.Atoi(u.Port())
	require.NoError(t, err)
	value, err := json.Marshal(map[string]any{"host": u.Hostname(), "port": port, "username": role, "password": password,
		"dbname": strings.TrimPrefix(u.Path, "/"), "engine": "postgres", "dbClusterIdentifier": "test-cluster"})
	require.NoError(t, err)
	name = "DbSecret-" + role
	arn, err = r.sm.Put(name, string(value))
	require.NoError(t, err)
	return arn, name
}

// password is secret name's current password.
func (r *awsRig) password(t *testing.T, name string) string {
	t.Helper()
	v, ok := r.sm.SecretString(name)
	require.True(t, ok)
	var s struct{ Password string }
	require.NoError(t, json.Unmarshal([]byte(v), &s))
	require.NotEmpty(t, s.Password)
	return s.Password
}

// rotate turns the dev knob, as the stack's rotation schedule would.
func (r *awsRig) rotate(t *testing.T, arn string) {
	t.Helper()
	resp, err := http.Post(r.url+"/_dev/secretsmanager/rotate?secret-id="+url.QueryEscape(arn), "", nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func deploymentOf(b *reembedBundle, arn string) cfnsim.Deployment {
	u, _ := url.Parse(b.target)
	port, _ := strconv.Atoi(u.Port())
	return cfnsim.Deployment{Table: b.table, Bucket: b.bucket, SecretARN: arn, DBHost: u.Hostname(), DBPort: port,
		Cluster: "cluster", TaskDefinition: "taskdef", SecurityGroup: "sg-1", Subnets: [2]string{"subnet-a", "subnet-b"}}
}

// prepareAppTarget gives the bundle's empty target the app's setup, made by the superuser as
// the deploy's custom resource does, before the app's role takes it over.
func prepareAppTarget(t *testing.T, b *reembedBundle) {
	t.Helper()
	conn := connectTest(t, b.target)
	_, err := conn.Exec(stacktest.Context(t), `CREATE EXTENSION IF NOT EXISTS vector;
		CREATE TABLE IF NOT EXISTS items(id CHAR(26) primary key, botid CHAR(26), content text, source text, embedding vector(1024));
		CREATE INDEX IF NOT EXISTS idx_items_embedding ON items USING ivfflat (embedding vector_l2_ops) WITH (lists = 100);
		CREATE INDEX IF NOT EXISTS idx_items_botid ON items (botid);`)
	require.NoError(t, err)
}

// TestStackResolvesFromOutputs: plan and reembed with --stack alone (no table, bucket or
// database flag or env) find everything in a v1 stack's outputs and do what the explicit flags
// do; a v0.4.x stack works too; a stack without an output, or no stack, is a usage error naming
// what is missing and the flag that replaces it.
func TestStackResolvesFromOutputs(t *testing.T) {
	t.Parallel()
	b := setupReembed(t, 9, bedrocksim.Knobs{})
	prepareAppTarget(t, b)
	rig := newAWSRig(t)
	arn, name := rig.appSecret(t, b.target)
	d := deploymentOf(b, arn)
	require.NoError(t, rig.cfn.Put("BedrockChatStack", cfnsim.BedrockChatV1(d)))
	require.NoError(t, rig.cfn.Put("OldStack", cfnsim.BedrockChatV0(d)))
	require.NoError(t, rig.cfn.Put("NoBucket", cfnsim.Without(cfnsim.BedrockChatV1(d), "DocumentBucketName")))
	moved := d
	moved.DBHost = "db.cluster-x.us-east-1.rds.amazonaws.com"
	require.NoError(t, rig.cfn.Put("Moved", cfnsim.BedrockChatV1(moved)))
	env := append(append([]string{}, b.env...), rig.env...)
	common := []string{"--allow-private-urls"}

	// The explicit flags name the same database as the same role, its password in the URL.
	var sec struct{ Username, Password string }
	v, _ := rig.sm.SecretString(name)
	require.NoError(t, json.Unmarshal([]byte(v), &sec))
	appURL, _ := url.Parse(b.target)
	appURL.User = url.UserPassword(sec.Username, sec.Password)
	explicit := ragmigrate(t, b.env, append([]string{"plan", "--json", "--table", b.table, "--bucket", b.bucket, "--target-db", appURL.String()}, common...)...)
	require.Zero(t, explicit.code, explicit.stderr)
	for _, name := range []string{"BedrockChatStack", "OldStack"} {
		p := ragmigrate(t, env, append([]string{"plan", "--json", "--stack", name}, common...)...)
		require.Zero(t, p.code, p.stderr)
		require.JSONEq(t, explicit.stdout, p.stdout, "plan --stack %s plans what the explicit flags plan", name)
		require.Contains(t, p.stderr, "output=DocumentBucketName")
		require.Contains(t, p.stderr, "output=DbConfigSecretArn")
	}
	v1 := ragmigrate(t, env, "plan", "--stack", "BedrockChatStack")
	require.Contains(t, v1.stderr, "output=DatabaseConversationTableNameDDF11821", "v1's construct output names the table")
	require.NotContains(t, v1.stderr, "another endpoint")
	v0 := ragmigrate(t, env, "plan", "--stack", "OldStack")
	require.Contains(t, v0.stderr, "output=ConversationTableName")
	// A secret naming another endpoint than the stack's outputs is used, with a warning.
	mv := ragmigrate(t, env, "plan", "--stack", "Moved")
	require.Zero(t, mv.code, mv.stderr)
	require.Contains(t, mv.stderr, "the secret names another endpoint than the stack's outputs")

	// The environment wins over the stack.
	other := ragmigrate(t, append(env, "RAGMIGRATE_BUCKET=no-such-bucket"), "plan", "--stack", "BedrockChatStack")
	require.NotContains(t, other.stderr, "output=DocumentBucketName")
	require.Contains(t, other.stderr, "no-such-bucket")

	missing := ragmigrate(t, env, "plan", "--stack", "NoBucket")
	require.Equal(t, exitUsage, missing.code, missing.stderr)
	require.Contains(t, missing.stderr, "stack NoBucket has no output DocumentBucketName (the document bucket): pass --bucket")
	withFlag := ragmigrate(t, env, "plan", "--stack", "NoBucket", "--bucket", b.bucket)
	require.Zero(t, withFlag.code, withFlag.stderr)

	unknown := ragmigrate(t, env, "plan", "--stack", "NoSuchStack")
	require.Equal(t, exitUsage, unknown.code, unknown.stderr)
	require.Contains(t, unknown.stderr, "Stack with id NoSuchStack does not exist")

	// reembed from the outputs alone: the same outcome as TestReembedEndToEnd's explicit flags.
	r := ragmigrate(t, env, "reembed", "--yes", "--rpm", "0", "--stack", "BedrockChatStack", "--allow-private-urls", "--truncate", "END")
	require.Equal(t, exitFailure, r.code, "bots with unreadable sources fail the run's exit status: %s", r.stderr)
	require.NotContains(t, r.stderr, "ragmigrate: reembed run", "the run itself did not fail")
	b.requireFinalState(t)
}

// requireNoPassword looks for the passwords in everything a run wrote: its output, its report,
// and every table of the journal.
func requireNoPassword(t *testing.T, dbURL string, passwords []string, written ...string) {
	t.Helper()
	conn := connectTest(t, dbURL)
	rows, err := conn.Query(stacktest.Context(t), `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'ragmigrate' AND c.relkind = 'r'`)
	require.NoError(t, err)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.NotEmpty(t, tables)
	for _, tbl := range tables {
		var dump string
		require.NoError(t, conn.QueryRow(stacktest.Context(t), `SELECT coalesce(string_agg(t::text, E'\n'), '') FROM ragmigrate.`+pgx.Identifier{tbl}.Sanitize()+` t`).Scan(&dump))
		written = append(written, dump)
	}
	for _, pw := range passwords {
		for _, w := range written {
			require.NotContains(t, w, pw, "a password was written")
		}
	}
}

// holdLock takes the target's migration lock in a session of the test, so that a run started
// next connects, logs that it waits, and goes on when release is called.
func holdLock(t *testing.T, dbURL string) (release func()) {
	t.Helper()
	conn := connectTest(t, dbURL)
	_, err := conn.Exec(stacktest.Context(t), `SELECT pg_advisory_lock(x'72676d67'::int, 1)`)
	require.NoError(t, err)
	return func() {
		_, err := conn.Exec(stacktest.Context(t), `SELECT pg_advisory_unlock(x'72676d67'::int, 1)`)
		require.NoError(t, err)
	}
}

// TestPasswordRotationMidReembed rotates the target's password while a reembed run waits for
// the target's lock: it connected with the old password, and once the lock is free its workers
// open new sessions, which must log in with the new one. The run must not fail, and no
// password may appear in anything it wrote.
func TestPasswordRotationMidReembed(t *testing.T) {
	t.Parallel()
	b := setupReembed(t, 9, bedrocksim.Knobs{})
	prepareAppTarget(t, b)
	rig := newAWSRig(t)
	arn, name := rig.appSecret(t, b.target)
	require.NoError(t, rig.cfn.Put("BedrockChatStack", cfnsim.BedrockChatV1(deploymentOf(b, arn))))
	env := append(append([]string{}, b.env...), rig.env...)
	old := rig.password(t, name)

	release := holdLock(t, b.target)
	report := filepath.Join(t.TempDir(), "report.json")
	cmd, stderr := startRagmigrate(t, env, "reembed", "--yes", "--rpm", "0", "--stack", "BedrockChatStack",
		"--allow-private-urls", "--truncate", "END", "--report", report, "--log-level", "debug")
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "waiting for the target's lock") },
		time.Minute, 20*time.Millisecond, "the run waits for the lock: %s", stderr)
	gets := rig.sm.Gets(name)
	rig.rotate(t, arn)
	release()
	err := cmd.Wait()
	require.Error(t, err, "bots with unreadable sources fail the run's exit status")
	require.Equal(t, exitFailure, cmd.ProcessState.ExitCode(), stderr.String())
	require.NotContains(t, stderr.String(), "ragmigrate: reembed run", "the run itself did not fail")
	require.NotContains(t, stderr.String(), "password authentication failed")
	b.requireFinalState(t)
	require.Greater(t, rig.sm.Gets(name), gets, "a refused login read the secret again")

	rep, err := os.ReadFile(report)
	require.NoError(t, err)
	requireNoPassword(t, b.target, []string{old, rig.password(t, name)}, stderr.String(), string(rep))
}

// TestPasswordRotationMidCopy rotates both clusters' passwords while copy waits for the
// target's lock, both databases named only by their secrets; its snapshot session, part
// workers and index build then connect anew and must log in with the new passwords.
func TestPasswordRotationMidCopy(t *testing.T) {
	t.Parallel()
	b := setupCopy(t, 500, "", nil)
	rig := newAWSRig(t)
	dstARN, dstName := rig.appSecret(t, b.dst)
	srcARN, srcName := rig.appSecret(t, b.src)
	old := []string{rig.password(t, dstName), rig.password(t, srcName)}
	env := append(append([]string{}, b.env...), rig.env...)

	release := holdLock(t, b.dst)
	var stdout syncBuffer
	cmd, stderr := startRagmigrateOut(t, env, &stdout, "copy", "--yes", "--json", "--lock-wait", "10m", "--source-secret", srcARN, "--target-secret", dstARN)
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "waiting for the target's lock") },
		time.Minute, 20*time.Millisecond, "copy waits for the lock: %s", stderr)
	dstGets, srcGets := rig.sm.Gets(dstName), rig.sm.Gets(srcName)
	rig.rotate(t, dstARN)
	rig.rotate(t, srcARN)
	release()
	require.NoError(t, cmd.Wait(), stderr.String())
	b.requireSameItems(t)
	require.Greater(t, rig.sm.Gets(dstName), dstGets, "a refused login read the target's secret again")
	require.Greater(t, rig.sm.Gets(srcName), srcGets, "a refused login read the source's secret again")
	requireNoPassword(t, b.dst, append(old, rig.password(t, dstName), rig.password(t, srcName)), stderr.String(), stdout.String())
}
