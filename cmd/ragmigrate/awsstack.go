package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/spf13/pflag"

	"github.com/ragmigrate/ragmigrate/internal/awsclient"
	"github.com/ragmigrate/ragmigrate/internal/awsstack"
	"github.com/ragmigrate/ragmigrate/internal/dbcred"
)

// awsStackOptions are the global flags that find a deployment's resources and credentials in AWS
// instead of on the command line.
type awsStackOptions struct {
	// Stack is the Bedrock Chat CloudFormation stack whose outputs fill in what flags and env
	// leave unset.
	Stack string
	// TargetSecret and SourceSecret are the clusters' Secrets Manager secrets; the stack's
	// DbConfigSecretArn is the target's by default.
	TargetSecret, SourceSecret string
	// IAMAuth logs in with RDS IAM tokens instead of passwords.
	IAMAuth bool

	// Resolved is the stack read by --stack (nil without it), for commands that need more of it
	// (remote: the embedding cluster, subnets, security group).
	Resolved *awsstack.Stack
}

var stackEnvFlags = []envFlag{
	{"stack", "RAGMIGRATE_STACK"},
	{"target-secret", "RAGMIGRATE_TARGET_SECRET"},
	{"source-secret", "RAGMIGRATE_SOURCE_SECRET"},
	{"iam-auth", "RAGMIGRATE_IAM_AUTH"},
}

func (o *awsStackOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Stack, "stack", "", "Bedrock Chat CloudFormation stack (e.g. BedrockChatStack): read the table, bucket, database secret and embedding task settings from its outputs; flags and env win (env RAGMIGRATE_STACK)")
	fs.StringVar(&o.TargetSecret, "target-secret", "", "Secrets Manager ARN of the new cluster's secret (host, port, username, password, dbname), instead of --target-db; the stack's DbConfigSecretArn by default with --stack (env RAGMIGRATE_TARGET_SECRET)")
	fs.StringVar(&o.SourceSecret, "source-secret", "", "Secrets Manager ARN of the old cluster's secret, instead of --source-db (env RAGMIGRATE_SOURCE_SECRET)")
	fs.BoolVar(&o.IAMAuth, "iam-auth", false, "log in to PostgreSQL with an RDS IAM token for the URL's or secret's user instead of a password (env RAGMIGRATE_IAM_AUTH)")
}

// resolveStack runs after the environment fallbacks: it fills what --stack gives into the flags
// still unset, then turns secrets into database URLs whose sessions read the password at
// connect time. It does nothing (and calls no AWS API) when none of its flags is set.
func (g *globalOptions) resolveStack(ctx context.Context, fs *pflag.FlagSet) error {
	o := &g.awsStack
	if o.Stack == "" && o.TargetSecret == "" && o.SourceSecret == "" && !o.IAMAuth {
		return nil
	}
	clients, err := awsclient.Load(ctx, g.awsOptions())
	if err != nil {
		return err
	}
	if o.Stack != "" {
		st, err := describeStack(ctx, clients.Config, g.lookupBound(clients.Config), o.Stack)
		if err != nil {
			return err
		}
		o.Resolved = st
		if err := g.fillFromStack(st, &g.Table, st.Table, "table", "--table"); err != nil {
			return err
		}
		if err := g.fillFromStack(st, &g.Bucket, st.Bucket, "document bucket", "--bucket"); err != nil {
			return err
		}
		if g.TargetDB == "" {
			if err := g.fillFromStack(st, &o.TargetSecret, st.DBSecretARN, "database secret", "--target-secret"); err != nil {
				return err
			}
		}
	}
	sm := boundedSecrets{api: secretsmanager.NewFromConfig(clients.Config), bound: g.lookupBound(clients.Config)}
	copts := dbcred.Options{IAMAuth: o.IAMAuth, AWS: clients.Config}
	for _, db := range []struct {
		name, secretFlag, urlFlag string
		secret                    string
		url                       *string
	}{
		{"target", "--target-secret", "--target-db", o.TargetSecret, &g.TargetDB},
		{"source", "--source-secret", "--source-db", o.SourceSecret, &g.SourceDB},
	} {
		switch {
		case db.secret != "":
			// A URL next to a secret gives the endpoint of a secret that has none (RDS-managed).
			u, c, err := dbcred.FromSecret(ctx, sm, db.secret, *db.url, copts)
			switch {
			case errors.Is(err, dbcred.ErrEndpointTwice):
				return usageError{fmt.Errorf("%s and %s both name the %s: pass one", db.urlFlag, db.secretFlag, db.name)}
			case errors.Is(err, dbcred.ErrNoEndpoint):
				return usageError{fmt.Errorf("%s: %w: %s postgres://host:port/db", db.secretFlag, err, db.urlFlag)}
			case err != nil:
				return fmt.Errorf("%s: %w", db.secretFlag, err) // the error names the secret
			}
			*db.url = u
			g.logger.Info("database from its secret", slog.String("database", db.name), slog.String("secret", db.secret),
				slog.String("server", c.String()), slog.Bool("iam_auth", o.IAMAuth))
			// The stack's own endpoint outputs describe its cluster; a secret for another one
			// (pasted from an older deployment, say) is worth a word before anything is written.
			if st := o.Resolved; db.name == "target" && st != nil && st.DBSecretARN.Value == db.secret &&
				st.DBHost.Set() && (st.DBHost.Value != c.Host || (st.DBPort.Set() && st.DBPort.Value != strconv.Itoa(c.Port))) {
				g.logger.Warn("the secret names another endpoint than the stack's outputs; using the secret's",
					slog.String("secret_server", net.JoinHostPort(c.Host, strconv.Itoa(c.Port))),
					slog.String("stack_server", net.JoinHostPort(st.DBHost.Value, st.DBPort.Value)),
					slog.String("outputs", st.DBHost.Output+", "+st.DBPort.Output))
			}
		case o.IAMAuth && *db.url != "":
			if err := dbcred.UseIAM(*db.url, clients.Config); err != nil {
				return usageError{fmt.Errorf("%s: %w", db.urlFlag, err)}
			}
		}
	}
	return nil
}

// fillFromStack sets *dst, which stands for flag, to the stack's value v unless a flag or the
// environment set it, and logs where it came from; a stack without the output (what names it)
// is a usage error naming the flag that replaces it.
func (g *globalOptions) fillFromStack(st *awsstack.Stack, dst *string, v awsstack.Value, what, flag string) error {
	if *dst != "" {
		return nil
	}
	if err := st.Require(what); err != nil {
		return usageError{err}
	}
	*dst = v.Value
	g.logger.Info("from the stack", slog.String("stack", st.Name), slog.String("flag", flag),
		slog.String("value", v.Value), slog.String("output", v.Output))
	return nil
}

// describeStack reads stack name's outputs, within bound; an unknown stack is a usage error.
func describeStack(ctx context.Context, cfg aws.Config, bound lookupBound, name string) (*awsstack.Stack, error) {
	st, err := awsstack.Describe(ctx, boundedStacks{api: cloudformation.NewFromConfig(cfg), bound: bound}, name)
	if err != nil {
		if errors.Is(err, awsstack.ErrNotFound) {
			return nil, usageError{fmt.Errorf("--stack %s: %w", name, err)}
		}
		return nil, fmt.Errorf("--stack: %w", err)
	}
	return st, nil
}

// describeStackOnly reads the --stack outputs into Resolved and nothing else: no flag filled,
// no secret read (see remote).
func (g *globalOptions) describeStackOnly(ctx context.Context) error {
	if g.awsStack.Stack == "" {
		return nil
	}
	clients, err := awsclient.Load(ctx, g.awsOptions())
	if err != nil {
		return err
	}
	g.awsStack.Resolved, err = describeStack(ctx, clients.Config, g.lookupBound(clients.Config), g.awsStack.Stack)
	return err
}

// lookupBound bounds one control-plane lookup (DescribeStacks, GetSecretValue) as a whole, its retries included, by --aws-timeout. The SDK's retryer would
// otherwise repeat an attempt that waited the whole --aws-timeout for a silent endpoint up to 8
// times, with back-offs between: about 9 × --aws-timeout before the command said anything. A
// lookup answers within a second when it answers at all, so the bound leaves room for the
// retries of a throttled or reset call.
type lookupBound struct {
	timeout time.Duration
	region  string
}

func (g *globalOptions) lookupBound(cfg aws.Config) lookupBound {
	return lookupBound{timeout: g.AWSTimeout, region: cfg.Region}
}

// do runs op of service within the bound, its attempts recorded by rec. When the bound ends it
// (and not an interrupt), the error names the endpoint that did not answer, the flag that sets
// the bound, and the last attempt's own error (a refused connection, say), which the SDK's error
// loses when the bound ends a back-off.
func (b lookupBound) do(ctx context.Context, service, envName, host, op string, rec *attempts, fn func(context.Context) error) error {
	lctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	err := fn(lctx)
	if err == nil || ctx.Err() != nil || !errors.Is(lctx.Err(), context.DeadlineExceeded) {
		return err
	}
	last := ""
	if l := rec.lastErr(); l != nil && !errors.Is(l, context.DeadlineExceeded) && !errors.Is(l, context.Canceled) {
		last = ": last attempt: " + l.Error()
	}
	endpoint := "https://" + host + "." + b.region + ".amazonaws.com"
	var ue *url.Error
	switch {
	case errors.As(err, &ue):
		if u, perr := url.Parse(ue.URL); perr == nil {
			endpoint = u.Scheme + "://" + u.Host
		}
	case os.Getenv("AWS_ENDPOINT_URL_"+envName) != "":
		endpoint = os.Getenv("AWS_ENDPOINT_URL_" + envName)
	case os.Getenv("AWS_ENDPOINT_URL") != "":
		endpoint = os.Getenv("AWS_ENDPOINT_URL")
	}
	return fmt.Errorf("%s %s: no answer from %s within %s (--aws-timeout, retries included)%s", service, op, endpoint, b.timeout, last)
}

// attempts is a retryer that records the error of each attempt of one call before the SDK's
// retryer decides on it.
type attempts struct {
	aws.RetryerV2
	mu   sync.Mutex
	last error
}

// wrap returns a, recording around r (r itself when it is not a RetryerV2, as the SDK's are).
func (a *attempts) wrap(r aws.Retryer) aws.Retryer {
	v2, ok := r.(aws.RetryerV2)
	if !ok {
		return r
	}
	a.RetryerV2 = v2
	return a
}

func (a *attempts) IsErrorRetryable(err error) bool {
	a.mu.Lock()
	a.last = err
	a.mu.Unlock()
	return a.RetryerV2.IsErrorRetryable(err)
}

func (a *attempts) lastErr() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}

// boundedStacks is the CloudFormation client with each call within a lookupBound.
type boundedStacks struct {
	api   *cloudformation.Client
	bound lookupBound
}

func (s boundedStacks) DescribeStacks(ctx context.Context, in *cloudformation.DescribeStacksInput, optFns ...func(*cloudformation.Options)) (out *cloudformation.DescribeStacksOutput, err error) {
	rec := &attempts{}
	optFns = append(optFns, func(o *cloudformation.Options) { o.Retryer = rec.wrap(o.Retryer) })
	err = s.bound.do(ctx, "CloudFormation", "CLOUDFORMATION", "cloudformation", "DescribeStacks", rec, func(ctx context.Context) (err error) {
		out, err = s.api.DescribeStacks(ctx, in, optFns...)
		return err
	})
	return out, err
}

// boundedSecrets is the Secrets Manager client with each read within a lookupBound: the first
// one here, and those a refused login makes after a rotation.
type boundedSecrets struct {
	api   *secretsmanager.Client
	bound lookupBound
}

func (s boundedSecrets) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (out *secretsmanager.GetSecretValueOutput, err error) {
	rec := &attempts{}
	optFns = append(optFns, func(o *secretsmanager.Options) { o.Retryer = rec.wrap(o.Retryer) })
	err = s.bound.do(ctx, "Secrets Manager", "SECRETS_MANAGER", "secretsmanager", "GetSecretValue", rec, func(ctx context.Context) (err error) {
		out, err = s.api.GetSecretValue(ctx, in, optFns...)
		return err
	})
	return out, err
}
