package verify_test

import (
	"bytes"
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/jackc/pgx/v5"
	"github.com/oklog/ulid/v2"
	"github.com/pgvector/pgvector-go"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/docstore"
	"github.com/ragmigrate/ragmigrate/internal/journal"
	"github.com/ragmigrate/ragmigrate/internal/reembed/botjob"
	"github.com/ragmigrate/ragmigrate/internal/seed"
	"github.com/ragmigrate/ragmigrate/internal/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
	"github.com/ragmigrate/ragmigrate/internal/verify"
)

// testBundle is a seeded source, a table and a helper that makes clean copies of the source.
type testBundle struct {
	ctx     context.Context
	deploy  *seed.Deployment
	srcURL  string // a pgx.Conn is not safe for concurrent use: each user connects
	bots    *botstore.Store
	dynamo  *dynamodb.Client
	table   string
	botRows map[string][]string // bot id → its row ids in the source, sorted
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	ctx := stacktest.Context(t)
	clients := stacktest.AWS(t)
	table := stacktest.Table(t, clients.DynamoDB)
	bucket := stacktest.Bucket(t, clients.S3)
	d, err := seed.Plan(seed.Options{Seed: 5, Bucket: bucket, WebURL: stacktest.Getenv(t, "RAGMIGRATE_DEV_WEB_URL")})
	require.NoError(t, err)
	srcURL := stacktest.Database(t, "RAGMIGRATE_SOURCE_DB")
	require.NoError(t, seed.Apply(ctx, d, seed.Targets{DynamoDB: clients.DynamoDB, Table: table, Docs: docstore.New(clients.S3, bucket), Source: connect(t, srcURL)}))
	b := &testBundle{ctx: ctx, deploy: d, srcURL: srcURL, bots: botstore.New(clients.DynamoDB, table), dynamo: clients.DynamoDB, table: table, botRows: map[string][]string{}}
	for _, r := range d.Rows {
		b.botRows[r.BotID] = append(b.botRows[r.BotID], r.ID)
	}
	for _, ids := range b.botRows {
		slices.Sort(ids)
	}
	return b
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := vectorstore.Connect(stacktest.Context(t), url, "test", vectorstore.Timeouts{})
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// cleanCopy makes a new target database holding exactly the source's items.
func (b *testBundle) cleanCopy(t *testing.T) *pgx.Conn {
	t.Helper()
	dst := connect(t, stacktest.Database(t, "RAGMIGRATE_TARGET_DB"))
	require.NoError(t, vectorstore.SetupApp(b.ctx, dst))
	rows, err := connect(t, b.srcURL).Query(b.ctx, `SELECT id, botid, content, source, embedding FROM items`)
	require.NoError(t, err)
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (vectorstore.Row, error) {
		var row vectorstore.Row
		var v pgvector.Vector
		err := r.Scan(&row.ID, &row.BotID, &row.Content, &row.Source, &v)
		row.Embedding = v.Slice()
		return row, err
	})
	require.NoError(t, err)
	_, err = vectorstore.CopyRows(b.ctx, dst, all)
	require.NoError(t, err)
	return dst
}

func (b *testBundle) run(t *testing.T, target *pgx.Conn, withBots bool) *verify.Report {
	t.Helper()
	o := verify.Options{Source: connect(t, b.srcURL), Target: target, Queries: 50}
	if withBots {
		o.Bots = b.bots
	}
	r, err := verify.Run(b.ctx, o)
	require.NoError(t, err)
	var text bytes.Buffer
	require.NoError(t, r.WriteText(&text))
	t.Log("\n" + text.String())
	return r
}

// someBot returns the (skip+1)-th bot, by id, with at least three rows, and its row ids.
func (b *testBundle) someBot(t *testing.T, skip int) (string, []string) {
	t.Helper()
	var ids []string
	for id := range b.botRows {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if len(b.botRows[id]) >= 3 {
			if skip == 0 {
				return id, b.botRows[id]
			}
			skip--
		}
	}
	t.Fatal("no bot with three rows")
	return "", nil
}

func TestCleanCopyVerifies(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := b.run(t, b.cleanCopy(t), false)
	require.True(t, r.OK)
	require.Equal(t, r.Data.Bots, r.Data.EqualBots)
	require.EqualValues(t, len(b.deploy.Rows), r.Data.SourceRows)
	require.EqualValues(t, r.Data.SourceRows, r.Data.TargetRows)
	require.Equal(t, len(b.botRows), r.Search.Bots, "every bot sampled")
	require.Equal(t, 1.0, r.Search.RecallExact)
}

// TestMutationsAreFoundAndAttributed changes a clean copy in each way a migration can go wrong
// and requires the report to name the bot, the id and the kind of difference.
func TestMutationsAreFoundAndAttributed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	bot, ids := b.someBot(t, 0)
	other, _ := b.someBot(t, 1)
	victim := ids[1]
	newID := ulid.MustNew(ulid.Timestamp(time.Now()), ulid.DefaultEntropy()).String()
	const orphanBot = "01JORPHAN0000000000000000A"

	tests := []struct {
		name   string
		mutate func(t *testing.T, dst *pgx.Conn)
		check  func(t *testing.T, m map[string]verify.BotMismatch)
	}{
		{"OneFloatInOneEmbedding", func(t *testing.T, dst *pgx.Conn) {
			var v pgvector.Vector
			require.NoError(t, dst.QueryRow(b.ctx, `SELECT embedding FROM items WHERE id = $1`, victim).Scan(&v))
			f := v.Slice()
			f[517] = math.Nextafter32(f[517], 2) // one ulp
			exec(t, dst, `UPDATE items SET embedding = $2 WHERE id = $1`, victim, pgvector.NewVector(f))
		}, func(t *testing.T, m map[string]verify.BotMismatch) {
			require.Len(t, m, 1)
			require.Equal(t, []verify.RowChange{{ID: victim, Columns: []string{"embedding"}}}, m[bot].Changed)
		}},
		{"OneCharacterOfContent", func(t *testing.T, dst *pgx.Conn) {
			exec(t, dst, `UPDATE items SET content = overlay(content placing '#' from 5 for 1) WHERE id = $1`, victim)
		}, func(t *testing.T, m map[string]verify.BotMismatch) {
			require.Len(t, m, 1)
			require.Equal(t, []verify.RowChange{{ID: victim, Columns: []string{"content"}}}, m[bot].Changed)
		}},
		{"RowDeleted", func(t *testing.T, dst *pgx.Conn) {
			exec(t, dst, `DELETE FROM items WHERE id = $1`, victim)
		}, func(t *testing.T, m map[string]verify.BotMismatch) {
			require.Len(t, m, 1)
			require.Equal(t, []string{victim}, m[bot].Missing)
			require.EqualValues(t, m[bot].SourceRows-1, m[bot].TargetRows)
		}},
		{"RowAdded", func(t *testing.T, dst *pgx.Conn) {
			exec(t, dst, `INSERT INTO items SELECT $2, botid, content, source, embedding FROM items WHERE id = $1`, victim, newID)
		}, func(t *testing.T, m map[string]verify.BotMismatch) {
			require.Len(t, m, 1)
			require.Equal(t, []string{newID}, m[bot].Extra)
		}},
		{"RowMovedToAnotherBot", func(t *testing.T, dst *pgx.Conn) {
			exec(t, dst, `UPDATE items SET botid = $2 WHERE id = $1`, victim, other)
		}, func(t *testing.T, m map[string]verify.BotMismatch) {
			require.Len(t, m, 2)
			mv := verify.RowMove{ID: victim, FromBot: bot, ToBot: other}
			require.Equal(t, []verify.RowMove{mv}, m[bot].MovedOut)
			require.Equal(t, []verify.RowMove{mv}, m[other].MovedIn)
		}},
		{"OrphanRow", func(t *testing.T, dst *pgx.Conn) {
			exec(t, dst, `INSERT INTO items SELECT $2, $3, content, source, embedding FROM items WHERE id = $1`, victim, newID, orphanBot)
		}, func(t *testing.T, m map[string]verify.BotMismatch) {
			require.Len(t, m, 1)
			require.Equal(t, []string{newID}, m[orphanBot].Extra)
			require.Zero(t, m[orphanBot].SourceRows)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dst := b.cleanCopy(t)
			tt.mutate(t, dst)
			r := b.run(t, dst, false)
			require.False(t, r.OK)
			byBot := map[string]verify.BotMismatch{}
			for _, m := range r.Data.Mismatches {
				byBot[m.BotID] = m
			}
			tt.check(t, byBot)
		})
	}
}

func TestSearchSeesMissingNeighbours(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dst := b.cleanCopy(t)
	bot, ids := b.someBot(t, 0)
	exec(t, dst, `DELETE FROM items WHERE id = ANY($1)`, ids)
	r := b.run(t, dst, false)
	require.Less(t, r.Search.RecallExact, 1.0)
	require.False(t, r.Search.OK())
	require.Contains(t, botIDs(r.Search.Worst), bot)
}

func TestBotsAgainstTarget(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dst := b.cleanCopy(t)

	// What the seeded v0 deployment must report: every bot with knowledge that has no rows or is
	// not SUCCEEDED, and the orphan rows of the ghost and of the deleted bot.
	want := map[string]bool{}
	for _, bot := range b.deploy.Bots {
		rows := len(b.botRows[bot.ID])
		if !bot.Knowledge.Empty() && (rows == 0 || bot.SyncStatus != botstore.StatusSucceeded) {
			want[bot.ID] = true
		}
	}
	r := b.run(t, dst, true)
	require.False(t, r.OK)
	require.Equal(t, want, problemSet(r.Bots.Problems))
	require.Len(t, r.Bots.Orphans, 2)
	require.EqualValues(t, b.deploy.Expect.OrphanRows, r.Bots.OrphanRows)
	require.Equal(t, 1, countGhosts(r.Bots.Orphans), "the ghost item's rows are flagged as such")
	require.Len(t, r.Bots.Malformed, 2)
	require.EqualValues(t, 1024, r.Bots.Vectors.Dimensions)

	t.Run("FlippedToFailed", func(t *testing.T) {
		bot := succeededWithRows(t, b, 0)
		_, err := b.dynamo.UpdateItem(b.ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(b.table),
			Key: map[string]types.AttributeValue{
				"PK": &types.AttributeValueMemberS{Value: bot.UserID},
				"SK": &types.AttributeValueMemberS{Value: botstore.BotSK(bot.UserID, bot.ID)},
			},
			UpdateExpression:          aws.String("SET SyncStatus = :f, SyncStatusReason = :r"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":f": &types.AttributeValueMemberS{Value: "FAILED"}, ":r": &types.AttributeValueMemberS{Value: "boom"}},
		})
		require.NoError(t, err)
		r := b.run(t, dst, true)
		require.Contains(t, problemOf(r.Bots.Problems, bot.ID), "SyncStatus FAILED: boom")

		exec(t, dst, `DELETE FROM items WHERE botid = $1`, bot.ID)
		r = b.run(t, dst, true)
		require.Contains(t, problemOf(r.Bots.Problems, bot.ID), "no rows in the target")
	})

	t.Run("JournalChunkCounts", func(t *testing.T) {
		bot := succeededWithRows(t, b, 1) // not the one FlippedToFailed changed
		require.NoError(t, journal.Migrate(b.ctx, dst))
		run, err := journal.StartRun(b.ctx, dst, "reembed", "t", nil)
		require.NoError(t, err)
		job := botjob.Job{RunID: run.ID, BotID: bot.ID, UserID: bot.UserID}
		require.NoError(t, botjob.Add(b.ctx, dst, []botjob.Job{job}))
		job.Status, job.Chunks = botjob.Done, int64(len(b.botRows[bot.ID])+1)
		require.NoError(t, botjob.Finish(b.ctx, dst, job))
		r := b.run(t, dst, true)
		require.Equal(t, run.ID, r.Bots.JournalRun)
		require.Contains(t, problemOf(r.Bots.Problems, bot.ID), "wrote")
	})

	t.Run("NullEmbedding", func(t *testing.T) {
		exec(t, dst, `INSERT INTO items (id, botid, content, source) VALUES ('01JNULLEMBED00000000000000', $1, 'x', 'y')`, b.deploy.Bots[0].ID)
		r := b.run(t, dst, true)
		require.EqualValues(t, 1, r.Bots.Vectors.Null)
		require.False(t, r.Bots.OK())
	})

	t.Run("DeleteOrphans", func(t *testing.T) {
		n, err := verify.DeleteOrphans(b.ctx, dst, r.Bots.Orphans)
		require.NoError(t, err)
		require.EqualValues(t, b.deploy.Expect.OrphanRows, n)
		r := b.run(t, dst, true)
		require.Empty(t, r.Bots.Orphans)
	})
}

// succeededWithRows returns the (skip+1)-th seeded bot that is SUCCEEDED and has rows.
func succeededWithRows(t *testing.T, b *testBundle, skip int) *botstore.Bot {
	for _, bot := range b.deploy.Bots {
		if bot.SyncStatus == botstore.StatusSucceeded && len(b.botRows[bot.ID]) > 0 {
			if skip == 0 {
				return bot
			}
			skip--
		}
	}
	t.Fatal("no succeeded bot with rows")
	return nil
}

func problemSet(ps []verify.BotProblem) map[string]bool {
	m := map[string]bool{}
	for _, p := range ps {
		m[p.BotID] = true
	}
	return m
}

func problemOf(ps []verify.BotProblem, id string) string {
	for _, p := range ps {
		if p.BotID == id {
			return p.Problem
		}
	}
	return ""
}

func countGhosts(os []verify.Orphan) (n int) {
	for _, o := range os {
		if o.Ghost {
			n++
		}
	}
	return n
}

func botIDs(rs []verify.BotRecall) []string {
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.BotID)
	}
	return ids
}

func exec(t *testing.T, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	tag, err := conn.Exec(context.Background(), sql, args...)
	require.NoError(t, err)
	require.Positive(t, tag.RowsAffected(), sql)
}

// TestOtherTablesByPrimaryKey compares a table that is not items: a composite text key, and
// rows missing, extra and changed.
func TestOtherTablesByPrimaryKey(t *testing.T) {
	t.Parallel()
	ctx := stacktest.Context(t)
	src := connect(t, stacktest.Database(t, "RAGMIGRATE_SOURCE_DB"))
	dst := connect(t, stacktest.Database(t, "RAGMIGRATE_TARGET_DB"))
	for _, c := range []*pgx.Conn{src, dst} {
		exec(t, c, `CREATE TABLE public.notes (tenant text, n int, body text, PRIMARY KEY (tenant, n));
			INSERT INTO notes SELECT 'tenant-' || (i % 7), i, 'note ' || i FROM generate_series(1, 3000) i`)
		require.NoError(t, vectorstore.SetupApp(ctx, c))
	}
	o := verify.Options{Source: src, Target: dst, Tables: []string{"public.notes"}}
	r, err := verify.Run(ctx, o)
	require.NoError(t, err)
	require.True(t, r.OK)
	require.EqualValues(t, 3000, r.Tables[0].TargetRows)
	require.Equal(t, []string{"tenant", "n"}, r.Tables[0].PrimaryKey)

	exec(t, dst, `DELETE FROM notes WHERE n = 10; UPDATE notes SET body = 'edited' WHERE n = 20; INSERT INTO notes VALUES ('tenant-x', 1, 'new')`)
	r, err = verify.Run(ctx, o)
	require.NoError(t, err)
	require.False(t, r.OK)
	tr := r.Tables[0]
	require.Equal(t, []string{"(tenant-3,10)"}, tr.Missing)
	require.Equal(t, []string{"(tenant-6,20)"}, tr.Changed)
	require.Equal(t, []string{"(tenant-x,1)"}, tr.Extra)

	_, err = verify.Run(ctx, verify.Options{Source: src, Target: dst, Tables: []string{"no_such_table"}})
	require.ErrorContains(t, err, "without a primary key")
}

// TestReembeddedTargetComparedByContent: a target the journal says was re-embedded holds new ids
// and new vectors; its bots are compared by their chunks, layout differences are expected, and
// a changed word is not.
func TestReembeddedTargetComparedByContent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dst := b.cleanCopy(t)
	// New ids, and vectors of "another model" (doubled: the same neighbours, other bytes).
	exec(t, dst, `UPDATE items SET id = upper(substr(md5(id), 1, 26)), embedding = embedding + embedding`)
	require.NoError(t, journal.Migrate(b.ctx, dst))
	_, err := journal.StartRun(b.ctx, dst, "reembed", "t", nil)
	require.NoError(t, err)

	r := b.run(t, dst, false)
	require.True(t, r.OK)
	require.Equal(t, verify.ExpectReembed, r.Data.Expect)
	require.Contains(t, r.Data.ExpectReason, "journal")
	require.Equal(t, r.Data.Bots, r.Data.EqualBots)
	require.Nil(t, r.Search, "ids differ by design: no search by id")
	require.NotNil(t, r.ContentSearch)
	require.Positive(t, r.ContentSearch.Bots)
	require.Equal(t, r.ContentSearch.Bots, r.ContentSearch.Compared)
	require.Zero(t, r.ContentSearch.SameVectors)
	require.Equal(t, 1.0, r.ContentSearch.SelfExact)
	require.Equal(t, 1.0, r.ContentSearch.RecallExact, "scaled vectors keep every neighbour")

	bot, _ := b.someBot(t, 0)
	first := `(SELECT id FROM items WHERE botid = $1 ORDER BY id LIMIT 1)`
	exec(t, dst, `UPDATE items SET content = replace(replace(content, ' ', E'\t'), '.', ' .') WHERE id = `+first, bot)
	r = b.run(t, dst, false)
	require.True(t, r.OK, "a layout difference is expected")
	require.Len(t, r.Data.Content, 1)
	require.True(t, r.Data.Content[0].Expected)
	require.Contains(t, r.Data.Content[0].Why, "laid out or split differently")

	exec(t, dst, `UPDATE items SET content = content || ' Changed by hand.' WHERE id = `+first, bot)
	r = b.run(t, dst, false)
	require.False(t, r.OK)
	c := r.Data.Content[0]
	require.Equal(t, bot, c.BotID)
	require.False(t, c.Expected)
	require.EqualValues(t, 1, c.OnlyInSource)
	require.EqualValues(t, 1, c.OnlyInTarget)
	require.Len(t, c.SourcesTextDiffers, 1)
	require.Contains(t, c.TargetExamples[0].Content, "Changed by hand.")
	require.Contains(t, c.Why, "give --table and --bucket", "without the sources the difference cannot be explained")

	// Told to expect a copy, verify compares rows exactly: every bot differs.
	r, err = verify.Run(b.ctx, verify.Options{Source: connect(t, b.srcURL), Target: dst, Expect: verify.ExpectCopy})
	require.NoError(t, err)
	require.False(t, r.OK)
	require.Len(t, r.Data.Mismatches, r.Data.Bots)
}

// TestReembedSameModelSearchMustAgree: re-embedded with the same model (the same vectors for
// the same chunks), search must agree by chunk; vectors moved to other chunks of a bot are
// caught although every chunk's text is right.
func TestReembedSameModelSearchMustAgree(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dst := b.cleanCopy(t)
	exec(t, dst, `UPDATE items SET id = upper(substr(md5(id), 1, 26))`)
	require.NoError(t, journal.Migrate(b.ctx, dst))
	_, err := journal.StartRun(b.ctx, dst, "reembed", "t", nil)
	require.NoError(t, err)
	run := func() *verify.Report {
		r, err := verify.Run(b.ctx, verify.Options{Source: connect(t, b.srcURL), Target: dst, Queries: 50, TopK: 3})
		require.NoError(t, err)
		var text bytes.Buffer
		require.NoError(t, r.WriteText(&text))
		t.Log("\n" + text.String())
		return r
	}
	r := run()
	require.True(t, r.OK)
	require.Equal(t, r.ContentSearch.Bots, r.ContentSearch.SameVectors)
	require.Equal(t, 1.0, r.ContentSearch.RecallExact)

	// Rotate the vectors among a bot's chunks, all but the chunk its search starts from.
	bot, _ := b.someBot(t, 0)
	var query string
	require.NoError(t, connect(t, b.srcURL).QueryRow(b.ctx, `SELECT content FROM items WHERE botid = $1 ORDER BY md5(id) LIMIT 1`, bot).Scan(&query))
	exec(t, dst, `WITH r AS (SELECT id, embedding, row_number() OVER (ORDER BY id) AS n, count(*) OVER () AS c
			FROM items WHERE botid = $1 AND content <> $2)
		UPDATE items i SET embedding = r2.embedding FROM r r1 JOIN r r2 ON r2.n = r1.n % r1.c + 1 WHERE i.id = r1.id`, bot, query)
	r = run()
	require.True(t, r.Data.OK(), "every chunk's text is right")
	require.False(t, r.OK)
	require.Equal(t, 1, r.ContentSearch.Failed)
	require.Equal(t, bot, r.ContentSearch.Worst[0].BotID)
	require.True(t, r.ContentSearch.Worst[0].Binding)
	require.Less(t, r.ContentSearch.Worst[0].Exact, 1.0)
}
