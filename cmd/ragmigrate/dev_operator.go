//go:build !dev

package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// errNoRig answers 'ragmigrate dev ...' in the operator's build.
var errNoRig = errors.New("dev: this is the operator's build, without the development rig (local stack, seeder, test servers); " +
	"build the development binary with 'make build' (go build -tags dev ./cmd/ragmigrate)")

// newDevCommand in the operator's build stands in for the development rig, which only a build
// with the tag 'dev' links (dev.go): the test doubles (an S3 server on bbolt, the Bedrock
// contract server) and the seeder have no place in the binary that migrates a real deployment.
// It is hidden from the help and says what this build is, instead of cobra's "unknown command".
func newDevCommand(*globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:                "dev",
		Short:              "Development rig (not in this build)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(*cobra.Command, []string) error {
			return usageError{errNoRig}
		},
	}
}
