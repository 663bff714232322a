package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/remote"
)

// resolveGlobals parses args into a fresh root command and returns its resolved globals.
func resolveGlobals(t *testing.T, args ...string) *globalOptions {
	t.Helper()
	var stderr bytes.Buffer
	g := &globalOptions{stderr: &stderr}
	cmd := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { return nil }}
	g.AddFlags(cmd.Flags())
	require.NoError(t, cmd.ParseFlags(args))
	require.NoError(t, g.resolve(cmd.Flags()))
	return g
}

func TestS3PathStyleFollowsEndpointOverride(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("RAGMIGRATE_S3_PATH_STYLE", "")

	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	require.False(t, resolveGlobals(t).S3PathStyle, "real S3: virtual-host style")

	t.Setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9000")
	require.True(t, resolveGlobals(t).S3PathStyle, "an S3 endpoint override turns path style on")
	require.False(t, resolveGlobals(t, "--s3-path-style=false").S3PathStyle, "the flag wins")

	t.Setenv("RAGMIGRATE_S3_PATH_STYLE", "false")
	require.False(t, resolveGlobals(t).S3PathStyle, "the env var wins over the automatic choice")
}

func TestEnvFallbacks(t *testing.T) {
	t.Setenv("RAGMIGRATE_TABLE", "from-env")
	t.Setenv("RAGMIGRATE_YES", "true")
	t.Setenv("RAGMIGRATE_LOG_FORMAT", "json")
	g := resolveGlobals(t)
	require.Equal(t, "from-env", g.Table)
	require.True(t, g.Yes)
	require.Equal(t, "json", g.LogFormat)
	require.Equal(t, "from-flag", resolveGlobals(t, "--table", "from-flag").Table, "a flag beats its env var")

	t.Setenv("RAGMIGRATE_YES", "maybe")
	var stderr bytes.Buffer
	g2 := &globalOptions{stderr: &stderr}
	cmd := &cobra.Command{Use: "x"}
	g2.AddFlags(cmd.Flags())
	err := g2.resolve(cmd.Flags())
	var usage usageError
	require.ErrorAs(t, err, &usage)
	require.Contains(t, err.Error(), "RAGMIGRATE_YES")
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	live := context.Background()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tt := range []struct {
		name string
		ctx  context.Context
		err  error
		want int
	}{
		{"Failure", live, errors.New("boom"), exitFailure},
		{"Usage", live, usageError{errors.New("bad flag")}, exitUsage},
		{"UnknownCommand", live, errors.New(`unknown command "x" for "ragmigrate"`), exitUsage},
		{"Mismatch", live, fmt.Errorf("verify: %w", errMismatch), exitMismatch},
		{"WritesAfterCut", live, fmt.Errorf("cutover: %w", errWritesAfterCut), exitWritesAfterCut},
		{"LockHeld", live, fmt.Errorf("copy: %w", errLockHeld), exitLockHeld},
		{"Interrupted", cancelled, fmt.Errorf("copy: %w", context.Canceled), exitInterrupted},
		{"RemoteTaskExit", live, fmt.Errorf("remote: %w", &remote.ExitError{TaskID: "t", Code: 3}), exitMismatch},
		{"RemoteTaskExit42", live, &remote.ExitError{TaskID: "t", Code: 42}, 42},
		{"RemoteNotStarted", live, &remote.NotStartedError{TaskID: "t", StopCode: "TaskFailedToStart"}, exitTaskNotStarted},
	} {
		require.Equal(t, tt.want, exitCode(tt.ctx, tt.err), tt.name)
	}
}

func TestConfirmRefusesWithoutTerminal(t *testing.T) {
	t.Parallel()
	g := &globalOptions{stdin: bytes.NewBufferString("y\n")}
	err := g.confirm("Write?")
	var usage usageError
	require.ErrorAs(t, err, &usage, "a pipe is not a person: --yes is required")
	g.Yes = true
	require.NoError(t, g.confirm("Write?"))
}
