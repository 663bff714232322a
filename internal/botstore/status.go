package botstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ErrBotGone is returned by SetStatus when the bot item no longer exists (or is a partial item
// without a Title): the bot was deleted, and writing its status would create a ghost item.
var ErrBotGone = errors.New("bot item no longer exists")

// SetStatus writes SyncStatus, SyncStatusReason and LastExecId as the app's update_sync_status
// does, but only while the bot item exists: the app's unconditional update re-creates a deleted
// bot as a partial "ghost" item. QUEUED is refused: writing it makes the app's stream pipe start
// its own embedding task.
func (s *Store) SetStatus(ctx context.Context, userID, botID string, status SyncStatus, reason, execID string) error {
	if status == StatusQueued {
		return errors.New("set status: QUEUED would start the app's own embedding task; ragmigrate never writes it")
	}
	if !validStatus(status) {
		return fmt.Errorf("set status: %q is not a stored SyncStatus", status)
	}
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table),
		Key: map[string]types.AttributeValue{
			"PK": attrS(userID),
			"SK": attrS(BotSK(userID, botID)),
		},
		UpdateExpression:    aws.String("SET SyncStatus = :s, SyncStatusReason = :r, LastExecId = :e"),
		ConditionExpression: aws.String("attribute_exists(PK) AND attribute_exists(Title)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":s": attrS(string(status)), ":r": attrS(reason), ":e": attrS(execID),
		},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("set status of bot %s: %w", botID, ErrBotGone)
	}
	if err != nil {
		return fmt.Errorf("set status of bot %s: %w", botID, err)
	}
	return nil
}
