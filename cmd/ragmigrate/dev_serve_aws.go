//go:build dev

package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/ragmigrate/ragmigrate/internal/dev/awssim"
	"github.com/ragmigrate/ragmigrate/internal/dev/cfnsim"
	"github.com/ragmigrate/ragmigrate/internal/dev/rdssim"
	"github.com/ragmigrate/ragmigrate/internal/dev/secretsim"
	"github.com/ragmigrate/ragmigrate/internal/dev/servicequotasim"
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
}

// awsShared holds what one contract server hands another inside 'dev serve aws'.
type awsShared struct {
	// secrets is Secrets Manager's store, where RDS puts the master user secrets it manages.
	secrets *secretsim.Store
}

// awsServices are the contract servers 'dev serve aws' hosts, each registering its routes, in
// order: a service may use what an earlier one put in awsShared.
var awsServices = []func(s *awssim.Server, opts awsServeOptions, shared *awsShared, log *slog.Logger) error{
	func(s *awssim.Server, _ awsServeOptions, _ *awsShared, _ *slog.Logger) error {
		s.HandleJSON("ServiceQuotasV20190624", servicequotasim.New())
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
		sim, err := rdssim.New(rdssim.Config{AdminURL: opts.rdsSourceDB, Dir: filepath.Join(opts.dir, "rds"),
			Secrets: shared.secrets, Delay: delay, Logger: log.With(slog.String("service", "rds"))})
		if err != nil {
			return err
		}
		sim.Register(s)
		return nil
	},
}

func newDevServeAWSCommand(g *globalOptions, addr *string) *cobra.Command {
	var opts awsServeOptions
	cmd := &cobra.Command{
		Use:   "aws",
		Short: "AWS control-plane contract servers: Service Quotas, CloudFormation, Secrets Manager, ECS, CloudWatch Logs, RDS",
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
	cmd.Flags().StringVar(&opts.rdsSourceDB, "rds-source-db", "", "admin URL of the PostgreSQL cluster RDS snapshots and restored clusters live on, as databases (env RAGMIGRATE_DEV_RDS_SOURCE_DB)")
	cmd.Flags().DurationVar(&opts.rdsDelay, "rds-delay", rdssim.DefaultDelay, "how long a new RDS cluster or instance stays creating (0: available at once)")
	cmd.Flags().StringArrayVar(&opts.adminDBs, "admin-db", nil, "superuser URL of a cluster whose role passwords the Secrets Manager rotation knob may change (repeatable)")
	return cmd
}
