package dynamostoretest

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// keysFixture is a gateway in front of DynamoDB Local whose caller may do anything, and which
// records the condition keys of each request.
type keysFixture struct {
	g      *Gateway
	client *dynamodb.Client // through the gateway
	local  *dynamodb.Client // DynamoDB Local directly
	table  string
	mu     sync.Mutex
	seen   map[string]string // the last request's keys: values joined with ",", or "absent", "unknown"
	user   string
}

func newKeysFixture(t *testing.T) *keysFixture {
	t.Helper()
	f := &keysFixture{local: Client(t), user: "arn:aws:iam::" + TableAccount + ":user/keys"}
	f.table = NewTable(t, f.local)
	emu := NewSTS()
	t.Cleanup(emu.Close)
	p := emu.AddPrincipal(Principal{ARN: f.user, Policy: Policy{Actions: []string{"dynamodb:*"}, Resources: []string{"*"}}})
	g, err := NewGateway(Endpoint(t), emu, GatewayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	f.g = g
	g.observe = func(action, resource string, keys func(string) ([]string, keyState)) {
		seen := map[string]string{"action": action}
		for _, k := range SupportedConditionKeys {
			values, state := keys(strings.ToLower(k))
			switch state {
			case keyAbsent:
				seen[k] = "absent"
			case keyPresent:
				if len(values) == 0 {
					seen[k] = "absent" // as evalRequest.lookup reads an empty set
					continue
				}
				values = slices.Clone(values)
				slices.Sort(values)
				seen[k] = strings.Join(values, ",")
			case keyUnknown:
				seen[k] = "unknown"
			}
		}
		f.mu.Lock()
		f.seen = seen
		f.mu.Unlock()
	}
	f.client = dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(g.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(p.AccessKeyID, p.SecretAccessKey, "")})
	return f
}

// check compares the last request's keys with want (keys not in want must be absent, except
// the aws: keys, which are checked once).
func (f *keysFixture) check(t *testing.T, name string, err error, want map[string]string) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %v", name, err)
	}
	f.mu.Lock()
	seen := f.seen
	f.mu.Unlock()
	for _, k := range SupportedConditionKeys {
		w, ok := want[k]
		if !ok {
			if strings.HasPrefix(k, "aws:") {
				continue
			}
			w = "absent"
		}
		if seen[k] != w {
			t.Errorf("%s: %s = %q, want %q", name, k, seen[k], w)
		}
	}
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }
func b(v []byte) types.AttributeValue { return &types.AttributeValueMemberB{Value: v} }
func key(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"id": s(id)}
}

// Every condition key, computed from the requests the SDK sends.
func TestConditionKeysFromSDKRequests(t *testing.T) {
	f := newKeysFixture(t)
	ctx := context.Background()
	c := f.client
	table := aws.String(f.table)

	_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: table,
		Item: map[string]types.AttributeValue{"id": s("session#a"), "data": b([]byte{1, 2}), "expires": n("9"),
			"sessions": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{}}},
		ConditionExpression: aws.String("attribute_not_exists(#k)"), ExpressionAttributeNames: map[string]string{"#k": "id"}})
	f.check(t, "PutItem", err, map[string]string{
		"dynamodb:LeadingKeys": "session#a", "dynamodb:Attributes": "data,expires,id,sessions", "dynamodb:ReturnValues": "NONE",
		"aws:PrincipalArn": f.user, "aws:PrincipalAccount": TableAccount, "aws:RequestedRegion": "us-east-1",
	})
	f.mu.Lock()
	for _, k := range []string{"aws:PrincipalArn", "aws:PrincipalAccount", "aws:RequestedRegion"} {
		if want := map[string]string{"aws:PrincipalArn": f.user, "aws:PrincipalAccount": TableAccount, "aws:RequestedRegion": "us-east-1"}[k]; f.seen[k] != want {
			t.Errorf("%s = %q, want %q", k, f.seen[k], want)
		}
	}
	f.mu.Unlock()

	_, err = c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: table, Key: key("session#a"),
		UpdateExpression:          aws.String("SET #s.#h = :v, #e = :e REMOVE #w"),
		ConditionExpression:       aws.String("attribute_exists(#k) AND (attribute_not_exists(#e) OR #e <= :e)"),
		ExpressionAttributeNames:  map[string]string{"#k": "id", "#s": "sessions", "#h": "h1", "#e": "expires", "#w": "written"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": s("x"), ":e": n("10")},
		ReturnValues:              types.ReturnValueAllNew, ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal})
	f.check(t, "UpdateItem", err, map[string]string{
		"dynamodb:LeadingKeys": "session#a", "dynamodb:Attributes": "expires,id,sessions,written",
		"dynamodb:ReturnValues": "ALL_NEW", "dynamodb:ReturnConsumedCapacity": "TOTAL",
	})

	_, err = c.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: key("session#a"),
		ProjectionExpression: aws.String("#d, expires, #s.#h"), ExpressionAttributeNames: map[string]string{"#d": "data", "#s": "sessions", "#h": "h1"}})
	f.check(t, "GetItem with a projection", err, map[string]string{
		"dynamodb:LeadingKeys": "session#a", "dynamodb:Attributes": "data,expires,id,sessions", "dynamodb:Select": "SPECIFIC_ATTRIBUTES",
	})
	_, err = c.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: key("session#a"), ConsistentRead: aws.Bool(true)})
	f.check(t, "GetItem without a projection", err, map[string]string{
		"dynamodb:LeadingKeys": "session#a", "dynamodb:Attributes": "id", "dynamodb:Select": "ALL_ATTRIBUTES",
	})
	_, err = c.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: key("session#a"), AttributesToGet: []string{"expires"}})
	f.check(t, "GetItem with AttributesToGet", err, map[string]string{
		"dynamodb:LeadingKeys": "session#a", "dynamodb:Attributes": "expires,id", "dynamodb:Select": "SPECIFIC_ATTRIBUTES",
	})
	_, err = c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: table, Key: key("session#a"),
		AttributeUpdates: map[string]types.AttributeValueUpdate{"count": {Action: types.AttributeActionAdd, Value: n("1")}},
		Expected:         map[string]types.ExpectedAttributeValue{"expires": {Value: n("10")}},
		ReturnValues:     types.ReturnValueUpdatedNew})
	f.check(t, "UpdateItem with legacy parameters", err, map[string]string{
		"dynamodb:LeadingKeys": "session#a", "dynamodb:Attributes": "count,expires,id", "dynamodb:ReturnValues": "UPDATED_NEW",
	})
	_, err = c.Query(ctx, &dynamodb.QueryInput{TableName: table, KeyConditionExpression: aws.String("id = :k"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":k": s("session#a")}})
	f.check(t, "Query", err, map[string]string{
		"dynamodb:LeadingKeys": "unknown", "dynamodb:Attributes": "unknown", "dynamodb:Select": "ALL_ATTRIBUTES",
	})
	_, err = c.Scan(ctx, &dynamodb.ScanInput{TableName: table, Select: types.SelectCount, ReturnConsumedCapacity: types.ReturnConsumedCapacityNone})
	f.check(t, "Scan", err, map[string]string{
		"dynamodb:LeadingKeys": "unknown", "dynamodb:Attributes": "unknown", "dynamodb:Select": "COUNT", "dynamodb:ReturnConsumedCapacity": "NONE",
	})
	_, err = c.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{
		f.table: {{PutRequest: &types.PutRequest{Item: key("session#b")}}}}})
	f.check(t, "BatchWriteItem", err, map[string]string{
		"dynamodb:LeadingKeys": "unknown", "dynamodb:Attributes": "unknown", "dynamodb:ReturnValues": "unknown",
	})
	_, err = c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: table, Key: key("session#a"), ReturnValues: types.ReturnValueAllOld,
		ConditionExpression: aws.String("attribute_exists(#d)"), ExpressionAttributeNames: map[string]string{"#d": "data"}})
	f.check(t, "DeleteItem", err, map[string]string{
		"dynamodb:LeadingKeys": "session#a", "dynamodb:Attributes": "data,id", "dynamodb:ReturnValues": "ALL_OLD",
	})
	_, err = c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: table})
	f.check(t, "DescribeTable", err, map[string]string{})

	// Number and binary partition keys: the value as written on the wire.
	for _, kt := range []struct {
		typ   types.ScalarAttributeType
		value types.AttributeValue
		want  string
	}{
		{types.ScalarAttributeTypeN, n("0042.50"), "0042.50"},
		{types.ScalarAttributeTypeB, b([]byte{0xff, 0x00}), "/wA="},
	} {
		name := f.table + "-" + string(kt.typ)
		_, err := f.local.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: &name, BillingMode: types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: kt.typ}},
			KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = f.local.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &name}) })
		_, err = c.PutItem(ctx, &dynamodb.PutItemInput{TableName: &name, Item: map[string]types.AttributeValue{"pk": kt.value}})
		f.check(t, "PutItem on a "+string(kt.typ)+" key", err, map[string]string{
			"dynamodb:LeadingKeys": kt.want, "dynamodb:Attributes": "pk", "dynamodb:ReturnValues": "NONE",
		})
	}
	f.g.mu.Lock()
	cached := len(f.g.schemas)
	f.g.mu.Unlock()
	if cached != 3 {
		t.Errorf("%d key schemas cached, want one per table (3)", cached)
	}

	// A table deleted and created again with another key: the gateway forgets what it knew.
	name := f.table + "-again"
	create := func(attr string) {
		t.Helper()
		_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: &name, BillingMode: types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{{AttributeName: &attr, AttributeType: types.ScalarAttributeTypeS}},
			KeySchema:            []types.KeySchemaElement{{AttributeName: &attr, KeyType: types.KeyTypeHash}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	create("a")
	// DynamoDB refuses the key (b is not in the schema), after the gateway read the keys.
	_, _ = c.GetItem(ctx, &dynamodb.GetItemInput{TableName: &name, Key: map[string]types.AttributeValue{"a": s("x"), "b": s("y")}})
	f.check(t, "GetItem, first schema", nil, map[string]string{"dynamodb:LeadingKeys": "x", "dynamodb:Attributes": "a,b", "dynamodb:Select": "ALL_ATTRIBUTES"})
	if _, err := c.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: &name}); err != nil {
		t.Fatal(err)
	}
	create("b")
	t.Cleanup(func() { _, _ = f.local.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &name}) })
	_, _ = c.GetItem(ctx, &dynamodb.GetItemInput{TableName: &name, Key: map[string]types.AttributeValue{"a": s("x"), "b": s("y")}})
	f.check(t, "GetItem, second schema", nil, map[string]string{"dynamodb:LeadingKeys": "y", "dynamodb:Attributes": "a,b", "dynamodb:Select": "ALL_ATTRIBUTES"})
}

// Bodies the SDK would not send: a null member is an absent one, a key value of the wrong
// type or a projection DynamoDB refuses leaves the key unknown.
func TestConditionKeysOfOddBodies(t *testing.T) {
	f := newKeysFixture(t)
	cases := []struct {
		name, op, body string
		want           map[string]string
	}{
		{"null ReturnValues", "UpdateItem", `{"TableName":"T","Key":{"id":{"S":"k"}},"UpdateExpression":"SET a = :a","ReturnValues":null}`,
			map[string]string{"dynamodb:LeadingKeys": "k", "dynamodb:Attributes": "a,id", "dynamodb:ReturnValues": "NONE"}},
		{"null projection", "GetItem", `{"TableName":"T","Key":{"id":{"S":"k"}},"ProjectionExpression":null}`,
			map[string]string{"dynamodb:LeadingKeys": "k", "dynamodb:Attributes": "id", "dynamodb:Select": "ALL_ATTRIBUTES"}},
		{"empty projection", "GetItem", `{"TableName":"T","Key":{"id":{"S":"k"}},"ProjectionExpression":""}`,
			map[string]string{"dynamodb:LeadingKeys": "k", "dynamodb:Attributes": "unknown", "dynamodb:Select": "unknown"}},
		{"key of the wrong type", "GetItem", `{"TableName":"T","Key":{"id":{"N":"1"}}}`,
			map[string]string{"dynamodb:LeadingKeys": "unknown", "dynamodb:Attributes": "id", "dynamodb:Select": "ALL_ATTRIBUTES"}},
		{"key with two types", "DeleteItem", `{"TableName":"T","Key":{"id":{"S":"k","N":"1"}}}`,
			map[string]string{"dynamodb:LeadingKeys": "unknown", "dynamodb:Attributes": "id", "dynamodb:ReturnValues": "NONE"}},
		{"no key", "DeleteItem", `{"TableName":"T"}`,
			map[string]string{"dynamodb:LeadingKeys": "unknown", "dynamodb:Attributes": "absent", "dynamodb:ReturnValues": "NONE"}},
		{"undefined #name", "PutItem", `{"TableName":"T","Item":{"id":{"S":"k"}},"ConditionExpression":"attribute_not_exists(#x)"}`,
			map[string]string{"dynamodb:LeadingKeys": "k", "dynamodb:Attributes": "unknown", "dynamodb:ReturnValues": "NONE"}},
		{"ReturnValues not a string", "PutItem", `{"TableName":"T","Item":{"id":{"S":"k"}},"ReturnValues":1}`,
			map[string]string{"dynamodb:LeadingKeys": "k", "dynamodb:Attributes": "id", "dynamodb:ReturnValues": "unknown"}},
	}
	for _, tc := range cases {
		body := strings.Replace(tc.body, `"T"`, `"`+f.table+`"`, 1)
		keys := f.g.conditionKeys(context.Background(), caller{arn: f.user}, "AKIAKEYS", tc.op, f.table, []byte(body))
		f.g.observe(tc.op, "", keys)
		f.check(t, tc.name, nil, tc.want)
	}
}
