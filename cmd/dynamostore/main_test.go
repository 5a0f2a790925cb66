package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynamostore/dynamostore/dynamostoretest"
)

// fixture is the two-account set-up of CROSS-ACCOUNT.md (the test kit's STS emulator and
// signature-checking gateway on DynamoDB Local), with the environment pointing the
// standard AWS chain at it, as a real deployment's would point at AWS.
type fixture struct {
	*dynamostoretest.CrossAccount
	ddb   *dynamodb.Client // DynamoDB Local directly, to look at the table
	table string
}

// withActions is a CrossAccountOptions whose role's policy allows actions.
func withActions(actions ...string) dynamostoretest.CrossAccountOptions {
	return dynamostoretest.CrossAccountOptions{Actions: actions}
}

// allActions is CROSS-ACCOUNT.md's policy plus dynamodb:DescribeTimeToLive.
var allActions = append(append([]string(nil), dynamostoretest.SessionTableActions...), "dynamodb:DescribeTimeToLive")

// newFixture sets up the two accounts for a new session table (TTL on expires).
func newFixture(t *testing.T, opts dynamostoretest.CrossAccountOptions) *fixture {
	t.Helper()
	ddb := dynamostoretest.Client(t)
	return startFixture(t, ddb, dynamostoretest.NewTable(t, ddb), opts)
}

// startFixture sets up the two accounts for table, which may not exist, and makes the
// application's own credentials the environment's.
func startFixture(t *testing.T, ddb *dynamodb.Client, table string, opts dynamostoretest.CrossAccountOptions) *fixture {
	t.Helper()
	x, err := dynamostoretest.StartCrossAccount(dynamostoretest.Endpoint(t), table, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(x.Close)
	f := &fixture{CrossAccount: x, ddb: ddb, table: table}
	isolateAWS(t)
	t.Setenv("AWS_ACCESS_KEY_ID", x.App.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", x.App.SecretAccessKey)
	t.Setenv("AWS_REGION", x.Region)
	t.Setenv("AWS_ENDPOINT_URL_STS", x.STS.URL)
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", x.Gateway.URL)
	return f
}

// isolateAWS keeps the machine's AWS configuration (shared files, profile, session token,
// instance metadata) and check's own variables out of a test.
func isolateAWS(t *testing.T) {
	t.Helper()
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", empty)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", empty)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, name := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
		"AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS",
		"AWS_ENDPOINT_URL_DYNAMODB", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_ACCOUNT_ID",
		"TABLE_ARN", "TABLE_ROLE_ARN", "EXTERNAL_ID"} {
		t.Setenv(name, "") // restored after the test
		os.Unsetenv(name)
	}
}

// result is what one run of the command printed.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) all() string { return r.stdout + r.stderr }

// runCmd runs the command in-process, as main does.
func runCmd(t *testing.T, ctx context.Context, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, &stdout, &stderr)
	t.Logf("dynamostore %s -> exit %d\n%s%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
	return result{code, stdout.String(), stderr.String()}
}

// check runs dynamostore check with the fixture's ARNs and ExternalId; extra flags override them.
func (f *fixture) check(t *testing.T, extra ...string) result {
	t.Helper()
	args := append([]string{"check", "-table-arn", f.TableARN, "-role-arn", f.RoleARN, "-external-id", f.ExternalID}, extra...)
	return runCmd(t, context.Background(), args...)
}

// items returns every item in the fixture's table (each test has a table of its own), read
// directly from DynamoDB Local: what check left.
func (f *fixture) items(t *testing.T) []map[string]types.AttributeValue {
	t.Helper()
	out, err := f.ddb.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(f.table), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatalf("scan %s: %v", f.table, err)
	}
	return out.Items
}

// stepLine returns the line of a step (its PASS, SKIP or FAIL line), or "".
func stepLine(out, step string) string {
	for _, l := range strings.Split(out, "\n") {
		for _, status := range []string{"PASS ", "SKIP ", "FAIL "} {
			if strings.HasPrefix(l, status+step+":") {
				return l
			}
		}
	}
	return ""
}

// stepBlock returns a step's line and the indented lines after it.
func stepBlock(out, step string) string {
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if l != "" && l == stepLine(out, step) {
			end := i + 1
			for end < len(lines) && strings.HasPrefix(lines[end], "  ") {
				end++
			}
			return strings.Join(lines[i:end], "\n")
		}
	}
	return ""
}

func wantStatus(t *testing.T, out, step, status string) {
	t.Helper()
	if l := stepLine(out, step); !strings.HasPrefix(l, status+" ") {
		t.Errorf("step %s: want %s, got line %q", step, status, l)
	}
}

func wantContains(t *testing.T, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("output lacks %q", w)
		}
	}
}

func wantCode(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit status %d, want %d", r.code, code)
	}
}

// sentCall is a DynamoDB call as the opRecorder saw it on the wire.
type sentCall struct {
	op, returnValues string
	projection       bool
}

// opRecorder is a proxy in front of the gateway that records the DynamoDB operations it
// forwards, and runs before (when set) ahead of forwarding each.
type opRecorder struct {
	URL    string
	mu     sync.Mutex
	ops    []string
	sent   []sentCall
	before func(op string, r *http.Request) bool // false: answer 502 instead of forwarding
}

func newOpRecorder(t *testing.T, upstream string) *opRecorder {
	t.Helper()
	target, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	rec := &opRecorder{}
	proxy := httputil.NewSingleHostReverseProxy(target) // keeps the Host the client signed
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var in struct{ ReturnValues, ProjectionExpression string }
		_ = json.Unmarshal(body, &in)
		rec.mu.Lock()
		rec.ops = append(rec.ops, op)
		rec.sent = append(rec.sent, sentCall{op: op, returnValues: in.ReturnValues, projection: in.ProjectionExpression != ""})
		before := rec.before
		rec.mu.Unlock()
		if before != nil && !before(op, r) {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	rec.URL = srv.URL
	return rec
}

func (rec *opRecorder) calls() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]string(nil), rec.ops...)
}

func (rec *opRecorder) sentCalls() []sentCall {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]sentCall(nil), rec.sent...)
}

// probeSteps are the steps of the store's calls, in order.
var probeSteps = []string{"save-new", "reload", "save-changed", "regenerate", "login", "login-again", "user-sessions",
	"revoke-session", "revoke-user-sessions", "kv-set", "kv-get", "kv-remove", "delete"}

// TestCheckPasses proves that a correct set-up passes every step with exit status 0, that
// check makes the store's calls (seen at the gateway: every GetItem with a projection, the
// writes with ReturnValues NONE, UpdateItem with ALL_NEW, DeleteItem with ALL_OLD), and that
// nothing is left in the table, not even what the store leaves for TTL.
func TestCheckPasses(t *testing.T) {
	f := newFixture(t, withActions(allActions...))
	rec := newOpRecorder(t, f.Gateway.URL)
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", rec.URL)

	r := f.check(t)
	wantCode(t, r, exitOK)
	steps := append(append([]string{"table-arn", "role-arn", "credentials", "assume-role", "table", "key-schema", "ttl"}, probeSteps...), "cleanup")
	for _, step := range steps {
		wantStatus(t, r.stdout, step, "PASS")
	}
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if !strings.HasPrefix(l, "PASS ") && !strings.HasPrefix(l, "OK: ") {
			t.Errorf("unexpected line %q", l)
		}
	}
	if got := strings.Count(r.stdout, "PASS "); got != len(steps) {
		t.Errorf("%d PASS lines, want %d", got, len(steps))
	}
	wantContains(t, r.stdout, fmt.Sprintf("OK: %d of %d steps passed, 0 skipped", len(steps), len(steps)),
		"through role "+f.RoleARN)
	wantContains(t, stepLine(r.stdout, "cleanup"), "2 tombstones of moved sessions", "the probe user's item, emptied by the revocations")
	sent := rec.sentCalls()
	if len(sent) < 2 || sent[0].op != "DescribeTable" || sent[1].op != "DescribeTimeToLive" {
		t.Errorf("DynamoDB calls %v: want DescribeTable and DescribeTimeToLive first", rec.calls())
	}
	seen := map[sentCall]bool{}
	for _, s := range sent[2:] {
		seen[s] = true
		if s.op == "GetItem" && !s.projection {
			t.Error("a GetItem without a projection: the store never sends one")
		}
	}
	for _, want := range []sentCall{{"PutItem", "", false}, {"GetItem", "", true}, {"UpdateItem", "", false},
		{"UpdateItem", "ALL_NEW", false}, {"DeleteItem", "", false}, {"DeleteItem", "ALL_OLD", false}} {
		if !seen[want] {
			t.Errorf("check never sent %+v, which the store sends", want)
		}
	}
	if left := f.items(t); len(left) != 0 {
		t.Errorf("items left in the table: %v", left)
	}
	if st := f.STS.Stats(); st.Issued != 1 {
		t.Errorf("STS issued %d credentials, want 1 AssumeRole", st.Issued)
	}
}

// TestCheckSkipsTTLWithTheGuidesPolicy proves that CROSS-ACCOUNT.md's least-privilege policy,
// which does not grant dynamodb:DescribeTimeToLive, passes: the TTL step is a SKIP that says
// how to check by hand and how to let check verify it, and the exit status is 0.
func TestCheckSkipsTTLWithTheGuidesPolicy(t *testing.T) {
	f := newFixture(t, dynamostoretest.CrossAccountOptions{}) // SessionTableActions
	r := f.check(t)
	wantCode(t, r, exitOK)
	wantStatus(t, r.stdout, "ttl", "SKIP")
	for _, step := range append([]string{"assume-role", "table", "key-schema", "cleanup"}, probeSteps...) {
		wantStatus(t, r.stdout, step, "PASS")
	}
	wantContains(t, stepBlock(r.stdout, "ttl"), "dynamodb:DescribeTimeToLive", "does not need",
		"aws dynamodb describe-time-to-live --table-name "+f.table+" --region us-east-1")
	n := 8 + len(probeSteps)
	wantContains(t, r.stdout, fmt.Sprintf("OK: %d of %d steps passed, 1 skipped", n-1, n))
	if strings.Contains(r.stdout, "FAIL") {
		t.Error("a FAIL line with the guide's policy")
	}
}

// TestCheckRoleNotTrusted proves that a caller the role's trust policy does not name gets a
// FAIL at assume-role that names the caller (learned from STS's answer) and gives the trust
// policy statement that admits it, and that check stops there.
func TestCheckRoleNotTrusted(t *testing.T) {
	f := newFixture(t, dynamostoretest.CrossAccountOptions{})
	other := f.STS.AddPrincipal(dynamostoretest.Principal{ARN: "arn:aws:iam::" + dynamostoretest.UsageAccount + ":role/other-app"})
	t.Setenv("AWS_ACCESS_KEY_ID", other.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", other.SecretAccessKey)

	r := f.check(t)
	wantCode(t, r, exitFail)
	wantStatus(t, r.stdout, "credentials", "PASS")
	wantStatus(t, r.stdout, "assume-role", "FAIL")
	block := stepBlock(r.stdout, "assume-role")
	wantContains(t, block, "STS denied "+other.ARN+" the role "+f.RoleARN,
		"trust policy does not name "+other.ARN,
		`"Principal": {"AWS": "`+other.ARN+`"}`, `"Action": "sts:AssumeRole"`, "sts:ExternalId",
		"aws iam get-role --role-name dynamostore-sessions")
	if stepLine(r.stdout, "table") != "" {
		t.Error("check went on to the table without credentials")
	}
	wantContains(t, r.stdout, "stopped after assume-role")
}

// TestCheckExternalID proves that a wrong or missing ExternalId gets a FAIL at assume-role
// that points at the ExternalId, names the caller, and never prints the ExternalId.
func TestCheckExternalID(t *testing.T) {
	f := newFixture(t, dynamostoretest.CrossAccountOptions{})
	for _, tc := range []struct {
		name, externalID, want string
	}{
		{"wrong", "not-the-external-id", "its sts:ExternalId condition holds another value"},
		{"missing", "", "no ExternalId was passed: it looks like the role's trust policy requires one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.check(t, "-external-id", tc.externalID)
			wantCode(t, r, exitFail)
			wantStatus(t, r.stdout, "assume-role", "FAIL")
			wantContains(t, stepBlock(r.stdout, "assume-role"), tc.want, "STS denied "+f.App.ARN,
				`"Principal": {"AWS": "`+f.App.ARN+`"}`, `"sts:ExternalId"`)
			for _, id := range []string{f.ExternalID, "not-the-external-id"} {
				if strings.Contains(r.all(), id) {
					t.Errorf("the output shows the ExternalId %q", id)
				}
			}
			if stepLine(r.stdout, "table") != "" {
				t.Error("check went on to the table without credentials")
			}
		})
	}
}

// TestCheckMissingItemAction proves that a policy without one of the item actions fails the
// first step that needs it, naming the action, the call's parameters, the table ARN and the
// role's permission policy (and that no call of that action passed, so the Action list is the
// likely cause); that a later refusal of the same action points back to that fix rather than
// repeating it; that the steps which do not need the action still pass (so one run lists
// every missing action); and that nothing is left in the table. The UpdateItem case is the
// policy of CROSS-ACCOUNT.md without dynamodb:UpdateItem.
func TestCheckMissingItemAction(t *testing.T) {
	for _, tc := range []struct {
		action, step, again string
		pass                []string
	}{
		{"PutItem", "save-new", "kv-set", nil},
		{"GetItem", "reload", "kv-get", []string{"save-new", "kv-set", "kv-remove"}},
		{"UpdateItem", "save-changed", "regenerate", []string{"save-new", "reload", "kv-set", "kv-get", "kv-remove", "delete"}},
	} {
		t.Run(tc.action, func(t *testing.T) {
			var actions []string
			for _, a := range dynamostoretest.SessionTableActions {
				if a != "dynamodb:"+tc.action {
					actions = append(actions, a)
				}
			}
			f := newFixture(t, withActions(actions...))
			r := f.check(t)
			wantCode(t, r, exitFail)
			wantStatus(t, r.stdout, tc.step, "FAIL")
			wantContains(t, stepBlock(r.stdout, tc.step),
				"the role may not call dynamodb:"+tc.action+" as the store sends it (AWS: no identity-based policy allows the dynamodb:"+tc.action+" action): on a session item, key session#<hash>",
				"No dynamodb:"+tc.action+" was allowed in this run",
				"the role's permission policy (CROSS-ACCOUNT.md, step 1) must allow this call: in its statement that allows the item calls on Resource "+f.TableARN,
				"keeping its other statements and conditions",
				`- "Action" includes "dynamodb:`+tc.action+`"`, "<- likely: no dynamodb:"+tc.action+" was allowed in this run",
				"docs/iam.md's tightest policy",
				"aws iam get-role-policy --role-name dynamostore-sessions")
			wantStatus(t, r.stdout, tc.again, "FAIL")
			wantContains(t, stepBlock(r.stdout, tc.again), "fix: as for "+tc.step+" above: no dynamodb:"+tc.action+" has been allowed in this run")
			for _, step := range tc.pass {
				wantStatus(t, r.stdout, step, "PASS")
			}
			if strings.Contains(r.stdout, "put-role-policy") {
				t.Error("a fix replaces the role's policy")
			}
			if tc.action == "PutItem" && stepLine(r.stdout, "cleanup") != "" {
				t.Error("a cleanup step, but every write was refused: nothing was written")
			}
			if left := f.items(t); len(left) != 0 {
				t.Errorf("items left in the table: %v", left)
			}
		})
	}
}

// TestCheckDeleteDeniedSaysWhatRemains proves that when the role may not delete, check says
// which items remain and how to delete each, and that each carries an expires of at most an
// hour from now, so that TTL removes it.
func TestCheckDeleteDeniedSaysWhatRemains(t *testing.T) {
	f := newFixture(t, withActions("dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"))
	r := f.check(t)
	wantCode(t, r, exitFail)
	for _, step := range []string{"save-new", "reload", "save-changed", "regenerate", "login", "login-again", "user-sessions", "kv-set", "kv-get"} {
		wantStatus(t, r.stdout, step, "PASS")
	}
	wantStatus(t, r.stdout, "revoke-session", "FAIL")
	wantContains(t, stepLine(r.stdout, "revoke-session"), "dynamodb:DeleteItem", "ReturnValues ALL_OLD")
	for _, step := range []string{"revoke-user-sessions", "kv-remove", "delete"} {
		wantStatus(t, r.stdout, step, "FAIL")
		wantContains(t, stepBlock(r.stdout, step), "fix: as for revoke-session above: no dynamodb:DeleteItem has been allowed in this run")
	}
	wantStatus(t, r.stdout, "cleanup", "FAIL")
	left := f.items(t)
	if len(left) == 0 {
		t.Fatal("no items in the table, but the role may not delete")
	}
	block := stepBlock(r.stdout, "cleanup")
	wantContains(t, block, fmt.Sprintf("%d of the probe's items remain in table %s", len(left), f.table), "the probe user's item", "the KV view's value")
	for _, item := range left {
		key := item["id"].(*types.AttributeValueMemberS).Value
		wantContains(t, block, `aws dynamodb delete-item --table-name `+f.table+` --key '{"id": {"S": "`+key+`"}}' --region us-east-1`)
		n, ok := item["expires"].(*types.AttributeValueMemberN)
		if !ok {
			t.Fatalf("the item %s has no expires", key)
		}
		expires, _ := strconv.ParseInt(n.Value, 10, 64)
		if d := time.Until(time.Unix(expires, 0)); d < 55*time.Minute || d > 61*time.Minute {
			t.Errorf("the item %s expires in %v, want about an hour", key, d)
		}
	}
}

// TestCheckCleansUpWhenInterrupted proves that the deferred cleanup deletes what the probe
// wrote, with a fresh context, when check's own context is cancelled mid-probe (Ctrl-C).
func TestCheckCleansUpWhenInterrupted(t *testing.T) {
	f := newFixture(t, dynamostoretest.CrossAccountOptions{})
	rec := newOpRecorder(t, f.Gateway.URL)
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", rec.URL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec.before = func(op string, r *http.Request) bool {
		if op != "GetItem" || ctx.Err() != nil {
			return true
		}
		cancel() // the user presses Ctrl-C while GetItem is in flight
		// Read the body, so that the server notices when the client hangs up.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		return false
	}

	r := runCmd(t, ctx, "check", "-table-arn", f.TableARN, "-role-arn", f.RoleARN, "-external-id", f.ExternalID)
	wantCode(t, r, exitFail)
	wantStatus(t, r.stdout, "save-new", "PASS")
	wantStatus(t, r.stdout, "reload", "FAIL")
	wantContains(t, stepBlock(r.stdout, "reload"), "interrupted")
	wantStatus(t, r.stdout, "cleanup", "PASS")
	wantContains(t, r.stdout, "interrupted during reload")
	if stepLine(r.stdout, "save-changed") != "" {
		t.Error("check went on after the interruption")
	}
	if got := rec.calls(); len(got) == 0 || got[len(got)-1] != "DeleteItem" {
		t.Errorf("DynamoDB calls %v: want a DeleteItem last", got)
	}
	if left := f.items(t); len(left) != 0 {
		t.Errorf("items left in the table: %v", left)
	}
}

// createRawTable creates a table with the given key, without TTL, and deletes it after the test.
func createRawTable(t *testing.T, ddb *dynamodb.Client, keys []types.KeySchemaElement, defs []types.AttributeDefinition) string {
	t.Helper()
	name := "raw-" + regexp.MustCompile(`[^a-zA-Z0-9_.-]+`).ReplaceAllString(t.Name(), "-") + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	ctx := context.Background()
	_, err := ddb.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: &name, KeySchema: keys, AttributeDefinitions: defs, BillingMode: types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = ddb.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &name}) })
	if err := dynamodb.NewTableExistsWaiter(ddb).Wait(ctx, &dynamodb.DescribeTableInput{TableName: &name}, time.Minute); err != nil {
		t.Fatal(err)
	}
	return name
}

func key(name string, kind types.KeyType) types.KeySchemaElement {
	return types.KeySchemaElement{AttributeName: aws.String(name), KeyType: kind}
}

func attr(name string, kind types.ScalarAttributeType) types.AttributeDefinition {
	return types.AttributeDefinition{AttributeName: aws.String(name), AttributeType: kind}
}

// TestCheckTTLDisabled proves that a table without TTL fails the ttl step, when the role may
// describe it, with the exact update-time-to-live command, while the probe still passes.
func TestCheckTTLDisabled(t *testing.T) {
	ddb := dynamostoretest.Client(t)
	table := createRawTable(t, ddb, []types.KeySchemaElement{key("id", types.KeyTypeHash)}, []types.AttributeDefinition{attr("id", types.ScalarAttributeTypeS)})
	f := startFixture(t, ddb, table, withActions(allActions...))
	r := f.check(t)
	wantCode(t, r, exitFail)
	wantStatus(t, r.stdout, "ttl", "FAIL")
	wantContains(t, stepBlock(r.stdout, "ttl"), "TTL is disabled",
		"  fix: aws dynamodb update-time-to-live --table-name "+table+" --time-to-live-specification Enabled=true,AttributeName=expires --region us-east-1")
	for _, step := range append([]string{"table", "key-schema", "cleanup"}, probeSteps...) {
		wantStatus(t, r.stdout, step, "PASS")
	}
	if left := f.items(t); len(left) != 0 {
		t.Errorf("items left in the table: %v", left)
	}
}

// TestCheckWrongKeySchema proves that a table whose key is not the single string hash key id
// fails the key-schema step saying what it found, and that check writes nothing to it.
func TestCheckWrongKeySchema(t *testing.T) {
	ddb := dynamostoretest.Client(t)
	table := createRawTable(t, ddb,
		[]types.KeySchemaElement{key("pk", types.KeyTypeHash), key("sk", types.KeyTypeRange)},
		[]types.AttributeDefinition{attr("pk", types.ScalarAttributeTypeS), attr("sk", types.ScalarAttributeTypeS)})
	f := startFixture(t, ddb, table, dynamostoretest.CrossAccountOptions{})
	r := f.check(t)
	wantCode(t, r, exitFail)
	wantStatus(t, r.stdout, "table", "PASS")
	wantStatus(t, r.stdout, "key-schema", "FAIL")
	wantContains(t, stepBlock(r.stdout, "key-schema"), "the table's key is pk (HASH, S), sk (RANGE, S)",
		"the store needs a single hash key id of type S", "dynamostore create-table")
	if stepLine(r.stdout, "save-new") != "" {
		t.Error("check probed a table with the wrong key")
	}
	wantContains(t, r.stdout, "stopped after key-schema")
}

// TestCheckTableMissing proves that a missing table fails the table step with the commands
// that create it, and that check stops there.
func TestCheckTableMissing(t *testing.T) {
	ddb := dynamostoretest.Client(t)
	f := startFixture(t, ddb, "no-such-table", dynamostoretest.CrossAccountOptions{})
	r := f.check(t)
	wantCode(t, r, exitFail)
	wantStatus(t, r.stdout, "assume-role", "PASS")
	wantStatus(t, r.stdout, "table", "FAIL")
	wantContains(t, stepBlock(r.stdout, "table"), "table no-such-table does not exist in account "+dynamostoretest.TableAccount,
		"dynamostore create-table -region us-east-1 no-such-table", "aws dynamodb create-table --table-name no-such-table")
	if stepLine(r.stdout, "save-new") != "" {
		t.Error("check probed a missing table")
	}
}

// TestCheckInvalidARN proves that a malformed ARN, given by flag or by environment variable,
// fails its step with what is wrong (exit status 1) before any AWS call, and that missing
// ARNs are a usage error (exit status 2).
func TestCheckInvalidARN(t *testing.T) {
	isolateAWS(t)
	const table = "arn:aws:dynamodb:us-east-1:444455556666:table/sessions"
	const role = "arn:aws:iam::444455556666:role/dynamostore-sessions"
	for _, tc := range []struct {
		name, table, role, step, want string
	}{
		{"short account", "arn:aws:dynamodb:us-east-1:4444:table/sessions", role, "table-arn", `account "4444" is not 12 digits`},
		{"table name", "sessions", role, "table-arn", "it is a table name, not an ARN"},
		{"index", table + "/index/byUser", role, "table-arn", "use the table's own ARN"},
		{"swapped", role, table, "table-arn", "-table-arn and -role-arn look swapped"},
		{"session ARN", table, "arn:aws:sts::444455556666:assumed-role/dynamostore-sessions/app", "role-arn",
			"pass arn:aws:iam::444455556666:role/dynamostore-sessions"},
		{"user", table, "arn:aws:iam::444455556666:user/bob", "role-arn", `it names "user/bob", not a role`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(t, context.Background(), "check", "-table-arn", tc.table, "-role-arn", tc.role)
			wantCode(t, r, exitFail)
			wantStatus(t, r.stdout, tc.step, "FAIL")
			wantContains(t, stepBlock(r.stdout, tc.step), tc.want)
			if stepLine(r.stdout, "credentials") != "" {
				t.Error("check went on with a bad ARN")
			}
		})
	}
	t.Run("from the environment", func(t *testing.T) {
		t.Setenv("TABLE_ARN", "arn:aws:dynamodb:us-east-1:4444:table/sessions")
		t.Setenv("TABLE_ROLE_ARN", role)
		r := runCmd(t, context.Background(), "check")
		wantCode(t, r, exitFail)
		wantContains(t, stepLine(r.stdout, "table-arn"), `account "4444" is not 12 digits`)
		wantStatus(t, r.stdout, "role-arn", "PASS")
	})
	t.Run("missing", func(t *testing.T) {
		r := runCmd(t, context.Background(), "check", "-role-arn", role)
		wantCode(t, r, exitUsage)
		wantContains(t, r.stderr, "check needs -table-arn (or TABLE_ARN)")
	})
	t.Run("external ID without a role", func(t *testing.T) {
		r := runCmd(t, context.Background(), "check", "-table-arn", table, "-external-id", "x")
		wantCode(t, r, exitUsage)
		wantContains(t, r.stderr, "-external-id goes with -role-arn")
	})
}

// TestCheckNeverPrintsSecrets proves that nothing check prints, on success or on failure,
// holds the application's secret access key or any secret key or session token the STS
// emulator issued (read from its answers through a recording proxy), a signature, or any
// session ID or cookie value of the probe's sessions.
func TestCheckNeverPrintsSecrets(t *testing.T) {
	f := newFixture(t, withActions("dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"))
	var mu sync.Mutex
	var issued, sessionSecrets []string
	testHookSecret = func(s string) {
		mu.Lock()
		sessionSecrets = append(sessionSecrets, s)
		mu.Unlock()
	}
	t.Cleanup(func() { testHookSecret = nil })
	target, _ := url.Parse(f.STS.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		for _, m := range regexp.MustCompile(`<(?:SecretAccessKey|SessionToken)>([^<]+)<`).FindAllStringSubmatch(string(body), -1) {
			mu.Lock()
			issued = append(issued, m[1])
			mu.Unlock()
		}
		return nil
	}
	srv := httptest.NewServer(proxy)
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL_STS", srv.URL)

	var out strings.Builder
	for _, args := range [][]string{nil, {"-external-id", "wrong-id"}} {
		r := f.check(t, args...)
		out.WriteString(r.all())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(issued) != 2 {
		t.Fatalf("saw %d issued secrets, want a secret key and a session token", len(issued))
	}
	if len(sessionSecrets) < 2 {
		t.Fatalf("saw %d session IDs and cookie values, want the probe's", len(sessionSecrets))
	}
	for _, secret := range append(append(issued, f.App.SecretAccessKey), sessionSecrets...) {
		if strings.Contains(out.String(), secret) {
			t.Errorf("the output holds a secret: %.8s...", secret)
		}
	}
	if regexp.MustCompile(`(?i)signature=[0-9a-f]{16}`).MatchString(out.String()) {
		t.Error("the output holds a signature")
	}
	wantContains(t, out.String(), "FAIL save-changed", "FAIL assume-role") // both paths ran
}

// TestRedact proves that the reporter hides known secrets, signatures and security tokens
// even when an AWS error message quotes them.
func TestRedact(t *testing.T) {
	var buf bytes.Buffer
	r := &reporter{w: &buf}
	r.addSecret("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	r.addSecret("FwoGZXIvYXdzEXAMPLETOKEN")
	r.fail("step", "SignatureDoesNotMatch: canonical request: x-amz-security-token:FwoGZXIvYXdzEXAMPLETOKEN\nsecret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		"Authorization: AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20250101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0123456789abcdef0123456789abcdef",
		"X-Amz-Security-Token=sometoken&X-Amz-Signature=fedcba9876543210")
	out := buf.String()
	for _, secret := range []string{"wJalrXUtnFEMI", "FwoGZXIvYXdz", "0123456789abcdef", "sometoken", "fedcba98", "ASIAEXAMPLE"} {
		if strings.Contains(out, secret) {
			t.Errorf("%q survived redaction:\n%s", secret, out)
		}
	}
	wantContains(t, out, "FAIL step: SignatureDoesNotMatch", "[redacted]")
}

// TestCreateTable proves that create-table creates a session table (hash key id of type S,
// on-demand, TTL on expires) on the endpoint given, from a name or an ARN, and that a second
// run finds it and changes nothing.
func TestCreateTable(t *testing.T) {
	endpoint := dynamostoretest.Endpoint(t)
	ddb := dynamostoretest.Client(t)
	isolateAWS(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "local")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local")
	t.Setenv("AWS_REGION", "us-east-1")
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	for _, tc := range []struct{ name, arg string }{
		{"create-by-name-" + suffix, "create-by-name-" + suffix},
		{"create-by-arn-" + suffix, "arn:aws:dynamodb:us-east-1:444455556666:table/create-by-arn-" + suffix},
	} {
		t.Cleanup(func() {
			_, _ = ddb.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(tc.name)})
		})
		r := runCmd(t, context.Background(), "create-table", "-endpoint", endpoint, tc.arg)
		wantCode(t, r, exitOK)
		wantContains(t, r.stdout, "created table "+tc.name+" in us-east-1: on-demand, hash key id (S), TTL on expires", "TABLE_ARN=")
		out, err := ddb.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String(tc.name)})
		if err != nil {
			t.Fatal(err)
		}
		if found, single := keySchema(out.Table); single != "id" || attributeType(out.Table, "id") != types.ScalarAttributeTypeS {
			t.Errorf("key %s, want a single hash key id (S)", found)
		}
		if b := out.Table.BillingModeSummary; b == nil || b.BillingMode != types.BillingModePayPerRequest {
			t.Errorf("billing mode %+v, want PAY_PER_REQUEST", b)
		}
		ttl, err := ddb.DescribeTimeToLive(context.Background(), &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(tc.name)})
		if err != nil || !ttlOn(ttl.TimeToLiveDescription, "expires") {
			t.Errorf("TTL %+v, %v: want it on expires", ttl, err)
		}
		r = runCmd(t, context.Background(), "create-table", "-endpoint", endpoint, tc.arg)
		wantCode(t, r, exitOK)
		wantContains(t, r.stdout, "already existed", "nothing to do")
	}
	r := runCmd(t, context.Background(), "create-table", "-endpoint", endpoint)
	wantCode(t, r, exitUsage)
}

// TestKeygen proves that keygen prints a hash key and a block key of 32 random bytes each,
// in hex, different from each other and from one run to the next.
func TestKeygen(t *testing.T) {
	pattern := regexp.MustCompile(`^SESSION_HASH_KEY=([0-9a-f]{64})\nSESSION_BLOCK_KEY=([0-9a-f]{64})\n$`)
	seen := map[string]bool{}
	for range 2 {
		r := runCmd(t, context.Background(), "keygen")
		wantCode(t, r, exitOK)
		m := pattern.FindStringSubmatch(r.stdout)
		if m == nil {
			t.Fatalf("keygen printed %q", r.stdout)
		}
		for _, k := range m[1:] {
			if seen[k] {
				t.Errorf("key %s printed twice", k)
			}
			seen[k] = true
		}
	}
}

// TestUsage proves that help, -h and no arguments print the usage with every subcommand and
// environment variable, and that an unknown command is a usage error.
func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
	}{{nil, exitUsage}, {[]string{"help"}, exitOK}, {[]string{"-h"}, exitOK}, {[]string{"frobnicate"}, exitUsage}} {
		r := runCmd(t, context.Background(), tc.args...)
		wantCode(t, r, tc.code)
		wantContains(t, r.all(), "dynamostore check -table-arn ARN [-role-arn ARN [-external-id ID]]", "dynamostore create-table", "dynamostore keygen",
			"TABLE_ARN", "TABLE_ROLE_ARN", "EXTERNAL_ID", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_DYNAMODB")
	}
	r := runCmd(t, context.Background(), "check", "-h")
	wantCode(t, r, exitOK)
	wantContains(t, r.stderr, "-external-id", "-table-arn", "-role-arn", "-region", "-key-prefix", "-partition-key", "resource-based policy")
}
