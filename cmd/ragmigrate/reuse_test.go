package main

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/dev/bedrocksim"
	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/plan"
	"github.com/ragmigrate/ragmigrate/internal/reembed"
	"github.com/ragmigrate/ragmigrate/internal/reembed/botjob"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// itemsSnapshot reads a database's items as what a re-embed decides: per (bot, content, source),
// the vectors' bytes as pgvector sends them (ids are new on every run, so they are left out).
func itemsSnapshot(t *testing.T, url string) map[string][]string {
	t.Helper()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT rtrim(botid), content, source, encode(vector_send(embedding), 'hex') FROM items`)
	require.NoError(t, err)
	out := map[string][]string{}
	var bot, content, source, vec string
	_, err = pgx.ForEachRow(rows, []any{&bot, &content, &source, &vec}, func() error {
		k := bot + "\x00" + content + "\x00" + source
		out[k] = append(out[k], vec)
		return nil
	})
	require.NoError(t, err)
	for _, v := range out {
		slices.Sort(v)
	}
	return out
}

func execSQL(t *testing.T, url, sql string, args ...any) int64 {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	tag, err := conn.Exec(t.Context(), sql, args...)
	require.NoError(t, err)
	return tag.RowsAffected()
}

func summaryOf(t *testing.T, r result) reembed.Summary {
	t.Helper()
	var s reembed.Summary
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &s), r.stderr)
	return s
}

// TestReembedReusesOldVectors is issue 16's first bar. The old cluster is what a plain re-embed
// wrote (so its chunks are today's), with two bots changed since: one bot's rows are gone, and
// half of another's chunks read otherwise. A re-embed with --reuse-from that cluster sends at
// least 10x fewer texts to the provider than the plain one, embeds exactly the chunks the old
// cluster does not hold (plus the sample that checks the old model), records reused and embedded
// per bot in the journal and the report as plan --reuse-from predicted them, and writes the rows
// a plain re-embed writes: the same content, source and vector bytes.
func TestReembedReusesOldVectors(t *testing.T) {
	t.Parallel()
	b := setupReembed(t, 16, bedrocksim.Knobs{})
	texts := func() int64 { return bedrockStats(t, b.bedrock+"/stats").Texts }

	start := time.Now()
	plainRun := b.reembed(t, "--json")
	plainTime := time.Since(start)
	require.Equal(t, exitFailure, plainRun.code, "the seed's unreadable bots fail: %s", plainRun.stderr)
	plainTexts := texts()
	old := b.target
	want := itemsSnapshot(t, old)
	require.NotEmpty(t, want)

	// Change two of the smallest bots in the old cluster.
	ids := slices.Collect(maps.Keys(b.wantRows))
	slices.SortFunc(ids, func(x, y string) int { return int(b.wantRows[x] - b.wantRows[y]) })
	gone, edited := ids[0], ids[1]
	require.Positive(t, execSQL(t, old, `DELETE FROM items WHERE botid = $1`, gone))
	changed := execSQL(t, old, `UPDATE items SET content = content || ' (edited since)' WHERE id IN
		(SELECT id FROM items WHERE botid = $1 ORDER BY id LIMIT (SELECT count(*) / 2 FROM items WHERE botid = $1))`, edited)
	require.Positive(t, changed)

	// The dry run, with the run's settings, counts what the run will reuse.
	readPlan := func(r result) (*plan.Plan, map[string]plan.BotPlan) {
		t.Helper()
		require.Zero(t, r.code, r.stderr)
		var p plan.Plan
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &p))
		require.NotNil(t, p.Reuse)
		require.Empty(t, p.Reuse.Refused)
		require.Positive(t, p.Reuse.SavedUSD)
		require.Equal(t, "reembed --reuse-from", p.Recommendation)
		per := map[string]plan.BotPlan{}
		for _, bp := range p.PerBot {
			per[bp.BotID] = bp
		}
		return &p, per
	}
	p, planned := readPlan(b.reembed(t, "--dry-run", "--json", "--reuse-from", old))
	// plan itself assumes the run's default --truncate NONE, under which a chunk over Cohere's
	// token window is sent (and rejected), not reused: it counts the same but for those.
	_, byPlan := readPlan(ragmigrate(t, b.env, "plan", "--json", "--table", b.table, "--bucket", b.bucket, "--allow-private-urls", "--reuse-from", old))
	var fewer bool
	for id, bp := range planned {
		if bp.LongChunks == 0 {
			require.Equal(t, bp.Reused, byPlan[id].Reused, id)
		} else {
			require.LessOrEqual(t, byPlan[id].Reused, bp.Reused, id)
			fewer = fewer || byPlan[id].Reused < bp.Reused
		}
	}
	require.True(t, fewer, "the seed has bots with CJK chunks over Cohere's window")

	newTarget := stacktest.Database(t, "RAGMIGRATE_TARGET_DB")
	before := texts()
	start = time.Now()
	reuseRun := b.reembed(t, "--json", "--target-db", newTarget, "--reuse-from", old)
	reuseTime := time.Since(start)
	require.Equal(t, exitFailure, reuseRun.code, reuseRun.stderr)
	reuseTexts := texts() - before
	sum := summaryOf(t, reuseRun)
	t.Logf("texts sent: plain %d, with reuse %d (%.1fx fewer); wall time: plain %s, with reuse %s",
		plainTexts, reuseTexts, float64(plainTexts)/float64(reuseTexts), plainTime.Round(time.Millisecond), reuseTime.Round(time.Millisecond))

	require.NotNil(t, sum.Reuse)
	require.Empty(t, sum.Reuse.Refused)
	require.Equal(t, reembed.ReuseSample, sum.Reuse.Sampled)
	// The report counts each text embedded once; the contract server counts what reached it,
	// which a transport retry under load may send twice.
	require.Equal(t, sum.Embedded+int64(sum.Reuse.Sampled), sum.Texts, "only the chunks not reused, and the sample, are embedded")
	require.GreaterOrEqual(t, reuseTexts, sum.Texts)
	require.GreaterOrEqual(t, plainTexts, 10*reuseTexts, "texts sent drop at least 10x")
	require.Positive(t, sum.SavedUSD)

	done := 0
	for _, o := range sum.Bots {
		if o.Status != botjob.Done || o.Chunks == 0 {
			continue
		}
		done++
		require.Equal(t, o.Chunks, o.Reused+o.Embedded, o.BotID)
		bp := planned[o.BotID]
		require.Equal(t, bp.Reused, o.Reused, "plan --reuse-from predicts bot %s's reused chunks", o.BotID)
		require.Equal(t, bp.Embedded, o.Embedded, o.BotID)
		switch o.BotID {
		case gone:
			require.Zero(t, o.Reused, "the bot the old cluster lost is embedded whole")
		case edited:
			require.Positive(t, o.Reused)
			require.Positive(t, o.Embedded, "the edited chunks are embedded")
		default:
			require.Equal(t, o.Chunks, o.Reused, "bot %s is unchanged: nothing of it is embedded", o.BotID)
		}
	}
	require.Equal(t, len(b.wantRows), done)
	require.Equal(t, p.Reuse.Reused, sum.Reused)

	// The journal holds the same per bot (status reads it).
	conn, err := pgx.Connect(t.Context(), newTarget)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	jobs, err := botjob.List(t.Context(), conn, sum.RunID)
	require.NoError(t, err)
	for _, j := range jobs {
		for _, o := range sum.Bots {
			if o.BotID == j.BotID {
				require.Equal(t, o.Reused, j.Reused)
				require.Equal(t, o.ReusedTokens, j.ReusedTokens)
			}
		}
	}

	// Every row is the one a plain re-embed writes, down to the vector bytes.
	require.Equal(t, want, itemsSnapshot(t, newTarget))

	var text reembed.Summary = sum
	var sb strings.Builder
	require.NoError(t, text.WriteText(&sb))
	require.Contains(t, sb.String(), "chunks reused")
}

// TestReembedReuseRefusesOtherVectors is issue 16's second bar: old vectors that are not the
// run's model's — scaled otherwise, or another model's — are caught by the sample check before
// any is reused, the run says why, embeds every chunk, and its rows are a plain re-embed's.
func TestReembedReuseRefusesOtherVectors(t *testing.T) {
	t.Parallel()
	b := setupReembed(t, 16, bedrocksim.Knobs{})
	texts := func() int64 { return bedrockStats(t, b.bedrock+"/stats").Texts }
	r := b.reembed(t, "--json")
	require.Equal(t, exitFailure, r.code, r.stderr)
	plainTexts := summaryOf(t, r).Texts
	old := b.target
	want := itemsSnapshot(t, old)

	// An old cluster that cannot be reached stops the run before anything is read or spent.
	before := texts()
	unreachable := b.reembed(t, "--json", "--target-db", stacktest.Database(t, "RAGMIGRATE_TARGET_DB"), "--reuse-from", "postgres://old:s3cret@127.0.0.1:1/app?connect_timeout=5")
	require.Equal(t, exitFailure, unreachable.code, unreachable.stderr)
	require.Contains(t, unreachable.stderr, "--reuse-from: connect to old@127.0.0.1:1/app")
	require.NotContains(t, unreachable.stderr, "s3cret")
	require.Equal(t, before, texts())

	// A database without items holds nothing to reuse: the run says so and embeds everything.
	empty := stacktest.Database(t, "RAGMIGRATE_SOURCE_DB")
	r = b.reembed(t, "--json", "--target-db", stacktest.Database(t, "RAGMIGRATE_TARGET_DB"), "--reuse-from", empty)
	require.Equal(t, exitFailure, r.code, r.stderr)
	sum := summaryOf(t, r)
	require.Contains(t, sum.Reuse.Refused, "has no items table")
	require.Equal(t, plainTexts, sum.Texts)

	for _, tt := range []struct {
		name   string
		change func(t *testing.T)
		says   string
	}{
		{"Scaled", func(t *testing.T) {
			// The same directions at 1.5 times the length: cosine alone would pass them.
			execSQL(t, old, `UPDATE items SET embedding = (SELECT array_agg(x * 1.5 ORDER BY i) FROM unnest(embedding::real[]) WITH ORDINALITY AS u(x, i))::vector`)
		}, "length off by 50.0%"},
		{"OtherModel", func(t *testing.T) {
			// Titan v2's vectors of the same texts, at the same 1024 dimensions.
			conn, err := pgx.Connect(t.Context(), old)
			require.NoError(t, err)
			defer conn.Close(t.Context())
			require.NoError(t, vectorstore.RegisterVector(t.Context(), conn))
			rows, err := conn.Query(t.Context(), `SELECT id, content FROM items`)
			require.NoError(t, err)
			other := map[string][]float32{}
			var id, content string
			_, err = pgx.ForEachRow(rows, []any{&id, &content}, func() error {
				other[id] = bedrocksim.Vector("amazon.titan-embed-text-v2:0", content, 1024)
				return nil
			})
			require.NoError(t, err)
			for id, v := range other {
				_, err := conn.Exec(t.Context(), `UPDATE items SET embedding = $2 WHERE id = $1`, id, pgvector.NewVector(v))
				require.NoError(t, err)
			}
		}, "cosine"},
	} {
		// One after the other: each changes the old cluster.
		t.Run(tt.name, func(t *testing.T) {
			tt.change(t)
			target := stacktest.Database(t, "RAGMIGRATE_TARGET_DB")
			before := texts()
			r := b.reembed(t, "--json", "--target-db", target, "--reuse-from", old)
			require.Equal(t, exitFailure, r.code, r.stderr)
			sum := summaryOf(t, r)
			require.NotNil(t, sum.Reuse)
			require.Contains(t, sum.Reuse.Refused, tt.says)
			require.Contains(t, r.stderr, "reuse refused: every chunk is embedded")
			require.Zero(t, sum.Reused)
			require.Equal(t, plainTexts+int64(sum.Reuse.Sampled), sum.Texts, "every chunk is embedded, after the sample")
			require.GreaterOrEqual(t, texts()-before, sum.Texts)
			require.Equal(t, want, itemsSnapshot(t, target), "the rows are a plain re-embed's")
		})
	}
}

// TestReuseFlagsValidated: the reuse flags are checked before anything is read, and a bad URL is
// refused without being printed (it may hold a password).
func TestReuseFlagsValidated(t *testing.T) {
	t.Parallel()
	env := stackEnv(t)
	scope := []string{"--table", "rmtest-validation-none", "--bucket", "rmtest-validation-none"}
	for _, tt := range []struct {
		says string
		args []string
	}{
		{"--reuse-model", []string{"plan", "--reuse-model", "cohere.embed-multilingual-v3"}},
		{"--reuse-model", []string{"reembed", "--dry-run", "--reuse-from", "source-db", "--source-db", "postgres://x@127.0.0.1:1/x", "--reuse-model", "bogus"}},
		{"--reuse-from source-db", []string{"reembed", "--dry-run", "--reuse-from", "source-db", "--source-db", ""}},
		{"--reuse-from", []string{"plan", "--reuse-from", "postgres://u:s3cret@host:notaport/db"}},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			r := ragmigrate(t, append(env, "RAGMIGRATE_SOURCE_DB="), append(tt.args, scope...)...)
			require.Equal(t, exitUsage, r.code, r.stderr)
			require.Contains(t, r.stderr, tt.says)
			require.NotContains(t, r.stderr, "s3cret")
		})
	}
}
