package embed_test

import (
	"context"
	"fmt"

	"github.com/ragmigrate/ragmigrate/internal/embed"
	"github.com/ragmigrate/ragmigrate/internal/ratelimit"
)

// One limiter for the whole run, one Batcher per provider; every worker
// calls EmbedAll with its bot's chunks. With Bedrock, the provider would be
// embed.NewBedrockCohere(embed.NewBedrockClient(awsCfg), embed.CohereOptions{}).
func ExampleBatcher() {
	lim, err := ratelimit.New(ratelimit.Config{RequestsPerMinute: 6000, TokensPerMinute: 1_000_000})
	if err != nil {
		panic(err)
	}
	p, err := embed.NewHash(1024)
	if err != nil {
		panic(err)
	}
	b := embed.NewBatcher(p, embed.Options{Limiter: lim})

	chunks := make([]string, 250)
	for i := range chunks {
		chunks[i] = fmt.Sprintf("chunk number %d of the handbook", i)
	}
	vecs, st, err := b.EmbedAll(context.Background(), chunks)
	if err != nil {
		panic(err)
	}
	fmt.Println(len(vecs), len(vecs[0]), st.Requests, st.Texts)
	// Output: 250 1024 3 250
}
