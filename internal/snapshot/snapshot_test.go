package snapshot_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/snapshot"
)

// TestClusterIDFor: the default cluster name is a valid RDS identifier for any snapshot name,
// with room for the writer's suffix, and the same every time (a re-run finds the cluster).
func TestClusterIDFor(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ snapshot, want string }{
		{"bedrockchatstack-vectorstore-final-snapshot", "ragmigrate-bedrockchatstack-vectorstore-final-snapshot"},
		{"rds:my-cluster-2024-05-29-03-10", "ragmigrate-rds-my-cluster-2024-05-29-03-10"},
		{"Final--Snapshot_", "ragmigrate-final-snapshot"},
		{strings.Repeat("a", 80), "ragmigrate-" + strings.Repeat("a", 56-len("ragmigrate-"))},
		{strings.Repeat("ab-", 30), strings.TrimSuffix(("ragmigrate-" + strings.Repeat("ab-", 30))[:56], "-")},
	} {
		got := snapshot.ClusterIDFor(tt.snapshot)
		require.Equal(t, tt.want, got, tt.snapshot)
		require.NoError(t, snapshot.ValidIdentifier(got), tt.snapshot)
	}
	for _, bad := range []string{"", "1abc", "a--b", "a-", "A", "a_b", strings.Repeat("a", 57)} {
		require.Error(t, snapshot.ValidIdentifier(bad), bad)
	}
}
