package main

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// rigModules are the test doubles' modules: the S3 server the stack runs and its storage.
var rigModules = []string{"github.com/johannesboyne/gofakes3", "go.etcd.io/bbolt"}

// rigPackages is the prefix of the development rig's symbols.
const rigPackages = "github.com/ragmigrate/ragmigrate/internal/dev/"

// TestOperatorBuildHasNoRig builds the binary as an operator does (go build, no tag) and checks
// that it links no test double: 'go version -m' lists neither gofakes3 nor bbolt, no symbol comes
// from internal/dev, and 'ragmigrate dev ...' says this build has no rig, exit 2. The development
// build the other tests run is checked the same way and must show all three, so the checks can
// see what they look for.
func TestOperatorBuildHasNoRig(t *testing.T) {
	t.Parallel()
	operator := filepath.Join(t.TempDir(), "ragmigrate")
	out, err := exec.Command("go", "build", "-o", operator, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)

	modules, symbols := linked(t, operator)
	for _, m := range rigModules {
		require.NotContains(t, modules, m, "go version -m of the operator's build")
	}
	require.NotContains(t, symbols, rigPackages, "symbols of the operator's build")

	devModules, devSymbols := linked(t, binary)
	for _, m := range rigModules {
		require.Contains(t, devModules, m, "go version -m of the development build")
	}
	require.Contains(t, devSymbols, rigPackages, "symbols of the development build")

	for _, args := range [][]string{{"dev"}, {"dev", "stack", "up"}, {"dev", "seed", "--yes", "--bots", "3"}, {"dev", "--help"}} {
		cmd := exec.Command(operator, args...)
		cmd.Env = testEnv(nil)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "%v: %s", args, out)
		require.Equal(t, exitUsage, ee.ExitCode(), "%v: %s", args, out)
		require.Contains(t, string(out), "this is the operator's build, without the development rig", "%v", args)
		require.Contains(t, string(out), "go build -tags dev ./cmd/ragmigrate", "%v", args)
	}
	help, err := exec.Command(operator, "--help").Output()
	require.NoError(t, err)
	require.NotContains(t, string(help), "\n  dev ", "the operator's help lists no dev command")
}

// linked returns what a binary links: its modules as 'go version -m' prints them, and its symbol
// table.
func linked(t *testing.T, bin string) (modules, symbols string) {
	t.Helper()
	m, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
	require.NoError(t, err, "%s", m)
	nm, err := exec.Command("go", "tool", "nm", bin).Output()
	require.NoError(t, err)
	return string(m), string(nm)
}

// TestDevelopmentBuildHelp: the development build lists the dev command and its subcommands.
func TestDevelopmentBuildHelp(t *testing.T) {
	t.Parallel()
	r := ragmigrate(t, nil, "--help")
	require.Zero(t, r.code, r.stderr)
	require.Contains(t, r.stdout, "\n  dev ")
	r = ragmigrate(t, nil, "dev", "--help")
	require.Zero(t, r.code, r.stderr)
	for _, sub := range []string{"stack", "seed", "summary", "serve", "upload"} {
		require.Contains(t, r.stdout, "\n  "+sub+" ")
	}
}
