// Package bedrocksim is a TEST DOUBLE of Amazon Bedrock Runtime's InvokeModel
// for the embedding models ragmigrate uses. It is not Bedrock and computes no
// real embeddings; it exists so that the real aws-sdk-go-v2 bedrockruntime
// client can be exercised end to end, over HTTP, in tests and demos.
//
// # Overview
//
// Point the SDK at a [Server] (for example with AWS_ENDPOINT_URL_BEDROCK_RUNTIME
// or the client option BaseEndpoint) and InvokeModel behaves as the documented
// API does: the same request and response shapes, limits and error types, with
// deterministic vectors from [Vector] instead of model output.
//
// The contract comes from the Amazon Bedrock User Guide pages "Cohere Embed v3"
// (model-parameters-embed-v3) and "Amazon Titan Text Embeddings"
// (model-parameters-titan-embed-text), the InvokeModel error set of the Bedrock
// API Reference, and validation messages reported in public issue trackers. The
// project's digest of those sources is section 1 of
// shared/docs/embedding-and-chunking.md; where the double has to guess, a
// comment says so.
//
// Supported models: [ModelCohereMultilingual] and [ModelCohereEnglish]
// (1024 dimensions, 1–96 texts of at most 2048 characters, 512-token context)
// and [ModelTitanV2] (one input of at most 50,000 characters and 8,192 tokens;
// 256, 512 or 1024 dimensions).
//
// # HTTP surface
//
//	POST /model/{modelId}/invoke   InvokeModel (restJson1)
//	GET  /healthz                  liveness
//	GET  /stats                    counters, see [Stats]
//	POST /stats/reset              zero the counters
//	GET  /knobs                    current [Knobs]
//	PUT  /knobs                    replace the knobs (JSON body)
//
// Errors are sent the way restJson1 services send them (status code,
// X-Amzn-ErrorType header, JSON body with "message"), so the SDK decodes them
// into its modeled types such as *types.ThrottlingException.
//
// # What is not simulated
//
// SigV4 signatures are not verified: any request carrying an Authorization
// header is accepted, and one without it is refused with AccessDeniedException.
// Image inputs, streaming, Converse and token counts from real tokenizers are
// out of scope; [EstimateTokens] approximates a subword tokenizer.
//
// # Faults on demand
//
// [Knobs] add latency, per-model request and token budgets over a sliding
// 60-second window, random throttling, random failures of a chosen error type,
// and deterministic failures for inputs containing a marker substring. The zero
// Knobs interfere with nothing.
package bedrocksim
