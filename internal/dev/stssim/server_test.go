package stssim_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/dev/stssim"
)

const role = "arn:aws:iam::123456789012:role/BedrockChatStack-TableAccessRole"

// client is the SDK's STS client for endpoint, signing with key.
func client(endpoint, key string) *sts.Client {
	return sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(key, "secret", "")})
}

func scoped(user string) string {
	b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []map[string]any{{
		"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*",
		"Condition": map[string]any{"ForAllValues:StringLike": map[string]any{"dynamodb:LeadingKeys": []string{user + "*"}}},
	}}})
	return string(b)
}

// TestAssumeRole drives the server with the real SDK client: AssumeRole issues session
// credentials for the role (ASIA key, an hour by default), which GetCallerIdentity knows as the
// assumed role; the call is recorded with its policy and the key issued, also through the dev
// route; stscreds' provider works against it; the record survives a restart.
func TestAssumeRole(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sim, err := stssim.New(dir)
	require.NoError(t, err)
	endpoint := stacktest.AWSServer(t, sim.Register)
	c := client(endpoint, "ragmigrate-local")

	before := time.Now()
	out, err := c.AssumeRole(t.Context(), &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("ragmigrate-worker"),
		Policy: aws.String(scoped("user-1"))})
	require.NoError(t, err)
	cr := out.Credentials
	require.Regexp(t, `^ASIA[A-Z2-7]{16}$`, aws.ToString(cr.AccessKeyId))
	require.Len(t, aws.ToString(cr.SecretAccessKey), 40)
	require.NotEmpty(t, aws.ToString(cr.SessionToken))
	require.WithinDuration(t, before.Add(time.Hour), aws.ToTime(cr.Expiration), time.Minute, "an hour by default")
	require.Equal(t, "arn:aws:sts::123456789012:assumed-role/BedrockChatStack-TableAccessRole/ragmigrate-worker", aws.ToString(out.AssumedRoleUser.Arn))
	require.True(t, strings.HasPrefix(aws.ToString(out.AssumedRoleUser.AssumedRoleId), "AROA"))
	require.True(t, strings.HasSuffix(aws.ToString(out.AssumedRoleUser.AssumedRoleId), ":ragmigrate-worker"))
	require.NotNil(t, out.PackedPolicySize)
	require.Positive(t, *out.PackedPolicySize)

	id, err := client(endpoint, aws.ToString(cr.AccessKeyId)).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	require.NoError(t, err)
	require.Equal(t, aws.ToString(out.AssumedRoleUser.Arn), aws.ToString(id.Arn), "the issued key is the assumed role's")
	require.Equal(t, "123456789012", aws.ToString(id.Account))
	id, err = c.GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	require.NoError(t, err)
	require.Equal(t, "arn:aws:iam::123456789012:user/ragmigrate-local", aws.ToString(id.Arn))

	// The SDK's provider, as the app's code and ragmigrate's worker use it.
	provider := aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(c, role, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = "ragmigrate-worker"
		o.Policy = aws.String(scoped("user-2"))
		o.Duration = 900 * time.Second
	}))
	got, err := provider.Retrieve(t.Context())
	require.NoError(t, err)
	require.True(t, got.CanExpire)
	require.WithinDuration(t, time.Now().Add(15*time.Minute), got.Expires, time.Minute)
	again, err := provider.Retrieve(t.Context())
	require.NoError(t, err)
	require.Equal(t, got.AccessKeyID, again.AccessKeyID, "the cache assumes the role once")

	calls := sim.Calls()
	require.Len(t, calls, 4)
	require.Equal(t, "AssumeRole", calls[0].Action)
	require.Equal(t, role, calls[0].RoleARN)
	require.Equal(t, "ragmigrate-worker", calls[0].SessionName)
	require.Equal(t, scoped("user-1"), calls[0].Policy)
	require.Equal(t, aws.ToString(cr.AccessKeyId), calls[0].AccessKeyID)
	require.Equal(t, "ragmigrate-local", calls[0].Caller)
	require.Equal(t, 3600, calls[0].DurationSeconds)
	require.Equal(t, "GetCallerIdentity", calls[1].Action)
	require.Equal(t, got.AccessKeyID, calls[3].AccessKeyID)
	require.Equal(t, 900, calls[3].DurationSeconds)

	resp, err := http.Get(endpoint + "/_dev/sts/calls")
	require.NoError(t, err)
	defer resp.Body.Close()
	var dev struct{ Calls []stssim.Call }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&dev))
	require.Equal(t, calls, dev.Calls)

	restarted, err := stssim.New(dir)
	require.NoError(t, err)
	require.Equal(t, calls, restarted.Calls(), "the record survives a restart")
}

// apiError is err's query error code and HTTP status.
func apiError(t *testing.T, err error) (string, int) {
	t.Helper()
	var ae smithy.APIError
	require.ErrorAs(t, err, &ae)
	var re *awshttp.ResponseError
	require.ErrorAs(t, err, &re)
	return ae.ErrorCode(), re.HTTPStatusCode()
}

// TestAssumeRoleRefuses: input STS refuses is refused with its error code and status, decoded
// by the SDK into its modeled types where STS models them; a denied role answers AccessDenied.
func TestAssumeRoleRefuses(t *testing.T) {
	t.Parallel()
	sim, err := stssim.New("")
	require.NoError(t, err)
	endpoint := stacktest.AWSServer(t, sim.Register)
	c := client(endpoint, "ragmigrate-local")
	assume := func(in sts.AssumeRoleInput) error {
		if in.RoleArn == nil {
			in.RoleArn = aws.String(role)
		}
		if in.RoleSessionName == nil {
			in.RoleSessionName = aws.String("s1")
		}
		_, err := c.AssumeRole(t.Context(), &in)
		return err
	}
	for _, tc := range []struct {
		name string
		in   sts.AssumeRoleInput
		msg  string
	}{
		{"short session name", sts.AssumeRoleInput{RoleSessionName: aws.String("a")}, "length greater than or equal to 2"},
		{"long session name", sts.AssumeRoleInput{RoleSessionName: aws.String(strings.Repeat("a", 65))}, "length less than or equal to 64"},
		{"session name pattern", sts.AssumeRoleInput{RoleSessionName: aws.String("my session")}, "regular expression pattern"},
		{"short duration", sts.AssumeRoleInput{DurationSeconds: aws.Int32(899)}, "greater than or equal to 900"},
		{"long duration", sts.AssumeRoleInput{DurationSeconds: aws.Int32(43201)}, "less than or equal to 43200"},
		{"policy too long", sts.AssumeRoleInput{Policy: aws.String(`{"Statement":[],"x":"` + strings.Repeat("a", 2048) + `"}`)}, "length between 1 and 2048"},
		{"not a role", sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::123456789012:user/someone")}, "is invalid"},
	} {
		code, status := apiError(t, assume(tc.in))
		require.Equal(t, "ValidationError", code, tc.name)
		require.Equal(t, http.StatusBadRequest, status, tc.name)
		require.ErrorContains(t, assume(tc.in), tc.msg, tc.name)
	}
	// Both bounds of DurationSeconds are allowed.
	require.NoError(t, assume(sts.AssumeRoleInput{DurationSeconds: aws.Int32(900)}))
	require.NoError(t, assume(sts.AssumeRoleInput{DurationSeconds: aws.Int32(43200)}))

	err = assume(sts.AssumeRoleInput{Policy: aws.String(`{"Statement": [`)})
	var malformed *types.MalformedPolicyDocumentException
	require.ErrorAs(t, err, &malformed)
	require.Equal(t, "Syntax errors in policy.", malformed.ErrorMessage())
	_, status := apiError(t, err)
	require.Equal(t, http.StatusBadRequest, status)

	// Session tags count in the packed size with the policy.
	var tags []types.Tag
	for i := range 40 {
		tags = append(tags, types.Tag{Key: aws.String(strings.Repeat("k", 20) + string(rune('a'+i%26)) + string(rune('a'+i/26))), Value: aws.String(strings.Repeat("v", 40))})
	}
	err = assume(sts.AssumeRoleInput{Policy: aws.String(scoped("u")), Tags: tags})
	var tooLarge *types.PackedPolicyTooLargeException
	require.ErrorAs(t, err, &tooLarge)
	require.Contains(t, tooLarge.ErrorMessage(), "Packed policy consumes")

	// Role chaining: a session's credentials get at most an hour.
	out, err := c.AssumeRole(t.Context(), &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("first")})
	require.NoError(t, err)
	chained := client(endpoint, aws.ToString(out.Credentials.AccessKeyId))
	_, err = chained.AssumeRole(t.Context(), &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("second"), DurationSeconds: aws.Int32(7200)})
	require.ErrorContains(t, err, "role chaining")

	// A role whose trust policy does not name the caller (the dev route).
	req, err := http.NewRequest(http.MethodPut, endpoint+"/_dev/sts/denied", bytes.NewReader([]byte(`{"role_arns":["`+role+`"]}`)))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	err = assume(sts.AssumeRoleInput{})
	code, status := apiError(t, err)
	require.Equal(t, "AccessDenied", code)
	require.Equal(t, http.StatusForbidden, status)
	require.ErrorContains(t, err, "User: arn:aws:iam::123456789012:user/ragmigrate-local is not authorized to perform: sts:AssumeRole on resource: "+role)
	calls := sim.Calls()
	last := calls[len(calls)-1]
	require.Equal(t, "AccessDenied", last.Error)
	require.Empty(t, last.AccessKeyID, "nothing issued")

	// Unsigned calls are refused.
	resp, err = http.Post(endpoint, "application/x-www-form-urlencoded", strings.NewReader("Action=GetCallerIdentity&Version=2011-06-15"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
}
