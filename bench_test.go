package dynamostore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/gorilla/sessions"

	"github.com/dynamostore/dynamostore"
)

// cannedDynamoDB answers DynamoDB calls in process, without a network: PutItem keeps the item
// by key, GetItem returns it, other calls answer {}. The benchmarks measure the client side
// alone: the store's work next to the SDK's own.
type cannedDynamoDB struct {
	mu    sync.Mutex
	items map[string]json.RawMessage
}

type cannedKey struct {
	ID struct{ S string } `json:"id"`
}

func (c *cannedDynamoDB) RoundTrip(r *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(r.Body)
	answer := []byte("{}")
	switch strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.") {
	case "PutItem":
		var in struct{ Item json.RawMessage }
		var key struct{ Item cannedKey }
		_ = json.Unmarshal(body, &in)
		_ = json.Unmarshal(body, &key)
		c.mu.Lock()
		if c.items == nil {
			c.items = map[string]json.RawMessage{}
		}
		c.items[key.Item.ID.S] = in.Item
		c.mu.Unlock()
	case "GetItem":
		var in struct{ Key cannedKey }
		_ = json.Unmarshal(body, &in)
		c.mu.Lock()
		if item, ok := c.items[in.Key.ID.S]; ok {
			answer = append(append([]byte(`{"Item":`), item...), '}')
		}
		c.mu.Unlock()
	}
	return &http.Response{
		StatusCode: 200, Header: http.Header{"Content-Type": {"application/x-amz-json-1.0"}},
		Body: io.NopCloser(bytes.NewReader(answer)), ContentLength: int64(len(answer)), Request: r,
	}, nil
}

func cannedClient(t *cannedDynamoDB) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String("http://dynamodb.local"),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		HTTPClient:  &http.Client{Transport: t},
	})
}

// benchValues is a typical small session: about 200 bytes encoded.
func benchValues(s *sessions.Session) {
	s.Values["user"] = "ada@example.com"
	s.Values["roles"] = "admin,dev"
	s.Values["csrf"] = "k2f8Qz0cM1nY3t7w9xV4bA6dE5gH8jL0"
	s.Values["visits"] = 1
}

func BenchmarkStore(b *testing.B) {
	for _, codec := range []struct {
		name  string
		codec dynamostore.Codec
	}{{"gob", dynamostore.GobCodec{}}, {"json", dynamostore.JSONCodec{}}} {
		canned := &cannedDynamoDB{}
		store, err := dynamostore.New(cannedClient(canned), dynamostore.WithCodec(codec.codec), dynamostore.WithKeyPairs(hashKey1, blockKey1))
		if err != nil {
			b.Fatal(err)
		}
		first := httptest.NewRequest("GET", "/", nil)
		s, _ := store.New(first, cookieName)
		benchValues(s)
		rec := httptest.NewRecorder()
		if err := store.Save(first, rec, s); err != nil {
			b.Fatal(err)
		}
		cookie := rec.Result().Cookies()[0]
		request := func() *http.Request {
			r := httptest.NewRequest("GET", "/", nil)
			r.AddCookie(cookie)
			return r
		}
		load := func(b *testing.B) *sessions.Session {
			s, err := store.New(request(), cookieName)
			if err != nil || s.IsNew {
				b.Fatal("load failed", err)
			}
			return s
		}

		b.Run(codec.name+"/Get", func(b *testing.B) {
			r := request()
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := store.New(r, cookieName); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(codec.name+"/SaveUnchanged", func(b *testing.B) {
			s, r, w := load(b), request(), httptest.NewRecorder()
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := store.Save(r, w, s); err != nil {
					b.Fatal(err)
				}
				w.Header().Del("Set-Cookie")
			}
		})
		b.Run(codec.name+"/SaveChanged", func(b *testing.B) {
			s, r, w := load(b), request(), httptest.NewRecorder()
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				s.Values["visits"] = i
				if err := store.Save(r, w, s); err != nil {
					b.Fatal(err)
				}
				w.Header().Del("Set-Cookie")
			}
		})
		b.Run(codec.name+"/Regenerate", func(b *testing.B) {
			s, r, w := load(b), request(), httptest.NewRecorder()
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := store.Regenerate(r, w, s); err != nil {
					b.Fatal(err)
				}
				w.Header().Del("Set-Cookie")
			}
		})
	}
}

// BenchmarkRawSDK is the baseline: the same calls made with the SDK directly, on the same
// transport, with an item of the same size.
func BenchmarkRawSDK(b *testing.B) {
	canned := &cannedDynamoDB{}
	client := cannedClient(canned)
	ctx := context.Background()
	key := map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "session#" + strings.Repeat("k", 43)}}
	item := map[string]types.AttributeValue{
		"id":      key["id"],
		"data":    &types.AttributeValueMemberB{Value: bytes.Repeat([]byte{7}, 260)},
		"expires": &types.AttributeValueMemberN{Value: "1790000000"},
		"written": &types.AttributeValueMemberN{Value: "1780000000"},
	}
	table := aws.String("sessions")
	if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: item}); err != nil {
		b.Fatal(err)
	}
	b.Run("GetItem", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: key, ConsistentRead: aws.Bool(true)}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("PutItem", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: item}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("UpdateItem", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := client.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: table, Key: key,
				UpdateExpression: aws.String("SET #d = :d, #e = :e, #w = :w"), ConditionExpression: aws.String("attribute_exists(#k)"),
				ExpressionAttributeNames:  map[string]string{"#d": "data", "#e": "expires", "#w": "written", "#k": "id"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":d": item["data"], ":e": item["expires"], ":w": item["written"]},
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("PutItem+DeleteItem", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: item}); err != nil {
				b.Fatal(err)
			}
			if _, err := client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: table, Key: key}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
