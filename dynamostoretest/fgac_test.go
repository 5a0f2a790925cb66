package dynamostoretest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/dynamostoretest"
)

// fgac is the cross-account set-up whose role has the policy of a document (TABLE_ARN stands
// for the table's ARN), with a DynamoDB client that uses the role's credentials through the
// gateway.
type fgac struct {
	x       *dynamostoretest.CrossAccount
	ddb     *dynamodb.Client // the role, through the gateway
	local   *dynamodb.Client // DynamoDB Local directly
	table   string
	session string // the role session's ARN
}

func newFGAC(t *testing.T, doc string) *fgac {
	t.Helper()
	local := dynamostoretest.Client(t)
	table := dynamostoretest.NewTable(t, local)
	arn := "arn:aws:dynamodb:us-east-1:" + dynamostoretest.TableAccount + ":table/" + table
	policy, err := dynamostoretest.ParsePolicy([]byte(strings.ReplaceAll(doc, "TABLE_ARN", arn)))
	require.NoError(t, err)
	x, err := dynamostoretest.StartCrossAccount(dynamostoretest.Endpoint(t), table, dynamostoretest.CrossAccountOptions{Policy: &policy})
	require.NoError(t, err)
	t.Cleanup(x.Close)
	out, err := stsClient(x, x.App.AccessKeyID, x.App.SecretAccessKey, "").AssumeRole(context.Background(), &sts.AssumeRoleInput{
		RoleArn: aws.String(x.RoleARN), RoleSessionName: aws.String("fgac"), ExternalId: aws.String(x.ExternalID)})
	require.NoError(t, err)
	c := out.Credentials
	return &fgac{x: x, local: local, table: table, session: *out.AssumedRoleUser.Arn,
		ddb: gatewayClient(x, *c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)}
}

func gatewayClient(x *dynamostoretest.CrossAccount, keyID, secret, token string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(x.Gateway.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(keyID, secret, token)})
}

// denied asserts AWS's AccessDeniedException for who's action on resource, for the reason
// AWS words ("because no identity-based policy allows the dynamodb:X action", ...).
func denied(t *testing.T, err error, who, action, resource, why string) {
	t.Helper()
	require.Error(t, err, "%s must be refused", action)
	code, msg := apiCode(t, err)
	assert.Equal(t, "AccessDeniedException", code)
	assert.Equal(t, fmt.Sprintf("User: %s is not authorized to perform: dynamodb:%s on resource: %s %s", who, action, resource, why), msg)
}

func noIdentityAllow(action string) string {
	return "because no identity-based policy allows the dynamodb:" + action + " action"
}

func item(id string, attrs ...string) map[string]types.AttributeValue {
	m := map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: id}}
	for _, a := range attrs {
		m[a] = &types.AttributeValueMemberS{Value: "v"}
	}
	return m
}

func (f *fgac) exists(t *testing.T, id string) bool {
	t.Helper()
	out, err := f.local.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: &f.table, Key: item(id), ConsistentRead: aws.Bool(true)})
	require.NoError(t, err)
	return out.Item != nil
}

// dynamodb:LeadingKeys with ForAllValues:StringLike confines the role to a key prefix: every
// item call under it passes, the same calls on another prefix get AccessDeniedException.
func TestLeadingKeysConfinesToAPrefix(t *testing.T) {
	f := newFGAC(t, `{
		"Version": "2012-10-17",
		"Statement": [{
			"Effect": "Allow",
			"Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
			"Resource": "TABLE_ARN",
			"Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["tenant-a#*"]}}
		}]
	}`)
	ctx := context.Background()
	table := aws.String(f.table)
	arn := f.x.TableARN
	for _, id := range []string{"tenant-a#1", "tenant-b#1"} {
		_, putErr := f.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: item(id, "data")})
		_, getErr := f.ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: item(id)})
		_, updErr := f.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: table, Key: item(id), UpdateExpression: aws.String("SET n = :n"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":n": &types.AttributeValueMemberN{Value: "1"}}})
		if id == "tenant-a#1" {
			require.NoError(t, putErr)
			require.NoError(t, getErr)
			require.NoError(t, updErr)
			assert.True(t, f.exists(t, id))
			_, err := f.ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: table, Key: item(id)})
			require.NoError(t, err)
			assert.False(t, f.exists(t, id))
			continue
		}
		denied(t, putErr, f.session, "PutItem", arn, noIdentityAllow("PutItem"))
		denied(t, getErr, f.session, "GetItem", arn, noIdentityAllow("GetItem"))
		denied(t, updErr, f.session, "UpdateItem", arn, noIdentityAllow("UpdateItem"))
		_, err := f.ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: table, Key: item(id)})
		denied(t, err, f.session, "DeleteItem", arn, noIdentityAllow("DeleteItem"))
		assert.False(t, f.exists(t, id), "nothing written under the other prefix")
	}
	// A Scan reads every partition: AWS computes no leading key the kit could check, so the
	// statement does not apply (and the action is not listed anyway).
	_, err := f.ddb.Scan(ctx, &dynamodb.ScanInput{TableName: table})
	denied(t, err, f.session, "Scan", arn, noIdentityAllow("Scan"))
}

// dynamodb:Attributes with ForAllValues:StringEquals refuses a request that names another
// top-level attribute, wherever it names it.
func TestAttributesRefuseUnlistedNames(t *testing.T) {
	f := newFGAC(t, `{
		"Version": "2012-10-17",
		"Statement": [{
			"Effect": "Allow",
			"Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
			"Resource": "TABLE_ARN",
			"Condition": {"ForAllValues:StringEquals": {"dynamodb:Attributes": ["id", "data", "expires"]}}
		}]
	}`)
	ctx := context.Background()
	table := aws.String(f.table)
	arn := f.x.TableARN
	values := map[string]types.AttributeValue{":v": &types.AttributeValueMemberS{Value: "x"}}

	_, err := f.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: item("k", "data", "expires")})
	require.NoError(t, err)
	_, err = f.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: item("k2", "data", "secret")})
	denied(t, err, f.session, "PutItem", arn, noIdentityAllow("PutItem"))

	_, err = f.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: table, Key: item("k"), UpdateExpression: aws.String("SET #d = :v"),
		ExpressionAttributeNames: map[string]string{"#d": "data"}, ExpressionAttributeValues: values})
	require.NoError(t, err)
	_, err = f.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: table, Key: item("k"), UpdateExpression: aws.String("SET #d = :v, #n = :v"),
		ExpressionAttributeNames: map[string]string{"#d": "data", "#n": "secret"}, ExpressionAttributeValues: values})
	denied(t, err, f.session, "UpdateItem", arn, noIdentityAllow("UpdateItem"))
	_, err = f.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: table, Key: item("k"), UpdateExpression: aws.String("SET expires = :v"),
		ConditionExpression: aws.String("attribute_not_exists(secret)"), ExpressionAttributeValues: values})
	denied(t, err, f.session, "UpdateItem", arn, noIdentityAllow("UpdateItem"))
	_, err = f.ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: table, Key: item("k"),
		ConditionExpression: aws.String("#s = :v"), ExpressionAttributeNames: map[string]string{"#s": "secret"}, ExpressionAttributeValues: values})
	denied(t, err, f.session, "DeleteItem", arn, noIdentityAllow("DeleteItem"))
	_, err = f.ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: item("k"), ProjectionExpression: aws.String("expires, secret")})
	denied(t, err, f.session, "GetItem", arn, noIdentityAllow("GetItem"))

	// Only the top-level name counts: a path under data is data.
	_, err = f.ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: item("k"), ProjectionExpression: aws.String("#d.#n"),
		ExpressionAttributeNames: map[string]string{"#d": "data", "#n": "secret"}})
	require.NoError(t, err)
	out, err := f.local.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: item("k")})
	require.NoError(t, err)
	assert.Nil(t, out.Item["secret"], "no refused write reached DynamoDB Local")
	assert.True(t, f.exists(t, "k"), "nor the refused delete")
}

// dynamodb:ReturnValues as the guide's example 3: StringEquals on NONE and UPDATED_NEW
// (a request without ReturnValues has NONE) refuses ALL_NEW and ALL_OLD.
func TestReturnValuesRefusesAllNew(t *testing.T) {
	f := newFGAC(t, `{
		"Version": "2012-10-17",
		"Statement": [{
			"Effect": "Allow",
			"Action": ["dynamodb:UpdateItem", "dynamodb:DeleteItem"],
			"Resource": "TABLE_ARN",
			"Condition": {"StringEquals": {"dynamodb:ReturnValues": ["NONE", "UPDATED_NEW"]}}
		}]
	}`)
	ctx := context.Background()
	update := func(rv types.ReturnValue) error {
		_, err := f.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &f.table, Key: item("k"), UpdateExpression: aws.String("ADD n :one"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}}, ReturnValues: rv})
		return err
	}
	require.NoError(t, update(""), "no ReturnValues is NONE")
	require.NoError(t, update(types.ReturnValueNone))
	require.NoError(t, update(types.ReturnValueUpdatedNew))
	denied(t, update(types.ReturnValueAllNew), f.session, "UpdateItem", f.x.TableARN, noIdentityAllow("UpdateItem"))
	denied(t, update(types.ReturnValueAllOld), f.session, "UpdateItem", f.x.TableARN, noIdentityAllow("UpdateItem"))
	_, err := f.ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &f.table, Key: item("k"), ReturnValues: types.ReturnValueAllOld})
	denied(t, err, f.session, "DeleteItem", f.x.TableARN, noIdentityAllow("DeleteItem"))
	_, err = f.ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &f.table, Key: item("k")})
	require.NoError(t, err)
}

// The IAM User Guide's "Amazon DynamoDB: Allows access to specific attributes" policy, as
// written: dynamodb:Select, which a GetItem always has, must be SPECIFIC_ATTRIBUTES, so a
// GetItem without a projection is refused.
func TestSelectRefusesGetItemWithoutProjection(t *testing.T) {
	f := newFGAC(t, `{
		"Version": "2012-10-17",
		"Statement": [{
			"Effect": "Allow",
			"Action": ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem",
				"dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"],
			"Resource": ["TABLE_ARN"],
			"Condition": {
				"ForAllValues:StringEquals": {"dynamodb:Attributes": ["id", "data", "expires"]},
				"StringEqualsIfExists": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"}
			}
		}]
	}`)
	ctx := context.Background()
	_, err := f.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: &f.table, Item: item("k", "data", "expires")})
	require.NoError(t, err, "a write has no Select")
	out, err := f.ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: &f.table, Key: item("k"), ProjectionExpression: aws.String("#d, expires"),
		ExpressionAttributeNames: map[string]string{"#d": "data"}})
	require.NoError(t, err)
	assert.Len(t, out.Item, 2)
	_, err = f.ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: &f.table, Key: item("k"), AttributesToGet: []string{"expires"}})
	require.NoError(t, err)
	_, err = f.ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: &f.table, Key: item("k")})
	denied(t, err, f.session, "GetItem", f.x.TableARN, noIdentityAllow("GetItem"))
	_, err = f.ddb.Query(ctx, &dynamodb.QueryInput{TableName: &f.table, KeyConditionExpression: aws.String("id = :k"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":k": &types.AttributeValueMemberS{Value: "k"}}})
	denied(t, err, f.session, "Query", f.x.TableARN, noIdentityAllow("Query"))
}

// An explicit Deny wins over any Allow, with AWS's message for it.
func TestExplicitDenyWins(t *testing.T) {
	f := newFGAC(t, `{
		"Version": "2012-10-17",
		"Statement": [
			{"Sid": "Everything", "Effect": "Allow", "Action": "dynamodb:*", "Resource": "TABLE_ARN"},
			{"Sid": "NoSecrets", "Effect": "Deny", "Action": ["dynamodb:PutItem", "dynamodb:UpdateItem"], "Resource": "*",
			 "Condition": {"ForAnyValue:StringEquals": {"dynamodb:Attributes": ["secret"]}}},
			{"Sid": "NeverDelete", "Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": "*"}
		]
	}`)
	ctx := context.Background()
	_, err := f.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: &f.table, Item: item("k", "data")})
	require.NoError(t, err)
	_, err = f.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: &f.table, Item: item("k", "secret")})
	denied(t, err, f.session, "PutItem", f.x.TableARN, "with an explicit deny in an identity-based policy")
	_, err = f.ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &f.table, Key: item("k")})
	denied(t, err, f.session, "DeleteItem", f.x.TableARN, "with an explicit deny in an identity-based policy")
	_, err = f.ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &f.table})
	require.NoError(t, err)
}

// aws:PrincipalArn is the role's ARN for its sessions.
func TestPrincipalArnOfARoleSession(t *testing.T) {
	f := newFGAC(t, `{
		"Version": "2012-10-17",
		"Statement": [{"Effect": "Allow", "Action": "dynamodb:DescribeTable", "Resource": "TABLE_ARN",
			"Condition": {"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::444455556666:role/dynamostore-sessions"},
				"StringEquals": {"aws:PrincipalAccount": "444455556666", "aws:RequestedRegion": "us-east-1"}}}]
	}`)
	_, err := f.ddb.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: &f.table})
	require.NoError(t, err)
}

// A Query of an index acts on the index's ARN, which a policy on the table does not cover.
func TestQueryOfAnIndexNeedsTheIndexARN(t *testing.T) {
	f := newFGAC(t, `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:Query", "Resource": "TABLE_ARN"}]}`)
	_, err := f.ddb.Query(context.Background(), &dynamodb.QueryInput{TableName: &f.table, IndexName: aws.String("by-user"),
		KeyConditionExpression: aws.String("u = :u"), ExpressionAttributeValues: map[string]types.AttributeValue{":u": &types.AttributeValueMemberS{Value: "x"}}})
	denied(t, err, f.session, "Query", f.x.TableARN+"/index/by-user", noIdentityAllow("Query"))
}

// A resource-based policy on the table, as AWS evaluates it: across accounts the caller's
// identity-based policy and the table's policy must both allow, within the table's account
// either may (unless the table's policy names only the account, which delegates), and an
// explicit Deny in either wins.
func TestResourcePolicyCrossAccount(t *testing.T) {
	local := dynamostoretest.Client(t)
	table := dynamostoretest.NewTable(t, local)
	arn := "arn:aws:dynamodb:us-east-1:" + dynamostoretest.TableAccount + ":table/" + table
	user := func(account, name string) string { return "arn:aws:iam::" + account + ":user/" + name }
	usage, owner := dynamostoretest.UsageAccount, dynamostoretest.TableAccount
	doc := strings.NewReplacer("TABLE_ARN", arn, "USAGE", usage, "OWNER", owner).Replace(`{
		"Version": "2012-10-17",
		"Statement": [
			{"Sid": "Tenants", "Effect": "Allow",
			 "Principal": {"AWS": ["arn:aws:iam::USAGE:user/both", "arn:aws:iam::USAGE:user/resource-only", "arn:aws:iam::USAGE:user/denied"]},
			 "Action": ["dynamodb:GetItem", "dynamodb:PutItem"], "Resource": "TABLE_ARN",
			 "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["tenant#*"]}}},
			{"Sid": "NoWrites", "Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::USAGE:user/denied"},
			 "Action": "dynamodb:PutItem", "Resource": "TABLE_ARN"},
			{"Sid": "SameAccount", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::OWNER:user/local"},
			 "Action": "dynamodb:PutItem", "Resource": "TABLE_ARN"},
			{"Sid": "Delegated", "Effect": "Allow", "Principal": {"AWS": "OWNER"},
			 "Action": "dynamodb:PutItem", "Resource": "TABLE_ARN"}
		]
	}`)
	rp, err := dynamostoretest.ParsePolicy([]byte(doc))
	require.NoError(t, err)
	x, err := dynamostoretest.StartCrossAccount(dynamostoretest.Endpoint(t), table, dynamostoretest.CrossAccountOptions{ResourcePolicy: &rp})
	require.NoError(t, err)
	t.Cleanup(x.Close)
	identity := dynamostoretest.Policy{Actions: []string{"dynamodb:GetItem", "dynamodb:PutItem"}, Resources: []string{arn}}
	clients := map[string]*dynamodb.Client{}
	for _, p := range []dynamostoretest.Principal{
		{ARN: user(usage, "both"), Policy: identity},
		{ARN: user(usage, "identity-only"), Policy: identity},
		{ARN: user(usage, "resource-only")},
		{ARN: user(usage, "denied"), Policy: identity},
		{ARN: user(owner, "local")},
		{ARN: user(owner, "delegated")},
	} {
		p = x.STS.AddPrincipal(p)
		clients[p.ARN] = gatewayClient(x, p.AccessKeyID, p.SecretAccessKey, "")
	}
	put := func(who, id string) error {
		_, err := clients[who].PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(arn), Item: item(id)})
		return err
	}
	noResourceAllow := "because no resource-based policy allows the dynamodb:PutItem action"

	require.NoError(t, put(user(usage, "both"), "tenant#1"), "both policies allow")
	denied(t, put(user(usage, "both"), "other#1"), user(usage, "both"), "PutItem", arn, noResourceAllow)
	denied(t, put(user(usage, "identity-only"), "tenant#2"), user(usage, "identity-only"), "PutItem", arn, noResourceAllow)
	denied(t, put(user(usage, "resource-only"), "tenant#3"), user(usage, "resource-only"), "PutItem", arn, noIdentityAllow("PutItem"))
	denied(t, put(user(usage, "denied"), "tenant#4"), user(usage, "denied"), "PutItem", arn, "with an explicit deny in a resource-based policy")
	_, err = clients[user(usage, "denied")].GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(arn), Key: item("tenant#1")})
	require.NoError(t, err, "the Deny is on PutItem only")
	require.NoError(t, put(user(owner, "local"), "any#5"), "within the account, the resource-based policy alone allows")
	denied(t, put(user(owner, "delegated"), "any#6"), user(owner, "delegated"), "PutItem", arn, noIdentityAllow("PutItem"))

	out, err := local.Scan(context.Background(), &dynamodb.ScanInput{TableName: &table})
	require.NoError(t, err)
	assert.Len(t, out.Items, 2, "only the two allowed writes reached the table")
}

// StartCrossAccount's default table policy is docs/iam.md's mode 2 for the usage account: a
// principal there that signs its own requests needs its identity-based policy, and the
// application's principal (which only assumes the role) has none.
func TestResourcePolicyModeByDefault(t *testing.T) {
	local := dynamostoretest.Client(t)
	x, err := dynamostoretest.StartCrossAccount(dynamostoretest.Endpoint(t), dynamostoretest.NewTable(t, local), dynamostoretest.CrossAccountOptions{})
	require.NoError(t, err)
	t.Cleanup(x.Close)
	direct := x.STS.AddPrincipal(dynamostoretest.Principal{
		ARN:    "arn:aws:iam::" + dynamostoretest.UsageAccount + ":role/direct",
		Policy: dynamostoretest.Policy{Actions: dynamostoretest.SessionTableActions, Resources: []string{x.TableARN}},
	})
	ctx := context.Background()
	_, err = gatewayClient(x, direct.AccessKeyID, direct.SecretAccessKey, "").PutItem(ctx, &dynamodb.PutItemInput{TableName: &x.TableARN, Item: item("session#1")})
	require.NoError(t, err)
	_, err = gatewayClient(x, x.App.AccessKeyID, x.App.SecretAccessKey, "").PutItem(ctx, &dynamodb.PutItemInput{TableName: &x.TableARN, Item: item("session#2")})
	denied(t, err, x.App.ARN, "PutItem", x.TableARN, noIdentityAllow("PutItem"))

	// A table without a resource policy: the cross-account principal is refused.
	none := dynamostoretest.Policy{}
	y, err := dynamostoretest.StartCrossAccount(dynamostoretest.Endpoint(t), dynamostoretest.NewTable(t, local), dynamostoretest.CrossAccountOptions{ResourcePolicy: &none})
	require.NoError(t, err)
	t.Cleanup(y.Close)
	direct = y.STS.AddPrincipal(dynamostoretest.Principal{ARN: direct.ARN, Policy: dynamostoretest.Policy{Actions: []string{"dynamodb:*"}, Resources: []string{"*"}}})
	_, err = gatewayClient(y, direct.AccessKeyID, direct.SecretAccessKey, "").PutItem(ctx, &dynamodb.PutItemInput{TableName: &y.TableARN, Item: item("session#1")})
	denied(t, err, direct.ARN, "PutItem", y.TableARN, "because no resource-based policy allows the dynamodb:PutItem action")
}

// StartCrossAccount and NewGateway refuse policies they could not evaluate.
func TestBadPoliciesAreRefused(t *testing.T) {
	var pe *dynamostoretest.PolicyError
	bad := dynamostoretest.Policy{Statements: []dynamostoretest.Statement{{Effect: "allow", Actions: []string{"dynamodb:*"}, Resources: []string{"*"}}}}
	_, err := dynamostoretest.StartCrossAccount("http://127.0.0.1:1", "t", dynamostoretest.CrossAccountOptions{Policy: &bad})
	require.ErrorAs(t, err, &pe)
	withPrincipal := dynamostoretest.Policy{Statements: []dynamostoretest.Statement{{Effect: dynamostoretest.Allow, Principals: []string{"*"},
		Actions: []string{"dynamodb:*"}, Resources: []string{"*"}}}}
	_, err = dynamostoretest.StartCrossAccount("http://127.0.0.1:1", "t", dynamostoretest.CrossAccountOptions{Policy: &withPrincipal})
	require.ErrorAs(t, err, &pe)
	assert.Contains(t, err.Error(), "must not have a Principal")
	noPrincipal := dynamostoretest.Policy{Statements: []dynamostoretest.Statement{{Effect: dynamostoretest.Allow, Actions: []string{"dynamodb:*"}, Resources: []string{"*"}}}}
	_, err = dynamostoretest.StartCrossAccount("http://127.0.0.1:1", "t", dynamostoretest.CrossAccountOptions{ResourcePolicy: &noPrincipal})
	require.ErrorAs(t, err, &pe)
	assert.Contains(t, err.Error(), "needs a Principal")
	short := dynamostoretest.Policy{Actions: []string{"dynamodb:*"}, Resources: []string{"*"}}
	emu := dynamostoretest.NewSTS()
	defer emu.Close()
	_, err = dynamostoretest.NewGateway("http://127.0.0.1:1", emu, dynamostoretest.GatewayOptions{ResourcePolicy: &short})
	require.ErrorAs(t, err, &pe)
	badCondition := dynamostoretest.Policy{Statements: []dynamostoretest.Statement{{Effect: dynamostoretest.Allow, Principals: []string{"*"},
		Actions: []string{"dynamodb:*"}, Resources: []string{"*"},
		Conditions: []dynamostoretest.Condition{{Operator: "StringEquals", Key: "aws:SourceIp", Values: []string{"10.0.0.1"}}}}}}
	_, err = dynamostoretest.NewGateway("http://127.0.0.1:1", emu, dynamostoretest.GatewayOptions{ResourcePolicy: &badCondition})
	require.ErrorAs(t, err, &pe)
}

// The session store works under a least-privilege policy with every fine-grained condition:
// its key prefix (dynamodb:LeadingKeys), the attributes it writes (dynamodb:Attributes), reads
// that name them (dynamodb:Select SPECIFIC_ATTRIBUTES, as in the IAM User Guide's "Allows
// access to specific attributes") and no ReturnValues. The store must read with a projection
// for this: a GetItem without one has Select ALL_ATTRIBUTES, and is refused. ReturnValues
// needs StringEqualsIfExists, as in the DynamoDB guide's example 2: a GetItem has no
// dynamodb:ReturnValues, and StringEquals on a key the request lacks is false.
func TestSessionStoreUnderLeastPrivilege(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	f := newFGAC(t, `{
		"Version": "2012-10-17",
		"Statement": [{
			"Sid": "SessionItems",
			"Effect": "Allow",
			"Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
			"Resource": "TABLE_ARN",
			"Condition": {
				"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["session#*"]},
				"ForAllValues:StringEquals": {"dynamodb:Attributes": ["id", "data", "expires", "written", "version", "moved", "sessions", "deleted"]},
				"StringEqualsIfExists": {"dynamodb:ReturnValues": "NONE", "dynamodb:Select": "SPECIFIC_ATTRIBUTES"}
			}
		}]
	}`)
	visit := func(t *testing.T, store *dynamostore.Store, cookie *http.Cookie, edit func(map[any]any)) (*http.Cookie, map[any]any, error) {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, "https://example.com/", nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		sess, err := store.New(req, "s")
		if err != nil {
			return nil, nil, err
		}
		edit(sess.Values)
		rec := httptest.NewRecorder()
		if err := sess.Save(req, rec); err != nil {
			return nil, nil, err
		}
		for _, c := range rec.Result().Cookies() {
			return c, sess.Values, nil
		}
		return cookie, sess.Values, nil
	}
	accessDenied := func(t *testing.T, err error, action string) {
		t.Helper()
		var apiErr smithy.APIError
		require.True(t, errors.As(err, &apiErr), "%v", err)
		assert.Equal(t, "AccessDeniedException", apiErr.ErrorCode())
		assert.Equal(t, fmt.Sprintf("User: %s is not authorized to perform: dynamodb:%s on resource: %s %s", f.session, action, f.x.TableARN, noIdentityAllow(action)), apiErr.ErrorMessage())
	}

	store, err := dynamostore.New(f.ddb, dynamostore.WithTableName(f.table), dynamostore.WithKeyPairs(key))
	require.NoError(t, err)
	cookie, _, err := visit(t, store, nil, func(v map[any]any) { v["n"] = 1 }) // PutItem
	require.NoError(t, err)
	cookie, values, err := visit(t, store, cookie, func(v map[any]any) { v["n"] = v["n"].(int) + 1 }) // GetItem, UpdateItem
	require.NoError(t, err)
	assert.Equal(t, 2, values["n"])
	_, values, err = visit(t, store, cookie, func(v map[any]any) {})
	require.NoError(t, err)
	assert.Equal(t, 2, values["n"])
	req := httptest.NewRequest(http.MethodGet, "https://example.com/", nil)
	req.AddCookie(cookie)
	sess, err := store.Get(req, "s")
	require.NoError(t, err)
	sess.Options.MaxAge = -1
	require.NoError(t, sess.Save(req, httptest.NewRecorder())) // DeleteItem
	assert.Empty(t, f.x.Gateway.Stats().Rejected)

	// Another key prefix is refused.
	other, err := dynamostore.New(f.ddb, dynamostore.WithTableName(f.table), dynamostore.WithKeyPairs(key), dynamostore.WithKeyPrefix("other#"))
	require.NoError(t, err)
	_, _, err = visit(t, other, nil, func(v map[any]any) { v["n"] = 1 })
	accessDenied(t, err, "PutItem")

	// What the policy keeps out: a read without a projection, another attribute, ALL_NEW.
	ctx := context.Background()
	_, err = f.ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: &f.table, Key: item("session#x")})
	accessDenied(t, err, "GetItem")
	_, err = f.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: &f.table, Item: item("session#x", "secret")})
	accessDenied(t, err, "PutItem")
	_, err = f.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &f.table, Key: item("session#x"), UpdateExpression: aws.String("REMOVE #d"),
		ExpressionAttributeNames: map[string]string{"#d": "data"}, ReturnValues: types.ReturnValueAllNew})
	accessDenied(t, err, "UpdateItem")
}
