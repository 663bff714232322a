package plan_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/docstore"
	"github.com/ragmigrate/ragmigrate/internal/embed"
	"github.com/ragmigrate/ragmigrate/internal/loader"
	"github.com/ragmigrate/ragmigrate/internal/plan"
	"github.com/ragmigrate/ragmigrate/internal/seed"
	"github.com/ragmigrate/ragmigrate/internal/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

func TestPlanOfTheSeededDeployment(t *testing.T) {
	t.Parallel()
	ctx := stacktest.Context(t)
	clients := stacktest.AWS(t)
	table := stacktest.Table(t, clients.DynamoDB)
	bucket := stacktest.Bucket(t, clients.S3)
	web := stacktest.Getenv(t, "RAGMIGRATE_DEV_WEB_URL")
	d, err := seed.Plan(seed.Options{Seed: 9, Bucket: bucket, WebURL: web})
	require.NoError(t, err)
	src, err := vectorstore.Connect(ctx, stacktest.Database(t, "RAGMIGRATE_SOURCE_DB"), "test", vectorstore.Timeouts{})
	require.NoError(t, err)
	defer src.Close(ctx)
	dst, err := vectorstore.Connect(ctx, stacktest.Database(t, "RAGMIGRATE_TARGET_DB"), "test", vectorstore.Timeouts{})
	require.NoError(t, err)
	defer dst.Close(ctx)
	docs := docstore.New(clients.S3, bucket)
	require.NoError(t, seed.Apply(ctx, d, seed.Targets{DynamoDB: clients.DynamoDB, Table: table, Docs: docs, Source: src}))
	model, err := embed.LookupModel("cohere.embed-multilingual-v3")
	require.NoError(t, err)
	base := plan.Options{Bots: botstore.New(clients.DynamoDB, table), Docs: docs, Model: model, RequestsPerMinute: 6,
		Fetcher: &loader.Fetcher{AllowPrivate: true}} // the stack's web site is on loopback

	// Which bots must fail, judged from the deployment itself. The quick plan sees only missing
	// files (the bot with the dead link also has one); the exact plan reads every source and
	// must find what the seed made unreadable: a dead link, an encrypted, scanned or truncated PDF.
	present := map[string]bool{}
	for _, f := range d.Files {
		present[f.Key] = true
	}
	wantFail := map[string]bool{}
	for _, b := range d.Bots {
		for _, f := range b.Knowledge.Filenames {
			if !present[docstore.DocumentKey(b.UserID, b.ID, f)] {
				wantFail[b.ID] = true
			}
		}
	}

	quick, err := plan.Make(ctx, base)
	require.NoError(t, err)
	e := d.Expect
	require.Equal(t, e.Bots, quick.Bots.Total)
	require.Equal(t, e.WithKnowledge, quick.Bots.WithKnowledge)
	require.Equal(t, e.ByStatus, quick.Bots.ByStatus)
	require.Len(t, quick.Malformed, e.Malformed)
	require.Equal(t, len(d.Files), quick.Sources.Files)
	require.Equal(t, e.MissingFiles, quick.Sources.Missing)
	require.Equal(t, wantFail, failing(quick))
	require.Positive(t, quick.Reembed.Chunks)
	require.InDelta(t, float64(quick.Reembed.Tokens)/1e6*0.10, quick.Reembed.CostUSD, 1e-12)
	require.Equal(t, time.Duration(float64(quick.Reembed.Requests)/6*float64(time.Minute)).Round(time.Second), quick.Reembed.Duration)
	require.Equal(t, "reembed", quick.Recommendation, "no source given")

	exactOpts := base
	exactOpts.Exact = true
	exactOpts.Target = dst
	exactOpts.Source = src
	exact, err := plan.Make(ctx, exactOpts)
	require.NoError(t, err)
	unreadable := map[string]bool{}
	for id := range e.Unreadable {
		unreadable[id] = true
	}
	require.Equal(t, unreadable, failing(exact))
	require.Positive(t, exact.Reembed.Chunks)
	ratio := float64(quick.Reembed.Chunks) / float64(exact.Reembed.Chunks)
	require.True(t, ratio > 0.3 && ratio < 3, "the quick estimate is within 3x of the exact count (%.2f)", ratio)
	for _, b := range exact.PerBot {
		if unreadable[b.BotID] {
			named := false
			for _, p := range b.Problems {
				require.True(t, strings.HasPrefix(p, "s3://"+bucket+"/") || strings.HasPrefix(p, web), "problem names its source: %s", p)
				named = named || strings.HasPrefix(p, e.Unreadable[b.BotID]+": ")
			}
			require.True(t, named, "the seed's unreadable source %s is among %q", e.Unreadable[b.BotID], b.Problems)
		}
	}
	require.NotNil(t, exact.Target)
	require.False(t, exact.Target.Reembed.Ready)
	require.Contains(t, strings.Join(exact.Target.Reembed.Problems, "\n"), "--create-missing")
	require.False(t, exact.Target.Copy.Ready, "%q", exact.Target.Copy.Problems)
	require.Contains(t, strings.Join(exact.Target.Copy.Problems, "\n"), "--create-missing")
	require.EqualValues(t, e.Rows, exact.Copy.Rows)
	require.Equal(t, "copy", exact.Recommendation)

	t.Run("FilterByBot", func(t *testing.T) {
		o := base
		o.BotIDs = []string{d.Bots[0].ID}
		p, err := plan.Make(ctx, o)
		require.NoError(t, err)
		require.Equal(t, 1, p.Bots.Total)
		require.Empty(t, p.Malformed)
	})

	t.Run("TargetWithOtherDimension", func(t *testing.T) {
		_, err := dst.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS vector; CREATE TABLE items (id char(26) primary key, botid char(26), content text, source text, embedding vector(1536))`)
		require.NoError(t, err)
		o := base
		o.Target = dst
		o.Source = src
		p, err := plan.Make(ctx, o)
		require.NoError(t, err)
		require.Len(t, p.Target.Reembed.Problems, 1)
		require.Contains(t, p.Target.Reembed.Problems[0], "vector(1536)")
		require.False(t, p.Target.Reembed.Ready)
		require.Equal(t, []string{"items.embedding is vector(1536) but the source's is vector(1024)"}, p.Target.Copy.Problems)
		require.False(t, p.Target.Copy.Ready)
	})
}

func failing(p *plan.Plan) map[string]bool {
	m := map[string]bool{}
	for _, b := range p.PerBot {
		if len(b.Problems) > 0 {
			m[b.BotID] = true
		}
	}
	return m
}
