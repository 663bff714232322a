package embed

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// The Bedrock model ids the providers default to.
const (
	ModelCohereMultilingualV3 = "cohere.embed-multilingual-v3"
	ModelTitanV2              = "amazon.titan-embed-text-v2:0"
)

// NewBedrockClient builds the Bedrock Runtime client from cfg (such as
// awsclient's) with the SDK's retries turned off: one attempt per
// InvokeModel call. The Batcher owns retries because it must see every
// ThrottlingException to slow down the limiter all workers share; the SDK
// retrying underneath would hide throttles, multiply the attempts (SDK
// attempts × ours) and, with the default retryer, drain its client-wide
// retry token bucket under sustained throttling. Endpoints follow cfg, so
// AWS_ENDPOINT_URL_BEDROCK_RUNTIME reaches the local contract server.
func NewBedrockClient(cfg aws.Config, optFns ...func(*bedrockruntime.Options)) *bedrockruntime.Client {
	noRetry := func(o *bedrockruntime.Options) {
		o.Retryer = aws.NopRetryer{}
		o.APIOptions = append(o.APIOptions, gateMiddleware)
	}
	return bedrockruntime.NewFromConfig(cfg, append([]func(*bedrockruntime.Options){noRetry}, optFns...)...)
}

// InvokeModelAPI is the part of *bedrockruntime.Client the Bedrock
// providers use.
type InvokeModelAPI interface {
	InvokeModel(ctx context.Context, in *bedrockruntime.InvokeModelInput, optFns ...func(*bedrockruntime.Options)) (*bedrockruntime.InvokeModelOutput, error)
}

// ClassifyBedrock wraps an InvokeModel error in an *Error that says what to
// do about it, following InvokeModel's error set:
//
//	ThrottlingException                          retry, and throttle the limiter
//	ModelTimeoutException, ServiceUnavailable-,
//	InternalServer-, ModelNotReadyException      retry
//	ModelErrorException                          retry once, then bad input
//	ValidationException                          bad input: bisect, unless it
//	                                             rejects the model id: fatal
//	AccessDenied-, ResourceNotFound-,
//	ServiceQuotaExceededException, credential
//	errors (UnrecognizedClientException, …)      fatal
//
// An unmodelled answer is classified by its HTTP status (429 throttle; 408
// and 5xx retry). Connection errors, answers whose body broke off and other
// errors with no answer at all (a per-request timeout) are retried, unless
// the caller cancelled.
func ClassifyBedrock(err error) error {
	if err == nil {
		return nil
	}
	if errors.As(err, new(*Error)) {
		return err
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		e := &Error{Code: api.ErrorCode(), Message: api.ErrorMessage(), Err: err}
		switch e.Code {
		case "ThrottlingException":
			e.class = classThrottle
		case "ModelTimeoutException", "ServiceUnavailableException", "InternalServerException", "ModelNotReadyException":
			e.class = classRetry
		case "ModelErrorException":
			e.class = classRetryOnce
		case "ValidationException":
			e.class = classBadInput
			if rejectsModel(e.Message) {
				e.class = classFatal
			}
		case "AccessDeniedException", "ResourceNotFoundException", "ServiceQuotaExceededException":
			e.class = classFatal
		case "UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignatureException",
			"MissingAuthenticationTokenException", "ExpiredTokenException", "InvalidClientTokenId",
			"SignatureDoesNotMatch", "ExpiredToken":
			// The AWS protocol's own errors about the credentials; ExpiredTokenException comes
			// with a 400, which classifyStatus would take for bad input.
			e.class = classFatal
		default:
			e.class = classifyStatus(err)
		}
		return e
	}
	if errors.Is(err, context.Canceled) {
		return classifyTransport(err)
	}
	if strings.Contains(err.Error(), "get identity: ") {
		// The SDK found no usable credentials before sending anything
		// (smithy's auth middleware wraps the provider chain's error so).
		return &Error{Code: "NoCredentials", Message: err.Error(), class: classFatal, Err: err,
			Refusal: "no AWS credentials to call bedrock with",
			Hint:    "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where a role is attached"}
	}
	var re *smithyhttp.ResponseError
	hasResponse := errors.As(err, &re)
	// A connection reset or closed while reading the answer (even a 200
	// whose body broke off) is what the SDK's own retryer would retry.
	if (retry.RetryableConnectionError{}).IsErrorRetryable(err) == aws.TrueTernary ||
		hasResponse && re.HTTPStatusCode() < 300 {
		return &Error{Code: "Transport", Message: err.Error(), class: classRetry, Err: err}
	}
	if hasResponse {
		return &Error{Code: fmt.Sprintf("HTTP %d", re.HTTPStatusCode()), Message: err.Error(), class: classifyStatus(err), Err: err}
	}
	return classifyTransport(err)
}

// rejectsModel tells a ValidationException about the model id (no such
// model, or one that cannot be invoked on demand) from one about the texts.
func rejectsModel(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "model identifier is invalid") || strings.Contains(m, "on-demand throughput")
}

// describeFatal fills in the operator's description of a fatal InvokeModel
// error: what Bedrock refuses, for which model and region, and what to fix.
func describeFatal(e *Error, model, region string) {
	if e.class != classFatal || e.Refusal != "" {
		return
	}
	in := ""
	if region != "" {
		in = " in " + region
	}
	checkModel := "check --model and --region: the model id must exist and be invocable on demand in the region"
	switch e.Code {
	case "AccessDeniedException", "HTTP 403":
		e.Refusal = fmt.Sprintf("bedrock%s denies InvokeModel on %s", in, model)
		e.Hint = "grant bedrock:InvokeModel on the model to the AWS identity in use, and enable access to the model (Bedrock console, Model access) in that region"
	case "UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignatureException",
		"MissingAuthenticationTokenException", "ExpiredTokenException", "InvalidClientTokenId",
		"SignatureDoesNotMatch", "ExpiredToken", "HTTP 401":
		e.Refusal = fmt.Sprintf("bedrock%s rejects the AWS credentials", in)
		e.Hint = "check AWS_PROFILE or the access keys, and renew expired session credentials"
	case "ResourceNotFoundException", "HTTP 404":
		e.Refusal = fmt.Sprintf("bedrock%s has no model %s", in, model)
		e.Hint = checkModel
	case "ValidationException":
		e.Refusal = fmt.Sprintf("bedrock%s rejects the model %s", in, model)
		e.Hint = checkModel
	case "ServiceQuotaExceededException":
		e.Refusal = fmt.Sprintf("bedrock%s refuses InvokeModel on %s: the account's quota is exceeded", in, model)
		e.Hint = "request a quota increase (Service Quotas), or lower --rpm and --tpm"
	default:
		e.Refusal = fmt.Sprintf("bedrock%s refuses InvokeModel on %s", in, model)
	}
}

// classifyStatus classifies by the HTTP status of an SDK response error.
func classifyStatus(err error) class {
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) {
		return classFatal
	}
	return statusClass(re.HTTPStatusCode())
}

// statusClass maps an HTTP status to what to do about it.
func statusClass(status int) class {
	switch {
	case status == http.StatusTooManyRequests:
		return classThrottle
	case status == http.StatusRequestTimeout, status >= 500:
		return classRetry
	case status == http.StatusBadRequest, status == http.StatusRequestEntityTooLarge, status == http.StatusUnprocessableEntity:
		return classBadInput
	default:
		return classFatal
	}
}

// CohereOptions configure Cohere Embed v3 on Bedrock.
type CohereOptions struct {
	// Model is the model id. Default cohere.embed-multilingual-v3.
	Model string
	// InputType is search_document (the default, for the corpus) or
	// search_query.
	InputType string
	// Truncate is sent as "truncate" and applied by the Batcher to the
	// 2048-character limit. Default NONE, as in the original application.
	Truncate Truncate
	// ByType asks for embedding_types ["float"], which makes Bedrock answer
	// in the embeddings_by_type shape. Both shapes are parsed either way.
	ByType bool
}

// BedrockCohere is Cohere Embed v3 on Bedrock InvokeModel: up to 96 texts
// of up to 2048 characters per call, 1024 dimensions.
type BedrockCohere struct {
	client InvokeModelAPI
	opts   CohereOptions
}

// NewBedrockCohere returns the Cohere provider; build client with
// NewBedrockClient.
func NewBedrockCohere(client InvokeModelAPI, o CohereOptions) *BedrockCohere {
	o.Model = cmp.Or(o.Model, ModelCohereMultilingualV3)
	o.InputType = cmp.Or(o.InputType, "search_document")
	o.Truncate = cmp.Or(o.Truncate, TruncateNone)
	return &BedrockCohere{client: client, opts: o}
}

// Model names the model.
func (p *BedrockCohere) Model() string { return p.opts.Model }

// Dimensions is the length of every vector.
func (p *BedrockCohere) Dimensions() int { return cohereDims }

// MaxBatch is the most texts per request.
func (p *BedrockCohere) MaxBatch() int { return cohereMaxBatch }

// MaxChars is the most characters per text (0: no limit).
func (p *BedrockCohere) MaxChars() int { return cohereMaxChars }

// Truncation is the configured truncation, which the Batcher follows.
func (p *BedrockCohere) Truncation() Truncate { return p.opts.Truncate }

type cohereRequest struct {
	Texts          []string `json:"texts"`
	InputType      string   `json:"input_type"`
	Truncate       Truncate `json:"truncate"`
	EmbeddingTypes []string `json:"embedding_types,omitempty"`
}

// Embed sends one InvokeModel call for texts.
func (p *BedrockCohere) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	vecs, _, err := p.EmbedCounted(ctx, texts)
	return vecs, err
}

// EmbedCounted is Embed, with the input tokens Bedrock reported for the call
// (-1 when it did not say), which correct the Batcher's token estimate.
func (p *BedrockCohere) EmbedCounted(ctx context.Context, texts []string) ([][]float32, int, error) {
	req := cohereRequest{Texts: texts, InputType: p.opts.InputType, Truncate: p.opts.Truncate}
	if p.opts.ByType {
		req.EmbeddingTypes = []string{"float"}
	}
	body, tokens, err := invoke(ctx, p.client, p.opts.Model, req)
	if err != nil {
		return nil, -1, err
	}
	vecs, err := parseCohere(body)
	if err != nil {
		return nil, -1, fmt.Errorf("decode %s response: %w", p.opts.Model, err)
	}
	return vecs, tokens, nil
}

// parseCohere reads both response shapes: "embeddings" is an array of
// vectors (response_type embeddings_floats, the default) or an object keyed
// by type (embeddings_by_type, when embedding_types was sent). The shape of
// the value decides, so a missing response_type does not matter.
func parseCohere(body []byte) ([][]float32, error) {
	var resp struct {
		ResponseType string          `json:"response_type"`
		Embeddings   json.RawMessage `json:"embeddings"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, err
	}
	raw := bytes.TrimSpace(resp.Embeddings)
	if len(raw) == 0 {
		return nil, errors.New("no embeddings in the response")
	}
	if raw[0] == '{' {
		var byType map[string][][]float32
		if err := json.Unmarshal(raw, &byType); err != nil {
			return nil, fmt.Errorf("embeddings_by_type: %w", err)
		}
		vecs, ok := byType["float"]
		if !ok {
			return nil, errors.New("embeddings_by_type has no float embeddings")
		}
		return vecs, nil
	}
	var vecs [][]float32
	if err := json.Unmarshal(raw, &vecs); err != nil {
		return nil, fmt.Errorf("embeddings_floats: %w", err)
	}
	return vecs, nil
}

// TitanOptions configure Titan Text Embeddings V2 on Bedrock.
type TitanOptions struct {
	// Model is the model id. Default amazon.titan-embed-text-v2:0.
	Model string
	// Dimensions is 1024 (the default), 512 or 256.
	Dimensions int
	// Unnormalized sends normalize=false; the API's default, and ours, is
	// unit vectors.
	Unnormalized bool
}

// BedrockTitan is Titan Text Embeddings V2 on Bedrock InvokeModel: one text
// per call, which is why its batches are of one.
type BedrockTitan struct {
	client InvokeModelAPI
	opts   TitanOptions
}

// NewBedrockTitan returns the Titan provider; build client with
// NewBedrockClient.
func NewBedrockTitan(client InvokeModelAPI, o TitanOptions) (*BedrockTitan, error) {
	o.Model = cmp.Or(o.Model, ModelTitanV2)
	o.Dimensions = cmp.Or(o.Dimensions, titanDimensions[0])
	if !slices.Contains(titanDimensions, o.Dimensions) {
		return nil, fmt.Errorf("titan dimensions %d: want 1024, 512 or 256", o.Dimensions)
	}
	return &BedrockTitan{client: client, opts: o}, nil
}

// Model names the model.
func (p *BedrockTitan) Model() string { return p.opts.Model }

// Dimensions is the length of every vector.
func (p *BedrockTitan) Dimensions() int { return p.opts.Dimensions }

// MaxBatch is the most texts per request.
func (p *BedrockTitan) MaxBatch() int { return titanMaxBatch }

// MaxChars is the most characters per text (0: no limit).
func (p *BedrockTitan) MaxChars() int { return titanMaxChars }

// Embed sends one InvokeModel call per text; Titan takes a single input.
// With more than one text it calls once per text, in order.
func (p *BedrockTitan) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	vecs, _, err := p.EmbedCounted(ctx, texts)
	return vecs, err
}

// EmbedCounted is Embed, with the input tokens Bedrock reported for the
// calls (-1 when an answer did not say).
func (p *BedrockTitan) EmbedCounted(ctx context.Context, texts []string) ([][]float32, int, error) {
	vecs := make([][]float32, len(texts))
	total := 0
	for i, t := range texts {
		req := struct {
			InputText  string `json:"inputText"`
			Dimensions int    `json:"dimensions"`
			Normalize  bool   `json:"normalize"`
		}{t, p.opts.Dimensions, !p.opts.Unnormalized}
		body, tokens, err := invoke(ctx, p.client, p.opts.Model, req)
		if err != nil {
			return nil, -1, err
		}
		if total >= 0 {
			total = total + tokens
			if tokens < 0 {
				total = -1
			}
		}
		var resp struct {
			Embedding        []float32            `json:"embedding"`
			EmbeddingsByType map[string][]float32 `json:"embeddingsByType"`
		}
		if err := json.Unmarshal(body, &resp); err != nil {
			return nil, -1, fmt.Errorf("decode %s response: %w", p.opts.Model, err)
		}
		vecs[i] = resp.Embedding
		if vecs[i] == nil {
			vecs[i] = resp.EmbeddingsByType["float"]
		}
	}
	return vecs, total, nil
}

// endpoint names where client sends InvokeModel: the overridden endpoint
// (AWS_ENDPOINT_URL_BEDROCK_RUNTIME), or the region's.
func endpoint(client InvokeModelAPI) string {
	c, ok := client.(interface{ Options() bedrockruntime.Options })
	if !ok {
		return "bedrock"
	}
	o := c.Options()
	if o.BaseEndpoint != nil && *o.BaseEndpoint != "" {
		return *o.BaseEndpoint
	}
	return "bedrock-runtime." + o.Region + ".amazonaws.com"
}

// region is client's region, or "" when unknown.
func region(client InvokeModelAPI) string {
	if c, ok := client.(interface{ Options() bedrockruntime.Options }); ok {
		return c.Options().Region
	}
	return ""
}

// Endpoint names where requests go, for errors.
func (p *BedrockCohere) Endpoint() string { return endpoint(p.client) }

// Endpoint names where requests go, for errors.
func (p *BedrockTitan) Endpoint() string { return endpoint(p.client) }

// invoke marshals req, calls InvokeModel and returns the body and the input
// tokens Bedrock reports in X-Amzn-Bedrock-Input-Token-Count (-1 without
// it), with errors classified.
func invoke(ctx context.Context, client InvokeModelAPI, model string, req any) ([]byte, int, error) {
	raw, err := json.Marshal(req)
	if err != nil {
		return nil, -1, fmt.Errorf("encode %s request: %w", model, err)
	}
	out, err := client.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{
		ModelId:     aws.String(model),
		Body:        raw,
		ContentType: aws.String("application/json"),
		Accept:      aws.String("application/json"),
	})
	if errors.Is(err, errHeldBack) {
		return nil, -1, errHeldBack
	}
	if err != nil {
		err = ClassifyBedrock(err)
		if e := (*Error)(nil); errors.As(err, &e) {
			describeFatal(e, model, region(client))
		}
		return nil, -1, err
	}
	return out.Body, reportedTokens(out), nil
}

// reportedTokens reads X-Amzn-Bedrock-Input-Token-Count from the raw answer;
// the SDK does not model the header.
func reportedTokens(out *bedrockruntime.InvokeModelOutput) int {
	resp, ok := awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response)
	if !ok || resp == nil {
		return -1
	}
	n, err := strconv.Atoi(resp.Header.Get("X-Amzn-Bedrock-Input-Token-Count"))
	if err != nil || n < 0 {
		return -1
	}
	return n
}
