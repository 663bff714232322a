// Package awsclient builds the AWS SDK clients the way ragmigrate needs them: the standard
// credential and region chain, endpoints redirected by the SDK's own AWS_ENDPOINT_URL_<SERVICE>
// variables (how the local stack is reached), path-style S3 for such endpoints, and an explicit
// retryer instead of the SDK default (3 attempts sharing one retry token bucket, which sustained
// throttling drains), and an HTTP client whose every wait is bounded (see Options.Timeout).
package awsclient

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Options select the region and S3 addressing.
type Options struct {
	// Region overrides AWS_REGION and the shared config.
	Region string
	// S3PathStyle addresses buckets as host/bucket/key.
	S3PathStyle bool
	// MaxAttempts per request, including the first. Default 8.
	MaxAttempts int
	// Timeout bounds each wait of one HTTP attempt: connecting (TCP and TLS), the answer's headers
	// after the request is sent, and every pause while its body is read. It is not a bound on the
	// whole request, so a large S3 GetObject streams for as long as bytes keep coming; a silent
	// endpoint fails the attempt, which the retryer repeats. Default DefaultTimeout. (The read
	// bound runs while a request body is sent too, so an upload that takes longer than Timeout
	// fails; ragmigrate uploads only in its dev commands, small objects or to the local stack.)
	Timeout time.Duration
}

// DefaultTimeout is Options.Timeout's default: far above any answer time of DynamoDB, S3 or
// Bedrock embeddings, far below "hung".
const DefaultTimeout = time.Minute

// Clients holds the SDK clients ragmigrate uses.
type Clients struct {
	Config   aws.Config
	DynamoDB *dynamodb.Client
	S3       *s3.Client
}

// EndpointOverridden reports whether the S3 endpoint is redirected (a local or compatible server),
// which is when path-style addressing should be the default.
func EndpointOverridden() bool {
	return os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
}

// Load resolves the configuration and builds the clients.
func Load(ctx context.Context, o Options) (*Clients, error) {
	attempts := o.MaxAttempts
	if attempts == 0 {
		attempts = 8
	}
	timeout := cmp.Or(o.Timeout, DefaultTimeout)
	// The SDK's BuildableClient, which every service client keeps as it is: WithReadTimeout resets
	// a read deadline before each read of the connection (an inactivity bound, not a deadline on
	// the body); the dialer, TLS and response-header bounds cover the waits before the first byte.
	httpClient := awshttp.NewBuildableClient().
		WithReadTimeout(timeout).
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = timeout }).
		WithTransportOptions(func(tr *http.Transport) {
			tr.TLSHandshakeTimeout = timeout
			tr.ResponseHeaderTimeout = timeout
		})
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(httpClient),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = attempts
				so.MaxBackoff = 20 * time.Second
				// No client-wide retry quota: each request backs off on its own, and ragmigrate's
				// own limiter decides how fast to go.
				so.RateLimiter = ratelimit.None
			})
		}),
	}
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("load AWS configuration: no region: set --region, RAGMIGRATE_REGION or AWS_REGION")
	}
	return &Clients{
		Config:   cfg,
		DynamoDB: dynamodb.NewFromConfig(cfg),
		S3: s3.NewFromConfig(cfg, func(so *s3.Options) {
			so.UsePathStyle = o.S3PathStyle
		}),
	}, nil
}
