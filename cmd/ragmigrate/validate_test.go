package main

import (
	"bytes"
	"context"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/dev/bedrocksim"
	"github.com/ragmigrate/ragmigrate/internal/dev/corpus"
	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/embed"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// flagRule says what a flag's values mean, for TestEveryFlagValidated. Every flag that is not a
// bool must have one: a new flag fails the test until it is classified here.
type flagRule struct {
	// free marks text without a fixed set of values (names, URLs, paths, ids); it is not walked.
	free bool
	// allowed are an enum's values; each must pass validation, and "" and an unknown value must not.
	allowed []string
	// ok are the probe values (see probes) that mean something, as the flag's help says; they
	// must pass validation. Every other probe must be refused with exit 2 naming the flag.
	ok []string
	// says is how the error may name the flag besides --name.
	says string
}

var free = flagRule{free: true}

// flagRules classifies flags by name, or by "command path --name" where one name means different
// things in different commands.
var flagRules = map[string]flagRule{
	// Global flags.
	"--table": free, "--bucket": free, "--source-db": free, "--target-db": free, "--region": free,
	"--stack": free, "--target-secret": free, "--source-secret": free, "--admin-db": free,
	"--log-level":            {allowed: []string{"debug", "info", "warn", "error"}},
	"--log-format":           {allowed: []string{"text", "json"}},
	"--aws-timeout":          {},
	"--db-connect-timeout":   {},
	"--db-statement-timeout": {},

	// plan and reembed (and inspect's source flags).
	"--bot": free, "--user": free, "--user-agent": free,
	"--model":             {allowed: modelIDs()},
	"--dimensions":        {},
	"--price-per-mtok":    {ok: []string{"0"}},
	"--rpm":               {ok: []string{"0"}},
	"--tpm":               {ok: []string{"0"}},
	"--url-timeout":       {},
	"--url-retries":       {ok: []string{"0"}},
	"--max-url-bytes":     {},
	"--max-sitemap-pages": {},
	"--max-file-bytes":    {},
	"--max-bot-bytes":     {},
	// A URL, or the word source-db; and a model name, any of an --openai-url endpoint's. Both are
	// checked (TestReuseFlagsValidated).
	"--reuse-from": free, "--reuse-model": free,

	// reembed.
	"--openai-url": free, "--report": free,
	"--truncate":         {allowed: []string{"NONE", "END", "START", "end"}},
	"--on-source-error":  {allowed: []string{"fail-bot", "skip-source", "skip-url"}},
	"--concurrency":      {},
	"--batch-linger":     {ok: []string{"0s"}},
	"--request-timeout":  {},
	"--provider-timeout": {},
	"--runner":           {allowed: []string{"local", "ecs"}},
	"--ecs-task":         {allowed: []string{"app", "worker"}},
	"--workers":          {},
	"--lease":            {},
	"--max-tasks":        {ok: []string{"0"}},
	"--task-timeout":     {},
	"--task-retries":     {ok: []string{"0"}},
	"--task-poll":        {},

	// worker --run: 0 is the app's task contract (one bot, its keys).
	"worker --run": {ok: []string{"0"}},

	// status.
	"--limit": {},

	// inspect.
	"--chunk-size":    {},
	"--chunk-overlap": {ok: []string{"0"}},

	// verify.
	"--tables":      free,
	"--queries":     {ok: []string{"0"}},
	"--top-k":       {},
	"--max-details": {},
	"--expect":      {allowed: []string{"auto", "copy", "merge", "reembed"}},

	// copy.
	"--jobs":         {},
	"--part-size":    {},
	"--index-memory": {},
	"--max-rate":     {ok: []string{"0"}},
	"--lock-wait":    {ok: []string{"0s"}},

	// snapshot restore and cleanup.
	"--snapshot": free, "--source-cluster": free, "--db-subnet-group": free, "--security-groups": free, "--cluster-id": free,
	"--network-from": free,
	"--max-acu":      {},
	"--timeout":      {},
	// iam-policy: names and ARNs that scope its resources; its --model is a Bedrock model only.
	"--account": {ok: []string{""}}, "--ecs-cluster": free,
	"--task-role": free, "--execution-role": free, "--log-group": free, "--kms-key": free, "--table-access-role": free,
	"iam-policy --model": {allowed: bedrockModels()},
	// remote.
	"--image": free, "--cluster": free, "--subnets": free, "--task-definition": free,
	"--app-container": free, "--env": free,
	"--cpu":           {allowed: []string{"256", "512", "1024", "2048", "4096", "8192", "16384"}},
	"--memory":        {ok: []string{""}},
	"--poll-interval": {},
	"--stop-wait":     {},
	// replicate.
	"replicate start --publisher-url":  free,
	"replicate status --interval":      {},
	"replicate status --warn-retained": {},
	"replicate cutover --timeout":      {},

	// dev.
	"--dir": free, "--dynalite-dir": free, "--ecs-binary": free, "--ecs-task-env-file": free, "--addr": free, "--web-url": free,
	"--base-port":    {ok: []string{"0"}},
	"--seed":         {ok: []string{"0", "-1"}},
	"--bots":         {},
	"--docs-per-bot": {},
	"--users":        {ok: []string{"0"}},
	"--rows":         {ok: []string{"0"}},
	"--text-mb":      {},
	"--lang":         {allowed: corpus.Languages()},
	// The Bedrock double's knobs are checked by bedrocksim.Knobs.Validate, which names them as
	// their JSON keys (the same knobs are set through PUT /knobs).
	"dev serve bedrock --latency":        {ok: []string{"0s"}, says: "latency"},
	"dev serve bedrock --latency-jitter": {ok: []string{"0s"}, says: "latency_jitter"},
	"dev serve bedrock --rpm":            {ok: []string{"0"}, says: "requests_per_minute"},
	"dev serve bedrock --tpm":            {ok: []string{"0"}, says: "tokens_per_minute"},
	"dev serve bedrock --throttle-rate":  {ok: []string{"0"}, says: "throttle_rate"},
	"dev serve bedrock --fail-rate":      {ok: []string{"0"}, says: "fail_rate"},
	"dev serve bedrock --fail-error":     {allowed: []string{"ThrottlingException", "ValidationException"}, ok: []string{""}, says: "fail_error"},
	"dev serve bedrock --fail-on-text":   free,
	"--rds-source-db":                    free,
	"--final-snapshot":                   free,
	"dev serve aws --rds-delay":          {ok: []string{"0s"}},
}

func modelIDs() []string { return embed.ModelIDs() }

// probes are the zero, negative and unknown values tried on a flag, by its type.
var probes = map[string][]string{
	"int": {"0", "-1", "x"}, "int64": {"0", "-1", "x"}, "int32": {"0", "-1", "x"},
	"uint": {"0", "-1", "x"}, "uint64": {"0", "-1", "x"},
	"float64":  {"0", "-1", "x", "NaN"},
	"duration": {"0s", "-1s", "x"},
	"size":     {"0", "-1", "x"},
	"string":   {"", "bogus"}, "stringSlice": {"", "bogus"},
}

// walkBase are, per runnable command, the arguments with which the command passes validation and
// then fails fast (databases and AWS endpoints that refuse at once), or does something harmless.
// A probe is appended to them; the last value of a flag wins. A command with several entries is
// walked in each mode (reembed and its dry run). nil means the command is not run, for the reason
// in walkSkip.
func walkBase(t *testing.T) map[string][][]string {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.txt")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	db := "postgres://walker@127.0.0.1:1/walker?connect_timeout=5"
	return map[string][][]string{
		"plan":             {{"--table", "t", "--bucket", "b", "--target-db", db}},
		"reembed":          {{"--table", "t", "--bucket", "b", "--target-db", db, "--yes"}, {"--table", "t", "--bucket", "b", "--dry-run"}},
		"status":           {{"--target-db", db}},
		"cleanup":          {{"--target-db", db, "--yes"}},
		"inspect":          {{empty}},
		"verify":           {{"--target-db", db, "--table", "t", "--source-db", db}},
		"copy":             {{"--source-db", db, "--target-db", db, "--yes"}, {"--source-db", db, "--target-db", db, "--yes", "--merge", "--table", "t"}},
		"snapshot restore": {{"--latest", "--yes"}, {"--snapshot", "s", "--dry-run"}},
		"snapshot cleanup": {{"--target-db", db, "--yes"}, {"--force", "--yes"}},
		"iam-policy":       {{"reembed"}},
		// Probes go before the "--" (see withFlag).
		"remote": {{"--image", "i", "--cluster", "c", "--subnets", "subnet-1", "--security-groups", "sg-1",
			"--task-role", "r", "--execution-role", "r", "--log-group", "g", "--", "status"}},
		"replicate start":   {{"--source-db", db, "--target-db", db, "--yes"}},
		"worker":            {{"--table", "t", "--bucket", "b", "--target-db", db, `{"PK":{"S":"u"},"SK":{"S":"u#BOT#b"}}`}},
		"replicate status":  {{"--source-db", db, "--target-db", db}},
		"replicate cutover": {{"--source-db", db, "--target-db", db, "--yes"}},
		"replicate abort":   {{"--source-db", db, "--target-db", db, "--yes"}},
		"dev stack env":     {{"--dir", dir}},
		"dev seed": {{"--table", "t", "--bucket", "b", "--source-db", db, "--target-db", db,
			"--web-url", "http://127.0.0.1:1", "--yes", "--bots", "1"}},
		"dev summary":       {{"--table", "t", "--bucket", "b"}},
		"dev serve bedrock": {{"--addr", "127.0.0.1:99999"}},
		"dev serve aws":     {{"--addr", "127.0.0.1:99999", "--dir", filepath.Join(dir, "aws")}},
		"dev serve web":     {{"--addr", "127.0.0.1:99999"}},
		"dev upload":        {{filepath.Join(dir, "up.txt"), "--text-mb", "1"}},
	}
}

// walkSkip are commands the walker never runs, and why.
var walkSkip = map[string]string{
	"dev stack up":     "starts the local stack; dev stack's flags are walked through dev stack env",
	"dev stack down":   "stops the local stack; dev stack's flags are walked through dev stack env",
	"dev serve s3":     "opens its bolt store before listening and, in-process, never closes it; its own flags are free text",
	"dev stack status": "probes the shared local stack's ports; dev stack's flags are walked through dev stack env",
	// Runnable only in the operator's build (go test without -tags dev), where it takes no flags
	// and refuses everything (TestOperatorBuildHasNoRig); 'make test' walks the dev commands.
	"dev": "the operator's build has no development rig",
}

// walkerEnv points every endpoint at something that fails at once and hides the stack's
// RAGMIGRATE_* defaults, so that a command past validation ends quickly with exit 1.
func walkerEnv(t *testing.T) {
	body := []byte(`{"__type":"com.amazon.coral.validate#ValidationException","message":"flag walker: no AWS here"}`)
	aws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		// DynamoDB's client checks this checksum and warns on stderr when it is missing.
		w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
		w.WriteHeader(http.StatusBadRequest) // not retried by the SDK
		w.Write(body)
	}))
	t.Cleanup(aws.Close)
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "RAGMIGRATE_") || strings.HasPrefix(name, "AWS_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	for _, svc := range []string{"DYNAMODB", "S3", "BEDROCK_RUNTIME", "RDS", "ECS", "CLOUDWATCH_LOGS"} {
		t.Setenv("AWS_ENDPOINT_URL_"+svc, aws.URL)
	}
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "walker")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "walker")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
}

// flagNeeds are what a flag is tried with: a flag of a runner the base arguments do not choose
// is refused as unused (reembed --workers 3 without --runner ecs --ecs-task worker).
var flagNeeds = map[string][]string{}

func init() {
	for _, f := range []string{"ecs-task", "image", "workers", "lease", "cluster", "subnets", "security-groups", "task-definition",
		"app-container", "max-tasks", "task-timeout", "task-retries", "task-poll"} {
		flagNeeds["reembed --"+f] = []string{"--runner", "ecs"}
	}
	for _, f := range []string{"image", "workers", "lease", "task-role"} {
		flagNeeds["reembed --"+f] = []string{"--runner", "ecs", "--ecs-task", "worker"}
	}
}

// TestEveryFlagValidated walks the command tree and tries every numeric, duration, size and
// enum flag of every command with zero, negative and unknown values: each is either refused with
// exit 2 and a message naming the flag, before any work, or — where the flag's help gives it a
// meaning — gets past validation (and then fails on an unreachable database or AWS endpoint
// with exit 1, or succeeds harmlessly). Since every database and endpoint fails at once, a flag
// checked only after some I/O would surface as that failure (exit 1), not as exit 2: exit 2
// shows the check came first. It runs the command tree in-process, as main does.
func TestEveryFlagValidated(t *testing.T) {
	walkerEnv(t)
	bases := walkBase(t)
	runs := 0
	exec := func(args []string) (int, string) {
		var stdout, stderr bytes.Buffer
		if testing.Verbose() {
			t.Log(args)
		}
		code := run(t.Context(), args, strings.NewReader(""), &stdout, &stderr)
		runs++
		return code, stderr.String()
	}
	for _, cmd := range leafCommands(newRootCommand(nil, nil, nil)) {
		path := strings.TrimPrefix(cmd.CommandPath(), "ragmigrate ")
		if reason, ok := walkSkip[path]; ok {
			t.Logf("%s not walked: %s", path, reason)
			continue
		}
		modes, ok := bases[path]
		require.True(t, ok, "command %q: add how to run it to walkBase (or why not to walkSkip)", path)
		for _, base := range modes {
			args := append(strings.Fields(path), base...)
			code, stderr := exec(args)
			require.NotEqual(t, exitUsage, code, "%v: the base arguments must pass validation:\n%s", args, stderr)

			var flags []*pflag.Flag
			cmd.InheritedFlags().VisitAll(func(f *pflag.Flag) { flags = append(flags, f) })
			cmd.LocalFlags().VisitAll(func(f *pflag.Flag) { flags = append(flags, f) })
			for _, f := range flags {
				typ := f.Value.Type()
				if typ == "bool" || f.Name == "help" {
					continue
				}
				args := slices.Concat(args, flagNeeds[path+" --"+f.Name])
				rule, ok := flagRules[path+" --"+f.Name]
				if !ok {
					rule, ok = flagRules["--"+f.Name]
				}
				require.True(t, ok, "%s --%s (%s): classify the flag in flagRules", path, f.Name, typ)
				if rule.free {
					continue
				}
				values, ok := probes[typ]
				require.True(t, ok, "%s --%s: no probes for flag type %s", path, f.Name, typ)
				for _, v := range rule.allowed {
					try := withFlag(args, "--"+f.Name+"="+v)
					code, stderr := exec(try)
					require.NotEqual(t, exitUsage, code, "%v: an allowed value must pass validation:\n%s", try, stderr)
				}
				for _, v := range values {
					try := withFlag(args, "--"+f.Name+"="+v)
					code, stderr := exec(try)
					require.NotContains(t, stderr, "panic", "%v", try)
					if slices.Contains(rule.ok, v) {
						require.NotEqual(t, exitUsage, code, "%v: a meaningful value must pass validation:\n%s", try, stderr)
						continue
					}
					require.Equal(t, exitUsage, code, "%v must be refused as a usage error:\n%s", try, stderr)
					named := strings.Contains(stderr, "--"+f.Name) || rule.says != "" && strings.Contains(stderr, rule.says)
					require.True(t, named, "%v: the message must name the flag:\n%s", try, stderr)
				}
			}
		}
	}
	t.Logf("%d runs", runs)
}

// withFlag appends flag to args, before a "--" (after which the arguments are remote's task
// command, not its flags).
func withFlag(args []string, flag string) []string {
	if i := slices.Index(args, "--"); i >= 0 {
		return slices.Concat(args[:i], []string{flag}, args[i:])
	}
	return append(slices.Clone(args), flag)
}

// leafCommands are the runnable commands of the tree.
func leafCommands(c *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	if c.Runnable() {
		out = append(out, c)
	}
	for _, sub := range c.Commands() {
		out = append(out, leafCommands(sub)...)
	}
	return out
}

// TestValidationDefectsExit2 runs the real binary with each invalid flag of issue 10 point 6;
// every other flag is valid, so exit 2 and a message naming the flag can only come from that one
// (before, these exited 0 or 1, or panicked).
func TestValidationDefectsExit2(t *testing.T) {
	t.Parallel()
	env := stackEnv(t)
	db := "postgres://walker@127.0.0.1:1/walker?connect_timeout=5"
	scope := []string{"--table", "rmtest-validation-none", "--bucket", "rmtest-validation-none"}
	for _, tt := range []struct {
		flag string
		args []string
	}{
		{"--concurrency", []string{"reembed", "--dry-run", "--concurrency", "0"}},
		{"--truncate", []string{"reembed", "--dry-run", "--truncate", "BOGUS"}},
		{"--on-source-error", []string{"reembed", "--dry-run", "--on-source-error", "bogus"}},
		{"--retry-failed", []string{"reembed", "--dry-run", "--fresh", "--retry-failed"}},
		{"--dimensions", []string{"reembed", "--yes", "--target-db", db, "--openai-url", "http://127.0.0.1:1/v1", "--model", "m", "--dimensions", "0"}},
		{"--dimensions", []string{"reembed", "--yes", "--target-db", db, "--dimensions", "512"}}, // Cohere v3 gives 1024 only
		{"--dimensions", []string{"plan", "--model", "amazon.titan-embed-text-v2:0", "--dimensions", "300"}},
		{"--max-file-bytes", []string{"plan", "--max-file-bytes", "-1"}},
		{"--url-retries", []string{"plan", "--url-retries", "-1"}},
		{"--url-timeout", []string{"reembed", "--dry-run", "--url-timeout", "0s"}},
		{"--batch-linger", []string{"reembed", "--yes", "--target-db", db, "--batch-linger", "-1s"}},
		{"--price-per-mtok", []string{"plan", "--price-per-mtok", "-5"}},
		{"--lock-wait", []string{"copy", "--yes", "--source-db", db, "--target-db", db, "--lock-wait", "-1s"}},
		{"--limit", []string{"status", "--target-db", db, "--limit", "-1"}},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			r := ragmigrate(t, env, append(tt.args, scope...)...)
			require.Equal(t, exitUsage, r.code, r.stderr)
			require.Contains(t, r.stderr, tt.flag)
			require.NotContains(t, r.stderr, "panic")
		})
	}
}

// TestUnknownBotOrUserIsUsageError: a --bot or --user that matches no bot in the table selected
// nothing, and plan and reembed (dry run or not) exited 0 having done nothing. Now they exit 2
// naming the ids; a bot without knowledge is in the table, so it matches.
func TestUnknownBotOrUserIsUsageError(t *testing.T) {
	t.Parallel()
	ctx := stacktest.Context(t)
	clients := stacktest.AWS(t)
	table, bucket := stacktest.Table(t, clients.DynamoDB), stacktest.Bucket(t, clients.S3)
	src, target := stacktest.Database(t, "RAGMIGRATE_SOURCE_DB"), stacktest.Database(t, "RAGMIGRATE_TARGET_DB")
	env := stackEnv(t)
	r := ragmigrate(t, env, "dev", "seed", "--yes", "--table", table, "--bucket", bucket, "--source-db", src, "--no-target")
	require.Zero(t, r.code, r.stderr)
	var withKnowledge, empty, user string
	require.NoError(t, botstore.New(clients.DynamoDB, table).ScanBots(ctx, func(b *botstore.Bot) error {
		if b.Knowledge.Empty() {
			empty = b.ID
		} else {
			withKnowledge, user = b.ID, b.UserID
		}
		return nil
	}, func(*botstore.DecodeError) error { return nil }))
	require.NotEmpty(t, withKnowledge)
	require.NotEmpty(t, empty)

	args := []string{"--table", table, "--bucket", bucket, "--allow-private-urls"}
	for _, tt := range []struct {
		name    string
		args    []string
		code    int
		says    string
		notSays string
	}{
		{"PlanTypo", []string{"plan", "--bot", "no-such-bot"}, exitUsage, "--bot no-such-bot: no such bot", ""},
		{"PlanOneTypo", []string{"plan", "--bot", withKnowledge, "--bot", "no-such-bot"}, exitUsage, "--bot no-such-bot:", withKnowledge},
		{"PlanUserTypo", []string{"plan", "--user", "no-such-user"}, exitUsage, "--user no-such-user: no bot of this user", ""},
		{"PlanBotOfAnotherUser", []string{"plan", "--user", "no-such-user", "--bot", withKnowledge}, exitUsage, "no such bot of the --user given", ""},
		{"PlanUserWithoutThatBot", []string{"plan", "--user", "no-such-user", "--bot", withKnowledge}, exitUsage, "--user no-such-user: none of the --bot given is this user's", ""},
		{"PlanBotWithoutKnowledge", []string{"plan", "--bot", empty}, exitOK, "", ""},
		{"PlanBotAndItsUser", []string{"plan", "--bot", withKnowledge, "--user", user}, exitOK, "", ""},
		{"DryRunTypo", []string{"reembed", "--dry-run", "--bot", "no-such-bot"}, exitUsage, "--bot no-such-bot: no such bot", ""},
		{"ReembedTypo", []string{"reembed", "--yes", "--create-missing", "--target-db", target, "--bot", "no-such-bot"}, exitUsage, "--bot no-such-bot: no such bot", ""},
		{"ReembedUserTypo", []string{"reembed", "--yes", "--create-missing", "--target-db", target, "--user", "no-such-user"}, exitUsage, "--user no-such-user", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := ragmigrate(t, env, append(tt.args, args...)...)
			require.Equal(t, tt.code, r.code, r.stderr)
			require.Contains(t, r.stderr, tt.says)
			if tt.notSays != "" {
				require.NotContains(t, r.stderr, tt.notSays)
			}
		})
	}
	// The refused reembeds wrote nothing, not even a journal.
	conn, err := vectorstore.Connect(ctx, target, "test", vectorstore.Timeouts{})
	require.NoError(t, err)
	defer conn.Close(context.WithoutCancel(ctx))
	var journal, items *string
	require.NoError(t, conn.QueryRow(ctx, `SELECT to_regnamespace('ragmigrate')::text, to_regclass('items')::text`).Scan(&journal, &items))
	require.Nil(t, journal)
	require.Nil(t, items)
}

// TestReembedTitanDimensions: --dimensions reaches the model and the target. Titan v2 asked for
// 512 returns vectors of 512 values, and --create-missing creates items as vector(512); before,
// --dimensions was ignored for Bedrock models and items was created as vector(1024) whatever it
// said.
func TestReembedTitanDimensions(t *testing.T) {
	t.Parallel()
	b := setupReembed(t, 9, bedrocksim.Knobs{})
	var bot string
	for id, chunks := range b.wantRows {
		if bot == "" || chunks < b.wantRows[bot] {
			bot = id
		}
	}
	ctx := stacktest.Context(t)
	conn, err := vectorstore.Connect(ctx, b.target, "test", vectorstore.Timeouts{})
	require.NoError(t, err)
	defer conn.Close(context.WithoutCancel(ctx))

	r := b.reembed(t, "--model", "amazon.titan-embed-text-v2:0", "--dimensions", "512", "--bot", bot)
	require.Zero(t, r.code, r.stderr)
	var column int
	require.NoError(t, conn.QueryRow(ctx, `SELECT atttypmod FROM pg_attribute WHERE attrelid = 'items'::regclass AND attname = 'embedding'`).Scan(&column))
	require.Equal(t, 512, column, "items was created for the model's size")
	var rows, dims512 int64
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE vector_dims(embedding) = 512) FROM items WHERE botid = $1`, bot).Scan(&rows, &dims512))
	require.Equal(t, b.wantRows[bot], rows)
	require.Equal(t, rows, dims512)
}
