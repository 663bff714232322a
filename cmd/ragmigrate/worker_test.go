package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/dev/awssim"
	"github.com/ragmigrate/ragmigrate/internal/dev/bedrocksim"
	"github.com/ragmigrate/ragmigrate/internal/dev/ecssim"
	"github.com/ragmigrate/ragmigrate/internal/dev/logssim"
	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/dev/stssim"
	"github.com/ragmigrate/ragmigrate/internal/journal"
	"github.com/ragmigrate/ragmigrate/internal/pgcopy"
	"github.com/ragmigrate/ragmigrate/internal/reembed"
	"github.com/ragmigrate/ragmigrate/internal/reembed/botjob"
)

// appKeys is the app's task argument for bot b: its keys in DynamoDB JSON, as the Pipe passes
// $.dynamodb.Keys and migrate.py builds them.
func appKeys(b *botstore.Bot) string {
	k, _ := json.Marshal(map[string]map[string]string{"PK": {"S": b.UserID}, "SK": {"S": b.UserID + "#BOT#" + b.ID}})
	return string(k)
}

// appDBEnv is the v0.4.x task environment for the database at u: DB_HOST, DB_PORT, DB_USER,
// DB_PASSWORD, DB_NAME.
func appDBEnv(t *testing.T, u string) []string {
	t.Helper()
	p, err := url.Parse(u)
	require.NoError(t, err)
	pw, _ := p.User.Password()
	return []string{"DB_HOST=" + p.Hostname(), "DB_PORT=" + p.Port(), "DB_USER=" + p.User.Username(),
		"DB_PASSWORD=" + pw, "DB_NAME=" + strings.TrimPrefix(p.Path, "/")}
}

// appRows are a target's rows per bot without their ids, in a stable order: source, content and
// the vector's text.
func appRows(t *testing.T, target string) map[string][]string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), target)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	rows, err := conn.Query(t.Context(), `SELECT rtrim(botid), source, content, embedding::text FROM items ORDER BY 1, 2, 3, 4`)
	require.NoError(t, err)
	out := map[string][]string{}
	var bot, source, content, vec string
	_, err = pgx.ForEachRow(rows, []any{&bot, &source, &content, &vec}, func() error {
		out[bot] = append(out[bot], source+"\x00"+content+"\x00"+vec)
		return nil
	})
	require.NoError(t, err)
	return out
}

// syncState is a bot's status as the app shows it, without the exec id.
type syncState struct {
	Status botstore.SyncStatus
	Reason string
}

func syncStates(bots map[string]*botstore.Bot) map[string]syncState {
	out := map[string]syncState{}
	for id, b := range bots {
		out[id] = stateOf(b)
	}
	return out
}

// requestIDs are the S3 request's ids in an error, which differ from call to call.
var requestIDs = regexp.MustCompile(`RequestID: [^,]*, HostID: [^,]*, `)

func stateOf(b *botstore.Bot) syncState {
	return syncState{b.SyncStatus, requestIDs.ReplaceAllString(b.SyncStatusReason, "")}
}

// addDeadLinkBot adds a bot whose knowledge is a readable page and a dead link, and nothing else:
// the app's loader skips the dead link and embeds the page.
func addDeadLinkBot(t *testing.T, b *reembedBundle) *botstore.Bot {
	t.Helper()
	web := stacktest.Getenv(t, "RAGMIGRATE_DEV_WEB_URL")
	bot := &botstore.Bot{UserID: "dead-link-user", ID: "01JDEADL1NK000000000000000", Title: "Dead link", Instruction: "x",
		EmbeddingParams: botstore.EmbeddingParams{ChunkSize: 1000, ChunkOverlap: 200}, GenerationParams: botstore.DefaultGenerationParams(),
		MaxResults: 20, SyncStatus: botstore.StatusQueued,
		Knowledge: botstore.Knowledge{SourceURLs: []string{web + "/docs/customer-faq.html", web + "/docs/retired-page.html"}, SitemapURLs: []string{}, Filenames: []string{}}}
	_, err := b.dynamo.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(b.table), Item: bot.Item()})
	require.NoError(t, err)
	return bot
}

// workerAppEnv is the environment the app's task definition gives its container but the
// database, with ragmigrate's own settings as RAGMIGRATE_* variables.
func workerAppEnv(b *reembedBundle) []string {
	return []string{"TABLE_NAME=" + b.table, "DOCUMENT_BUCKET=" + b.bucket, "BEDROCK_REGION=us-east-1",
		"RAGMIGRATE_ALLOW_PRIVATE_URLS=true", "RAGMIGRATE_TRUNCATE=END", "RAGMIGRATE_RPM=0"}
}

// appTarget is an empty database with the app's setup (a v1 deploy's items table).
func appTarget(t *testing.T) string {
	t.Helper()
	target := stacktest.Database(t, "RAGMIGRATE_TARGET_DB")
	conn, err := pgx.Connect(t.Context(), target)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	_, err = conn.Exec(t.Context(), `CREATE EXTENSION vector; CREATE TABLE items(id CHAR(26) primary key, botid CHAR(26), content text, source text, embedding vector(1024))`)
	require.NoError(t, err)
	return target
}

// TestWorkerAppContract runs 'ragmigrate worker KEYS' once per bot, configured only by the app's
// task environment, and compares what it leaves with what 'reembed --on-source-error skip-url'
// (the app's loaders) leaves for the same bots: the same rows per bot (ids aside), the same
// SyncStatus and reasons, exit 0 exactly for the SUCCEEDED bots and 1 for the FAILED ones (a bot
// with a missing upload fails; a dead link is skipped, as the app's loaders skip it).
func TestWorkerAppContract(t *testing.T) {
	t.Parallel()
	b := setupReembed(t, 12, bedrocksim.Knobs{})
	dead := addDeadLinkBot(t, b)
	r := b.reembed(t, "--on-source-error", "skip-url")
	require.Equal(t, exitFailure, r.code, "a bot with a missing file fails: %s", r.stderr)
	wantRows := appRows(t, b.target)
	bots := b.bots(t)
	want := syncStates(bots)

	// The worker writes a database of its own (with the app's setup), against the same bots; the
	// database as v0.4.x's task definition gives it.
	target := appTarget(t)
	env := slices.Concat(b.env, workerAppEnv(b), appDBEnv(t, target))

	var failed, skippedURL int
	for id, bot := range bots {
		w := ragmigrate(t, env, "worker", appKeys(bot))
		if want[id].Status == botstore.StatusSucceeded {
			require.Zero(t, w.code, "bot %s: %s", id, w.stderr)
			require.Contains(t, w.stdout, "SUCCEEDED")
			if strings.Contains(w.stdout, " skipped: ") {
				skippedURL++
				require.Equal(t, dead.ID, id)
				require.Contains(t, w.stdout, "/docs/retired-page.html", "the dead link is skipped")
			}
		} else {
			require.Equal(t, exitFailure, w.code, "bot %s: %s", id, w.stderr)
			require.Contains(t, w.stderr, "is FAILED: ")
			failed++
		}
		require.Contains(t, w.stderr, "LastExecId is a generated id", "outside ECS the id is generated, and it says so")
		require.NotContains(t, w.stderr+w.stdout, "ragmigrate-local-secret", "the password never shows")
	}
	require.Positive(t, failed, "the seed holds a bot with a missing file")
	require.Equal(t, 1, skippedURL, "the dead link is skipped, as the app's loader skips it")
	require.NotEmpty(t, wantRows[dead.ID], "the dead-link bot has its page's rows")

	require.Equal(t, wantRows, appRows(t, target), "the same rows per bot as reembed's, ids aside")
	after := b.bots(t)
	for id := range b.empty {
		// reembed leaves a bot without knowledge that says SUCCEEDED as it is; the app's task,
		// and so worker, writes its "No contents to embed." with its exec id.
		want[id] = syncState{botstore.StatusSucceeded, botstore.ReasonNoContents}
	}
	require.Equal(t, want, syncStates(after), "the same SyncStatus and reasons as reembed's")
	for id, bot := range after {
		require.Regexp(t, `^ragmigrate-worker-[0-9A-Z]{26}$`, bot.LastExecID, id)
	}

	// The worker keeps no journal: the target holds only what the app's task writes.
	conn, err := pgx.Connect(t.Context(), target)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	var schema bool
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'ragmigrate')`).Scan(&schema))
	require.False(t, schema, "no ragmigrate schema in the worker's target")
}

// TestWorkerUsage: keys that are not a bot's, and a leading argument that is not the app's script,
// are usage errors; the app's "-u embedding/main.py KEYS" is accepted.
func TestWorkerUsage(t *testing.T) {
	t.Parallel()
	env := []string{"TABLE_NAME=t", "DOCUMENT_BUCKET=b", "DB_HOST=127.0.0.1", "DB_PORT=1", "RAGMIGRATE_DB_CONNECT_TIMEOUT=2s"}
	for _, args := range [][]string{
		{"worker", "not-json"},
		{"worker", `{"PK":{"S":"u"},"SK":{"S":"u#BOT_ALIAS#b"}}`},
		{"worker", "other.py", `{"PK":{"S":"u"},"SK":{"S":"u#BOT#b"}}`},
	} {
		r := ragmigrate(t, env, args...)
		require.Equal(t, exitUsage, r.code, "%v: %s", args, r.stderr)
	}
	// --run 0 or less is no run id: the flag is named (0 said to give the bot's keys instead).
	for _, id := range []string{"0", "-1"} {
		r := ragmigrate(t, env, "worker", "--run", id, "--target-db", "postgres://u:p@127.0.0.1:1/db")
		require.Equal(t, exitUsage, r.code, r.stderr)
		require.Contains(t, r.stderr, "ragmigrate: --run "+id+": want a run id of the journal ('ragmigrate status' lists them)\n")
	}
	// worker --run's flags are checked before --stack is read: the flag is named, not the stack.
	r := ragmigrate(t, env, "worker", "--run", "3", "--lease", "0", "--stack", "NoSuchStack")
	require.Equal(t, exitUsage, r.code, r.stderr)
	require.Contains(t, r.stderr, "--lease 0s: want at least 1s")
	require.NotContains(t, r.stderr, "NoSuchStack")

	// Past the arguments: the database at port 1 refuses, exit 1.
	r = ragmigrate(t, env, "worker", "-u", "embedding/main.py", `{"PK":{"S":"u"},"SK":{"S":"u#BOT#b"}}`)
	require.Equal(t, exitFailure, r.code, r.stderr)
	require.Contains(t, r.stderr, "target")
	require.NotContains(t, r.stderr, "password@", "the app's default password never shows")
}

// TestWorkerRunNamesNoReembedRun: a --run id that names no re-embed run of the target (a target
// without a journal, an id the journal does not hold, a copy run's id) is the operator's input:
// each exits 2 (usage, as an unknown --stack or --bot does) saying what the id is and what to give.
func TestWorkerRunNamesNoReembedRun(t *testing.T) {
	t.Parallel()
	dst := stacktest.Database(t, "RAGMIGRATE_TARGET_DB")
	run := func(id int64) result {
		return ragmigrate(t, nil, "worker", "--run", fmt.Sprint(id), "--target-db", dst, "--table", "t", "--bucket", "b")
	}
	r := run(7)
	require.Equal(t, exitUsage, r.code, r.stderr)
	require.Contains(t, r.stderr, "worker --run 7: no ragmigrate journal in this database, so no run 7: give the --target-db (or --target-secret) of the 'reembed' that started the run")

	conn, err := pgx.Connect(t.Context(), dst)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	require.NoError(t, journal.Migrate(t.Context(), conn))
	cp, err := journal.StartRun(t.Context(), conn, pgcopy.Kind, "items", map[string]any{})
	require.NoError(t, err)

	r = run(cp.ID + 1)
	require.Equal(t, exitUsage, r.code, r.stderr)
	require.Contains(t, r.stderr, fmt.Sprintf("worker --run %d: no run in the journal of --target-db with id %[1]d: give the id of one of its re-embed runs, as 'ragmigrate status' lists them", cp.ID+1))
	r = run(cp.ID)
	require.Equal(t, exitUsage, r.code, r.stderr)
	require.Contains(t, r.stderr, fmt.Sprintf("worker --run %d: run %[1]d is a copy run, not a re-embed run: give the id of a re-embed run", cp.ID))

	// A re-embed run no 'reembed --runner ecs --ecs-task worker' coordinated (the local
	// runner's) has no budget for workers to join: the same id fails every time, so exit 2,
	// saying what to do (it said only "the run has no budget yet", exit 1).
	local, err := journal.StartRun(t.Context(), conn, botjob.Kind, "t", reembed.Params{Version: reembed.ParamsVersion, Table: "t",
		Model: reembed.Model{ID: "cohere.embed-multilingual-v3", Dimensions: 1024, Truncate: "NONE", Bucket: "b"}})
	require.NoError(t, err)
	r = run(local.ID)
	require.Equal(t, exitUsage, r.code, r.stderr)
	require.Contains(t, r.stderr, fmt.Sprintf("worker --run %d: run %[1]d has no budget shared by workers, which 'reembed --runner ecs --ecs-task worker' sets before it starts them (a run of the local runner has none): continue it with the 'ragmigrate reembed' that started it, or give this worker --rpm or --tpm", local.ID))
}

// TestWorkerAsAppTask runs the app's own task definition through the ECS contract server, its
// image mapped to 'ragmigrate worker', with the app's command ["-u","embedding/main.py",KEYS]:
// the bot ends SUCCEEDED with LastExecId = the task's id, its rows as reembed writes them, and
// the task exits 0; a bot whose file is missing ends FAILED and its task exits 1. The task has
// v1's environment: the database through DB_SECRETS_ARN, the table through the app's table
// access role (TABLE_ACCESS_ROLE_ARN), assumed for the bot's user only.
func TestWorkerAsAppTask(t *testing.T) {
	t.Parallel()
	b := setupReembed(t, 12, bedrocksim.Knobs{})
	r := b.reembed(t, "--on-source-error", "skip-url")
	require.Equal(t, exitFailure, r.code, r.stderr)
	wantRows := appRows(t, b.target)
	bots := b.bots(t)
	want := syncStates(bots)

	// The database as v1's task definition gives it: the cluster's secret, for the app's role.
	target := appTarget(t)
	sm := newAWSRig(t)
	secret, secretName := sm.appSecret(t, target)
	const role = "arn:aws:iam::123456789012:role/BedrockChatStack-TableAccessRole"
	taskEnv := append(workerAppEnv(b), "DB_SECRETS_ARN="+secret, "TABLE_ACCESS_ROLE_ARN="+role)
	// STS, for the table access role the app's task assumes, and who signed each DynamoDB call
	// (the local DynamoDB takes any key).
	stsSim, err := stssim.New("")
	require.NoError(t, err)
	dynamo := stacktest.RecordDynamoDB(t)
	tasks := newAppTaskRig(t, taskEnv, slices.Concat(b.env, sm.env, []string{
		"AWS_ENDPOINT_URL_STS=" + stacktest.AWSServer(t, stsSim.Register), "AWS_ENDPOINT_URL_DYNAMODB=" + dynamo.URL}))
	sim, client := tasks.sim, tasks.client

	run := func(bot *botstore.Bot) ecssim.TaskRecord {
		out, err := client.RunTask(t.Context(), &ecs.RunTaskInput{
			Cluster: aws.String("embedding"), TaskDefinition: aws.String(appTaskFamily),
			LaunchType: types.LaunchTypeFargate,
			NetworkConfiguration: &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{
				Subnets: []string{"subnet-0a"}, SecurityGroups: []string{"sg-0embed"}, AssignPublicIp: types.AssignPublicIpDisabled}},
			Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{
				Name: aws.String("Container"), Command: []string{"-u", "embedding/main.py", appKeys(bot)}}}},
		})
		require.NoError(t, err)
		require.Empty(t, out.Failures)
		arn := aws.ToString(out.Tasks[0].TaskArn)
		w := ecs.NewTasksStoppedWaiter(client, func(o *ecs.TasksStoppedWaiterOptions) { o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second })
		require.NoError(t, w.Wait(t.Context(), &ecs.DescribeTasksInput{Cluster: aws.String("embedding"), Tasks: []string{arn}}, 4*time.Minute))
		for _, tr := range sim.State().Tasks {
			if tr.Arn == arn {
				return tr
			}
		}
		t.Fatalf("task %s not in the contract server's state", arn)
		return ecssim.TaskRecord{}
	}

	var ok, failedBot *botstore.Bot
	for id, bot := range bots {
		switch {
		case ok == nil && want[id].Status == botstore.StatusSucceeded && len(wantRows[id]) > 0:
			ok = bot
		case failedBot == nil && want[id].Status == botstore.StatusFailed:
			failedBot = bot
		}
	}
	require.NotNil(t, ok)
	require.NotNil(t, failedBot)

	task := run(ok)
	require.Equal(t, []string{binary, "worker", "-u", "embedding/main.py", appKeys(ok)}, task.Argv, "the app's command, as is")
	require.NotNil(t, task.ExitCode)
	require.EqualValues(t, 0, *task.ExitCode)
	got := b.bots(t)[ok.ID]
	require.Equal(t, want[ok.ID], stateOf(got))
	require.Equal(t, task.ID, got.LastExecID, "LastExecId is the task's id, the last part of its ARN, as the app writes it")
	require.Equal(t, wantRows[ok.ID], appRows(t, target)[ok.ID])
	require.Positive(t, sm.sm.Gets(secretName), "the database through the app's secret")
	// The table through the app's table access role, scoped to the bot's user as the app scopes
	// it, every call on the bot's item signed with the key issued.
	requireTableAccess(t, role, stsSim.Calls(), dynamo.Calls(), map[string]bool{ok.UserID: true})

	task = run(failedBot)
	require.NotNil(t, task.ExitCode)
	require.EqualValues(t, 1, *task.ExitCode)
	got = b.bots(t)[failedBot.ID]
	require.Equal(t, want[failedBot.ID], stateOf(got))
	require.Equal(t, task.ID, got.LastExecID)
	require.Empty(t, appRows(t, target)[failedBot.ID])
	calls := stsSim.Calls()
	require.Len(t, calls, 2, "each task assumes the role for its bot's user")
	require.Contains(t, calls[1].Policy, `"dynamodb:LeadingKeys":["`+failedBot.UserID+`*"]`)

	// The role refuses the task's: the task fails naming the role, and the bot is not written.
	require.NoError(t, stsSim.Deny(role))
	var third *botstore.Bot
	for id := range bots {
		if id != ok.ID && id != failedBot.ID && len(wantRows[id]) > 0 {
			third = b.bots(t)[id]
			break
		}
	}
	require.NotNil(t, third)
	task = run(third)
	require.NotNil(t, task.ExitCode)
	require.EqualValues(t, 1, *task.ExitCode)
	out := tasks.output(task)
	require.Contains(t, out, "assume the app's table access role "+role+" (TABLE_ACCESS_ROLE_ARN) for user "+third.UserID+"'s items")
	require.Contains(t, out, "AccessDenied")
	got = b.bots(t)[third.ID]
	require.Equal(t, stateOf(third), stateOf(got), "the bot's item untouched")
	require.Equal(t, third.LastExecID, got.LastExecID)
	require.Empty(t, appRows(t, target)[third.ID])
}

// appTaskImage is the app's embedding image in the tests' task definition.
const appTaskImage = "123456789012.dkr.ecr.us-east-1.amazonaws.com/bedrock-chat-embedding:latest"

// appTaskFamily is the app's embedding task definition family.
const appTaskFamily = "BedrockChatStackEmbeddingTaskDefinition"

// appTaskRig is an ECS contract server in process with the app's embedding task definition
// registered (its image, container name, command and environment taskEnv), the image mapped to
// 'ragmigrate worker'; ambient is what every task's environment holds besides (the endpoints
// and credentials the VPC and the task role give on AWS).
type appTaskRig struct {
	sim    *ecssim.Server
	logs   *logssim.Server
	url    string
	client *ecs.Client
}

// output is what task tr printed.
func (r *appTaskRig) output(tr ecssim.TaskRecord) string {
	var out []string
	for _, e := range r.logs.Events(tr.LogGroup, tr.LogStream) {
		out = append(out, e.Message)
	}
	return strings.Join(out, "\n")
}

func newAppTaskRig(t *testing.T, taskEnv, ambient []string) *appTaskRig {
	t.Helper()
	dir := t.TempDir()
	logs, err := logssim.New(filepath.Join(dir, "logs"))
	require.NoError(t, err)
	sim, err := ecssim.New(ecssim.Options{
		Dir: filepath.Join(dir, "ecs"), Logs: logs,
		Program: func(img string) ([]string, error) {
			if img != appTaskImage {
				return nil, fmt.Errorf("no program for image %s", img)
			}
			// The app's entry point is python3; ragmigrate worker takes its arguments.
			return []string{binary, "worker"}, nil
		},
		Env: func() ([]string, error) {
			var env []string
			for _, kv := range os.Environ() {
				if strings.HasPrefix(kv, "AWS_") {
					env = append(env, kv)
				}
			}
			return append(env, ambient...), nil
		},
	})
	require.NoError(t, err)
	a := awssim.New()
	sim.Register(a)
	// The tasks' log group is read where they run: the coordinator asks a failed worker why.
	logs.Register(a)
	srv := httptest.NewServer(a)
	t.Cleanup(func() {
		sim.Close()
		srv.Close()
	})
	client := ecs.New(ecs.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", "")})
	var kv []types.KeyValuePair
	for _, e := range taskEnv {
		n, v, _ := strings.Cut(e, "=")
		kv = append(kv, types.KeyValuePair{Name: aws.String(n), Value: aws.String(v)})
	}
	// The app's task definition: its image, container name, command and environment (embedding.ts).
	_, err = client.RegisterTaskDefinition(t.Context(), &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(appTaskFamily), NetworkMode: types.NetworkModeAwsvpc,
		RequiresCompatibilities: []types.Compatibility{types.CompatibilityFargate},
		Cpu:                     aws.String("2048"), Memory: aws.String("4096"),
		TaskRoleArn:      aws.String("arn:aws:iam::000000000000:role/EmbeddingTaskRole"),
		ExecutionRoleArn: aws.String("arn:aws:iam::000000000000:role/EmbeddingExecutionRole"),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("Container"), Image: aws.String(appTaskImage), Essential: aws.Bool(true),
			Command: []string{"-u", "embedding/main.py"}, Environment: kv,
			LogConfiguration: &types.LogConfiguration{LogDriver: types.LogDriverAwslogs, Options: map[string]string{
				"awslogs-group": "/ecs/embed-" + stacktest.Suffix(), "awslogs-region": "us-east-1", "awslogs-stream-prefix": "embed-task"}},
		}},
	})
	require.NoError(t, err)
	return &appTaskRig{sim: sim, logs: logs, url: srv.URL, client: client}
}

// TestStatusTableAligned: 'status' lines up its runs as one table whatever runs failed; each
// run's error goes under its line from the STATUS column. The error lines split the table into
// blocks aligned each on their own, so the columns of the runs after a failed one moved.
func TestStatusTableAligned(t *testing.T) {
	t.Parallel()
	dst := stacktest.Database(t, "RAGMIGRATE_TARGET_DB")
	conn, err := pgx.Connect(t.Context(), dst)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	require.NoError(t, journal.Migrate(t.Context(), conn))
	for i, subject := range []string{"a_much_longer_schema.a_much_longer_table", "public.items"} {
		r, err := journal.StartRun(t.Context(), conn, pgcopy.Kind, subject, map[string]any{})
		require.NoError(t, err)
		status, runErr := journal.StatusDone, error(nil)
		if i == 1 { // the newest, listed first: its error line comes before the other run's line
			status, runErr = journal.StatusFailed, errors.New("copy part 2 of public.items: the target refused")
		}
		require.NoError(t, journal.Finish(t.Context(), conn, r.ID, status, runErr))
	}

	r := ragmigrate(t, nil, "status", "--target-db", dst)
	require.Zero(t, r.code, r.stderr)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	require.Len(t, lines, 4, r.stdout)
	header := lines[0]
	for _, l := range []string{lines[1], lines[3]} {
		require.Equal(t, strings.Index(header, "STARTED"), strings.Index(l, time.Now().Format("2006-")), "STARTED aligned:\n%s", r.stdout)
	}
	require.Equal(t, strings.Repeat(" ", strings.Index(header, "STATUS"))+"error: copy part 2 of public.items: the target refused", lines[2], r.stdout)
}
