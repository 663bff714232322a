package stack

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/ragmigrate/ragmigrate/internal/dev/cfnsim"
	"github.com/ragmigrate/ragmigrate/internal/vectorstore"
)

// The Bedrock Chat stacks the local stack publishes on its AWS control plane, so that
// 'ragmigrate --stack' works here as it does against a deployment.
const (
	// StackName is a v1.x-shaped stack: the target cluster, the default table and bucket.
	StackName = "BedrockChatStack"
	// StackNameV0 is a v0.4.x-shaped one (no embedding task outputs) on the source cluster.
	StackNameV0 = "BedrockChatStackV0"
	// AppRole is the login role the stacks' database secrets name. It is not the clusters'
	// superuser, so rotating its password (the Secrets Manager knob) leaves the postgres role
	// that tests and the env file use alone.
	AppRole = "bedrockchat_app"
)

// Publish creates the stacks' database secrets (once: a rotated password is kept), gives
// AppRole that password and the privileges the app's role has on each cluster's postgres
// database, and publishes both stacks. Running it again changes nothing.
func (s *Stack) Publish(ctx context.Context) error {
	return publish(ctx, "http://127.0.0.1:"+strconv.Itoa(s.ports.AWS), []Published{
		{Name: StackName, AdminURL: s.PostgresURL(s.ports.TargetPG, pgDatabase), Role: AppRole, V0: false},
		{Name: StackNameV0, AdminURL: s.PostgresURL(s.ports.SourcePG, pgDatabase), Role: AppRole, V0: true},
	}, DefaultTable, DefaultBucket)
}

// Published is one Bedrock Chat stack to publish: its database is AdminURL's (a superuser's
// URL), reached by the app as Role.
type Published struct {
	Name, AdminURL, Role string
	// V0 publishes a v0.4.x-shaped stack instead of a v1.x one.
	V0 bool
}

func publish(ctx context.Context, aws string, stacks []Published, table, bucket string) error {
	for _, p := range stacks {
		u, err := url.Parse(p.AdminURL)
		if err != nil {
			return fmt.Errorf("publish %s: admin URL: %w", p.Name, err)
		}
		port, _ := strconv.Atoi(u.Port())
		db := strings.TrimPrefix(u.Path, "/")
		arn, password, err := putSecret(ctx, aws, p.Name+"-DbSecret", u.Hostname(), port, p.Role, db)
		if err != nil {
			return fmt.Errorf("publish %s: %w", p.Name, err)
		}
		conn, err := pgx.Connect(ctx, p.AdminURL)
		if err != nil {
			return fmt.Errorf("publish %s: %w", p.Name, err)
		}
		err = GrantAppRole(ctx, conn, p.Role, password)
		if err == nil {
			// On AWS the DB secret's user is the cluster's master user, who owns what the
			// operator's runs create. Here those runs use the stack's superuser, so the app role
			// is made a member of it: it has the owner's rights on the journal the superuser
			// creates later, without being a superuser.
			_, err = conn.Exec(ctx, "GRANT "+pgx.Identifier{conn.Config().User}.Sanitize()+" TO "+pgx.Identifier{p.Role}.Sanitize())
		}
		conn.Close(ctx)
		if err != nil {
			return fmt.Errorf("publish %s: %w", p.Name, err)
		}
		shape := cfnsim.BedrockChatV1
		if p.V0 {
			shape = cfnsim.BedrockChatV0
		}
		d := cfnsim.Deployment{
			Table: table, Bucket: bucket, SecretARN: arn, DBHost: u.Hostname(), DBPort: port,
			Cluster: p.Name + "-EmbeddingCluster6D1A1E4B-AbCdEfGh1234", TaskDefinition: p.Name + "EmbeddingTaskDefinition1A2B3C4D",
			SecurityGroup: "sg-0e1b2e3d4d5e6f708", Subnets: [2]string{"subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"},
		}
		if !p.V0 {
			// v1's outputs name the embedding task definition; ECS must know it for 'remote'
			// (its roles and log group are remote's defaults) and for the app's task contract.
			if err := registerEmbeddingTask(ctx, aws, d); err != nil {
				return fmt.Errorf("publish %s: %w", p.Name, err)
			}
		}
		body, _ := json.Marshal(map[string]any{"Outputs": shape(d), "Resources": cfnsim.BedrockChatResources(d)})
		if err := DevCall(ctx, http.MethodPut, aws+"/_dev/cloudformation/stacks/"+p.Name, body, nil); err != nil {
			return fmt.Errorf("publish %s: %w", p.Name, err)
		}
	}
	return nil
}

// EmbeddingImage is the app's embedding container image in the published task definition. The
// stack's ECS contract server runs it as 'ragmigrate worker', which takes the app's task contract
// (python3 -u embedding/main.py KEYS) in the app's place.
const EmbeddingImage = "123456789012.dkr.ecr.us-east-1.amazonaws.com/cdk-hnb659fds-container-assets:embedding"

// registerEmbeddingTask registers the app's embedding task definition in the ECS contract server
// as the stack's CDK does: Fargate, 1 vCPU / 2 GB, container "Container" logging to CloudWatch
// Logs, with a task role, an execution role and v1's environment (embedding.ts: the table, the
// table access role its task role assumes to reach it, the bucket, the database secret).
// Registering the same content again only adds a revision, as ECS does.
func registerEmbeddingTask(ctx context.Context, aws string, d cfnsim.Deployment) error {
	family := d.TaskDefinition
	code, answer, err := ecsCall(ctx, aws, "DescribeTaskDefinition", map[string]any{"taskDefinition": family})
	if err != nil {
		return err
	}
	if code == http.StatusOK && strings.Contains(string(answer), "TABLE_ACCESS_ROLE_ARN") {
		// Registered by an earlier publish. One registered before the definition carried the
		// app's environment gets a revision that does.
		return nil
	}
	const account = "arn:aws:iam::123456789012:role/"
	body, _ := json.Marshal(map[string]any{
		"family":                  family,
		"requiresCompatibilities": []string{"FARGATE"},
		"networkMode":             "awsvpc",
		"cpu":                     "1024",
		"memory":                  "2048",
		"taskRoleArn":             account + "BedrockChatStack-EmbeddingTaskDefinitionTaskRole-X",
		"executionRoleArn":        account + "BedrockChatStack-EmbeddingTaskDefinitionExecutionRole-X",
		"containerDefinitions": []map[string]any{{
			"name":      "Container",
			"image":     EmbeddingImage,
			"essential": true,
			"environment": []map[string]string{
				{"name": "BEDROCK_REGION", "value": DefaultRegion}, {"name": "ACCOUNT", "value": "123456789012"},
				{"name": "REGION", "value": DefaultRegion}, {"name": "TABLE_NAME", "value": d.Table},
				{"name": "TABLE_ACCESS_ROLE_ARN", "value": cfnsim.TableAccessRoleARN},
				{"name": "DOCUMENT_BUCKET", "value": d.Bucket}, {"name": "DB_SECRETS_ARN", "value": d.SecretARN},
			},
			"logConfiguration": map[string]any{"logDriver": "awslogs", "options": map[string]string{
				"awslogs-group":         "BedrockChatStack-EmbeddingTaskDefinitionContainerLogGroup",
				"awslogs-region":        DefaultRegion,
				"awslogs-stream-prefix": "EmbeddingContainer",
			}},
		}},
	})
	code, answer, err = ecsCall(ctx, aws, "RegisterTaskDefinition", json.RawMessage(body))
	if err != nil {
		return err
	}
	if code/100 != 2 {
		return fmt.Errorf("register the embedding task definition: %d: %s", code, answer)
	}
	return nil
}

// ecsCall makes one ECS JSON call to the contract server and returns its status and body.
func ecsCall(ctx context.Context, aws, op string, in any) (int, []byte, error) {
	body, _ := json.Marshal(in)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, aws+"/", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	// The contract server, like ECS, refuses unsigned calls; it does not check the signature.
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=ragmigrate-local/stack")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("aws server: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, bytes.TrimSpace(b), nil
}

// putSecret creates the cluster secret unless it exists, and returns its ARN and current
// password.
func putSecret(ctx context.Context, aws, name, host string, port int, role, db string) (string, string, error) {
	var pw [16]byte
	_, _ = rand.Read(pw[:])
	value, _ := json.Marshal(map[string]any{
		"host": host, "port": port, "username": role, "password": hex.EncodeToString(pw[:]),
		"dbname": db, "engine": "postgres", "dbClusterIdentifier": "bedrockchatstack-cluster-local",
	})
	var out struct{ ARN, SecretString string }
	if err := DevCall(ctx, http.MethodPost, aws+"/_dev/secretsmanager/secrets?if-absent=true&name="+url.QueryEscape(name), value, &out); err != nil {
		return "", "", err
	}
	var current struct {
		Password string `json:"password"`
	}
	if err := json.Unmarshal([]byte(out.SecretString), &current); err != nil || current.Password == "" {
		return "", "", fmt.Errorf("secret %s holds no password", name)
	}
	return out.ARN, current.Password, nil
}

// DevCall makes one call to a development endpoint (/_dev/…) of the stack's aws server with
// body, and decodes the JSON answer into out unless out is nil. A 404 means an aws server older
// than the endpoint, and the error says to restart it.
func DevCall(ctx context.Context, method, url string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("aws server: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode == http.StatusNotFound {
		// The stack's aws server is healthy but older than its CloudFormation and Secrets
		// Manager services: 'up' leaves running services alone.
		return fmt.Errorf("aws server: %s %s: not found: restart the stack's aws server (make stack-down stack-up) so that it runs this build", method, req.URL.Path)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("aws server: %s %s: %s: %s", method, req.URL.Path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// GrantAppRole creates (or updates) login role role with password and gives it what Bedrock
// Chat's database user has on conn's database, and ragmigrate needs there: CREATE on the
// database (the journal's schema) and on public, and ownership of items and of the journal's
// schema, tables and functions when they exist (CREATE INDEX IF NOT EXISTS needs the table's
// owner, CREATE OR REPLACE FUNCTION the function's). conn
// is a superuser's session on that database. The password is passed as a literal (ALTER ROLE
// takes no parameters) and never logged.
func GrantAppRole(ctx context.Context, conn *pgx.Conn, role, password string) error {
	ident := pgx.Identifier{role}.Sanitize()
	lit := vectorstore.QuoteLiteral(password)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, role).Scan(&exists); err != nil {
		return fmt.Errorf("look up role %s: %w", role, err)
	}
	verb := "CREATE"
	if exists {
		verb = "ALTER"
	}
	if _, err := conn.Exec(ctx, verb+" ROLE "+ident+" LOGIN NOSUPERUSER PASSWORD "+lit); err != nil {
		return fmt.Errorf("%s role %s: %w", verb, role, err)
	}
	db := pgx.Identifier{conn.Config().Database}.Sanitize()
	stmts := []string{
		"GRANT CONNECT, CREATE, TEMPORARY ON DATABASE " + db + " TO " + ident,
		"GRANT USAGE, CREATE ON SCHEMA public TO " + ident,
		// Tables the superuser makes later (a re-seed recreates items) stay usable by the app.
		"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public TO " + ident,
		"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON TABLES TO " + ident,
		`DO $$ DECLARE r record; BEGIN
			IF to_regclass('public.items') IS NOT NULL THEN EXECUTE format('ALTER TABLE public.items OWNER TO %I', ` + vectorstore.QuoteLiteral(role) + `); END IF;
			IF to_regnamespace('ragmigrate') IS NOT NULL THEN
				EXECUTE format('ALTER SCHEMA ragmigrate OWNER TO %I', ` + vectorstore.QuoteLiteral(role) + `);
				FOR r IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
					WHERE n.nspname = 'ragmigrate' AND c.relkind IN ('r', 'p', 'S')
					-- A serial's or identity's sequence follows its table; ALTER on it is refused.
					AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
						AND d.objid = c.oid AND d.deptype IN ('a', 'i')) LOOP
					EXECUTE format('ALTER TABLE ragmigrate.%I OWNER TO %I', r.relname, ` + vectorstore.QuoteLiteral(role) + `);
				END LOOP;
				-- The run budget's functions: journal.Migrate's CREATE OR REPLACE FUNCTION needs their owner.
				FOR r IN SELECT p.oid::regprocedure AS fn FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
					WHERE n.nspname = 'ragmigrate' LOOP
					EXECUTE format('ALTER FUNCTION %s OWNER TO %I', r.fn, ` + vectorstore.QuoteLiteral(role) + `);
				END LOOP;
			END IF; END $$`,
	}
	for _, q := range stmts {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("grant role %s: %w", role, err)
		}
	}
	return nil
}
