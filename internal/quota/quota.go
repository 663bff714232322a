// Package quota reads an embedding model's Bedrock quotas from Service
// Quotas: the account's on-demand InvokeModel requests and tokens per minute
// for the model, in the region, which are the re-embed's speed limit.
// Defaults differ by account and region, and new accounts get less, so the
// tool reads them rather than guessing.
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

// ServiceCode is Bedrock's code in Service Quotas.
const ServiceCode = "bedrock"

// API is the part of *servicequotas.Client Lookup uses.
type API interface {
	ListServiceQuotas(ctx context.Context, in *servicequotas.ListServiceQuotasInput, optFns ...func(*servicequotas.Options)) (*servicequotas.ListServiceQuotasOutput, error)
}

// Budget is what Service Quotas says of one model.
type Budget struct {
	// RequestsPerMinute and TokensPerMinute are the quotas' values, 0 when
	// the account has no such quota for the model.
	RequestsPerMinute int
	TokensPerMinute   int
	// RequestsQuota and TokensQuota name the quotas read, for the plan.
	RequestsQuota string
	TokensQuota   string
}

// ErrDenied is returned when the credentials may not read Service Quotas
// (servicequotas:ListServiceQuotas): the caller falls back to finding the
// pace adaptively.
var ErrDenied = errors.New("service quotas denies ListServiceQuotas")

// Lookup lists Bedrock's quotas and picks the model's on-demand InvokeModel
// requests- and tokens-per-minute quotas, matched by name: "On-demand
// InvokeModel requests per minute for ${model}" and "… tokens per minute for
// ${model}" (AWS also words them "On-demand model inference …"), where
// ${model} is one of names (the model's display names, or its id).
// Cross-region quotas are not the on-demand ones and are left out.
func Lookup(ctx context.Context, api API, names []string) (Budget, error) {
	var b Budget
	in := &servicequotas.ListServiceQuotasInput{ServiceCode: aws.String(ServiceCode), MaxResults: aws.Int32(100)}
	for {
		out, err := api.ListServiceQuotas(ctx, in)
		if err != nil {
			var ae smithy.APIError
			if errors.As(err, &ae) && (ae.ErrorCode() == "AccessDeniedException" || ae.ErrorCode() == "AccessDenied") {
				return b, fmt.Errorf("%w: %s", ErrDenied, ae.ErrorMessage())
			}
			return b, fmt.Errorf("list service quotas for %s: %w", ServiceCode, err)
		}
		for _, q := range out.Quotas {
			if q.QuotaName == nil || q.Value == nil {
				continue
			}
			switch kind(*q.QuotaName, names) {
			case "requests":
				b.RequestsPerMinute, b.RequestsQuota = int(*q.Value), *q.QuotaName
			case "tokens":
				b.TokensPerMinute, b.TokensQuota = int(*q.Value), *q.QuotaName
			}
		}
		if out.NextToken == nil || *out.NextToken == "" {
			return b, nil
		}
		in.NextToken = out.NextToken
	}
}

// kind is "requests" or "tokens" when name is the on-demand per-minute
// quota of one of the model's names, else "".
func kind(name string, names []string) string {
	n := strings.ToLower(strings.TrimSpace(name))
	if !strings.HasPrefix(n, "on-demand ") {
		return ""
	}
	for _, k := range []string{"requests", "tokens"} {
		_, model, ok := strings.Cut(n, " "+k+" per minute for ")
		if !ok {
			continue
		}
		for _, m := range names {
			if model == strings.ToLower(m) {
				return k
			}
		}
	}
	return ""
}
