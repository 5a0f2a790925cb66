package dynamostoretest_test

import (
	"context"
	"fmt"
	"log"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/dynamostoretest"
)

func stsClient(x *dynamostoretest.CrossAccount, keyID, secret, token string) *sts.Client {
	return sts.New(sts.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(x.STS.URL),
		Credentials:      credentials.NewStaticCredentialsProvider(keyID, secret, token),
		RetryMaxAttempts: 1,
	})
}

func apiCode(t *testing.T, err error) (string, string) {
	t.Helper()
	var apiErr smithy.APIError
	require.ErrorAs(t, err, &apiErr)
	return apiErr.ErrorCode(), apiErr.ErrorMessage()
}

func TestSTSEmulatorSpeaksAssumeRole(t *testing.T) {
	x, err := dynamostoretest.StartCrossAccount("http://127.0.0.1:1", "sessions", dynamostoretest.CrossAccountOptions{})
	require.NoError(t, err)
	defer x.Close()
	ctx := context.Background()
	client := stsClient(x, x.App.AccessKeyID, x.App.SecretAccessKey, "")
	in := func(mut func(*sts.AssumeRoleInput)) *sts.AssumeRoleInput {
		i := &sts.AssumeRoleInput{RoleArn: aws.String(x.RoleARN), RoleSessionName: aws.String("test"), ExternalId: aws.String(x.ExternalID)}
		if mut != nil {
			mut(i)
		}
		return i
	}

	out, err := client.AssumeRole(ctx, in(func(i *sts.AssumeRoleInput) {
		i.SourceIdentity = aws.String("ada")
		i.Tags = []ststypes.Tag{{Key: aws.String("team"), Value: aws.String("web")}}
	}))
	require.NoError(t, err)
	assert.Equal(t, "arn:aws:sts::444455556666:assumed-role/dynamostore-sessions/test", *out.AssumedRoleUser.Arn)
	assert.True(t, strings.HasPrefix(*out.Credentials.AccessKeyId, "ASIA"))
	assert.WithinDuration(t, time.Now().Add(time.Hour), *out.Credentials.Expiration, 5*time.Second, "STS's default: an hour")
	assert.Equal(t, "ada", *out.SourceIdentity)

	cases := []struct {
		name     string
		client   *sts.Client
		input    *sts.AssumeRoleInput
		code     string
		contains string
	}{
		{"bad session name", client, in(func(i *sts.AssumeRoleInput) { i.RoleSessionName = aws.String("a:b") }), "ValidationError",
			"1 validation error detected: Value 'a:b' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"},
		{"short duration", client, in(func(i *sts.AssumeRoleInput) { i.DurationSeconds = aws.Int32(60) }), "ValidationError", "Member must have value greater than or equal to 900"},
		{"over max duration", client, in(func(i *sts.AssumeRoleInput) { i.DurationSeconds = aws.Int32(7200) }), "ValidationError",
			"The requested DurationSeconds exceeds the MaxSessionDuration set for this role."},
		{"wrong external id", client, in(func(i *sts.AssumeRoleInput) { i.ExternalId = aws.String("nope-nope") }), "AccessDenied",
			"User: " + x.App.ARN + " is not authorized to perform: sts:AssumeRole on resource: " + x.RoleARN},
		{"missing external id", client, in(func(i *sts.AssumeRoleInput) { i.ExternalId = nil }), "AccessDenied", "is not authorized"},
		{"unknown role", client, in(func(i *sts.AssumeRoleInput) { i.RoleArn = aws.String("arn:aws:iam::444455556666:role/none") }), "AccessDenied", "is not authorized"},
		{"aws: source identity", client, in(func(i *sts.AssumeRoleInput) { i.SourceIdentity = aws.String("aws:x") }), "ValidationError", "must not start with aws:"},
		{"bad signature", stsClient(x, x.App.AccessKeyID, "wrong-secret", ""), in(nil), "SignatureDoesNotMatch", "does not match"},
		{"unknown key", stsClient(x, "AKIAUNKNOWN", "secret", ""), in(nil), "InvalidClientTokenId", "The security token included in the request is invalid."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.client.AssumeRole(ctx, tc.input)
			code, msg := apiCode(t, err)
			assert.Equal(t, tc.code, code)
			assert.Contains(t, msg, tc.contains)
		})
	}

	chained := stsClient(x, *out.Credentials.AccessKeyId, *out.Credentials.SecretAccessKey, *out.Credentials.SessionToken)
	x.STS.AddRole(dynamostoretest.Role{ARN: "arn:aws:iam::444455556666:role/next", Trusted: []string{dynamostoretest.TableAccount}, MaxSessionDuration: 12 * time.Hour})
	_, err = chained.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::444455556666:role/next"), RoleSessionName: aws.String("chained"), DurationSeconds: aws.Int32(7200)})
	_, msg := apiCode(t, err)
	assert.Equal(t, "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.", msg)

	x.STS.FailNext("Throttling", 1)
	_, err = client.AssumeRole(ctx, in(nil))
	code, _ := apiCode(t, err)
	assert.Equal(t, "Throttling", code)
	x.STS.Outage(time.Now(), time.Now().Add(time.Hour))
	_, err = client.AssumeRole(ctx, in(nil))
	code, _ = apiCode(t, err)
	assert.Equal(t, "ServiceUnavailable", code)
	x.STS.ClearFaults()
	_, err = client.AssumeRole(ctx, in(nil))
	require.NoError(t, err)
}

func TestGatewayAnswersLikeDynamoDB(t *testing.T) {
	ddb := dynamostoretest.Client(t)
	table := dynamostoretest.NewTable(t, ddb)
	x, err := dynamostoretest.StartCrossAccount(dynamostoretest.Endpoint(t), table, dynamostoretest.CrossAccountOptions{})
	require.NoError(t, err)
	defer x.Close()
	ctx := context.Background()
	out, err := stsClient(x, x.App.AccessKeyID, x.App.SecretAccessKey, "").AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String(x.RoleARN), RoleSessionName: aws.String("gw"), ExternalId: aws.String(x.ExternalID)})
	require.NoError(t, err)
	c := out.Credentials
	client := func(keyID, secret, token string) *dynamodb.Client {
		return dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(x.Gateway.URL), RetryMaxAttempts: 1,
			Credentials: credentials.NewStaticCredentialsProvider(keyID, secret, token)})
	}
	get := func(cl *dynamodb.Client, tableName string) error {
		_, err := cl.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(tableName)})
		return err
	}
	good := client(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)
	require.NoError(t, get(good, table))
	require.NoError(t, get(good, x.TableARN))

	cases := []struct {
		name, code, message string
		err                 error
	}{
		{"bad signature", "InvalidSignatureException", "The request signature we calculated does not match", get(client(*c.AccessKeyId, "wrong", *c.SessionToken), table)},
		{"unknown key", "UnrecognizedClientException", "The security token included in the request is invalid.", get(client("ASIANOTISSUED", "x", "y"), table)},
		{"wrong token", "UnrecognizedClientException", "The security token included in the request is invalid", get(client(*c.AccessKeyId, *c.SecretAccessKey, "forged"), table)},
		{"other table", "AccessDeniedException", "User: arn:aws:sts::444455556666:assumed-role/dynamostore-sessions/gw is not authorized to perform: dynamodb:DescribeTable on resource: arn:aws:dynamodb:us-east-1:444455556666:table/other because no identity-based policy allows the dynamodb:DescribeTable action", get(good, "other")},
	}
	for _, tc := range cases {
		code, msg := apiCode(t, tc.err)
		assert.Equal(t, tc.code, code, tc.name)
		assert.Contains(t, msg, tc.message, tc.name)
	}
	x.STS.Expire(*c.AccessKeyId)
	code, msg := apiCode(t, get(good, table))
	assert.Equal(t, "ExpiredTokenException", code)
	assert.Equal(t, "The security token included in the request is expired", msg)
	assert.EqualValues(t, 2, x.Gateway.Stats().Forwarded)
}

// The two accounts of CROSS-ACCOUNT.md on a laptop: a role in the table account, assumed by
// the application's credentials through the local STS, used through the signing gateway.
func ExampleStartCrossAccount() {
	local, err := dynamostoretest.StartLocal(context.Background(), dynamostoretest.LocalOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer local.Close()
	if err := dynamostore.CreateTable(context.Background(), dynamostoretest.NewClient(local.Endpoint), "sessions"); err != nil {
		log.Fatal(err)
	}

	x, err := dynamostoretest.StartCrossAccount(local.Endpoint, "sessions", dynamostoretest.CrossAccountOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer x.Close()
	x.STS.SetLifetime(time.Minute) // renewals within a minute, not an hour

	// What an application does in production, with its own config.LoadDefaultConfig:
	ca, err := dynamostore.NewCrossAccount(x.BaseConfig(), x.TableARN, x.RoleARN, x.Options())
	if err != nil {
		log.Fatal(err)
	}
	client := ca.DynamoDB(x.ViaGateway)
	out, err := client.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String(x.TableARN)})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(*out.Table.TableName, ca.Credentials.Stats().Calls)
	// Output: sessions 1
}
