package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/dev/stacktest"
	"github.com/ragmigrate/ragmigrate/internal/pgcopy"
	"github.com/ragmigrate/ragmigrate/internal/plan"
)

// Bots of the merge tests: setupCopy's A–D, and E added to the source.
const (
	botA = "BOT0000000000000000000000A" // SUCCEEDED, no rows in the target: copied
	botB = "BOT0000000000000000000000B" // re-embedded by the app: rows in the target, skipped
	botC = "BOT0000000000000000000000C" // QUEUED: skipped
	botD = "BOT0000000000000000000000D" // deleted since (no item): not copied
	botE = "BOT0000000000000000000000E" // SUCCEEDED: copied
	botG = "BOT0000000000000000000000G" // created in v1: the app's only, not in the source
)

type mergeBundle struct {
	*copyBundle
	table, bucket string
	dynamo        *dynamodb.Client
}

// setupMerge is a source with bots A–E, a bot table where A, B, E are SUCCEEDED, C is QUEUED, D
// was deleted and G is new, and a serving v1 target where the app re-embedded B (new ids, new
// vectors) and embedded G.
func setupMerge(t *testing.T) *mergeBundle {
	t.Helper()
	ctx := stacktest.Context(t)
	b := &mergeBundle{copyBundle: setupCopy(t, 300, "", nil)}
	src, dst := connectTest(t, b.src), connectTest(t, b.dst)
	tag, err := src.Exec(ctx, `INSERT INTO items SELECT 'E' || substr(id, 2), $1, content, source, embedding FROM items
		WHERE botid = $2 ORDER BY id LIMIT 20`, botE, botC)
	require.NoError(t, err)
	b.rows += int(tag.RowsAffected())
	_, err = dst.Exec(ctx, `INSERT INTO items
		SELECT 'R' || lpad(i::text, 25, '0'), $1, 're-embedded chunk ' || i, 's3://bucket/user/b/documents/new.pdf',
			array_fill(i::real / 10, ARRAY[1024])::vector FROM generate_series(1, 5) i`, botB)
	require.NoError(t, err)
	_, err = dst.Exec(ctx, `INSERT INTO items
		SELECT 'G' || lpad(i::text, 25, '0'), $1, 'v1 bot chunk ' || i, 'https://example.com/', array_fill(-i::real, ARRAY[1024])::vector
		FROM generate_series(1, 3) i`, botG)
	require.NoError(t, err)

	clients := stacktest.AWS(t)
	b.table = stacktest.BotTable(t, clients.DynamoDB)
	b.bucket = stacktest.Bucket(t, clients.S3)
	_, err = clients.S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b.bucket)})
	require.NoError(t, err)
	b.dynamo = clients.DynamoDB
	for id, status := range map[string]botstore.SyncStatus{botA: botstore.StatusSucceeded, botB: botstore.StatusSucceeded,
		botC: botstore.StatusQueued, botE: botstore.StatusSucceeded, botG: botstore.StatusSucceeded} {
		b.putBot(t, id, status, true)
	}
	return b
}

// putBot writes bot id's item, with one file of knowledge or none.
func (b *mergeBundle) putBot(t *testing.T, id string, status botstore.SyncStatus, knowledge bool) {
	t.Helper()
	files := []string{}
	if knowledge {
		files = []string{"doc.pdf"}
	}
	bot := &botstore.Bot{UserID: "user-" + id[len(id)-1:], ID: id, Title: "Bot " + id[len(id)-1:], Instruction: "x",
		EmbeddingParams: botstore.EmbeddingParams{ChunkSize: 1000, ChunkOverlap: 200}, GenerationParams: botstore.DefaultGenerationParams(),
		MaxResults: 20, SyncStatus: status,
		Knowledge: botstore.Knowledge{SourceURLs: []string{}, SitemapURLs: []string{}, Filenames: files}}
	_, err := b.dynamo.PutItem(stacktest.Context(t), &dynamodb.PutItemInput{TableName: aws.String(b.table), Item: bot.Item()})
	require.NoError(t, err)
}

func (b *mergeBundle) merge(t *testing.T, extra ...string) (result, pgcopy.Result) {
	t.Helper()
	r := ragmigrate(t, b.env, b.args(append([]string{"--merge", "--table", b.table}, extra...)...)...)
	var rep pgcopy.Result
	if r.code == 0 {
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
		require.NotNil(t, rep.Merge, r.stdout)
	}
	return r, rep
}

func (b *mergeBundle) verify(t *testing.T, extra ...string) result {
	t.Helper()
	return ragmigrate(t, b.env, append([]string{"verify", "--source-db", b.src, "--target-db", b.dst, "--table", b.table, "--queries", "5"}, extra...)...)
}

// squash folds the report's column padding into single spaces.
func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

func outcomes(rep pgcopy.Result) map[string]string {
	out := map[string]string{}
	for _, bot := range rep.Merge.Bots {
		out[bot.BotID] = bot.Outcome
	}
	return out
}

// botRows lists a bot's rows as rowDigests does; with xmin, the transaction that wrote each row,
// so that a row deleted and written again byte for byte still counts as touched.
func botRows(t *testing.T, conn *pgx.Conn, withXmin bool, bots ...string) []string {
	t.Helper()
	x := "''"
	if withXmin {
		x = "xmin::text"
	}
	rows, err := conn.Query(stacktest.Context(t), `SELECT id || ' ' || botid || ' ' || coalesce(md5(content), 'NULL') || ' ' ||
		coalesce(md5(source), 'NULL') || ' ' || md5(vector_send(embedding)) || ' ' || `+x+` FROM items WHERE botid = ANY($1) ORDER BY id`, bots)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return out
}

// TestCopyMergeIntoServingTarget is the bar of issue 15's third item: copy --merge into a target
// where the app re-embedded some bots (B, and G which v0 never had), one bot is QUEUED (C) and one
// was deleted since (D). The app's bots' rows are byte-identical to before — the same rows, never
// rewritten (xmin) — the copied bots' rows equal the source's, C and D have none, and verify says
// the merged target is right. A second merge copies nothing twice; --include-deleted then copies
// D. Plain verify --expect copy would call the app's bots mismatches: the journal's merge record
// is what tells them apart.
func TestCopyMergeIntoServingTarget(t *testing.T) {
	t.Parallel()
	b := setupMerge(t)
	src, dst := connectTest(t, b.src), connectTest(t, b.dst)
	appBefore := botRows(t, dst, true, botB, botG)
	require.Len(t, appBefore, 8)

	// The plan says what each mode would do, bot by bot, by the rule the merge applies.
	planArgs := []string{"plan", "--table", b.table, "--bucket", b.bucket, "--source-db", b.src, "--target-db", b.dst}
	pj := ragmigrate(t, b.env, append(planArgs, "--json")...)
	require.Zero(t, pj.code, pj.stderr)
	var p plan.Plan
	require.NoError(t, json.Unmarshal([]byte(pj.stdout), &p))
	require.NotNil(t, p.CopyModes, pj.stdout)
	modes := map[string]string{}
	for _, bot := range p.CopyModes.Bots {
		modes[bot.BotID] = bot.Copy + "/" + bot.Merge
	}
	require.Equal(t, map[string]string{botA: "copy/copy", botB: "overwrite/skip", botC: "copy/skip", botD: "copy/not_copied",
		botE: "copy/copy", botG: "delete/keep"}, modes)
	pt := ragmigrate(t, b.env, planArgs...)
	require.Zero(t, pt.code, pt.stderr)
	out := squash(pt.stdout)
	require.Contains(t, out, "copy modes the target's items holds 8 rows: copy refuses it")
	require.Contains(t, out, fmt.Sprintf("copy --empty-target copies all 5 bots of the source (%d rows), 1 of them over the target's rows (their 5 rows deleted), and deletes 1 bots only the target has (3 rows)", b.rows))
	require.Contains(t, out, "copy --merge copies 2 bots")
	require.Contains(t, out, "skips 2 (rows in the target, or QUEUED/RUNNING), does not copy 1 deleted bots")
	require.Contains(t, out, "bot "+botC+" source")
	require.Contains(t, out, "merge: skip (SyncStatus QUEUED: the app is embedding it)")

	r, rep := b.merge(t)
	require.Zero(t, r.code, r.stderr)
	require.Equal(t, map[string]string{botA: pgcopy.BotCopied, botB: pgcopy.BotSkipped, botC: pgcopy.BotSkipped,
		botD: pgcopy.BotDeleted, botE: pgcopy.BotCopied}, outcomes(rep))
	require.Equal(t, 2, rep.Merge.Copied)
	require.Equal(t, 2, rep.Merge.Skipped)
	require.Equal(t, 1, rep.Merge.Deleted)
	for _, bot := range rep.Merge.Bots {
		switch bot.BotID {
		case botB:
			require.Equal(t, pgcopy.ReasonTargetRows, bot.Reason)
		case botC:
			require.Equal(t, "SyncStatus QUEUED: the app is embedding it", bot.Reason)
		case botD:
			require.Equal(t, pgcopy.ReasonDeleted, bot.Reason)
		}
	}
	require.Equal(t, appBefore, botRows(t, dst, true, botB, botG), "the app's rows untouched")
	require.Equal(t, botRows(t, src, false, botA, botE), botRows(t, dst, false, botA, botE), "copied bots equal the source")
	require.Zero(t, queryInt(t, dst, `SELECT count(*) FROM items WHERE botid IN ($1, $2)`, botC, botD))
	require.Equal(t, []string{"idx_items_botid", "idx_items_embedding", "items_pkey"},
		func() []string {
			rows, err := dst.Query(stacktest.Context(t), `SELECT indexname FROM pg_indexes WHERE tablename = 'items' ORDER BY 1`)
			require.NoError(t, err)
			names, err := pgx.CollectRows(rows, pgx.RowTo[string])
			require.NoError(t, err)
			return names
		}(), "the app's indexes stay")
	require.EqualValues(t, 2, queryInt(t, dst, `SELECT count(*) FROM ragmigrate.copy_bots WHERE outcome = 'copied'`), "journaled")

	text := ragmigrate(t, b.env, "status", "--target-db", b.dst)
	require.Zero(t, text.code, text.stderr)
	require.Contains(t, text.stdout, "merge: 2/2 bots copied, 2 skipped, 1 deleted not copied")

	v := b.verify(t)
	require.Zero(t, v.code, v.stdout+v.stderr)
	v.stdout = squash(v.stdout)
	require.Contains(t, v.stdout, "expect merge: the target's journal: its newest run")
	require.Contains(t, v.stdout, "2 bots the merge copied compared, 2/2 equal · 4 bots not compared (the app's, or deleted)")
	require.Contains(t, v.stdout, "bot "+botB+" left to the app (skipped: "+pgcopy.ReasonTargetRows+")")
	require.Contains(t, v.stdout, "bot "+botG+" left to the app (not_in_merge")
	require.Contains(t, v.stdout, "bot "+botD+" not copied (deleted: "+pgcopy.ReasonDeleted+")")
	asCopy := b.verify(t, "--expect", "copy")
	require.Equal(t, exitMismatch, asCopy.code, "without the merge record the app's bots differ: %s", asCopy.stdout)

	// Again: nothing is copied twice. A and E are the earlier run's, and verify still compares them.
	r, rep = b.merge(t)
	require.Zero(t, r.code, r.stderr)
	require.Equal(t, map[string]string{botA: pgcopy.BotCopiedBefore, botB: pgcopy.BotSkipped, botC: pgcopy.BotSkipped,
		botD: pgcopy.BotDeleted, botE: pgcopy.BotCopiedBefore}, outcomes(rep))
	require.Equal(t, queryInt(t, dst, `SELECT count(*) FROM items`), queryInt(t, dst, `SELECT count(DISTINCT id) FROM items`))
	require.Equal(t, botRows(t, src, false, botA, botE), botRows(t, dst, false, botA, botE))
	v = b.verify(t)
	require.Zero(t, v.code, v.stdout+v.stderr)
	require.Contains(t, v.stdout, "2 bots the merge copied compared, 2/2 equal")

	// --include-deleted copies the deleted bot's rows, and only those.
	r, rep = b.merge(t, "--include-deleted")
	require.Zero(t, r.code, r.stderr)
	require.Equal(t, pgcopy.BotCopied, outcomes(rep)[botD])
	require.Equal(t, 1, rep.Merge.Copied)
	require.Equal(t, botRows(t, src, false, botD), botRows(t, dst, false, botD))
	require.Equal(t, appBefore, botRows(t, dst, true, botB, botG), "the app's rows untouched")
	v = b.verify(t)
	require.Zero(t, v.code, v.stdout+v.stderr)

	// The app re-embeds A after the merge (new ids): A is the app's now, not a mismatch. A copied
	// bot that lost a row is one.
	_, err := dst.Exec(stacktest.Context(t), `DELETE FROM items WHERE botid = $1`, botA)
	require.NoError(t, err)
	_, err = dst.Exec(stacktest.Context(t), `INSERT INTO items SELECT 'N' || lpad(i::text, 25, '0'), $1, 'new ' || i, 's3://b/new.pdf',
		array_fill(i::real, ARRAY[1024])::vector FROM generate_series(1, 2) i`, botA)
	require.NoError(t, err)
	v = b.verify(t)
	require.Zero(t, v.code, v.stdout+v.stderr)
	require.Contains(t, squash(v.stdout), "bot "+botA+" left to the app (replaced: copied by the merge, re-embedded by the app since")
	// A user removes E's sources: the app's task deletes its rows and writes none.
	b.putBot(t, botE, botstore.StatusSucceeded, false)
	_, err = dst.Exec(stacktest.Context(t), `DELETE FROM items WHERE botid = $1`, botE)
	require.NoError(t, err)
	v = b.verify(t)
	require.Zero(t, v.code, v.stdout+v.stderr)
	require.Contains(t, squash(v.stdout), "bot "+botE+" left to the app (replaced: copied by the merge, its knowledge removed since")
	_, err = dst.Exec(stacktest.Context(t), `DELETE FROM items WHERE id = (SELECT min(id) FROM items WHERE botid = $1)`, botD)
	require.NoError(t, err)
	v = b.verify(t)
	require.Equal(t, exitMismatch, v.code, v.stdout+v.stderr)
	d := queryInt(t, src, `SELECT count(*) FROM items WHERE botid = $1`, botD)
	require.Contains(t, squash(v.stdout), fmt.Sprintf("bot %s %d rows in source, %d in target", botD, d, d-1))
}

// TestCopyMergeRefusals: --merge with --empty-target (which would delete the rows a merge keeps),
// --resume or --create-missing, or without --table, and --include-deleted without --merge, are
// usage errors naming the reason, before anything is read.
func TestCopyMergeRefusals(t *testing.T) {
	t.Parallel()
	base := []string{"copy", "--yes", "--source-db", "postgres://nowhere/x", "--target-db", "postgres://nowhere/y"}
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"--merge", "--table", "t", "--empty-target"}, "--merge and --empty-target contradict each other: --empty-target deletes the target's rows"},
		{[]string{"--merge", "--table", "t", "--truncate"}, "--merge and --empty-target contradict each other"},
		{[]string{"--merge", "--table", "t", "--resume"}, "--merge needs no --resume"},
		{[]string{"--merge", "--table", "t", "--create-missing"}, "--merge and --create-missing contradict each other"},
		{[]string{"--merge"}, "--merge needs --table"},
		{[]string{"--include-deleted"}, "--include-deleted needs --merge"},
	} {
		r := ragmigrate(t, nil, append(base, c.args...)...)
		require.Equal(t, exitUsage, r.code, "%v: %s", c.args, r.stderr)
		require.Contains(t, r.stderr, c.says, c.args)
	}
}

// TestCopyMergeRace: a bot the app writes while the merge runs ends with the app's rows only. The
// app's embedding task (DELETE then INSERT of bot A, one transaction) is open when the merge
// starts, so A has no committed rows when the merge decides to copy it; the merge's table lock
// waits for that transaction, and once it commits the merge sees A's rows and leaves them. A
// check-then-insert without the lock would have copied A beside the app's rows. The merge is
// then killed (-9) while it waits for the lock a second time, and run again: it completes.
func TestCopyMergeRace(t *testing.T) {
	t.Parallel()
	b := setupMerge(t)
	ctx := stacktest.Context(t)
	app := connectTest(t, b.dst)
	watch := connectTest(t, b.dst)
	appTx, err := app.Begin(ctx)
	require.NoError(t, err)
	_, err = appTx.Exec(ctx, `DELETE FROM items WHERE botid = $1`, botA)
	require.NoError(t, err)
	_, err = appTx.Exec(ctx, `INSERT INTO items SELECT 'A' || lpad(i::text, 25, '0'), $1, 'app chunk ' || i, 's3://bucket/a.pdf', array_fill(i::real, ARRAY[1024])::vector
		FROM generate_series(1, 4) i`, botA)
	require.NoError(t, err)
	waiting := func() bool {
		return queryInt(t, watch, `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ragmigrate/copy'
			AND datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'LOCK TABLE%'`) > 0
	}

	cmd, stderr := b.start(t, "--merge", "--table", b.table)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// The merge either waits for the app (the lock) or — were it to check and insert without
	// waiting — finishes first; the rows of A below tell which.
	var waitErr error
	var done bool
	require.Eventually(t, func() bool {
		select {
		case waitErr = <-exited:
			done = true
			return true
		default:
			return waiting()
		}
	}, 60*time.Second, 20*time.Millisecond, "the merge neither waits nor ends: %s", stderr)
	require.NoError(t, appTx.Commit(ctx))
	if !done {
		waitErr = <-exited
	}
	require.NoError(t, waitErr, stderr.String())
	dst := connectTest(t, b.dst)
	require.EqualValues(t, 4, queryInt(t, dst, `SELECT count(*) FROM items WHERE botid = $1`, botA), "the app's rows only")
	require.Zero(t, queryInt(t, dst, `SELECT count(*) FROM items WHERE botid = $1 AND content NOT LIKE 'app chunk %'`, botA))
	var reason string
	require.NoError(t, dst.QueryRow(ctx, `SELECT reason FROM ragmigrate.copy_bots WHERE botid = $1 ORDER BY run_id DESC LIMIT 1`, botA).Scan(&reason))
	require.Equal(t, pgcopy.ReasonRowsAppeared, reason)
	require.Equal(t, botRows(t, connectTest(t, b.src), false, botE), botRows(t, dst, false, botE))

	// kill -9 while a merge waits for the lock, then again: the bot it was on was never half-copied.
	appTx, err = app.Begin(ctx)
	require.NoError(t, err)
	_, err = appTx.Exec(ctx, `DELETE FROM items WHERE botid = $1`, botG)
	require.NoError(t, err)
	cmd, stderr = b.start(t, "--merge", "--table", b.table, "--include-deleted")
	require.Eventually(t, waiting, 60*time.Second, 20*time.Millisecond, "the merge waits for the app's transaction: %s", stderr)
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	require.NoError(t, appTx.Rollback(ctx))
	r, rep := b.merge(t, "--include-deleted")
	require.Zero(t, r.code, r.stderr)
	require.Equal(t, pgcopy.BotCopied, outcomes(rep)[botD])
	require.Equal(t, botRows(t, connectTest(t, b.src), false, botD), botRows(t, dst, false, botD))
	require.Equal(t, queryInt(t, dst, `SELECT count(*) FROM items`), queryInt(t, dst, `SELECT count(DISTINCT id) FROM items`))
	v := b.verify(t)
	require.Zero(t, v.code, v.stdout+v.stderr)
	require.Contains(t, squash(v.stdout), "bot "+botA+" left to the app (skipped: "+pgcopy.ReasonTargetRows)
	require.Contains(t, squash(v.stdout), "2 bots the merge copied compared, 2/2 equal", "D, copied after the kill, and E")
}

// TestCopyMergeInterruptedDuringCommit sends SIGINT while a bot's transaction is committing: the
// report, the journal and the target must agree on that bot. A deferred trigger holds bot A's
// COMMIT on an advisory lock the test keeps until the merge has seen the interrupt, and ignores a
// cancel, as a server does once a commit is past its point of no return (or when the cancel comes
// too late). Before, the interrupt abandoned the COMMIT on the client side while the server went
// on and committed it, so the report said A was "not copied (stopped)" while its rows and the
// journal's "copied" were in the target.
func TestCopyMergeInterruptedDuringCommit(t *testing.T) {
	t.Parallel()
	b := setupMerge(t)
	ctx := stacktest.Context(t)
	dst := connectTest(t, b.dst)
	_, err := dst.Exec(ctx, `CREATE FUNCTION hold_commit() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			LOOP
				BEGIN PERFORM pg_advisory_xact_lock_shared(4242); EXIT;
				EXCEPTION WHEN query_canceled THEN NULL;
				END;
			END LOOP;
			RETURN NULL;
		END $$;
		CREATE CONSTRAINT TRIGGER hold_commit AFTER INSERT ON items DEFERRABLE INITIALLY DEFERRED
		FOR EACH ROW WHEN (NEW.botid = '`+botA+`') EXECUTE FUNCTION hold_commit()`)
	require.NoError(t, err)
	holder := connectTest(t, b.dst)
	_, err = holder.Exec(ctx, `SELECT pg_advisory_lock(4242)`)
	require.NoError(t, err)

	args := b.args("--merge", "--table", b.table)
	cmd := exec.Command(binary, args...)
	cmd.Env = testEnv(b.env)
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
		requireNoRace(t, args, stderr.String())
	})
	require.Eventually(t, func() bool {
		return queryInt(t, dst, `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ragmigrate/copy'
			AND datname = current_database() AND wait_event = 'advisory'`) > 0
	}, 60*time.Second, 20*time.Millisecond, "the merge never reached bot A's commit: %s", stderr)
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	// The lock is let go once the merge has ended or has had ample time to see the signal; the
	// assertions below hold whichever comes first.
	var waitErr error
	done := false
	select {
	case waitErr = <-exited:
		done = true
	case <-time.After(3 * time.Second):
	}
	_, err = holder.Exec(ctx, `SELECT pg_advisory_unlock(4242)`)
	require.NoError(t, err)
	if !done {
		waitErr = <-exited
	}
	// A session the merge left behind may still be finishing the COMMIT it sent.
	require.Eventually(t, func() bool {
		return queryInt(t, dst, `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ragmigrate/copy'
			AND datname = current_database()`) == 0
	}, 60*time.Second, 20*time.Millisecond)
	var exitErr *exec.ExitError
	require.ErrorAs(t, waitErr, &exitErr, stderr.String())
	require.Equal(t, 130, exitErr.ExitCode(), stderr.String())

	var rep pgcopy.Result
	require.NoError(t, json.Unmarshal([]byte(stdout.String()), &rep), stdout.String())
	require.NotNil(t, rep.Merge, stdout.String())
	rows := queryInt(t, dst, `SELECT count(*) FROM items WHERE botid = $1`, botA)
	var journaled string
	require.NoError(t, dst.QueryRow(ctx, `SELECT outcome FROM ragmigrate.copy_bots WHERE botid = $1 ORDER BY run_id DESC LIMIT 1`, botA).Scan(&journaled))
	reported := outcomes(rep)[botA]
	require.Equal(t, journaled, reported, "the report and the journal disagree on bot A (%d rows in the target)", rows)
	require.Equal(t, rows > 0, reported == pgcopy.BotCopied, "bot A has %d rows in the target, reported %q", rows, reported)
}
