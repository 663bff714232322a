package logssim_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/logssim"
	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
)

// TestGetLogEvents pages a stream forward and backward with the real SDK client: the newest
// events without startFromHead, the same forward token at the end, and the documented errors.
func TestGetLogEvents(t *testing.T) {
	t.Parallel()
	logs, err := logssim.New(t.TempDir())
	require.NoError(t, err)
	at := time.UnixMilli(1_700_000_000_000)
	for i := range 5 {
		require.NoError(t, logs.Put("/g", "s", at.Add(time.Duration(i)*time.Second), fmt.Sprint("e", i)))
	}
	c := cloudwatchlogs.New(cloudwatchlogs.Options{Region: "us-east-1", BaseEndpoint: aws.String(stacktest.AWSServer(t, logs.Register)),
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""), RetryMaxAttempts: 1})
	get := func(in cloudwatchlogs.GetLogEventsInput) (*cloudwatchlogs.GetLogEventsOutput, error) {
		in.LogGroupName, in.LogStreamName = aws.String("/g"), cmpOr(in.LogStreamName, "s")
		return c.GetLogEvents(t.Context(), &in)
	}
	msgs := func(out *cloudwatchlogs.GetLogEventsOutput) (m []string) {
		for _, e := range out.Events {
			m = append(m, aws.ToString(e.Message))
		}
		return m
	}

	latest, err := get(cloudwatchlogs.GetLogEventsInput{Limit: aws.Int32(2)})
	require.NoError(t, err)
	require.Equal(t, []string{"e3", "e4"}, msgs(latest), "without startFromHead: the newest")
	back, err := get(cloudwatchlogs.GetLogEventsInput{Limit: aws.Int32(2), NextToken: latest.NextBackwardToken})
	require.NoError(t, err)
	require.Equal(t, []string{"e1", "e2"}, msgs(back))

	head, err := get(cloudwatchlogs.GetLogEventsInput{StartFromHead: aws.Bool(true), StartTime: aws.Int64(at.Add(time.Second).UnixMilli())})
	require.NoError(t, err)
	require.Equal(t, []string{"e1", "e2", "e3", "e4"}, msgs(head), "from startTime on")
	require.EqualValues(t, at.Add(time.Second).UnixMilli(), aws.ToInt64(head.Events[0].Timestamp))
	end, err := get(cloudwatchlogs.GetLogEventsInput{StartTime: aws.Int64(at.Add(time.Second).UnixMilli()), NextToken: head.NextForwardToken})
	require.NoError(t, err)
	require.Empty(t, end.Events)
	require.Equal(t, aws.ToString(head.NextForwardToken), aws.ToString(end.NextForwardToken))

	_, err = get(cloudwatchlogs.GetLogEventsInput{NextToken: aws.String("garbage")})
	var invalid *types.InvalidParameterException
	require.ErrorAs(t, err, &invalid)
	_, err = get(cloudwatchlogs.GetLogEventsInput{LogStreamName: aws.String("missing")})
	var notFound *types.ResourceNotFoundException
	require.ErrorAs(t, err, &notFound)
	require.Contains(t, notFound.ErrorMessage(), "log stream does not exist")
}

func cmpOr(p *string, def string) *string {
	if p != nil {
		return p
	}
	return aws.String(def)
}
