package stacktest

import (
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/awssim"
	"github.com/ragmigrate/ragmigrate/internal/dev/ecssim"
	"github.com/ragmigrate/ragmigrate/internal/dev/logssim"
)

// AWSServer serves a test's own contract servers in process, behind awssim's dispatcher as
// 'dev serve aws' serves them on the stack: each register adds one (cfn.Register, say). It
// returns the URL the SDK clients' endpoints point at, and stops when the test ends.
func AWSServer(t testing.TB, register ...func(*awssim.Server)) string {
	t.Helper()
	a := awssim.New()
	for _, r := range register {
		r(a)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return srv.URL
}

// ECS runs the ECS and CloudWatch Logs contract servers in process, keeping their state under
// dir (ecs/ and logs/; a new temporary directory when dir is ""), the tasks' output going to the
// Logs server as the awslogs driver sends it. opts.Dir and opts.Logs are set here. It returns
// both servers and the URL that reaches them; the tasks and the server end when the test does.
func ECS(t testing.TB, dir string, opts ecssim.Options) (*ecssim.Server, *logssim.Server, string) {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	logs, err := logssim.New(filepath.Join(dir, "logs"))
	require.NoError(t, err)
	opts.Dir, opts.Logs = filepath.Join(dir, "ecs"), logs
	sim, err := ecssim.New(opts)
	require.NoError(t, err)
	url := AWSServer(t, sim.Register, logs.Register)
	// Registered after the server's cleanup, so it runs first: no task outlives the server it
	// reports to.
	t.Cleanup(sim.Close)
	return sim, logs, url
}
