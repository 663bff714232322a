package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/servicequotas"

	"github.com/ragmigrate/ragmigrate/internal/embed"
	"github.com/ragmigrate/ragmigrate/internal/plan"
	"github.com/ragmigrate/ragmigrate/internal/quota"
)

// quotaTimeout bounds the Service Quotas lookup: a plan or a run must not hang on it, and
// without it the pace is still found adaptively.
const quotaTimeout = 15 * time.Second

// budget is the rate budget a run paces by, and where it came from: --rpm and --tpm when given,
// else the model's quotas read from Service Quotas, else none (the Batcher then finds the pace
// adaptively, backing off on throttles). o.RPM and o.TPM are set to it, so that the plan, the
// limiter and the run's recorded parameters all see the same budget.
func (o *planOptions) budget(ctx context.Context, cfg aws.Config, m embed.Model) plan.Budget {
	var given []string
	if o.rpmSet {
		given = append(given, "--rpm")
	}
	if o.tpmSet {
		given = append(given, "--tpm")
	}
	b := plan.Budget{RequestsPerMinute: o.RPM, TokensPerMinute: o.TPM}
	if !o.rpmSet {
		b.RequestsPerMinute = 0
	}
	if !o.tpmSet {
		b.TokensPerMinute = 0
	}
	from := strings.Join(given, " and ")
	defer func() { o.RPM, o.TPM = b.RequestsPerMinute, b.TokensPerMinute }()
	if o.rpmSet && o.tpmSet {
		b.Source = "given: " + from
		return b
	}
	why := o.readQuotas(ctx, cfg, m, &b)
	switch {
	case why == "" && from != "":
		b.Source += "; " + from + " given"
	case why != "" && from != "":
		b.Source = "given: " + from + "; " + why
	default:
		b.Source = why + b.Source
	}
	return b
}

// readQuotas fills the budgets not given from the model's Service Quotas. It returns "" when it
// read them (b.Source then names the quotas), or why they were not read.
func (o *planOptions) readQuotas(ctx context.Context, cfg aws.Config, m embed.Model, b *plan.Budget) string {
	if len(m.QuotaNames) == 0 {
		return fmt.Sprintf("%s has no account quota to read", m.ID)
	}
	if os.Getenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME") != "" && os.Getenv("AWS_ENDPOINT_URL_SERVICE_QUOTAS") == "" {
		// The account's quotas do not describe another server; reading them would also reach
		// out to AWS from a local setup.
		return "Service Quotas not read: AWS_ENDPOINT_URL_BEDROCK_RUNTIME points elsewhere (set AWS_ENDPOINT_URL_SERVICE_QUOTAS too)"
	}
	ctx, cancel := context.WithTimeout(ctx, quotaTimeout)
	defer cancel()
	q, err := quota.Lookup(ctx, servicequotas.NewFromConfig(cfg), m.QuotaNames)
	switch {
	case errors.Is(err, quota.ErrDenied):
		return "Service Quotas denies access (servicequotas:ListServiceQuotas), so the quotas were not read"
	case err != nil:
		return fmt.Sprintf("Service Quotas could not be read (%v)", err)
	case q.RequestsQuota == "" && q.TokensQuota == "":
		return fmt.Sprintf("Service Quotas lists no on-demand per-minute quota for %s in %s", m.ID, cfg.Region)
	}
	var read []string
	if !o.rpmSet && q.RequestsQuota != "" {
		b.RequestsPerMinute = q.RequestsPerMinute
		read = append(read, fmt.Sprintf("%q = %d", q.RequestsQuota, q.RequestsPerMinute))
	}
	if !o.tpmSet && q.TokensQuota != "" {
		b.TokensPerMinute = q.TokensPerMinute
		read = append(read, fmt.Sprintf("%q = %d", q.TokensQuota, q.TokensPerMinute))
	}
	if len(read) == 0 {
		return "Service Quotas has no quota for what --rpm and --tpm leave open"
	}
	b.Source = fmt.Sprintf("Service Quotas, %s: %s", cfg.Region, strings.Join(read, ", "))
	return ""
}

// discovers reports whether a run with budget b learns its pace at the first throttle: no budget
// was given or read. --rpm 0 or --tpm 0 asks for none, so nothing is learnt then.
func (o *planOptions) discovers(b plan.Budget) bool {
	return b.RequestsPerMinute == 0 && b.TokensPerMinute == 0 && !o.rpmSet && !o.tpmSet
}

// budgetLine is the budget for the run's opening lines; discover as o.discovers says.
func budgetLine(b plan.Budget, discover bool) string {
	var parts []string
	if b.RequestsPerMinute > 0 {
		parts = append(parts, fmt.Sprintf("%d requests/min", b.RequestsPerMinute))
	}
	if b.TokensPerMinute > 0 {
		parts = append(parts, fmt.Sprintf("%d tokens/min", b.TokensPerMinute))
	}
	switch {
	case len(parts) > 0:
	case discover:
		parts = append(parts, "none known, found at the first throttle (what the provider accepted over the minute before)")
	default:
		parts = append(parts, "none (--rpm 0 or --tpm 0 given): requests are not paced; a throttled one is retried with backoff, and throttles narrow how many are in flight")
	}
	return strings.Join(parts, ", ") + " (" + b.Source + ")"
}
