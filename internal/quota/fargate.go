package quota

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/servicequotas"
	"github.com/aws/smithy-go"
)

// Fargate's On-Demand vCPU quota in Service Quotas: the vCPUs of all the account's Fargate
// On-Demand tasks running at once in the region, which bounds the tasks of a run on ECS.
const (
	FargateServiceCode   = "fargate"
	FargateVCPUQuotaCode = "L-3032A538"
	FargateVCPUQuotaName = "Fargate On-Demand vCPU resource count"
)

// ErrNotListed is returned when Service Quotas lists no such quota.
var ErrNotListed = errors.New("not listed")

// FargateVCPU reads the account's Fargate On-Demand vCPU quota, matched by its code or its
// name. It is read with ListServiceQuotas, which the Bedrock lookup already needs, so a run
// on ECS asks for no other Service Quotas permission.
func FargateVCPU(ctx context.Context, api API) (float64, error) {
	in := &servicequotas.ListServiceQuotasInput{ServiceCode: aws.String(FargateServiceCode), MaxResults: aws.Int32(100)}
	for {
		out, err := api.ListServiceQuotas(ctx, in)
		if err != nil {
			var ae smithy.APIError
			if errors.As(err, &ae) && (ae.ErrorCode() == "AccessDeniedException" || ae.ErrorCode() == "AccessDenied") {
				return 0, fmt.Errorf("%w: %s", ErrDenied, ae.ErrorMessage())
			}
			return 0, fmt.Errorf("list service quotas for %s: %w", FargateServiceCode, err)
		}
		for _, q := range out.Quotas {
			if q.Value == nil {
				continue
			}
			if aws.ToString(q.QuotaCode) == FargateVCPUQuotaCode || strings.EqualFold(strings.TrimSpace(aws.ToString(q.QuotaName)), FargateVCPUQuotaName) {
				return *q.Value, nil
			}
		}
		if out.NextToken == nil || *out.NextToken == "" {
			return 0, fmt.Errorf("%s quota %q: %w", FargateServiceCode, FargateVCPUQuotaName, ErrNotListed)
		}
		in.NextToken = out.NextToken
	}
}
