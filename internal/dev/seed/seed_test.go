package seed_test

import (
	"bytes"
	"context"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/dev/corpus"
	"github.com/ragmigrate/ragmigrate/internal/dev/inventory"
	"github.com/ragmigrate/ragmigrate/internal/dev/seed"
	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/docstore"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

func TestPlanIsDeterministic(t *testing.T) {
	t.Parallel()
	o := seed.Options{Seed: 3, Bots: 13, DocsPerBot: 2, Bucket: "b", WebURL: "http://127.0.0.1:1"}
	a, err := seed.Plan(o)
	require.NoError(t, err)
	b, err := seed.Plan(o)
	require.NoError(t, err)
	require.Equal(t, a.Items, b.Items)
	require.Equal(t, a.Files, b.Files)
	require.Equal(t, a.Rows, b.Rows)

	o.Seed = 4
	c, err := seed.Plan(o)
	require.NoError(t, err)
	require.NotEqual(t, a.Bots[0].ID, c.Bots[0].ID)
	require.NotEqual(t, a.Files[0].Body, c.Files[0].Body)
}

func TestPlanCoversTheRealWorld(t *testing.T) {
	t.Parallel()
	d, err := seed.Plan(seed.Options{Seed: 1, Bucket: "b", WebURL: "http://127.0.0.1:1"})
	require.NoError(t, err)
	e := d.Expect
	for _, s := range botstore.Statuses {
		require.Positive(t, e.ByStatus[s], "a bot in %s", s)
	}
	for _, ext := range corpus.Extensions() {
		require.Positive(t, e.FilesByExt[ext], "a %s document", ext)
	}
	require.Positive(t, e.Legacy)
	require.Positive(t, e.Public)
	require.Positive(t, e.Published)
	require.Positive(t, e.Aliases)
	require.Positive(t, e.Conversations)
	require.Equal(t, 2, e.Malformed)
	require.Positive(t, e.MissingFiles)
	require.Positive(t, e.OrphanRows)
	require.Less(t, e.WithKnowledge, e.Bots, "some bots have no knowledge")

	var sitemaps, urls, cjk, accented int
	for _, b := range d.Bots {
		sitemaps += len(b.Knowledge.SitemapURLs)
		urls += len(b.Knowledge.SourceURLs)
	}
	unreadable := map[string]string{} // source → profile
	for i, b := range d.Bots {
		if src, ok := e.Unreadable[b.ID]; ok {
			unreadable[src] = d.Profiles[i]
		}
	}
	require.ElementsMatch(t, []string{"broken-sources", "scanned-pdf", "encrypted-pdf", "truncated-pdf"}, slices.Collect(maps.Values(unreadable)))
	var nulFile, savedPage, cjkMultiPagePDF bool
	for _, f := range d.Files {
		uri := docstore.SourceURI(d.Options.Bucket, f.Key)
		if p, ok := unreadable[uri]; ok {
			require.Empty(t, f.Text, "%s (%s) holds no readable text", f.Key, p)
			require.True(t, strings.HasSuffix(f.Key, ".pdf"), f.Key)
			continue
		}
		nulFile = nulFile || bytes.Contains(f.Body, []byte{0})
		cjkMultiPagePDF = cjkMultiPagePDF || bytes.HasPrefix(f.Body, []byte("%PDF-")) && bytes.Count(f.Body, []byte("/Type /Page ")) > 1 &&
			strings.IndexFunc(f.Text, func(r rune) bool { return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Hangul) }) >= 0
		savedPage = savedPage || strings.HasSuffix(f.Key, ".pdf") && bytes.HasPrefix(f.Body, []byte("<!DOCTYPE html>"))
		if strings.IndexFunc(f.Text, func(r rune) bool { return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Hangul) }) >= 0 {
			cjk++
		}
		if strings.ContainsAny(f.Text, "éèàçüößñ") {
			accented++
		}
		require.Greater(t, len(f.Text), 1000, "%s is a real document, not a one-liner", f.Key)
	}
	require.True(t, nulFile, "a text file with NUL bytes")
	require.True(t, savedPage, "an HTML page saved as .pdf")
	require.True(t, cjkMultiPagePDF, "a multi-page PDF in Chinese, Japanese or Korean")
	require.Positive(t, sitemaps)
	require.Positive(t, urls)
	require.Positive(t, cjk, "documents in CJK")
	require.Positive(t, accented, "documents in accented Latin")
}

// TestSeedRoundTrip writes a deployment to the stack and reads it back through the real APIs:
// DynamoDB Scan (paginated), S3 List/Get and pgx.
func TestSeedRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := stacktest.Context(t)
	clients := stacktest.AWS(t)
	table := stacktest.Table(t, clients.DynamoDB)
	bucket := stacktest.Bucket(t, clients.S3)
	srcURL := stacktest.Database(t, "RAGMIGRATE_SOURCE_DB")
	dstURL := stacktest.Database(t, "RAGMIGRATE_TARGET_DB")
	webURL := stacktest.Getenv(t, "RAGMIGRATE_DEV_WEB_URL")

	d, err := seed.Plan(seed.Options{Seed: 11, Bots: 14, DocsPerBot: 3, Bucket: bucket, WebURL: webURL})
	require.NoError(t, err)
	src, err := vectorstore.Connect(ctx, srcURL, "test", vectorstore.Timeouts{})
	require.NoError(t, err)
	defer src.Close(context.WithoutCancel(ctx))
	dst, err := vectorstore.Connect(ctx, dstURL, "test", vectorstore.Timeouts{})
	require.NoError(t, err)
	defer dst.Close(context.WithoutCancel(ctx))
	docs := docstore.New(clients.S3, bucket)
	targets := seed.Targets{DynamoDB: clients.DynamoDB, Table: table, Docs: docs, Source: src, Target: dst}
	require.NoError(t, seed.Apply(ctx, d, targets))

	t.Run("TableSchema", func(t *testing.T) {
		out, err := clients.DynamoDB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		require.NoError(t, err)
		td := out.Table
		require.Equal(t, []types.KeySchemaElement{
			{AttributeName: aws.String("PK"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("SK"), KeyType: types.KeyTypeRange},
		}, td.KeySchema)
		var gsis []string
		for _, g := range td.GlobalSecondaryIndexes {
			gsis = append(gsis, aws.ToString(g.IndexName)+":"+aws.ToString(g.KeySchema[0].AttributeName))
		}
		slices.Sort(gsis)
		require.Equal(t, []string{"PublicBotIdIndex:PublicBotId", "SKIndex:SK"}, gsis)
		require.Len(t, td.LocalSecondaryIndexes, 1)
		require.Equal(t, "LastBotUsedIndex", aws.ToString(td.LocalSecondaryIndexes[0].IndexName))
		require.Equal(t, "LastBotUsed", aws.ToString(td.LocalSecondaryIndexes[0].KeySchema[1].AttributeName))
	})

	t.Run("BotsThroughPaginatedScan", func(t *testing.T) {
		store := botstore.New(clients.DynamoDB, table).WithPageSize(7)
		got := map[string]*botstore.Bot{}
		var malformed []*botstore.DecodeError
		require.NoError(t, store.ScanBots(ctx, func(b *botstore.Bot) error {
			got[b.ID] = b
			return nil
		}, func(de *botstore.DecodeError) error {
			malformed = append(malformed, de)
			return nil
		}))
		require.Len(t, got, len(d.Bots))
		for _, want := range d.Bots {
			require.Equal(t, want, got[want.ID])
		}
		require.Len(t, malformed, d.Expect.Malformed)

		// Raw pages: more than one, and every attribute of the DynamoDB type the app writes.
		p := dynamodb.NewScanPaginator(clients.DynamoDB, &dynamodb.ScanInput{TableName: aws.String(table), Limit: aws.Int32(7)})
		pages, items := 0, 0
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			require.NoError(t, err)
			pages++
			for _, it := range page.Items {
				items++
				sk := it["SK"].(*types.AttributeValueMemberS).Value
				if botstore.KindOf(sk) != botstore.KindBot || it["Title"] == nil {
					continue
				}
				requireType[*types.AttributeValueMemberN](t, it, "CreateTime", "LastBotUsed")
				requireType[*types.AttributeValueMemberBOOL](t, it, "IsPinned")
				requireType[*types.AttributeValueMemberM](t, it, "Knowledge")
				if _, ok := it["Knowledge"]; !ok {
					continue // the v0.3-era item
				}
				for _, k := range []string{"source_urls", "sitemap_urls", "filenames"} {
					_, ok := it["Knowledge"].(*types.AttributeValueMemberM).Value[k].(*types.AttributeValueMemberL)
					require.True(t, ok, "Knowledge.%s is a list (L) in %s", k, sk)
				}
				if v, ok := it["PublicBotId"]; ok {
					require.IsType(t, &types.AttributeValueMemberS{}, v, "PublicBotId is never NULL")
				}
				if v, ok := it["ApiPublishmentStackName"]; ok {
					if _, isNull := v.(*types.AttributeValueMemberNULL); !isNull {
						requireType[*types.AttributeValueMemberN](t, it, "ApiPublishedDatetime")
					}
				}
			}
		}
		require.Greater(t, pages, 3)
		require.Equal(t, len(d.Items), items)
	})

	t.Run("DocumentsThroughS3", func(t *testing.T) {
		byKey := map[string]seed.File{}
		for _, f := range d.Files {
			byKey[f.Key] = f
		}
		keyRE := regexp.MustCompile(`^[0-9a-f-]{36}/[0-9A-Z]{26}/documents/[^/]+$`)
		seen := 0
		require.NoError(t, docs.Walk(ctx, "", func(o docstore.Object) error {
			seen++
			want, ok := byKey[o.Key]
			require.True(t, ok, "unexpected object %s", o.Key)
			require.Regexp(t, keyRE, o.Key)
			require.EqualValues(t, len(want.Body), o.Size, "listed size of %s", o.Key)
			got, err := docs.ReadAll(ctx, o.Key, 1<<30)
			require.NoError(t, err)
			require.True(t, bytes.Equal(want.Body, got), "body of %s", o.Key)
			return nil
		}))
		require.Equal(t, len(d.Files), seen)
		for _, b := range d.Bots {
			for _, f := range b.Knowledge.Filenames {
				_, ok := byKey[docstore.DocumentKey(b.UserID, b.ID, f)]
				if !ok {
					require.Contains(t, b.SyncStatusReason, "404", "only the broken-sources bot lists a missing file")
				}
			}
		}
	})

	t.Run("ItemsInTheOldCluster", func(t *testing.T) {
		cols := queryStrings(t, src, `SELECT attname || ' ' || format_type(atttypid, atttypmod) FROM pg_attribute
			WHERE attrelid = 'items'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`)
		require.Equal(t, []string{"id character(26)", "botid character(26)", "content text", "source text", "embedding vector(1024)"}, cols)
		indexes := queryStrings(t, src, `SELECT indexdef FROM pg_indexes WHERE tablename = 'items' ORDER BY indexname`)
		require.Len(t, indexes, 3)
		require.Contains(t, indexes[0], "USING btree (botid)")
		require.Contains(t, indexes[1], "USING ivfflat (embedding) WITH (lists='100')")
		require.Contains(t, indexes[2], "items_pkey ON public.items USING btree (id)")

		perBot, err := vectorstore.RowsPerBot(ctx, src)
		require.NoError(t, err)
		var total int64
		for id, n := range perBot {
			total += n
			require.EqualValues(t, d.Expect.RowsByBot[id], n, "rows of bot %s", id)
		}
		require.EqualValues(t, d.Expect.Rows, total)

		var badIDs, badSources, badDims int
		require.NoError(t, src.QueryRow(ctx, `SELECT
			count(*) FILTER (WHERE id !~ '^[0-9A-HJKMNP-TV-Z]{26}$'),
			count(*) FILTER (WHERE NOT (source LIKE 's3://' || $1 || '/%' OR source LIKE $2 || '/%')),
			count(*) FILTER (WHERE vector_dims(embedding) <> 1024)
			FROM items`, bucket, webURL).Scan(&badIDs, &badSources, &badDims))
		require.Zero(t, badIDs, "ids are ULIDs")
		require.Zero(t, badSources, "sources are s3://bucket/key or the URL as entered")
		require.Zero(t, badDims)

		var exists bool
		var rows int
		require.NoError(t, dst.QueryRow(ctx, `SELECT to_regclass('items') IS NOT NULL, (SELECT count(*) FROM items)`).Scan(&exists, &rows))
		require.True(t, exists, "v1's deploy created items on the new cluster")
		require.Zero(t, rows)
	})

	t.Run("InventoryMatches", func(t *testing.T) {
		inv, err := inventory.Take(ctx, inventory.Sources{Bots: botstore.New(clients.DynamoDB, table), Docs: docs, Source: src, Target: dst})
		require.NoError(t, err)
		e := d.Expect
		require.Equal(t, e.Bots, inv.Items.Bots)
		require.Equal(t, e.Malformed, inv.Items.Malformed)
		require.Equal(t, e.Aliases, inv.Items.Aliases)
		require.Equal(t, e.Conversations, inv.Items.Conversations)
		require.Equal(t, e.Other, inv.Items.Other)
		require.Equal(t, e.ByStatus, inv.Bots.ByStatus)
		require.Equal(t, e.Legacy, inv.Bots.Legacy)
		require.Equal(t, e.MissingFiles, len(inv.Files.Missing))
		for ext, n := range e.FilesByExt {
			require.Equal(t, n, inv.Files.ByExt[ext].Files, ext)
		}
		require.EqualValues(t, e.Rows, inv.Source.Rows)
		require.EqualValues(t, e.OrphanRows, inv.Source.OrphanRows)
		require.Zero(t, inv.Target.Rows)
		var text bytes.Buffer
		require.NoError(t, inv.WriteText(&text))
		require.Contains(t, text.String(), "vector(1024)")
	})

	t.Run("BulkRows", func(t *testing.T) {
		n, err := seed.BulkRows(ctx, d, src, 3000, nil)
		require.NoError(t, err)
		require.EqualValues(t, 3000, n)
		st, err := vectorstore.Stats(ctx, src, botIDs(d))
		require.NoError(t, err)
		require.EqualValues(t, d.Expect.Rows+3000, st.Rows)
		require.EqualValues(t, d.Expect.OrphanRows, st.OrphanRows, "bulk rows belong to existing bots")
		var avg float64
		require.NoError(t, src.QueryRow(ctx, `SELECT avg(octet_length(content)) FROM items`).Scan(&avg))
		require.Greater(t, avg, 700.0)
	})

	t.Run("SourcesNameRealFiles", func(t *testing.T) {
		exts := queryStrings(t, src, `SELECT DISTINCT source FROM items WHERE source LIKE 's3://%'`)
		require.NotEmpty(t, exts)
		for _, s := range exts {
			require.Contains(t, corpus.Extensions(), strings.ToLower(path.Ext(s)), s)
		}
	})
}

func botIDs(d *seed.Deployment) []string {
	var ids []string
	for _, b := range d.Bots {
		ids = append(ids, b.ID)
	}
	return ids
}

func requireType[T types.AttributeValue](t *testing.T, item botstore.Item, names ...string) {
	t.Helper()
	for _, n := range names {
		v, ok := item[n]
		if !ok {
			continue
		}
		_, ok = v.(T)
		require.True(t, ok, "%s has type %T", n, v)
	}
}

func queryStrings(t *testing.T, conn *pgx.Conn, sql string) []string {
	t.Helper()
	rows, err := conn.Query(t.Context(), sql)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return out
}
