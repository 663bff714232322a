// Package embed turns chunk texts into vectors through one small interface,
// [Provider], with four implementations: Amazon Bedrock Cohere Embed v3 (the
// default), Amazon Bedrock Titan Text Embeddings V2, any OpenAI-compatible
// /embeddings endpoint, and an offline feature hash for runs with no model.
//
// # Models
//
// [Models] is the catalogue of the models ragmigrate knows: their vector
// sizes, batch and input limits and prices. Plan estimates with it, inspect
// checks chunks against it, and [Open] builds a run's Provider from it, so
// the facts a plan uses are the ones a run obeys. [EstimateTokens] is the one
// token count behind plan's estimate, the run's reported cost and the
// tokens-per-minute budget.
//
// # Overview
//
// A Provider sends exactly one request per [Provider.Embed] call and does
// not retry. Everything a run needs around that lives in [Batcher]:
//
//   - packing texts into full batches (96 for Cohere, where the original
//     application sent 10), optionally capped by estimated tokens;
//   - the character guard before anything is sent (Cohere's 2048), which
//     fails naming the text or, with truncation configured, cuts it;
//   - waiting on the limiter shared by all workers for one request and its
//     estimated tokens (see [EstimateTokens]);
//   - retries with full-jitter exponential backoff for retryable errors
//     only, reporting throttles and successes to the limiter so that it can
//     adapt;
//   - bisecting a batch the provider rejects as invalid until the offending
//     texts are found and named in an [InputError], while every other text
//     is embedded once.
//
// # Errors
//
// Providers return [*Error], which classifies the failure by behaviour:
// [Error.Retryable], [Error.Throttle] and [Error.BadInput]. Callers ask those
// questions instead of comparing SDK types; see [ClassifyBedrock] for the
// mapping of Bedrock's InvokeModel error set (embedding-and-chunking.md
// §1.3) and [OpenAI] for HTTP statuses.
//
// # Retries and the AWS SDK
//
// The Bedrock client must be built with the SDK's retries off
// ([NewBedrockClient] does this): the Batcher owns retries, and it must see
// every ThrottlingException to slow the shared limiter down. The SDK's
// default retryer would hide throttles behind its own three attempts and
// drain a client-wide retry token bucket under sustained throttling.
package embed
