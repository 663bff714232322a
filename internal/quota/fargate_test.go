package quota_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/servicequotasim"
	"github.com/ragmigrate/ragmigrate/internal/quota"
)

// TestFargateVCPU: Fargate's On-Demand vCPU quota is read by its code, past a page of other
// quotas and beside the Spot one; none listed, and access denied, are told apart.
func TestFargateVCPU(t *testing.T) {
	qs := bedrockQuotas()
	for range 120 {
		qs = append(qs, servicequotasim.Quota{ServiceCode: "fargate", QuotaCode: "L-OTHER", QuotaName: "Fargate Spot vCPU resource count", Value: 4000})
	}
	s := servicequotasim.New(append(qs, servicequotasim.Quota{ServiceCode: "fargate", QuotaCode: quota.FargateVCPUQuotaCode, QuotaName: quota.FargateVCPUQuotaName, Value: 48})...)
	v, err := quota.FargateVCPU(t.Context(), client(t, s))
	require.NoError(t, err)
	require.InDelta(t, 48, v, 0)
	require.Equal(t, 2, s.Calls("ListServiceQuotas"), "two pages")

	s.SetQuotas(bedrockQuotas())
	_, err = quota.FargateVCPU(t.Context(), client(t, s))
	require.ErrorIs(t, err, quota.ErrNotListed)

	s.SetDenied(true)
	_, err = quota.FargateVCPU(t.Context(), client(t, s))
	require.ErrorIs(t, err, quota.ErrDenied)
}
