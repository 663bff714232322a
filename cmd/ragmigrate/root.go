package main

import (
	"cmp"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/ragmigrate/ragmigrate/internal/awsclient"
	"github.com/ragmigrate/ragmigrate/internal/progress"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// globalOptions are the flags every subcommand shares. Each has an environment fallback that the
// help text names; the environment is read after parsing (not as a flag default) so that --help
// never prints a connection string that holds a password.
type globalOptions struct {
	Table     string
	Bucket    string
	SourceDB  string
	TargetDB  string
	Region    string
	JSON      bool
	Yes       bool
	LogLevel  string
	LogFormat string
	// S3PathStyle addresses buckets as http://host/bucket/key. Loopback S3 servers need it; real S3
	// wants virtual-host style. It turns on by itself when an S3 endpoint override is set.
	S3PathStyle bool
	// DBConnectTimeout and DBStatementTimeout bound every PostgreSQL session (vectorstore.Timeouts).
	DBConnectTimeout   time.Duration
	DBStatementTimeout time.Duration
	// AWSTimeout bounds each AWS request's wait for an answer and each pause of its body.
	AWSTimeout time.Duration
	// awsStack finds resources and credentials in AWS: --stack, the secrets, --iam-auth.
	awsStack awsStackOptions

	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	logger *slog.Logger

	// flagChecks are the commands' flag validations that run before anything is looked up in
	// AWS (see checkFlagsFirst).
	flagChecks map[*cobra.Command]func(*globalOptions) error
}

// envFlag ties a global flag to its environment variable.
type envFlag struct {
	flag, env string
}

var globalEnvFlags = []envFlag{
	{"table", "RAGMIGRATE_TABLE"},
	{"bucket", "RAGMIGRATE_BUCKET"},
	{"source-db", "RAGMIGRATE_SOURCE_DB"},
	{"target-db", "RAGMIGRATE_TARGET_DB"},
	{"region", "RAGMIGRATE_REGION"},
	{"json", "RAGMIGRATE_JSON"},
	{"yes", "RAGMIGRATE_YES"},
	{"log-level", "RAGMIGRATE_LOG_LEVEL"},
	{"log-format", "RAGMIGRATE_LOG_FORMAT"},
	{"s3-path-style", "RAGMIGRATE_S3_PATH_STYLE"},
	{"db-connect-timeout", "RAGMIGRATE_DB_CONNECT_TIMEOUT"},
	{"db-statement-timeout", "RAGMIGRATE_DB_STATEMENT_TIMEOUT"},
	{"aws-timeout", "RAGMIGRATE_AWS_TIMEOUT"},
}

func (g *globalOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&g.Table, "table", "", "DynamoDB conversation table holding the bots (env RAGMIGRATE_TABLE)")
	fs.StringVar(&g.Bucket, "bucket", "", "S3 document bucket (env RAGMIGRATE_BUCKET)")
	fs.StringVar(&g.SourceDB, "source-db", "", "PostgreSQL URL of the old (v0) cluster or its restored snapshot (env RAGMIGRATE_SOURCE_DB)")
	fs.StringVar(&g.TargetDB, "target-db", "", "PostgreSQL URL of the new (v1) cluster (env RAGMIGRATE_TARGET_DB)")
	fs.StringVar(&g.Region, "region", "", "AWS region; falls back to AWS_REGION and the shared config (env RAGMIGRATE_REGION)")
	fs.BoolVar(&g.JSON, "json", false, "print results as JSON on stdout (env RAGMIGRATE_JSON)")
	fs.BoolVarP(&g.Yes, "yes", "y", false, "answer yes to confirmations; required for writes when stdin is not a terminal (env RAGMIGRATE_YES)")
	fs.StringVar(&g.LogLevel, "log-level", "info", "debug, info, warn or error (env RAGMIGRATE_LOG_LEVEL)")
	fs.StringVar(&g.LogFormat, "log-format", "text", "text or json; logs go to stderr, results to stdout (env RAGMIGRATE_LOG_FORMAT)")
	fs.BoolVar(&g.S3PathStyle, "s3-path-style", false, "path-style S3 requests; default on when AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL is set (env RAGMIGRATE_S3_PATH_STYLE)")
	fs.DurationVar(&g.DBConnectTimeout, "db-connect-timeout", vectorstore.DefaultConnectTimeout, "how long connecting to PostgreSQL may take (TCP, TLS, login) before it fails; connect_timeout in the URL wins (env RAGMIGRATE_DB_CONNECT_TIMEOUT)")
	fs.DurationVar(&g.DBStatementTimeout, "db-statement-timeout", vectorstore.DefaultStatementTimeout, "PostgreSQL statement_timeout of ragmigrate's sessions (copy's data and index phases are bounded by the run instead); statement_timeout in the URL wins (env RAGMIGRATE_DB_STATEMENT_TIMEOUT)")
	g.awsStack.AddFlags(fs)
	fs.DurationVar(&g.AWSTimeout, "aws-timeout", awsclient.DefaultTimeout, "how long an AWS request (DynamoDB, S3, Bedrock) may wait for connecting, for the answer to begin, and for each pause in its body; a long S3 download goes on while bytes flow; a lookup of --stack or a secret (CloudFormation, Secrets Manager) takes at most this in all, its retries included (env RAGMIGRATE_AWS_TIMEOUT)")
}

// dbTimeouts are the PostgreSQL bounds every command connects with.
func (g *globalOptions) dbTimeouts() vectorstore.Timeouts {
	return vectorstore.Timeouts{Connect: g.DBConnectTimeout, Statement: g.DBStatementTimeout}
}

// awsOptions configure the AWS clients every command builds.
func (g *globalOptions) awsOptions() awsclient.Options {
	return awsclient.Options{Region: g.Region, S3PathStyle: g.S3PathStyle, Timeout: g.AWSTimeout, Logger: g.logger}
}

// resolve applies environment fallbacks to flags the user did not set, validates, and builds the logger.
func (g *globalOptions) resolve(fs *pflag.FlagSet) error {
	for _, ef := range append(globalEnvFlags, stackEnvFlags...) {
		f := fs.Lookup(ef.flag)
		if f == nil || f.Changed {
			continue
		}
		if v, ok := os.LookupEnv(ef.env); ok && v != "" {
			if err := fs.Set(ef.flag, v); err != nil {
				return usageError{fmt.Errorf("%s=%q: %w", ef.env, v, err)}
			}
		}
	}
	if f := fs.Lookup("s3-path-style"); f != nil && !f.Changed && os.Getenv("RAGMIGRATE_S3_PATH_STYLE") == "" {
		g.S3PathStyle = os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--db-connect-timeout", g.DBConnectTimeout}, {"--db-statement-timeout", g.DBStatementTimeout}, {"--aws-timeout", g.AWSTimeout}} {
		// Zero would mean "wait for ever", which is what these flags exist to prevent.
		if d.v < time.Millisecond {
			return usageError{fmt.Errorf("%s %s: want a positive duration (at least 1ms)", d.name, d.v)}
		}
	}
	logger, err := newLogger(g.stderr, g.LogLevel, g.LogFormat)
	if err != nil {
		return usageError{err}
	}
	g.logger = logger
	return nil
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
}

// checkFlagsFirst makes check, cmd's flag validation, run before --stack and the secrets are
// read: a bad flag is a usage error at once, not after a DescribeStacks or GetSecretValue that
// may wait on AWS. check sees what the stack and the secrets would fill as given (stackPending);
// the command validates again, with the values found, when it runs.
func (g *globalOptions) checkFlagsFirst(cmd *cobra.Command, check func(*globalOptions) error) {
	if g.flagChecks == nil {
		g.flagChecks = map[*cobra.Command]func(*globalOptions) error{}
	}
	g.flagChecks[cmd] = check
}

// fromStack stands, in stackPending, for a value that --stack or a secret will give.
const fromStack = "(to be read from --stack or a secret)"

// stackPending is g as a flag check sees it before --stack and the secrets are read: each
// setting they would fill, and no flag or environment variable gave, holds fromStack. Whether
// the stack really has it is checked when it is read (a missing output is a usage error too).
func (g *globalOptions) stackPending() *globalOptions {
	p := *g
	o := &g.awsStack
	if o.Stack != "" {
		p.Table = cmp.Or(p.Table, fromStack)
		p.Bucket = cmp.Or(p.Bucket, fromStack)
	}
	if o.Stack != "" || o.TargetSecret != "" {
		p.TargetDB = cmp.Or(p.TargetDB, fromStack)
	}
	if o.SourceSecret != "" {
		p.SourceDB = cmp.Or(p.SourceDB, fromStack)
	}
	return &p
}

// lookUp reads what cmd needs of --stack and the secrets before it runs.
func (g *globalOptions) lookUp(cmd *cobra.Command) error {
	switch cmd.Name() {
	case "iam-policy":
		// It prints a policy and calls no AWS API; its --stack only scopes ARNs.
		return nil
	case "remote":
		// The task resolves the stack and reads the secrets itself, inside the VPC with
		// its role; here the stack only places the task (cluster, subnets, groups).
		return g.describeStackOnly(cmd.Context())
	case "worker":
		// The app's task definition configures it through its own variables.
		return g.resolveWorker(cmd.Context(), cmd.Flags())
	default:
		return g.resolveStack(cmd.Context(), cmd.Flags())
	}
}

// stdinIsTerminal tells whether a confirmation prompt can be answered by a person.
func (g *globalOptions) stdinIsTerminal() bool {
	f, ok := g.stdin.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newProgress starts progress output: a live bar when stderr is a terminal, periodic log lines
// otherwise. On a terminal, log lines share the screen with the bar, so the returned logger
// writes through it and the two do not collide.
func (g *globalOptions) newProgress() (*progress.Progress, *slog.Logger) {
	f, ok := g.stderr.(*os.File)
	terminal := ok && term.IsTerminal(int(f.Fd()))
	p := progress.New(progress.Options{Out: g.stderr, Terminal: terminal, Logger: g.logger})
	if !terminal {
		return p, g.logger
	}
	logger, err := newLogger(p.Writer(g.stderr), g.LogLevel, g.LogFormat)
	if err != nil { // already validated by resolve
		return p, g.logger
	}
	return p, logger
}

// confirm asks before a write. --yes answers it; without a terminal and without --yes the write is
// refused, so a script never blocks on a prompt nobody sees.
func (g *globalOptions) confirm(question string) error {
	if g.Yes {
		return nil
	}
	if !g.stdinIsTerminal() {
		return usageError{fmt.Errorf("%s: refusing to write without --yes (stdin is not a terminal)", question)}
	}
	if !g.ask(question) {
		return usageError{fmt.Errorf("%s: not confirmed", question)}
	}
	return nil
}

// ask puts question to the operator on the terminal and tells whether the answer is yes.
func (g *globalOptions) ask(question string) bool {
	fmt.Fprintf(g.stderr, "%s [y/N] ", question)
	var answer string
	fmt.Fscanln(g.stdin, &answer)
	a := strings.ToLower(strings.TrimSpace(answer))
	return a == "y" || a == "yes"
}

func newRootCommand(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	g := &globalOptions{stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "ragmigrate",
		Short: "Move a pgvector RAG knowledge store to a new cluster, and prove the result",
		Long: `ragmigrate moves a RAG chat platform's knowledge store — pgvector rows in PostgreSQL, bots in a
DynamoDB table, documents in an S3 bucket, embeddings from Amazon Bedrock — to a new database
cluster: by re-embedding from the sources (reembed), or by copying the vectors from the old cluster
or its restored snapshot (copy; 'snapshot restore' restores one, 'snapshot cleanup' deletes it),
or live, by a bulk load plus logical replication with a guarded cut-over (replicate).
Its first users run Bedrock Chat (aws-samples) through the v0 → v1 upgrade, which replaces the
Aurora cluster and deletes every vector.

Commands that read (plan, verify, status) never change the data: verify records its verdict in
the target's journal, and status brings a journal an older ragmigrate wrote up to date. Commands
that write ask for confirmation on a terminal and need --yes otherwise. Logs go to stderr; results go to stdout (--json for machines).

AWS access uses the standard SDK chain (AWS_PROFILE, AWS_REGION, ...); endpoints can be redirected
with the SDK's AWS_ENDPOINT_URL_<SERVICE> variables (DYNAMODB, S3, BEDROCK_RUNTIME, and for the
control plane SERVICE_QUOTAS, CLOUDFORMATION, SECRETS_MANAGER, ECS, CLOUDWATCH_LOGS, RDS, STS), which is how
the local stack is reached (it and its test servers are in the development build only: 'make
build', 'ragmigrate dev stack up').

` + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.resolve(cmd.Flags()); err != nil {
				return err
			}
			// An old flag's new name is said also when the flags are refused: it may be the fix.
			warnDeprecated(cmd.Flags(), g.logger)
			if check := g.flagChecks[cmd]; check != nil {
				if err := check(g.stackPending()); err != nil {
					return err
				}
			}
			if err := g.lookUp(cmd); err != nil {
				if cmd.Context().Err() != nil {
					return interrupted(err, "while reading --stack or a secret, before %s began: nothing was done: run it again", cmd.CommandPath())
				}
				return err
			}
			return nil
		},
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	g.AddFlags(root.PersistentFlags())
	root.AddCommand(newPlanCommand(g))
	root.AddCommand(newReembedCommand(g))
	root.AddCommand(newStatusCommand(g))
	root.AddCommand(newInspectCommand(g))
	root.AddCommand(newCleanupCommand(g))
	root.AddCommand(newVerifyCommand(g))
	root.AddCommand(newDevCommand(g))
	root.AddCommand(newCopyCommand(g))
	root.AddCommand(newSnapshotCommand(g))
	root.AddCommand(newIAMPolicyCommand(g))
	root.AddCommand(newRemoteCommand(g))
	root.AddCommand(newReplicateCommand(g))
	root.AddCommand(newWorkerCommand(g))
	return root
}
