package bedrocksim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/stretchr/testify/require"
)

const reformat = ", please reformat your input and try again."

// testBundle is one double behind a real HTTP server and a real SDK client.
type testBundle struct {
	sim    *Server
	url    string
	client *bedrockruntime.Client
}

func setup(t *testing.T, k Knobs) *testBundle {
	t.Helper()
	sim := New(k, nil)
	hs := httptest.NewServer(sim)
	t.Cleanup(hs.Close)
	return &testBundle{sim: sim, url: hs.URL, client: newClient(hs, aws.Credentials{
		AccessKeyID: "AKIDBEDROCKSIM", SecretAccessKey: "secret", Source: "test",
	})}
}

func newClient(hs *httptest.Server, creds aws.Credentials) *bedrockruntime.Client {
	return bedrockruntime.New(bedrockruntime.Options{
		Region:      "us-east-1",
		Credentials: credentials.StaticCredentialsProvider{Value: creds},
	}, func(o *bedrockruntime.Options) {
		o.BaseEndpoint = aws.String(hs.URL)
		o.Retryer = aws.NopRetryer{}
	})
}

// invoke calls InvokeModel with body marshalled as JSON and decodes the
// answer into out when out is not nil.
func (b *testBundle) invoke(t *testing.T, model string, body, out any) error {
	t.Helper()
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	return b.invokeRaw(t, model, raw, out)
}

func (b *testBundle) invokeRaw(t *testing.T, model string, raw []byte, out any) error {
	t.Helper()
	resp, err := b.client.InvokeModel(context.Background(), &bedrockruntime.InvokeModelInput{
		ModelId:     aws.String(model),
		Body:        raw,
		ContentType: aws.String("application/json"),
		Accept:      aws.String("application/json"),
	})
	if err != nil {
		return err
	}
	require.Equal(t, "application/json", aws.ToString(resp.ContentType))
	if out != nil {
		require.NoError(t, json.Unmarshal(resp.Body, out))
	}
	return nil
}

func (b *testBundle) stats(t *testing.T) Stats {
	t.Helper()
	var st Stats
	b.admin(t, http.MethodGet, "/stats", nil, http.StatusOK, &st)
	return st
}

func (b *testBundle) admin(t *testing.T, method, path string, body any, wantStatus int, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, b.url+path, rd)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, wantStatus, resp.StatusCode, string(raw))
	if out != nil {
		require.NoError(t, json.Unmarshal(raw, out))
	}
}

// requireAPIError asserts that err is the SDK's modeled error E with the
// given HTTP status, and returns it.
func requireAPIError[E smithy.APIError](t *testing.T, err error, status int) E {
	t.Helper()
	require.Error(t, err)
	var target E
	require.ErrorAs(t, err, &target, "got %T: %v", err, err)
	var re *smithyhttp.ResponseError
	require.ErrorAs(t, err, &re)
	require.Equal(t, status, re.HTTPStatusCode())
	return target
}

func requireValidation(t *testing.T, err error, msg string) {
	t.Helper()
	e := requireAPIError[*types.ValidationException](t, err, http.StatusBadRequest)
	require.Equal(t, msg, e.ErrorMessage())
}

type cohereFloats struct {
	ID           string      `json:"id"`
	ResponseType string      `json:"response_type"`
	Texts        []string    `json:"texts"`
	Embeddings   [][]float32 `json:"embeddings"`
}

type cohereByType struct {
	ID           string                     `json:"id"`
	ResponseType string                     `json:"response_type"`
	Texts        []string                   `json:"texts"`
	Embeddings   map[string]json.RawMessage `json:"embeddings"`
}

type titanOut struct {
	Embedding           []float32                  `json:"embedding"`
	InputTextTokenCount int                        `json:"inputTextTokenCount"`
	EmbeddingsByType    map[string]json.RawMessage `json:"embeddingsByType"`
}

func cohereBody(texts ...string) map[string]any {
	return map[string]any{"texts": texts, "input_type": "search_document"}
}

func repeatTexts(n int) []string {
	texts := make([]string, n)
	for i := range texts {
		texts[i] = "chunk number " + strings.Repeat("x", i%7)
	}
	return texts
}

func TestCohere(t *testing.T) {
	t.Parallel()

	t.Run("FloatsShape", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Knobs{})
		texts := []string{"hello world", "こんにちは世界", strings.Repeat("a", 2048), ""}
		var out cohereFloats
		require.NoError(t, b.invoke(t, ModelCohereMultilingual, cohereBody(texts...), &out))
		require.Equal(t, "embeddings_floats", out.ResponseType)
		require.NotEmpty(t, out.ID)
		require.Equal(t, texts, out.Texts)
		require.Len(t, out.Embeddings, len(texts))
		for i, e := range out.Embeddings {
			require.Len(t, e, 1024)
			require.InDelta(t, 1.0, l2(e), 1e-4)
			require.Equal(t, Vector(ModelCohereMultilingual, texts[i], 1024), e)
		}

		// The id is deterministic, and so are the vectors.
		var again cohereFloats
		require.NoError(t, b.invoke(t, ModelCohereMultilingual, cohereBody(texts...), &again))
		require.Equal(t, out, again)
	})

	t.Run("ByTypeShape", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Knobs{})
		texts := []string{"alpha beta", "gamma delta"}
		body := cohereBody(texts...)
		body["embedding_types"] = []string{"float", "int8", "uint8", "binary", "ubinary"}
		var out cohereByType
		require.NoError(t, b.invoke(t, ModelCohereEnglish, body, &out))
		require.Equal(t, "embeddings_by_type", out.ResponseType)
		require.Equal(t, texts, out.Texts)
		require.Len(t, out.Embeddings, 5)

		var floats [][]float32
		var i8, u8, bin, ubin [][]int
		require.NoError(t, json.Unmarshal(out.Embeddings["float"], &floats))
		require.NoError(t, json.Unmarshal(out.Embeddings["int8"], &i8))
		require.NoError(t, json.Unmarshal(out.Embeddings["uint8"], &u8))
		require.NoError(t, json.Unmarshal(out.Embeddings["binary"], &bin))
		require.NoError(t, json.Unmarshal(out.Embeddings["ubinary"], &ubin))
		for i := range texts {
			require.Equal(t, Vector(ModelCohereEnglish, texts[i], 1024), floats[i])
			require.Len(t, i8[i], 1024)
			require.Len(t, u8[i], 1024)
			require.Len(t, bin[i], 128)
			require.Len(t, ubin[i], 128)
			for d := range 1024 {
				require.GreaterOrEqual(t, i8[i][d], -128)
				require.LessOrEqual(t, i8[i][d], 127)
				require.Equal(t, i8[i][d]+128, u8[i][d])
				// The sign survives quantisation.
				require.Equal(t, floats[i][d] > 0, i8[i][d] > 0, "dim %d", d)
				bit := ubin[i][d/8] >> (7 - d%8) & 1
				require.Equal(t, floats[i][d] > 0, bit == 1, "dim %d", d)
			}
			for j := range 128 {
				require.Equal(t, ubin[i][j]-128, bin[i][j])
			}
		}
	})

	t.Run("NinetySixTextsPass", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Knobs{})
		var out cohereFloats
		require.NoError(t, b.invoke(t, ModelCohereMultilingual, cohereBody(repeatTexts(96)...), &out))
		require.Len(t, out.Embeddings, 96)
	})

	t.Run("TooManyTexts", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Knobs{})
		err := b.invoke(t, ModelCohereMultilingual, cohereBody(repeatTexts(97)...), nil)
		requireValidation(t, err, "Malformed input request: #/texts: expected maximum item count: 96, found: 97"+reformat)
	})

	t.Run("TextTooLong", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Knobs{})
		texts := []string{"a", "b", "c", strings.Repeat("é", 2049)} // runes, not bytes
		err := b.invoke(t, ModelCohereMultilingual, cohereBody(texts...), nil)
		requireValidation(t, err, "Malformed input request: #/texts/3: expected maxLength: 2048, actual: 2049"+reformat)
	})

	t.Run("SeveralViolations", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Knobs{})
		long := strings.Repeat("a", 3000)
		body := map[string]any{"texts": []string{long, "ok", long}, "input_type": "bogus"}
		err := b.invoke(t, ModelCohereMultilingual, body, nil)
		requireValidation(t, err, "Malformed input request: #: 3 schema violations found"+reformat)
	})

	t.Run("SchemaErrors", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Knobs{})
		tests := []struct {
			name string
			body string
			msg  string
		}{
			{"MissingTexts", `{"input_type":"search_query"}`,
				"Malformed input request: #: required key [texts] not found" + reformat},
			{"MissingInputType", `{"texts":["a"]}`,
				"Malformed input request: #: required key [input_type] not found" + reformat},
			{"BadInputType", `{"texts":["a"],"input_type":"foo"}`,
				"Malformed input request: #/input_type: foo is not a valid enum value" + reformat},
			{"BadTruncate", `{"texts":["a"],"input_type":"search_query","truncate":"MIDDLE"}`,
				"Malformed input request: #/truncate: MIDDLE is not a valid enum value" + reformat},
			{"EmbeddingTypesNotArray", `{"texts":["a"],"input_type":"search_query","embedding_types":"float"}`,
				"Malformed input request: #/embedding_types: expected type: JSONArray, found: String" + reformat},
			{"BadEmbeddingType", `{"texts":["a"],"input_type":"search_query","embedding_types":["float","int4"]}`,
				"Malformed input request: #/embedding_types/1: int4 is not a valid enum value" + reformat},
			{"TextsNotArray", `{"texts":"a","input_type":"search_query"}`,
				"Malformed input request: #/texts: expected type: JSONArray, found: String" + reformat},
			{"TextNotString", `{"texts":["a",7],"input_type":"search_query"}`,
				"Malformed input request: #/texts/1: expected type: String, found: Integer" + reformat},
			{"EmptyTexts", `{"texts":[],"input_type":"search_query"}`,
				"Malformed input request: #/texts: expected minimum item count: 1, found: 0" + reformat},
			{"ExtraneousKey", `{"texts":["a"],"input_type":"search_query","model":"x"}`,
				"Malformed input request: #: extraneous key [model] is not permitted" + reformat},
			{"NotAnObject", `["a"]`,
				"Malformed input request: #: expected type: JSONObject, found: JSONArray" + reformat},
		}
		for _, tt := range tests {
			err := b.invokeRaw(t, ModelCohereMultilingual, []byte(tt.body), nil)
			requireValidation(t, err, tt.msg)
		}

		err := b.invokeRaw(t, ModelCohereMultilingual, []byte(`{"texts": [`), nil)
		e := requireAPIError[*types.ValidationException](t, err, http.StatusBadRequest)
		require.True(t, strings.HasPrefix(e.ErrorMessage(), "Malformed input request: "), e.ErrorMessage())
		require.True(t, strings.HasSuffix(e.ErrorMessage(), reformat), e.ErrorMessage())
	})

	t.Run("TokenLimit", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Knobs{})
		// Under 2048 characters but over 512 tokens: CJK costs a token a rune.
		ja := strings.Repeat("東京は日本の首都です。", 60) // 660 runes, 660 tokens
		require.Less(t, len([]rune(ja)), 2048)
		require.Greater(t, EstimateTokens(ja), 512)

		for _, body := range []map[string]any{
			cohereBody("short", ja),
			{"texts": []string{ja}, "input_type": "search_document", "truncate": "NONE"},
		} {
			err := b.invoke(t, ModelCohereMultilingual, body, nil)
			requireValidation(t, err, "Input is too long for requested model.")
		}

		vectors := map[string][]float32{}
		for _, trunc := range []string{"START", "END"} {
			var out cohereFloats
			body := map[string]any{"texts": []string{ja}, "input_type": "search_document", "truncate": trunc}
			require.NoError(t, b.invoke(t, ModelCohereMultilingual, body, &out))
			require.Equal(t, []string{ja}, out.Texts)
			vectors[trunc] = out.Embeddings[0]
		}
		require.Equal(t, Vector(ModelCohereMultilingual, truncateTokens(ja, 512, false), 1024), vectors["END"])
		require.Equal(t, Vector(ModelCohereMultilingual, truncateTokens(ja, 512, true), 1024), vectors["START"])
		require.NotEqual(t, Vector(ModelCohereMultilingual, ja, 1024), vectors["END"])
	})
}

func TestTitan(t *testing.T) {
	t.Parallel()

	t.Run("DefaultShape", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Knobs{})
		text := "Amazon Titan Text Embeddings V2"
		var out titanOut
		require.NoError(t, b.invoke(t, ModelTitanV2, map[string]any{"inputText": text}, &out))
		require.Equal(t, Vector(ModelTitanV2, text, 1024), out.Embedding)
		require.Equal(t, EstimateTokens(text), out.InputTextTokenCount)
		require.Len(t, out.EmbeddingsByType, 1)
		var floats []float32
		require.NoError(t, json.Unmarshal(out.EmbeddingsByType["float"], &floats))
		require.Equal(t, out.Embedding, floats)
	})

	t.Run("Dimensions", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Knobs{})
		for _, dims := range []int{256, 512, 1024} {
			var out titanOut
			require.NoError(t, b.invoke(t, ModelTitanV2, map[string]any{"inputText": "dims", "dimensions": dims}, &out))
			require.Len(t, out.Embedding, dims)
			require.InDelta(t, 1.0, l2(out.Embedding), 1e-4)
		}
		err := b.invoke(t, ModelTitanV2, map[string]any{"inputText": "dims", "dimensions": 768}, nil)
		requireValidation(t, err, "Malformed input request: #/dimensions: 768 is not a valid enum value"+reformat)
	})

	t.Run("BinaryAndUnnormalised", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Knobs{})
		text := "binary embeddings are cheaper to store"
		var out titanOut
		body := map[string]any{"inputText": text, "dimensions": 256, "normalize": false, "embeddingTypes": []string{"binary"}}
		require.NoError(t, b.invoke(t, ModelTitanV2, body, &out))
		require.Len(t, out.EmbeddingsByType, 2, "float is always present")
		var bits []int
		require.NoError(t, json.Unmarshal(out.EmbeddingsByType["binary"], &bits))
		require.Len(t, bits, 256)
		unit := Vector(ModelTitanV2, text, 256)
		norm := l2(out.Embedding)
		require.Greater(t, math.Abs(norm-1), 1e-3, "normalize=false should not give a unit vector")
		for i := range unit {
			require.InDelta(t, unit[i], out.Embedding[i]/float32(norm), 1e-5)
			require.Equal(t, unit[i] > 0, bits[i] == 1)
		}
	})

	t.Run("Limits", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Knobs{})
		err := b.invoke(t, ModelTitanV2, map[string]any{"dimensions": 256}, nil)
		requireValidation(t, err, "Malformed input request: #: required key [inputText] not found"+reformat)

		err = b.invoke(t, ModelTitanV2, map[string]any{"inputText": strings.Repeat("a", 50001)}, nil)
		requireValidation(t, err, "Malformed input request: #/inputText: expected maxLength: 50000, actual: 50001"+reformat)

		// 9,000 symbols are 9,000 tokens: within the characters, over the tokens.
		err = b.invoke(t, ModelTitanV2, map[string]any{"inputText": strings.Repeat("!", 9000)}, nil)
		requireValidation(t, err, "Input is too long for requested model.")

		require.NoError(t, b.invoke(t, ModelTitanV2, map[string]any{"inputText": strings.Repeat("!", 8192)}, nil))

		err = b.invoke(t, ModelTitanV2, map[string]any{"inputText": "x", "normalize": "yes"}, nil)
		requireValidation(t, err, "Malformed input request: #/normalize: expected type: Boolean, found: String"+reformat)

		err = b.invoke(t, ModelTitanV2, map[string]any{"texts": []string{"cohere style"}}, nil)
		requireValidation(t, err, "Malformed input request: #: 2 schema violations found"+reformat)
	})
}

func TestModelsAndAuth(t *testing.T) {
	t.Parallel()

	t.Run("UnknownModel", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Knobs{})
		err := b.invoke(t, "cohere.embed-v9", cohereBody("a"), nil)
		requireValidation(t, err, "The provided model identifier is invalid.")
	})

	t.Run("Unsigned", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Knobs{})
		// The SDK always signs, so send a bare request. (With
		// aws.AnonymousCredentials the SDK falls back to bearer-token auth
		// and panics on the missing token provider.)
		resp, err := http.Post(b.url+"/model/amazon.titan-embed-text-v2%3A0/invoke", "application/json",
			strings.NewReader(`{"inputText":"x"}`))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		require.Equal(t, "AccessDeniedException", resp.Header.Get("X-Amzn-ErrorType"))
	})
}

func TestThrottling(t *testing.T) {
	t.Parallel()

	t.Run("RequestsPerMinute", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Knobs{RequestsPerMinute: 2})
		require.NoError(t, b.invoke(t, ModelCohereMultilingual, cohereBody("one"), nil))
		require.NoError(t, b.invoke(t, ModelCohereMultilingual, cohereBody("two"), nil))
		err := b.invoke(t, ModelCohereMultilingual, cohereBody("three"), nil)
		e := requireAPIError[*types.ThrottlingException](t, err, http.StatusTooManyRequests)
		require.Equal(t, "Too many requests, please wait before trying again.", e.ErrorMessage())

		// Budgets are per model.
		require.NoError(t, b.invoke(t, ModelTitanV2, map[string]any{"inputText": "other model"}, nil))

		st := b.stats(t)
		require.EqualValues(t, 4, st.Requests)
		require.EqualValues(t, 3, st.Succeeded)
		require.EqualValues(t, 1, st.Throttled)
		require.EqualValues(t, 1, st.Errors["ThrottlingException"])
		require.Equal(t, ModelStats{Requests: 3, Texts: 2}, st.ByModel[ModelCohereMultilingual])
	})

	t.Run("TokensPerMinute", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Knobs{TokensPerMinute: 100})
		text := strings.Repeat("word ", 60) // 60 tokens
		require.Equal(t, 60, EstimateTokens(text))
		require.NoError(t, b.invoke(t, ModelTitanV2, map[string]any{"inputText": text}, nil))
		err := b.invoke(t, ModelTitanV2, map[string]any{"inputText": text}, nil)
		requireAPIError[*types.ThrottlingException](t, err, http.StatusTooManyRequests)
		// The throttled request consumed nothing: 40 tokens still fit.
		require.NoError(t, b.invoke(t, ModelTitanV2, map[string]any{"inputText": strings.Repeat("word ", 40)}, nil))
		require.EqualValues(t, 100, b.stats(t).Tokens)
	})

	t.Run("ThrottleRate", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Knobs{ThrottleRate: 1})
		for range 3 {
			err := b.invoke(t, ModelCohereEnglish, cohereBody("x"), nil)
			requireAPIError[*types.ThrottlingException](t, err, http.StatusTooManyRequests)
		}
		require.EqualValues(t, 3, b.stats(t).Throttled)
	})

	t.Run("ThrottleRateIsSeeded", func(t *testing.T) {
		t.Parallel()
		run := func() []bool {
			b := setup(t, Knobs{ThrottleRate: 0.5, Seed: 42})
			var got []bool
			for range 20 {
				got = append(got, b.invoke(t, ModelCohereEnglish, cohereBody("x"), nil) != nil)
			}
			return got
		}
		first := run()
		require.Equal(t, first, run())
		require.Contains(t, first, true)
		require.Contains(t, first, false)
	})
}

func TestFaults(t *testing.T) {
	t.Parallel()

	t.Run("FailRateEachType", func(t *testing.T) {
		t.Parallel()
		// is reports whether err is the SDK's modeled type for the name.
		is := map[string]func(error) bool{
			"ThrottlingException":           func(err error) bool { return errors.As(err, new(*types.ThrottlingException)) },
			"ServiceQuotaExceededException": func(err error) bool { return errors.As(err, new(*types.ServiceQuotaExceededException)) },
			"ModelTimeoutException":         func(err error) bool { return errors.As(err, new(*types.ModelTimeoutException)) },
			"ServiceUnavailableException":   func(err error) bool { return errors.As(err, new(*types.ServiceUnavailableException)) },
			"InternalServerException":       func(err error) bool { return errors.As(err, new(*types.InternalServerException)) },
			"ModelNotReadyException":        func(err error) bool { return errors.As(err, new(*types.ModelNotReadyException)) },
			"ModelErrorException":           func(err error) bool { return errors.As(err, new(*types.ModelErrorException)) },
			"ValidationException":           func(err error) bool { return errors.As(err, new(*types.ValidationException)) },
			"AccessDeniedException":         func(err error) bool { return errors.As(err, new(*types.AccessDeniedException)) },
			"ResourceNotFoundException":     func(err error) bool { return errors.As(err, new(*types.ResourceNotFoundException)) },
			// Not in InvokeModel's model: the SDK surfaces the protocol's credential errors as
			// generic API errors carrying the header's type.
			"UnrecognizedClientException": func(err error) bool { return errors.As(err, new(*smithy.GenericAPIError)) },
			"ExpiredTokenException":       func(err error) bool { return errors.As(err, new(*smithy.GenericAPIError)) },
		}
		status := map[string]int{
			"ThrottlingException": 429, "ServiceQuotaExceededException": 400, "ModelTimeoutException": 408,
			"ServiceUnavailableException": 503, "InternalServerException": 500, "ModelNotReadyException": 429,
			"ModelErrorException": 424, "ValidationException": 400, "AccessDeniedException": 403,
			"ResourceNotFoundException": 404, "UnrecognizedClientException": 403, "ExpiredTokenException": 403,
		}
		require.ElementsMatch(t, errorTypes(), func() []string {
			var names []string
			for n := range is {
				names = append(names, n)
			}
			return names
		}())

		b := setup(t, Knobs{})
		for name, check := range is {
			b.sim.SetKnobs(Knobs{FailRate: 1, FailError: name})
			err := b.invoke(t, ModelCohereMultilingual, cohereBody("x"), nil)
			require.True(t, check(err), "%s: got %T: %v", name, err, err)
			var apiErr smithy.APIError
			require.ErrorAs(t, err, &apiErr)
			require.Equal(t, name, apiErr.ErrorCode())
			var re *smithyhttp.ResponseError
			require.ErrorAs(t, err, &re)
			require.Equal(t, status[name], re.HTTPStatusCode(), name)
		}

		// The default is InternalServerException.
		b.sim.SetKnobs(Knobs{FailRate: 1})
		err := b.invoke(t, ModelTitanV2, map[string]any{"inputText": "x"}, nil)
		requireAPIError[*types.InternalServerException](t, err, http.StatusInternalServerError)
		require.EqualValues(t, len(is)+1, b.stats(t).Requests)
	})

	t.Run("FailOnText", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Knobs{FailOnText: "POISON"})
		batch := []string{"fine", "also fine", "this chunk is POISONed"}
		err := b.invoke(t, ModelCohereMultilingual, cohereBody(batch...), nil)
		requireAPIError[*types.ValidationException](t, err, http.StatusBadRequest)
		require.NoError(t, b.invoke(t, ModelCohereMultilingual, cohereBody(batch[:2]...), nil))

		b.sim.SetKnobs(Knobs{FailOnText: "POISON", FailError: "ModelErrorException"})
		err = b.invoke(t, ModelCohereMultilingual, cohereBody(batch...), nil)
		requireAPIError[*types.ModelErrorException](t, err, http.StatusFailedDependency)
		err = b.invoke(t, ModelTitanV2, map[string]any{"inputText": "POISON pill"}, nil)
		requireAPIError[*types.ModelErrorException](t, err, http.StatusFailedDependency)

		st := b.stats(t)
		require.EqualValues(t, 4, st.Requests)
		require.EqualValues(t, 2, st.Texts)
		require.EqualValues(t, 1, st.Errors["ValidationException"])
		require.EqualValues(t, 2, st.Errors["ModelErrorException"])
	})

	t.Run("Latency", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Knobs{Latency: 150 * time.Millisecond, LatencyJitter: 20 * time.Millisecond})
		start := time.Now()
		require.NoError(t, b.invoke(t, ModelCohereEnglish, cohereBody("slow"), nil))
		require.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)
	})

	t.Run("InFlightMax", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Knobs{Latency: 200 * time.Millisecond})
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() { errs[i] = b.invoke(t, ModelCohereEnglish, cohereBody("parallel"), nil) })
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		st := b.stats(t)
		require.GreaterOrEqual(t, st.InFlightMax, int64(2))
		require.EqualValues(t, 4, st.Succeeded)
	})
}

func TestAdmin(t *testing.T) {
	t.Parallel()

	t.Run("Healthz", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Knobs{})
		var out map[string]string
		b.admin(t, http.MethodGet, "/healthz", nil, http.StatusOK, &out)
		require.Equal(t, "ok", out["status"])
	})

	t.Run("StatsAndReset", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Knobs{})
		require.NoError(t, b.invoke(t, ModelCohereMultilingual, cohereBody("a", "b", "c"), nil))
		require.NoError(t, b.invoke(t, ModelTitanV2, map[string]any{"inputText": "hello world"}, nil))
		require.Error(t, b.invoke(t, ModelCohereMultilingual, map[string]any{"texts": []string{"a"}}, nil))

		st := b.stats(t)
		require.EqualValues(t, 3, st.Requests)
		require.EqualValues(t, 2, st.Succeeded)
		require.EqualValues(t, 4, st.Texts)
		require.EqualValues(t, 3+EstimateTokens("hello world"), st.Tokens)
		require.EqualValues(t, 0, st.Throttled)
		require.Equal(t, map[string]int64{"ValidationException": 1}, st.Errors)
		require.Equal(t, map[string]ModelStats{
			ModelCohereMultilingual: {Requests: 2, Texts: 3},
			ModelTitanV2:            {Requests: 1, Texts: 1},
		}, st.ByModel)
		require.Equal(t, st, b.sim.Stats())

		b.admin(t, http.MethodPost, "/stats/reset", nil, http.StatusNoContent, nil)
		st = b.stats(t)
		require.Zero(t, st.Requests)
		require.Zero(t, st.Texts)
		require.Empty(t, st.ByModel)
	})

	t.Run("PutKnobs", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Knobs{})
		require.NoError(t, b.invoke(t, ModelCohereEnglish, cohereBody("x"), nil))

		var got Knobs
		b.admin(t, http.MethodPut, "/knobs", map[string]any{"throttle_rate": 1, "latency": "5ms"}, http.StatusOK, &got)
		require.Equal(t, Knobs{ThrottleRate: 1, Latency: 5 * time.Millisecond}, got)
		err := b.invoke(t, ModelCohereEnglish, cohereBody("x"), nil)
		requireAPIError[*types.ThrottlingException](t, err, http.StatusTooManyRequests)

		// PUT replaces: what is left out goes back to zero.
		b.admin(t, http.MethodPut, "/knobs", map[string]any{"fail_on_text": "bad"}, http.StatusOK, nil)
		b.admin(t, http.MethodGet, "/knobs", nil, http.StatusOK, &got)
		require.Equal(t, Knobs{FailOnText: "bad"}, got)
		require.NoError(t, b.invoke(t, ModelCohereEnglish, cohereBody("x"), nil))

		for _, bad := range []map[string]any{
			{"throttle_rate": 2},
			{"fail_error": "NoSuchException"},
			{"latency": "soon"},
			{"requests_per_minit": 5},
		} {
			b.admin(t, http.MethodPut, "/knobs", bad, http.StatusBadRequest, nil)
		}
		b.admin(t, http.MethodGet, "/knobs", nil, http.StatusOK, &got)
		require.Equal(t, Knobs{FailOnText: "bad"}, got, "a rejected PUT changes nothing")
	})
}

func TestEscapedModelIDAndLogging(t *testing.T) {
	t.Parallel()

	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	hs := httptest.NewServer(New(Knobs{}, logger))
	t.Cleanup(hs.Close)

	// The SDK path-escapes the colon in Titan's model ID.
	req, err := http.NewRequest(http.MethodPost, hs.URL+"/model/amazon.titan-embed-text-v2%3A0/invoke",
		strings.NewReader(`{"inputText":"confidential document text"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/bedrock/aws4_request")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	require.Equal(t, "6", resp.Header.Get("X-Amzn-Bedrock-Input-Token-Count")) // 3 + 2 + 1

	// The handler logs after it answered: Close waits for it to return.
	hs.Close()
	mu.Lock()
	defer mu.Unlock()
	require.Contains(t, logs.String(), "model=amazon.titan-embed-text-v2:0")
	require.Contains(t, logs.String(), "texts=1")
	require.Contains(t, logs.String(), "status=200")
	require.NotContains(t, logs.String(), "confidential")
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
