package botstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Store is the conversation table.
type Store struct {
	client   *dynamodb.Client
	table    string
	pageSize int32
	// userCredentials, when set, signs the reads and writes of one user's items.
	userCredentials func(userID string) aws.CredentialsProvider
}

// New returns a Store for table.
func New(client *dynamodb.Client, table string) *Store {
	return &Store{client: client, table: table}
}

// WithPageSize limits the items each Scan page evaluates (0: DynamoDB's 1 MB pages).
func (s *Store) WithPageSize(n int32) *Store {
	c := *s
	c.pageSize = n
	return &c
}

// WithUserCredentials makes the reads and writes of a user's bot items (Get, Check,
// UpdateStatus) sign with creds(user id): the app's table access role scoped to that user's items
// (awsclient.TableAccess), which is how the app's embedding task reaches the table. Scans keep
// the client's own credentials.
func (s *Store) WithUserCredentials(creds func(userID string) aws.CredentialsProvider) *Store {
	c := *s
	c.userCredentials = creds
	return &c
}

// as are the per-call options of a call on userID's items.
func (s *Store) as(userID string) []func(*dynamodb.Options) {
	if s.userCredentials == nil {
		return nil
	}
	creds := s.userCredentials(userID)
	return []func(*dynamodb.Options){func(o *dynamodb.Options) { o.Credentials = creds }}
}

// Table is the table's name.
func (s *Store) Table() string { return s.table }

// ScanAll calls fn for every item of the table, page by page (LastEvaluatedKey), with strongly
// consistent reads. Memory is one page, whatever the table size.
func (s *Store) ScanAll(ctx context.Context, fn func(Item) error) error {
	return s.scan(ctx, &dynamodb.ScanInput{TableName: aws.String(s.table), ConsistentRead: aws.Bool(true)}, fn)
}

// ScanBots calls onBot for every bot item (contains(SK, "#BOT#"), the app's own migration
// filter) and onMalformed for each bot item the app could not read either. A malformed item
// never stops the scan; an error returned by a callback does.
func (s *Store) ScanBots(ctx context.Context, onBot func(*Bot) error, onMalformed func(*DecodeError) error) error {
	in := &dynamodb.ScanInput{
		TableName:                 aws.String(s.table),
		ConsistentRead:            aws.Bool(true),
		FilterExpression:          aws.String("contains(SK, :bot)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":bot": attrS("#BOT#")},
	}
	return s.scan(ctx, in, func(item Item) error {
		bot, err := Decode(item)
		var de *DecodeError
		if errors.As(err, &de) {
			return onMalformed(de)
		}
		if err != nil {
			return err
		}
		return onBot(bot)
	})
}

func (s *Store) scan(ctx context.Context, in *dynamodb.ScanInput, fn func(Item) error) error {
	if s.pageSize > 0 {
		in.Limit = aws.Int32(s.pageSize)
	}
	p := dynamodb.NewScanPaginator(s.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("scan %s: %w", s.table, err)
		}
		for _, item := range page.Items {
			if err := fn(item); err != nil {
				return err
			}
		}
	}
	return nil
}

// CreateTableInput is the app's conversation table (cdk/lib/constructs/database.ts): PK/SK
// strings, GSIs SKIndex and PublicBotIdIndex, LSI LastBotUsedIndex, on-demand billing and a
// NEW_IMAGE stream (which drives the app's embedding pipe).
func CreateTableInput(table string) *dynamodb.CreateTableInput {
	all := &types.Projection{ProjectionType: types.ProjectionTypeAll}
	return &dynamodb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("PK"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("SK"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("PublicBotId"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("LastBotUsed"), AttributeType: types.ScalarAttributeTypeN},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("PK"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("SK"), KeyType: types.KeyTypeRange},
		},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{
			{IndexName: aws.String("SKIndex"), Projection: all,
				KeySchema: []types.KeySchemaElement{{AttributeName: aws.String("SK"), KeyType: types.KeyTypeHash}}},
			{IndexName: aws.String("PublicBotIdIndex"), Projection: all,
				KeySchema: []types.KeySchemaElement{{AttributeName: aws.String("PublicBotId"), KeyType: types.KeyTypeHash}}},
		},
		LocalSecondaryIndexes: []types.LocalSecondaryIndex{
			{IndexName: aws.String("LastBotUsedIndex"), Projection: all,
				KeySchema: []types.KeySchemaElement{
					{AttributeName: aws.String("PK"), KeyType: types.KeyTypeHash},
					{AttributeName: aws.String("LastBotUsed"), KeyType: types.KeyTypeRange},
				}},
		},
		StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewImage},
	}
}
