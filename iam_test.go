package dynamostore_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go"
	"github.com/gorilla/sessions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/dynamostoretest"
)

// docsTableARN is the table ARN that docs/iam.md's policies name.
const docsTableARN = "arn:aws:dynamodb:us-east-1:444455556666:table/dynamostore-sessions"

// tightestPolicy returns docs/iam.md's tightest policy, as printed there, for the table tableARN
// and the key prefix prefix.
func tightestPolicy(t *testing.T, tableARN, prefix string) dynamostoretest.Policy {
	t.Helper()
	doc, err := os.ReadFile("docs/iam.md")
	require.NoError(t, err)
	_, after, ok := strings.Cut(string(doc), "<!-- tightest-policy")
	require.True(t, ok, "docs/iam.md has no tightest-policy marker")
	_, after, ok = strings.Cut(after, "```json\n")
	require.True(t, ok)
	body, _, ok := strings.Cut(after, "```")
	require.True(t, ok)
	require.Contains(t, body, docsTableARN)
	require.Contains(t, body, `"session#*"`)
	body = strings.ReplaceAll(body, docsTableARN, tableARN)
	body = strings.ReplaceAll(body, `"session#*"`, `"`+prefix+`*"`)
	p, err := dynamostoretest.ParsePolicy([]byte(body))
	require.NoError(t, err, "docs/iam.md's tightest policy")
	return p
}

// newPolicyFixture is the cross-account set-up whose role has docs/iam.md's tightest policy,
// confined to prefix.
func newPolicyFixture(t *testing.T, prefix string) *xfixture {
	t.Helper()
	ddb := dynamostoretest.Client(t)
	table := dynamostoretest.NewTable(t, ddb)
	policy := tightestPolicy(t, "arn:aws:dynamodb:us-east-1:"+dynamostoretest.TableAccount+":table/"+table, prefix)
	x, err := dynamostoretest.StartCrossAccount(dynamostoretest.Endpoint(t), table, dynamostoretest.CrossAccountOptions{Policy: &policy})
	require.NoError(t, err)
	t.Cleanup(x.Close)
	return &xfixture{CrossAccount: x, table: table, ddb: ddb}
}

// The whole store (sessions, users' sessions with the cap, the KV view across a key
// rotation) works through the cross-account set-up under exactly the policy docs/iam.md gives
// as the tightest: the gateway evaluates its LeadingKeys, Attributes, ReturnValues and Select
// conditions, and refuses nothing.
func TestWholeStoreUnderTheTightestPolicy(t *testing.T) {
	x := newPolicyFixture(t, "session#")
	ctx := context.Background()
	ca, client, err := x.Connect()
	require.NoError(t, err)
	t.Cleanup(func() { ca.Credentials.Close() })
	clk := newClock() // Logins a second apart, so that the cap's "oldest" is one session
	opts := []dynamostore.Option{dynamostore.WithTableName(ca.Table.String()), dynamostore.WithKeyPairs(hashKey1),
		dynamostore.WithMaxSessionsPerUser(2), dynamostore.WithOptimisticLocking(true), dynamostore.WithClock(clk.Now)}
	store, err := dynamostore.New(client, opts...)
	require.NoError(t, err)

	// Sessions: create, reload unchanged, change, Regenerate, logout.
	b := newBrowser()
	_, err = b.visit(t, store, func(s *sessions.Session) bool { s.Values["n"] = 1; return true })
	require.NoError(t, err)
	_, err = b.visit(t, store, nil)
	require.NoError(t, err)
	_, err = b.visit(t, store, func(s *sessions.Session) bool { s.Values["n"] = 2; return true })
	require.NoError(t, err)
	r, s := b.copy(t, store)
	rec := httptest.NewRecorder()
	require.NoError(t, store.Regenerate(r, rec, s))
	b.receive(rec)
	r, s = b.copy(t, store)
	assert.Equal(t, 2, s.Values["n"])
	rec = httptest.NewRecorder()
	require.NoError(t, store.Delete(r, rec, s))
	b.receive(rec)

	// Users' sessions: three Logins with a cap of two, the listing, and both revocations.
	first, second, third := newBrowser(), newBrowser(), newBrowser()
	first.login(t, store, "ada")
	clk.Advance(time.Second)
	h2 := second.login(t, store, "ada")
	clk.Advance(time.Second)
	h3 := third.login(t, store, "ada")
	infos, err := store.UserSessions(ctx, "ada")
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{h2, h3}, handles(infos), "the cap ended the oldest")
	require.NoError(t, store.RevokeSession(ctx, "ada", h2))
	n, err := store.RevokeUserSessions(ctx, "ada")
	require.NoError(t, err)
	assert.Equal(t, 1, n)

	// The KV view, and a read across a key rotation.
	kv := store.KV("scs")
	require.NoError(t, kv.Set(ctx, "token", []byte("v"), time.Now().Add(time.Hour)))
	v, found, err := kv.Get(ctx, "token")
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, "v", string(v))
	rotated, err := dynamostore.New(client, append(opts, dynamostore.WithKeyPairs(hashKey2, nil, hashKey1, nil))...)
	require.NoError(t, err)
	_, found, err = rotated.KV("scs").Get(ctx, "token")
	require.NoError(t, err)
	assert.True(t, found, "read under the old key pair")
	require.NoError(t, rotated.KV("scs").Remove(ctx, "token"))
	_, found, err = kv.Get(ctx, "token")
	require.NoError(t, err)
	assert.False(t, found)

	assert.Empty(t, x.Gateway.Stats().Rejected, "the gateway refused none of the store's calls")
	assert.Positive(t, x.Gateway.Stats().Forwarded)
}

// The same policy for another key prefix stops the store at its first write, with DynamoDB's
// AccessDeniedException inside a typed *OpError, and the stored data untouched.
func TestTightestPolicyForAnotherPrefixStopsTheStore(t *testing.T) {
	x := newPolicyFixture(t, "other#")
	store, _ := x.ours(t)
	b := newBrowser()
	_, err := b.visit(t, store, func(s *sessions.Session) bool { s.Values["n"] = 1; return true })
	var opErr *dynamostore.OpError
	require.ErrorAs(t, err, &opErr)
	assert.Equal(t, "PutItem", opErr.Op)
	var apiErr smithy.APIError
	require.True(t, errors.As(err, &apiErr))
	assert.Equal(t, "AccessDeniedException", apiErr.ErrorCode())
	assert.Contains(t, err.Error(), "is not authorized to perform: dynamodb:PutItem")
	assert.Empty(t, b.cookies, "no cookie for a session that was not stored")
	out, err := x.ddb.Scan(context.Background(), &dynamodb.ScanInput{TableName: &x.table})
	require.NoError(t, err)
	assert.Empty(t, out.Items, "nothing was written")
}
