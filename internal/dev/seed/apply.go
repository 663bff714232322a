package seed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/jackc/pgx/v5"
	"github.com/oklog/ulid/v2"

	"github.com/ragmigrate/ragmigrate/internal/botstore"
	"github.com/ragmigrate/ragmigrate/internal/dev/bedrocksim"
	"github.com/ragmigrate/ragmigrate/internal/dev/corpus"
	"github.com/ragmigrate/ragmigrate/internal/docstore"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// Targets are the servers a deployment is written to.
type Targets struct {
	DynamoDB *dynamodb.Client
	Table    string
	Docs     *docstore.Store
	// Source is the old (v0) cluster: it gets items with the plan's rows.
	Source *pgx.Conn
	// Target, if set, is the new (v1) cluster: it gets the empty items table v1's
	// 'cdk deploy' creates, as a fresh v1 deployment has.
	Target *pgx.Conn
	Logger *slog.Logger
}

// Apply writes d, replacing what the table, the bucket and the clusters' items held before.
func Apply(ctx context.Context, d *Deployment, t Targets) error {
	log := t.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	if err := resetTable(ctx, t.DynamoDB, t.Table); err != nil {
		return err
	}
	if err := batchWrite(ctx, t.DynamoDB, t.Table, d.Items); err != nil {
		return err
	}
	log.InfoContext(ctx, "table seeded", slog.String("table", t.Table), slog.Int("items", len(d.Items)))

	if err := t.Docs.EnsureBucket(ctx); err != nil {
		return err
	}
	if err := t.Docs.DeletePrefix(ctx, ""); err != nil {
		return err
	}
	var bytes int
	for _, f := range d.Files {
		if err := t.Docs.Put(ctx, f.Key, f.Body, f.ContentType); err != nil {
			return err
		}
		bytes += len(f.Body)
	}
	log.InfoContext(ctx, "bucket seeded", slog.String("bucket", t.Docs.Bucket()), slog.Int("files", len(d.Files)), slog.Int("bytes", bytes))

	if err := vectorstore.SetupApp(ctx, t.Source); err != nil {
		return fmt.Errorf("source cluster: %w", err)
	}
	if _, err := vectorstore.CopyRows(ctx, t.Source, d.Rows); err != nil {
		return fmt.Errorf("source cluster: %w", err)
	}
	log.InfoContext(ctx, "source items seeded", slog.Int("rows", len(d.Rows)))
	if t.Target != nil {
		// A fresh v1 cluster: the app's empty items, and no ragmigrate journal claiming that
		// bots whose rows this just dropped were migrated.
		if _, err := t.Target.Exec(ctx, `DROP SCHEMA IF EXISTS ragmigrate CASCADE`); err != nil {
			return fmt.Errorf("target cluster: drop the journal: %w", err)
		}
		if err := vectorstore.SetupApp(ctx, t.Target); err != nil {
			return fmt.Errorf("target cluster: %w", err)
		}
		log.InfoContext(ctx, "target items created empty, as v1's deploy leaves it")
	}
	log.InfoContext(ctx, "seed applied", slog.Duration("elapsed", time.Since(start)))
	return nil
}

func resetTable(ctx context.Context, c *dynamodb.Client, table string) error {
	_, err := c.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	var notFound *types.ResourceNotFoundException
	switch {
	case errors.As(err, &notFound):
	case err != nil:
		return fmt.Errorf("delete table %s: %w", table, err)
	default:
		if err := dynamodb.NewTableNotExistsWaiter(c).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, time.Minute,
			func(o *dynamodb.TableNotExistsWaiterOptions) {
				o.MinDelay = 100 * time.Millisecond
				o.MaxDelay = time.Second
			}); err != nil {
			return fmt.Errorf("wait for table %s to go: %w", table, err)
		}
	}
	if _, err := c.CreateTable(ctx, botstore.CreateTableInput(table)); err != nil {
		return fmt.Errorf("create table %s: %w", table, err)
	}
	if err := dynamodb.NewTableExistsWaiter(c).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, time.Minute,
		func(o *dynamodb.TableExistsWaiterOptions) {
			o.MinDelay = 100 * time.Millisecond
			o.MaxDelay = time.Second
		}); err != nil {
		return fmt.Errorf("wait for table %s: %w", table, err)
	}
	return nil
}

// batchWrite puts items 25 at a time and resubmits what DynamoDB leaves unprocessed.
func batchWrite(ctx context.Context, c *dynamodb.Client, table string, items []botstore.Item) error {
	for start := 0; start < len(items); start += 25 {
		reqs := make([]types.WriteRequest, 0, 25)
		for _, it := range items[start:min(start+25, len(items))] {
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: it}})
		}
		pending := map[string][]types.WriteRequest{table: reqs}
		for attempt := 0; len(pending[table]) > 0; attempt++ {
			if attempt > 8 {
				return fmt.Errorf("batch write %s: %d items still unprocessed", table, len(pending[table]))
			}
			out, err := c.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
			if err != nil {
				return fmt.Errorf("batch write %s: %w", table, err)
			}
			pending = out.UnprocessedItems
			if len(pending[table]) > 0 {
				time.Sleep(time.Duration(50<<attempt) * time.Millisecond)
			}
		}
	}
	return nil
}

// BulkRows appends n rows to the source's items for benchmarks: ~1.1 KB chunks of corpus text
// spread over the deployment's bots with vectors (a few bots hold most rows, as in real
// deployments), their vectors the contract server's, so searches stay meaningful. Rows are
// generated while they stream through COPY: memory does not grow with n.
func BulkRows(ctx context.Context, d *Deployment, conn *pgx.Conn, n int, log *slog.Logger) (int64, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var bots []*botstore.Bot
	for _, b := range d.Bots {
		if d.Expect.RowsByBot[b.ID] > 0 {
			bots = append(bots, b)
		}
	}
	if len(bots) == 0 {
		return 0, errors.New("bulk rows: the deployment has no bot with rows to extend")
	}
	var pool strings.Builder
	for i := range 40 {
		pool.WriteString(corpus.Generate(d.Options.Seed, 200000+i).PlainText())
		pool.WriteString("\n\n")
	}
	text := []rune(pool.String())
	rng := rand.New(rand.NewPCG(uint64(d.Options.Seed), 0xb01c))
	// Zipf-like weights: bot k gets weight 1/(k+1).
	cum := make([]float64, len(bots))
	var total float64
	for k := range bots {
		total += 1 / float64(k+1)
		cum[k] = total
	}
	at := baseTime.Add(400 * 24 * time.Hour)
	start := time.Now()
	written, err := vectorstore.CopyRowsFrom(ctx, conn, n, func(i int) vectorstore.Row {
		x := rng.Float64() * total
		k := 0
		for k < len(cum)-1 && cum[k] < x {
			k++
		}
		b := bots[k]
		size := 900 + rng.IntN(400)
		off := rng.IntN(max(1, len(text)-size))
		content := string(text[off : off+min(size, len(text)-off)])
		file := b.Knowledge.Filenames
		src := b.Knowledge.SourceURLs
		var source string
		if len(file) > 0 {
			source = docstore.SourceURI(d.Options.Bucket, docstore.DocumentKey(b.UserID, b.ID, file[i%len(file)]))
		} else if len(src) > 0 {
			source = src[i%len(src)]
		}
		if i > 0 && i%50000 == 0 {
			rate := float64(i) / math.Max(time.Since(start).Seconds(), 1e-9)
			log.InfoContext(ctx, "bulk rows", slog.Int("rows", i), slog.Int("of", n), slog.Float64("rows_per_s", math.Round(rate)))
		}
		return vectorstore.Row{
			ID:        ulid.MustNew(ulid.Timestamp(at.Add(time.Duration(i)*time.Millisecond)), entropy{rng}).String(),
			BotID:     b.ID,
			Content:   content,
			Source:    source,
			Embedding: bedrocksim.Vector(d.Options.Model, content, vectorstore.Dimensions),
		}
	})
	if err != nil {
		return written, err
	}
	if _, err := conn.Exec(ctx, "ANALYZE items"); err != nil {
		return written, fmt.Errorf("analyze items: %w", err)
	}
	return written, nil
}
