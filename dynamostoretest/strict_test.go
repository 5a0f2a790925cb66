package dynamostoretest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore/dynamostoretest"
)

// strictSetup is the cross-account set-up with two tables: the role may use allowed only.
type strictSetup struct {
	x                  *dynamostoretest.CrossAccount
	ddb                *dynamodb.Client
	allowed, forbidden string
	creds              aws.Credentials
}

func newStrictSetup(t *testing.T) *strictSetup {
	t.Helper()
	ddb := dynamostoretest.Client(t)
	s := &strictSetup{ddb: ddb, allowed: dynamostoretest.NewTable(t, ddb), forbidden: dynamostoretest.NewTable(t, ddb)}
	// Every action on the allowed table, so that only the table decides.
	x, err := dynamostoretest.StartCrossAccount(dynamostoretest.Endpoint(t), s.allowed, dynamostoretest.CrossAccountOptions{Actions: []string{"dynamodb:*"}})
	require.NoError(t, err)
	t.Cleanup(x.Close)
	s.x = x
	out, err := stsClient(x, x.App.AccessKeyID, x.App.SecretAccessKey, "").AssumeRole(context.Background(), &sts.AssumeRoleInput{
		RoleArn: aws.String(x.RoleARN), RoleSessionName: aws.String("strict"), ExternalId: aws.String(x.ExternalID)})
	require.NoError(t, err)
	c := out.Credentials
	s.creds = aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken}
	return s
}

// send signs a raw DynamoDB request as the SDK does and returns the answer's error code
// (empty for 200) and message.
func (s *strictSetup) send(t *testing.T, op, body, region, service string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.x.Gateway.URL+"/", bytes.NewReader([]byte(body)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	req.Header.Set("X-Amz-Security-Token", s.creds.SessionToken)
	sum := sha256.Sum256([]byte(body))
	require.NoError(t, v4.NewSigner().SignHTTP(context.Background(), s.creds, req, hex.EncodeToString(sum[:]), service, region, time.Now()))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, "", ""
	}
	var e map[string]string
	require.NoError(t, json.Unmarshal(raw, &e), string(raw))
	msg := e["message"]
	if msg == "" {
		msg = e["Message"]
	}
	code := e["__type"]
	if i := bytes.LastIndexByte([]byte(code), '#'); i >= 0 {
		code = code[i+1:]
	}
	return resp.StatusCode, code, msg
}

func (s *strictSetup) count(t *testing.T, table string) int {
	t.Helper()
	out, err := s.ddb.Scan(context.Background(), &dynamodb.ScanInput{TableName: &table})
	require.NoError(t, err)
	return len(out.Items)
}

func putBody(table string) string {
	return `{"TableName":"` + table + `","Item":{"id":{"S":"probe"}}}`
}

// A request signed for another region or service is refused, as AWS refuses it. Before, the
// gateway accepted a request signed for eu-west-1 at a us-east-1 endpoint.
func TestGatewayChecksTheCredentialScope(t *testing.T) {
	s := newStrictSetup(t)
	status, code, _ := s.send(t, "PutItem", putBody(s.allowed), "us-east-1", "dynamodb")
	require.Equal(t, http.StatusOK, status, code)

	_, code, msg := s.send(t, "PutItem", putBody(s.allowed), "eu-west-1", "dynamodb")
	assert.Equal(t, "InvalidSignatureException", code)
	assert.Equal(t, "Credential should be scoped to a valid region, not 'eu-west-1'. ", msg)

	_, code, msg = s.send(t, "PutItem", putBody(s.allowed), "us-east-1", "s3")
	assert.Equal(t, "InvalidSignatureException", code)
	assert.Equal(t, "Credential should be scoped to correct service: 'dynamodb'. ", msg)
}

// The policy check reads the body as DynamoDB does. Before, encoding/json matched tableName
// case-insensitively: the check saw the allowed table, DynamoDB Local wrote to the forbidden one.
func TestGatewayChecksTheTableDynamoDBActsOn(t *testing.T) {
	s := newStrictSetup(t)
	arn := func(account, region, table string) string {
		return "arn:aws:dynamodb:" + region + ":" + account + ":table/" + table
	}
	cases := []struct {
		name, op, body, code string
	}{
		{"case-folded twin member", "PutItem", `{"TableName":"` + s.forbidden + `","tableName":"` + s.allowed + `","Item":{"id":{"S":"x"}}}`, "AccessDeniedException"},
		{"member named twice", "PutItem", `{"TableName":"` + s.allowed + `","TableName":"` + s.forbidden + `","Item":{"id":{"S":"x"}}}`, "SerializationException"},
		{"nested member named twice", "PutItem", `{"TableName":"` + s.allowed + `","Item":{"id":{"S":"x"},"id":{"S":"y"}}}`, "SerializationException"},
		{"only the lower-case member", "PutItem", `{"tableName":"` + s.allowed + `","Item":{"id":{"S":"x"}}}`, "ValidationException"},
		{"table name not a string", "PutItem", `{"TableName":["` + s.allowed + `"],"Item":{"id":{"S":"x"}}}`, "SerializationException"},
		{"invalid UTF-8", "PutItem", `{"TableName":"` + s.allowed + "\xff" + `","Item":{"id":{"S":"x"}}}`, "SerializationException"},
		{"two objects", "PutItem", putBody(s.allowed) + putBody(s.forbidden), "SerializationException"},
		{"not an object", "PutItem", `["` + s.allowed + `"]`, "SerializationException"},
		{"ARN of another account", "PutItem", putBody(arn("999988887777", "us-east-1", s.allowed)), "ResourceNotFoundException"},
		{"ARN of another region", "PutItem", putBody(arn(dynamostoretest.TableAccount, "eu-west-1", s.allowed)), "ResourceNotFoundException"},
		{"batch write to a forbidden table", "BatchWriteItem", `{"RequestItems":{"` + s.forbidden + `":[{"PutRequest":{"Item":{"id":{"S":"x"}}}}]}}`, "AccessDeniedException"},
		{"transaction with a case-folded twin member", "TransactWriteItems", `{"TransactItems":[{"Put":{"TableName":"` + s.forbidden + `","tableName":"` + s.allowed + `","Item":{"id":{"S":"x"}}}}]}`, "AccessDeniedException"},
		{"transaction with an empty member name", "TransactWriteItems", `{"TransactItems":[{"":{}}]}`, "SerializationException"},
		{"transaction on a forbidden table", "TransactWriteItems", `{"TransactItems":[{"Put":{"TableName":"` + s.forbidden + `","Item":{"id":{"S":"x"}}}}]}`, "AccessDeniedException"},
		{"PartiQL", "ExecuteStatement", `{"Statement":"INSERT INTO \"` + s.forbidden + `\" VALUE {'id':'x'}"}`, "AccessDeniedException"},
	}
	for _, tc := range cases {
		_, code, msg := s.send(t, tc.op, tc.body, "us-east-1", "dynamodb")
		assert.Equal(t, tc.code, code, "%s: %s", tc.name, msg)
	}
	assert.Zero(t, s.count(t, s.forbidden), "nothing reached the forbidden table")
	assert.Zero(t, s.count(t, s.allowed), "nor the allowed one, by a body DynamoDB would read otherwise")
	assert.EqualValues(t, 0, s.x.Gateway.Stats().Forwarded)

	// The same actions with the right table pass.
	status, code, _ := s.send(t, "PutItem", putBody(arn(dynamostoretest.TableAccount, "us-east-1", s.allowed)), "us-east-1", "dynamodb")
	assert.Equal(t, http.StatusOK, status, code)
	out, err := s.ddb.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: &s.allowed,
		Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "probe"}}})
	require.NoError(t, err)
	assert.NotNil(t, out.Item)
}

// The STS emulator refuses a request signed for another region, as STS does.
func TestSTSChecksTheCredentialScope(t *testing.T) {
	x, err := dynamostoretest.StartCrossAccount("http://127.0.0.1:1", "sessions", dynamostoretest.CrossAccountOptions{Region: "eu-west-1"})
	require.NoError(t, err)
	defer x.Close()
	in := &sts.AssumeRoleInput{RoleArn: aws.String(x.RoleARN), RoleSessionName: aws.String("scope"), ExternalId: aws.String(x.ExternalID)}
	client := func(region string) *sts.Client {
		return sts.NewFromConfig(x.BaseConfig(), func(o *sts.Options) {
			o.Region, o.BaseEndpoint, o.RetryMaxAttempts = region, aws.String(x.STS.URL), 1
		})
	}
	_, err = client("eu-west-1").AssumeRole(context.Background(), in)
	require.NoError(t, err)
	_, err = client("us-east-1").AssumeRole(context.Background(), in)
	code, msg := apiCode(t, err)
	assert.Equal(t, "SignatureDoesNotMatch", code)
	assert.Equal(t, "Credential should be scoped to a valid region, not 'us-east-1'. ", msg)
}
