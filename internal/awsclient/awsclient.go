// Package awsclient builds the AWS SDK clients the way ragmigrate needs them: the standard
// credential and region chain, endpoints redirected by the SDK's own AWS_ENDPOINT_URL_<SERVICE>
// variables (how the local stack is reached), path-style S3 for such endpoints, and an explicit
// retryer instead of the SDK default (3 attempts sharing one retry token bucket, which sustained
// throttling drains), an HTTP client whose every wait is bounded (see Options.Timeout), and the
// SDK's own log lines written through ragmigrate's logger (see Options.Logger).
package awsclient

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	"github.com/aws/smithy-go/logging"
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
	// endpoint fails the attempt, which the retryer repeats; so does a request body that cannot
	// be sent for as long. An upload lasts as long as its bytes flow. Default DefaultTimeout.
	Timeout time.Duration
	// Logger receives the SDK's own log lines (its warnings at Warn, the rest at Debug), tagged
	// component=aws-sdk, so stderr holds only ragmigrate's lines, in its format. The SDK's
	// default would print them raw on stderr ("SDK 2026/01/02 ... DEBUG ..."). Default
	// slog.Default().
	Logger *slog.Logger
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
	// The SDK's client (its transport defaults and redirect rules) with every wait bounded. It is
	// frozen into a plain *http.Client once the configuration has applied its settings
	// (AWS_CA_BUNDLE), because a service client adjusts a *BuildableClient it is given (it replaces
	// the dialer, which would drop the connection wrapper) but uses any other client as it is.
	httpClient := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = timeout }).
		WithTransportOptions(func(tr *http.Transport) {
			tr.TLSHandshakeTimeout = timeout
			tr.ResponseHeaderTimeout = timeout
			dial := tr.DialContext
			tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				conn, err := dial(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return &idleConn{Conn: conn, timeout: timeout}, nil
			}
		})
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(httpClient),
		config.WithLogger(sdkLogger{logger: cmp.Or(o.Logger, slog.Default()).With(slog.String("component", "aws-sdk"))}),
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
	if b, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok {
		cfg.HTTPClient = b.Freeze()
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("load AWS configuration: no region: set --region, RAGMIGRATE_REGION or AWS_REGION")
	}
	return &Clients{
		Config:   cfg,
		DynamoDB: dynamodb.NewFromConfig(cfg),
		S3: s3.NewFromConfig(cfg, func(so *s3.Options) {
			so.UsePathStyle = o.S3PathStyle
			// GetObject logs, for each object stored without a checksum (all of the app's uploads
			// that predate S3's default checksums, and every object on the local stack's S3),
			// "Response has no supported checksum. Not validating response payload.", and a
			// warning for each object uploaded in parts. Neither is anything an operator can act
			// on, and a run reads every document: one line per object would bury the run's own.
			// Only the log line goes: a body that has a checksum is still validated.
			so.DisableLogOutputChecksumValidationSkipped = true
		}),
	}, nil
}

// sdkLogger writes the SDK's log lines through a slog.Logger. The SDK classifies its lines as
// WARN or DEBUG only. (Its per-request context, logging.ContextLogger, carries nothing our
// handlers read, so there is none.)
type sdkLogger struct {
	logger *slog.Logger
}

func (l sdkLogger) Logf(c logging.Classification, format string, v ...any) {
	level := slog.LevelDebug
	if c == logging.Warn {
		level = slog.LevelWarn
	}
	ctx := context.Background()
	if l.logger.Enabled(ctx, level) {
		l.logger.Log(ctx, level, fmt.Sprintf(format, v...))
	}
}

// idleConn fails a connection on which nothing moves for timeout: each read must bring bytes, and
// each write take them, within it. It bounds pauses, not transfers: a download or upload of any
// length goes on while bytes flow. (The SDK's own read timeout resets only on reads, so the
// transport's read, pending from the moment a request starts, would cut an upload that lasts
// longer than the timeout; a write here pushes that read's deadline out too.)
type idleConn struct {
	net.Conn
	timeout time.Duration
}

func (c *idleConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = &idleError{op: "receive", timeout: c.timeout, err: err}
	}
	return n, err
}

func (c *idleConn) Write(p []byte) (int, error) {
	deadline := time.Now().Add(c.timeout)
	// While a request is being sent, the answer is not due: the read pending since the request
	// began must not time out.
	if err := c.Conn.SetDeadline(deadline); err != nil {
		return 0, err
	}
	n, err := c.Conn.Write(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = &idleError{op: "send", timeout: c.timeout, err: err}
	}
	return n, err
}

// idleError is a connection that moved nothing for the timeout. It is a timeout (net.Error), so
// the SDK's retryer repeats the request.
type idleError struct {
	op      string
	timeout time.Duration
	err     error
}

func (e *idleError) Error() string {
	return fmt.Sprintf("nothing to %s for %s (--aws-timeout)", e.op, e.timeout)
}
func (e *idleError) Unwrap() error   { return e.err }
func (e *idleError) Timeout() bool   { return true }
func (e *idleError) Temporary() bool { return true }
