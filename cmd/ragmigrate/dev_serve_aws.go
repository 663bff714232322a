//go:build dev

package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ragmigrate/ragmigrate/internal/dev/awssim"
	"github.com/ragmigrate/ragmigrate/internal/dev/cfnsim"
	"github.com/ragmigrate/ragmigrate/internal/dev/ecssim"
	"github.com/ragmigrate/ragmigrate/internal/dev/logssim"
	"github.com/ragmigrate/ragmigrate/internal/dev/rdssim"
	"github.com/ragmigrate/ragmigrate/internal/dev/secretsim"
	"github.com/ragmigrate/ragmigrate/internal/dev/servicequotasim"
	"github.com/ragmigrate/ragmigrate/internal/dev/stack"
	"github.com/ragmigrate/ragmigrate/internal/dev/stssim"
)

// awsServeOptions configure the AWS control-plane contract servers.
type awsServeOptions struct {
	// dir holds the services' state (published stacks, secrets, task logs), so that it survives
	// a restart of the stack.
	dir string
	// rdsSourceDB is the source cluster's admin URL: RDS snapshots and restored clusters are
	// databases on it (internal/dev/rdssim).
	rdsSourceDB string
	// rdsDelay is how long a new RDS cluster or instance stays "creating".
	rdsDelay time.Duration
	// adminDBs are superuser URLs of the stack's clusters; rotating a database secret changes
	// its role's password through the one whose host and port match.
	adminDBs []string
	// ecsBinary is the program every ECS task's image maps to; empty is this binary.
	ecsBinary string
	// ecsTaskEnvFile is a file of shell exports (the stack's .stack/env) whose AWS_* variables
	// every ECS task gets, as a task on AWS gets credentials from its role and reaches the
	// services from its VPC; it is read at each task start. Empty: this server's own AWS_*
	// variables.
	ecsTaskEnvFile string
	// atExit collects what a service must do when the server stops (end the ECS tasks' processes).
	atExit *[]func()
}

// awsShared holds what one contract server hands another inside 'dev serve aws'.
type awsShared struct {
	// secrets is the Secrets Manager server, where RDS puts the master user secrets it manages.
	secrets *secretsim.Server
}

// awsServices are the contract servers 'dev serve aws' hosts, each registering its routes, in
// order: a service may use what an earlier one put in awsShared.
var awsServices = []func(s *awssim.Server, opts awsServeOptions, shared *awsShared, log *slog.Logger) error{
	func(s *awssim.Server, _ awsServeOptions, _ *awsShared, _ *slog.Logger) error {
		// No Bedrock quota until one is PUT at /_dev/servicequotas/quotas: the model's quotas
		// are then unreadable by name, and a run finds its pace adaptively. Fargate's vCPU
		// quota is a new account's (a PUT replaces it too).
		servicequotasim.New(servicequotasim.FargateDefault).Register(s)
		return nil
	},
	func(s *awssim.Server, opts awsServeOptions, _ *awsShared, _ *slog.Logger) error {
		cfn, err := cfnsim.New(opts.dir)
		if err != nil {
			return err
		}
		cfn.Register(s)
		return nil
	},
	func(s *awssim.Server, opts awsServeOptions, shared *awsShared, _ *slog.Logger) error {
		sm, err := secretsim.New(opts.dir, opts.adminDBs)
		if err != nil {
			return err
		}
		sm.Register(s)
		shared.secrets = sm
		return nil
	},
	func(s *awssim.Server, opts awsServeOptions, shared *awsShared, log *slog.Logger) error {
		delay := opts.rdsDelay
		if delay == 0 {
			delay = -1 // rdssim: available at once
		}
		rds, err := rdssim.New(rdssim.Options{AdminURL: opts.rdsSourceDB, Dir: filepath.Join(opts.dir, "rds"),
			Secrets: shared.secrets, Delay: delay, Logger: log.With(slog.String("service", "rds"))})
		if err != nil {
			return err
		}
		rds.Register(s)
		return nil
	},
	// ECS runs each task as a local process whose output feeds CloudWatch Logs, so the two
	// services are registered together.
	func(s *awssim.Server, opts awsServeOptions, _ *awsShared, log *slog.Logger) error {
		logs, err := logssim.New(filepath.Join(opts.dir, "logs"))
		if err != nil {
			return err
		}
		logs.Register(s)
		binary := opts.ecsBinary
		if binary == "" {
			if binary, err = os.Executable(); err != nil {
				return fmt.Errorf("ecs: find this binary for the tasks: %w", err)
			}
		}
		ecs, err := ecssim.New(ecssim.Options{
			Dir: filepath.Join(opts.dir, "ecs"), Binary: binary, Logs: logs,
			// The app's embedding image is played by ragmigrate's worker, which takes the app's
			// command (-u embedding/main.py KEYS); every other image is ragmigrate itself.
			Program: func(image string) ([]string, error) {
				if image == stack.EmbeddingImage {
					return []string{binary, "worker"}, nil
				}
				return []string{binary}, nil
			},
			Logger: log.With(slog.String("service", "ecs")),
			Env:    func() ([]string, error) { return taskAmbientEnv(opts.ecsTaskEnvFile) },
		})
		if err != nil {
			return err
		}
		ecs.Register(s)
		// A task's process must not outlive the server that reports on it.
		*opts.atExit = append(*opts.atExit, ecs.Close)
		return nil
	},
	// STS, for the table access role the app's embedding task (and ragmigrate's workers in its
	// place) assumes to reach the table.
	func(s *awssim.Server, opts awsServeOptions, _ *awsShared, _ *slog.Logger) error {
		sts, err := stssim.New(opts.dir)
		if err != nil {
			return err
		}
		sts.Register(s)
		return nil
	},
}

// taskAmbientEnv is the AWS_* part of the environment in file (lines "export NAME='value'", as
// the stack writes them), or of this process's environment when file is empty, and the
// permission to fetch the stack's loopback web.
func taskAmbientEnv(file string) ([]string, error) {
	var lines []string
	if file == "" {
		lines = os.Environ()
	} else {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("read the tasks' environment: %w", err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			kv, ok := strings.CutPrefix(strings.TrimSpace(line), "export ")
			if !ok {
				continue
			}
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				continue
			}
			lines = append(lines, k+"="+unquoteShell(v))
		}
	}
	var out []string
	for _, kv := range lines {
		if strings.HasPrefix(kv, "AWS_") {
			out = append(out, kv)
		}
	}
	// The stack's web (the bots' URLs) is on loopback, where the VPC's tasks would reach the
	// internet: the app's task, played by 'ragmigrate worker', may fetch from it as the app's
	// loaders would.
	return append(out, "RAGMIGRATE_ALLOW_PRIVATE_URLS=1"), nil
}

// unquoteShell reverses the single quoting of stack.ShellExports ('…', with ' as '\”).
func unquoteShell(v string) string {
	if len(v) < 2 || v[0] != '\'' || v[len(v)-1] != '\'' {
		return v
	}
	return strings.ReplaceAll(v[1:len(v)-1], `'\''`, "'")
}

func newDevServeAWSCommand(g *globalOptions, addr *string) *cobra.Command {
	var opts awsServeOptions
	cmd := &cobra.Command{
		Use:   "aws",
		Short: "AWS control-plane contract servers: Service Quotas, CloudFormation, Secrets Manager, ECS, CloudWatch Logs, RDS, STS",
		Long: `Test doubles of the AWS control-plane calls ragmigrate makes, on one address: each follows its
service's documented wire protocol and errors, and the SDK reaches it through
AWS_ENDPOINT_URL_<SERVICE> (the stack sets them all to this server). GET /healthz answers ok;
knobs live under /_dev/<service>/.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.rdsDelay < 0 {
				return usageError{fmt.Errorf("--rds-delay %s: want 0 or more", opts.rdsDelay)}
			}
			if err := os.MkdirAll(filepath.Join(opts.dir, "rds"), 0o755); err != nil {
				return err
			}
			if opts.rdsSourceDB == "" {
				opts.rdsSourceDB = os.Getenv("RAGMIGRATE_DEV_RDS_SOURCE_DB")
			}
			log := g.logger.With(slog.String("server", "aws"))
			srv := awssim.New()
			var atExit []func()
			opts.atExit = &atExit
			defer func() {
				for _, f := range atExit {
					f()
				}
			}()
			shared := &awsShared{}
			for _, register := range awsServices {
				if err := register(srv, opts, shared, log); err != nil {
					return fmt.Errorf("aws server: %w", err)
				}
			}
			return serveHTTP(cmd.Context(), *addr, srv, log)
		},
	}
	cmd.Flags().StringVar(&opts.dir, "dir", ".stack/aws", "state directory")
	cmd.Flags().StringVar(&opts.ecsBinary, "ecs-binary", "", "program every ECS task's image runs (default: this binary)")
	cmd.Flags().StringVar(&opts.ecsTaskEnvFile, "ecs-task-env-file", "", "shell exports whose AWS_* variables every ECS task gets (default: this server's AWS_* environment)")
	cmd.Flags().StringVar(&opts.rdsSourceDB, "rds-source-db", "", "admin URL of the PostgreSQL cluster RDS snapshots and restored clusters live on, as databases (env RAGMIGRATE_DEV_RDS_SOURCE_DB)")
	cmd.Flags().DurationVar(&opts.rdsDelay, "rds-delay", rdssim.DefaultDelay, "how long a new RDS cluster or instance stays creating (0: available at once)")
	cmd.Flags().StringArrayVar(&opts.adminDBs, "admin-db", nil, "superuser URL of a cluster whose role passwords the Secrets Manager rotation knob may change (repeatable)")
	return cmd
}
