package quota_test

import (
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/servicequotas"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/servicequotasim"
	"github.com/ragmigrate/ragmigrate/internal/quota"
)

// client is the real SDK client against the contract server.
func client(t *testing.T, s *servicequotasim.Server) *servicequotas.Client {
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return servicequotas.New(servicequotas.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	})
}

var cohereNames = []string{"Cohere Embed Multilingual", "cohere.embed-multilingual-v3"}

// bedrockQuotas are a Bedrock account's quotas: many models, cross-region
// variants, the daily token quota, and the model's own two on the third
// page of 100.
func bedrockQuotas() []servicequotasim.Quota {
	var qs []servicequotasim.Quota
	for i := range 250 {
		qs = append(qs, servicequotasim.Quota{ServiceCode: "bedrock", QuotaCode: fmt.Sprintf("L-%08d", i),
			QuotaName: fmt.Sprintf("On-demand InvokeModel requests per minute for Some Model %d", i), Value: 1})
	}
	return append(qs,
		servicequotasim.Quota{ServiceCode: "bedrock", QuotaCode: "L-X1", QuotaName: "Cross-region model inference tokens per minute for Cohere Embed Multilingual", Value: 9_999_999},
		servicequotasim.Quota{ServiceCode: "bedrock", QuotaCode: "L-X2", QuotaName: "On-demand InvokeModel requests per minute for Cohere Embed English", Value: 7},
		servicequotasim.Quota{ServiceCode: "bedrock", QuotaCode: "L-X3", QuotaName: "Model invocation max tokens per day for Cohere Embed Multilingual", Value: 1},
		servicequotasim.Quota{ServiceCode: "bedrock", QuotaCode: "L-R", QuotaName: "On-demand InvokeModel requests per minute for Cohere Embed Multilingual", Value: 2000},
		servicequotasim.Quota{ServiceCode: "bedrock", QuotaCode: "L-T", QuotaName: "On-demand model inference tokens per minute for Cohere Embed Multilingual", Value: 300_000},
		servicequotasim.Quota{ServiceCode: "sagemaker", QuotaCode: "L-S", QuotaName: "On-demand InvokeModel requests per minute for Cohere Embed Multilingual", Value: 1},
	)
}

// TestLookupReadsTheModelsQuotas: the model's two on-demand quotas are
// found by name across pages, and nothing else is taken for them.
func TestLookupReadsTheModelsQuotas(t *testing.T) {
	s := servicequotasim.New(bedrockQuotas()...)
	b, err := quota.Lookup(t.Context(), client(t, s), cohereNames)
	require.NoError(t, err)
	require.Equal(t, quota.Budget{RequestsPerMinute: 2000, TokensPerMinute: 300_000,
		RequestsQuota: "On-demand InvokeModel requests per minute for Cohere Embed Multilingual",
		TokensQuota:   "On-demand model inference tokens per minute for Cohere Embed Multilingual"}, b)
	require.Equal(t, 3, s.Calls("ListServiceQuotas"), "three pages of 100")

	t.Run("NoSuchQuota", func(t *testing.T) {
		b, err := quota.Lookup(t.Context(), client(t, s), []string{"Titan Text Embeddings V2"})
		require.NoError(t, err)
		require.Equal(t, quota.Budget{}, b)
	})
}

// TestLookupDenied: credentials without servicequotas:ListServiceQuotas give
// ErrDenied, which the caller takes as "find the pace adaptively".
func TestLookupDenied(t *testing.T) {
	s := servicequotasim.New(bedrockQuotas()...)
	s.SetDenied(true)
	_, err := quota.Lookup(t.Context(), client(t, s), cohereNames)
	require.ErrorIs(t, err, quota.ErrDenied)
	require.ErrorContains(t, err, "servicequotas:ListServiceQuotas")
}
