package botstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ErrBotGone is returned by UpdateStatus and Get when the bot item no longer exists (or is a
// partial item without a Title): the bot was deleted, and writing its status would create a
// ghost item.
var ErrBotGone = errors.New("bot item no longer exists")

// ErrBotChanged is wrapped by UpdateStatus when the bot item is no longer the one that was read:
// the live app (a user's edit, its own embedding task) wrote it since.
var ErrBotChanged = errors.New("bot item changed since it was read")

// maxConditionLen and maxConditionOps keep a condition under DynamoDB's expression limits. A bot whose sources
// do not fit is compared by reading the item first instead (a narrower guarantee: the status
// and exec id are still checked by the write itself).
const (
	maxConditionLen = 3800
	maxConditionOps = 250
)

// Get reads a bot item with a strongly consistent read. It returns ErrBotGone when there is no
// such bot, and a *DecodeError when the item is one the app cannot read.
func (s *Store) Get(ctx context.Context, userID, botID string) (*Bot, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            botKey(userID, botID),
		ConsistentRead: aws.Bool(true),
	}, s.as(userID)...)
	if err != nil {
		return nil, fmt.Errorf("read bot %s: %w", botID, err)
	}
	if len(out.Item) == 0 || out.Item["Title"] == nil {
		return nil, fmt.Errorf("read bot %s: %w", botID, ErrBotGone)
	}
	return Decode(out.Item)
}

// Check reads the bot item again and returns nil if it is still the one b describes (as
// UpdateStatus compares it), ErrBotGone, or an error wrapping ErrBotChanged that says what
// changed.
func (s *Store) Check(ctx context.Context, b *Bot) error {
	cur, err := s.Get(ctx, b.UserID, b.ID)
	if err != nil {
		return err
	}
	if what := changes(b, cur); what != "" {
		return fmt.Errorf("bot %s: %w: %s", b.ID, ErrBotChanged, what)
	}
	return nil
}

// UpdateStatus writes SyncStatus, SyncStatusReason and LastExecId as the app's
// update_sync_status does — but only while the bot item is still the one b describes: it exists,
// its SyncStatus and LastExecId are b's, and its Knowledge and EmbeddingParams are exactly those
// read. It is a compare-and-swap: on success b takes the written state, so the next update
// expects it; if the live app wrote the item in between (an edit sets QUEUED or SUCCEEDED and
// new sources, the app's embedding task its own LastExecId), nothing is written and the error
// wraps ErrBotChanged and says what changed, or is ErrBotGone.
//
// QUEUED is refused: writing it makes the app's stream pipe start its own embedding task.
func (s *Store) UpdateStatus(ctx context.Context, b *Bot, status SyncStatus, reason, execID string) error {
	if status == StatusQueued {
		return errors.New("set status: QUEUED would start the app's own embedding task; ragmigrate never writes it")
	}
	if !validStatus(status) {
		return fmt.Errorf("set status: %q is not a stored SyncStatus", status)
	}
	read := b.readState()
	c := newCondition()
	c.add("attribute_exists(" + c.name("PK") + ") AND attribute_exists(" + c.name("Title") + ")")
	c.equal(c.name("SyncStatus"), attrS(string(b.SyncStatus)))
	c.equal(c.name("LastExecId"), attrS(b.LastExecID))
	scalarOnly := c.clone()
	c.equal(c.name("Knowledge"), read.knowledge)
	c.equal(c.name("EmbeddingParams"), read.embeddingParams)
	if !c.fits() {
		// Too many sources to compare in the write itself: compare them now, then write on the
		// status and exec id alone.
		if err := s.Check(ctx, b); err != nil {
			return fmt.Errorf("set status: %w", err)
		}
		c = scalarOnly
	}
	c.values[":status"], c.values[":reason"], c.values[":exec"] = attrS(string(status)), attrS(reason), attrS(execID)
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table),
		Key:       botKey(b.UserID, b.ID),
		UpdateExpression: aws.String(fmt.Sprintf("SET %s = :status, %s = :reason, %s = :exec",
			c.name("SyncStatus"), c.name("SyncStatusReason"), c.name("LastExecId"))),
		ConditionExpression:       aws.String(c.String()),
		ExpressionAttributeNames:  c.names,
		ExpressionAttributeValues: c.values,
	}, s.as(b.UserID)...)
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		// DynamoDB Local and dynalite do not return the item with the failure: read it to
		// say what changed.
		cur, gerr := s.Get(ctx, b.UserID, b.ID)
		switch {
		case errors.Is(gerr, ErrBotGone):
			return fmt.Errorf("set status of bot %s: %w", b.ID, ErrBotGone)
		case gerr != nil:
			return fmt.Errorf("set status of bot %s: %w (and reading it again: %v)", b.ID, ErrBotChanged, gerr)
		}
		what := changes(b, cur)
		if what == "" {
			what = "it was written while ragmigrate wrote it"
		}
		return fmt.Errorf("set status of bot %s: %w: %s", b.ID, ErrBotChanged, what)
	}
	if err != nil {
		return fmt.Errorf("set status of bot %s: %w", b.ID, err)
	}
	b.SyncStatus, b.SyncStatusReason, b.LastExecID = status, reason, execID
	return nil
}

// readState is what the item held when b was read; for a Bot built in code, what Item writes.
func (b *Bot) readState() readState {
	if b.read.knowledge != nil || b.read.embeddingParams != nil {
		return b.read
	}
	item := b.Item()
	return readState{knowledge: item["Knowledge"], embeddingParams: item["EmbeddingParams"]}
}

// changes says how cur differs from b, in the terms an operator reads in a report; "" when it
// does not.
func changes(b, cur *Bot) string {
	var what []string
	if cur.SyncStatus != b.SyncStatus {
		what = append(what, fmt.Sprintf("SyncStatus is %s (was %s)", cur.SyncStatus, b.SyncStatus))
	}
	if cur.LastExecID != b.LastExecID {
		what = append(what, fmt.Sprintf("LastExecId is %q (was %q)", cur.LastExecID, b.LastExecID))
	}
	was, now := b.readState(), cur.readState()
	if !equalAttr(was.knowledge, now.knowledge) {
		what = append(what, "its Knowledge changed")
	}
	if !equalAttr(was.embeddingParams, now.embeddingParams) {
		what = append(what, "its EmbeddingParams changed")
	}
	return strings.Join(what, "; ")
}

func botKey(userID, botID string) Item {
	return Item{"PK": attrS(userID), "SK": attrS(BotSK(userID, botID))}
}

// condition builds a ConditionExpression with placeholders for every name and value.
type condition struct {
	terms  []string
	names  map[string]string
	values map[string]types.AttributeValue
}

func newCondition() *condition {
	return &condition{names: map[string]string{}, values: map[string]types.AttributeValue{}}
}

func (c *condition) clone() *condition {
	return &condition{terms: slices.Clone(c.terms), names: maps.Clone(c.names), values: maps.Clone(c.values)}
}

func (c *condition) add(term string) { c.terms = append(c.terms, term) }

// name returns the placeholder of an attribute name.
func (c *condition) name(n string) string {
	for k, v := range c.names {
		if v == n {
			return k
		}
	}
	k := "#n" + strconv.Itoa(len(c.names))
	c.names[k] = n
	return k
}

func (c *condition) value(v types.AttributeValue) string {
	k := ":v" + strconv.Itoa(len(c.values))
	c.values[k] = v
	return k
}

// equal requires the attribute at path to equal v, leaf by leaf: DynamoDB compares maps and
// lists with "=", but not every implementation of its API does, and a comparison of each
// element means the same thing everywhere. A nil v requires the attribute to be absent.
func (c *condition) equal(path string, v types.AttributeValue) {
	switch v := v.(type) {
	case nil:
		c.add("attribute_not_exists(" + path + ")")
	case *types.AttributeValueMemberM:
		c.add(fmt.Sprintf("attribute_type(%s, %s) AND size(%s) = %s", path, c.value(attrS("M")), path, c.value(attrN(strconv.Itoa(len(v.Value))))))
		for _, k := range slices.Sorted(maps.Keys(v.Value)) {
			c.equal(path+"."+c.name(k), v.Value[k])
		}
	case *types.AttributeValueMemberL:
		c.add(fmt.Sprintf("attribute_type(%s, %s) AND size(%s) = %s", path, c.value(attrS("L")), path, c.value(attrN(strconv.Itoa(len(v.Value))))))
		for i, e := range v.Value {
			c.equal(fmt.Sprintf("%s[%d]", path, i), e)
		}
	case *types.AttributeValueMemberNULL:
		c.add(fmt.Sprintf("attribute_type(%s, %s)", path, c.value(attrS("NULL"))))
	default:
		c.add(path + " = " + c.value(v))
	}
}

func (c *condition) String() string { return strings.Join(c.terms, " AND ") }

// fits reports whether the condition is within DynamoDB's limits on an expression: 4 KB of text,
// and a few hundred operators and functions.
func (c *condition) fits() bool {
	text := c.String()
	return len(text) <= maxConditionLen && strings.Count(text, " AND ")+strings.Count(text, "(") <= maxConditionOps
}

// equalAttr compares two attribute values by content.
func equalAttr(a, b types.AttributeValue) bool {
	switch a := a.(type) {
	case nil:
		return b == nil
	case *types.AttributeValueMemberS:
		b, ok := b.(*types.AttributeValueMemberS)
		return ok && a.Value == b.Value
	case *types.AttributeValueMemberN:
		b, ok := b.(*types.AttributeValueMemberN)
		return ok && a.Value == b.Value
	case *types.AttributeValueMemberBOOL:
		b, ok := b.(*types.AttributeValueMemberBOOL)
		return ok && a.Value == b.Value
	case *types.AttributeValueMemberNULL:
		_, ok := b.(*types.AttributeValueMemberNULL)
		return ok
	case *types.AttributeValueMemberM:
		b, ok := b.(*types.AttributeValueMemberM)
		return ok && maps.EqualFunc(a.Value, b.Value, equalAttr)
	case *types.AttributeValueMemberL:
		b, ok := b.(*types.AttributeValueMemberL)
		return ok && slices.EqualFunc(a.Value, b.Value, equalAttr)
	default:
		return fmt.Sprint(a) == fmt.Sprint(b)
	}
}
