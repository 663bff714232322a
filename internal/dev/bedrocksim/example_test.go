package bedrocksim_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/ragmigrate/ragmigrate/internal/dev/bedrocksim"
)

// The real SDK client talks to the double over HTTP; outside tests, set
// AWS_ENDPOINT_URL_BEDROCK_RUNTIME to the double's URL instead of
// BaseEndpoint.
func Example() {
	sim := bedrocksim.New(bedrocksim.Knobs{RequestsPerMinute: 1}, nil)
	hs := httptest.NewServer(sim)
	defer hs.Close()

	client := bedrockruntime.New(bedrockruntime.Options{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
	}, func(o *bedrockruntime.Options) {
		o.BaseEndpoint = aws.String(hs.URL)
		o.Retryer = aws.NopRetryer{}
	})
	in := &bedrockruntime.InvokeModelInput{
		ModelId:     aws.String(bedrocksim.ModelCohereMultilingual),
		ContentType: aws.String("application/json"),
		Body:        []byte(`{"texts":["hello","こんにちは"],"input_type":"search_document"}`),
	}

	out, err := client.InvokeModel(context.Background(), in)
	if err != nil {
		panic(err)
	}
	var resp struct {
		Embeddings [][]float32 `json:"embeddings"`
	}
	if err := json.Unmarshal(out.Body, &resp); err != nil {
		panic(err)
	}
	fmt.Println(len(resp.Embeddings), len(resp.Embeddings[0]))

	_, err = client.InvokeModel(context.Background(), in) // over the budget of 1 a minute
	fmt.Println(errors.As(err, new(*types.ThrottlingException)))
	fmt.Println(sim.Stats().Throttled)
	// Output:
	// 2 1024
	// true
	// 1
}
