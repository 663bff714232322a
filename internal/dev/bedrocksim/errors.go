package bedrocksim

import (
	"encoding/json"
	"net/http"
	"slices"
)

// InvokeModel's error types, as named in the X-Amzn-ErrorType header.
const (
	errAccessDenied       = "AccessDeniedException"
	errInternalServer     = "InternalServerException"
	errModelError         = "ModelErrorException"
	errModelNotReady      = "ModelNotReadyException"
	errModelTimeout       = "ModelTimeoutException"
	errResourceNotFound   = "ResourceNotFoundException"
	errServiceQuota       = "ServiceQuotaExceededException"
	errServiceUnavailable = "ServiceUnavailableException"
	errThrottling         = "ThrottlingException"
	errValidation         = "ValidationException"
	// The AWS protocol's answers to bad credentials, sent before the service sees the call:
	// an unknown access key, and an expired session token.
	errUnrecognizedClient = "UnrecognizedClientException"
	errExpiredToken       = "ExpiredTokenException"
)

// errorSpec is what the double sends for one error type: the HTTP status from
// the Bedrock API Reference and a message in the service's words, used when
// the error is injected rather than caused by the input.
type errorSpec struct {
	status  int
	message string
}

// errorSpecs is InvokeModel's error set. The statuses of
// ServiceQuotaExceededException (400), ModelErrorException (424) and
// ResourceNotFoundException (404) were not re-checked against the API
// Reference (see embedding-and-chunking.md §1.3).
var errorSpecs = map[string]errorSpec{
	errAccessDenied:       {http.StatusForbidden, "You don't have access to the model with the specified model ID."},
	errInternalServer:     {http.StatusInternalServerError, "The system encountered an unexpected error during processing. Try your request again."},
	errModelError:         {http.StatusFailedDependency, "The model returned an error while processing the request."},
	errModelNotReady:      {http.StatusTooManyRequests, "Model is not ready to serve inference requests. The AWS SDK will automatically retry the operation up to 5 times."},
	errModelTimeout:       {http.StatusRequestTimeout, "Model has timed out in processing the request. Try your request again."},
	errResourceNotFound:   {http.StatusNotFound, "The requested resource could not be found."},
	errServiceQuota:       {http.StatusBadRequest, "Your request exceeds the service quota for your account. Resubmit your request later or request a quota increase."},
	errServiceUnavailable: {http.StatusServiceUnavailable, "Bedrock is unable to process your request."},
	errThrottling:         {http.StatusTooManyRequests, "Too many requests, please wait before trying again."},
	errValidation:         {http.StatusBadRequest, "The input was rejected by the bedrocksim fail_on_text knob."},
	errUnrecognizedClient: {http.StatusForbidden, "The security token included in the request is invalid."},
	errExpiredToken:       {http.StatusForbidden, "The security token included in the request is expired"},
}

// errorTypes lists the injectable error types in a stable order, for help
// text and validation messages.
func errorTypes() []string {
	types := make([]string, 0, len(errorSpecs))
	for t := range errorSpecs {
		types = append(types, t)
	}
	slices.Sort(types)
	return types
}

// apiError is an error answer of InvokeModel.
type apiError struct {
	Type    string
	Status  int
	Message string
}

// newAPIError builds the error of type typ with message msg, or with the
// type's stock message when msg is empty. An unknown type is sent as a 500,
// which the SDK surfaces as a generic API error.
func newAPIError(typ, msg string) *apiError {
	spec, ok := errorSpecs[typ]
	if !ok {
		spec = errorSpec{http.StatusInternalServerError, "Injected error."}
	}
	if msg == "" {
		msg = spec.message
	}
	return &apiError{Type: typ, Status: spec.status, Message: msg}
}

// write sends e the way restJson1 services do: the status, the type in
// X-Amzn-ErrorType and {"message": ...} as the body. The SDK takes the type
// from the header and decodes the body into the modeled error.
func (e *apiError) write(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-ErrorType", e.Type)
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(struct {
		Message string `json:"message"`
	}{e.Message})
}
