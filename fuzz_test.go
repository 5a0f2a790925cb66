package dynamostore_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dynamostore/dynamostore"
)

// noCallClient fails the test on any DynamoDB call.
type noCallClient struct{ t *testing.T }

func (c noCallClient) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	c.t.Fatal("a cookie that does not verify reached DynamoDB")
	return nil, nil
}
func (c noCallClient) PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.t.Fatal("unexpected PutItem")
	return nil, nil
}
func (c noCallClient) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.t.Fatal("unexpected UpdateItem")
	return nil, nil
}
func (c noCallClient) DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	c.t.Fatal("unexpected DeleteItem")
	return nil, nil
}

// FuzzCookie: whatever the cookie, New returns a fresh session, no error, and no DynamoDB call
// (a random input cannot carry a valid signature).
func FuzzCookie(f *testing.F) {
	for _, seed := range []string{"", "x", "MTcwMDAwMDAwMHxhYmN8ZGVm", "a|b|c", "%%%", string(make([]byte, 2000)),
		"MTY5OTk5OTk5OXxEdi1CQkFFQ180SUFBUkFCRUFBQUJQLUNBQUV8YWJj"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, value string) {
		store, err := dynamostore.New(noCallClient{t}, dynamostore.WithKeyPairs(hashKey1, blockKey1))
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Cookie", cookieName+"="+value)
		s, err := store.New(r, cookieName)
		if err != nil || s == nil || !s.IsNew || len(s.Values) != 0 || s.ID != "" {
			t.Fatalf("cookie %q: session %+v, error %v", value, s, err)
		}
	})
}

// FuzzParseTableARN: no panic; whatever parses prints back to an ARN that parses the same.
func FuzzParseTableARN(f *testing.F) {
	for _, seed := range []string{"arn:aws:dynamodb:us-east-1:111122223333:table/sessions", "arn:aws-cn:dynamodb:cn-north-1:111122223333:table/a.b_c-d",
		"arn:aws:dynamodb:us-east-1:111122223333:table/sessions/index/x", "arn::::", "", "arn:aws:dynamodb:us-east-1:111122223333:table/"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := dynamostore.ParseTableARN(s)
		if err != nil {
			return
		}
		again, err := dynamostore.ParseTableARN(a.String())
		if err != nil || again != a {
			t.Fatalf("%q parsed as %+v, which prints as %q and parses as %+v, %v", s, a, a.String(), again, err)
		}
	})
}
