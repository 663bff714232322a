//go:build dev

package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/ragmigrate/ragmigrate/internal/dev/awssim"
	"github.com/ragmigrate/ragmigrate/internal/dev/servicequotasim"
)

// awsServeOptions configure the AWS control-plane contract servers.
type awsServeOptions struct {
	// dir holds the services' state (published stacks, secrets, task logs), so that it survives
	// a restart of the stack.
	dir string
}

// awsServices are the contract servers 'dev serve aws' hosts, each registering its routes.
var awsServices = []func(s *awssim.Server, opts awsServeOptions, log *slog.Logger) error{
	func(s *awssim.Server, _ awsServeOptions, _ *slog.Logger) error {
		// No quota until one is PUT at /_dev/servicequotas/quotas: the account's quotas are
		// then unreadable by name, and a run finds its pace adaptively.
		sq := servicequotasim.New()
		s.HandleJSON("ServiceQuotasV20190624", sq)
		s.HandleDev("/_dev/servicequotas/", sq.DevHandler("/_dev/servicequotas/"))
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
			if err := os.MkdirAll(opts.dir, 0o755); err != nil {
				return err
			}
			log := g.logger.With(slog.String("server", "aws"))
			srv := awssim.New()
			for _, register := range awsServices {
				if err := register(srv, opts, log); err != nil {
					return fmt.Errorf("aws server: %w", err)
				}
			}
			return serveHTTP(cmd.Context(), *addr, srv, log)
		},
	}
	cmd.Flags().StringVar(&opts.dir, "dir", ".stack/aws", "state directory")
	return cmd
}
