package awsclient

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// AppTableAccessRole is the app's table access role when this process runs as the app's
// embedding task does: TABLE_ACCESS_ROLE_ARN, which the app's task definition sets, and
// AWS_EXECUTION_ENV, which Lambda and ECS set. The app's code assumes the role only then
// (app/repositories), and so does ragmigrate: elsewhere the caller's own credentials reach the
// table. "" when either is unset.
func AppTableAccessRole() string {
	if os.Getenv("AWS_EXECUTION_ENV") == "" {
		return ""
	}
	return os.Getenv("TABLE_ACCESS_ROLE_ARN")
}

// TableAccess gives the credentials of the app's table access role scoped to one user's items,
// as the app's code assumes it: a session policy allowing dynamodb:* only on items whose
// partition key (dynamodb:LeadingKeys) starts with the user id. The app's embedding task role may
// not touch the table otherwise. It is safe for concurrent use.
type TableAccess struct {
	// Role is the role's ARN.
	Role string

	client *sts.Client
	mu     sync.Mutex
	users  map[string]aws.CredentialsProvider
}

// NewTableAccess assumes role through cfg's STS (AWS_ENDPOINT_URL_STS redirects it).
func NewTableAccess(cfg aws.Config, role string) *TableAccess {
	return &TableAccess{Role: role, client: sts.NewFromConfig(cfg), users: map[string]aws.CredentialsProvider{}}
}

// For returns the credentials for user's items. They are cached per user: a user's bots share
// one session, assumed again only when it nears its expiration, not at each call.
func (t *TableAccess) For(user string) aws.CredentialsProvider {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p, ok := t.users[user]; ok {
		return p
	}
	policy, _ := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*",
			"Condition": map[string]any{"ForAllValues:StringLike": map[string]any{"dynamodb:LeadingKeys": []string{user + "*"}}},
		}},
	})
	assume := stscreds.NewAssumeRoleProvider(t.client, t.Role, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = "ragmigrate-worker"
		o.Policy = aws.String(string(policy))
	})
	p := aws.NewCredentialsCache(tableAccessProvider{role: t.Role, user: user, p: assume})
	t.users[user] = p
	return p
}

// tableAccessProvider names the role and the user when the role cannot be assumed.
type tableAccessProvider struct {
	role, user string
	p          aws.CredentialsProvider
}

func (p tableAccessProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := p.p.Retrieve(ctx)
	if err != nil {
		return c, &TableAccessError{Role: p.role, User: p.user, Err: err}
	}
	return c, nil
}

// TableAccessError is the app's table access role refusing to be assumed (AccessDenied: the
// caller's role may not assume it) or STS failing.
type TableAccessError struct {
	Role, User string
	Err        error
}

func (e *TableAccessError) Error() string {
	return fmt.Sprintf("assume the app's table access role %s (TABLE_ACCESS_ROLE_ARN) for user %s's items: %v", e.Role, e.User, e.Err)
}

func (e *TableAccessError) Unwrap() error { return e.Err }
