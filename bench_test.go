package dynamostore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/gorilla/sessions"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/internal/sessiondata"
)

// cannedDynamoDB answers DynamoDB calls in process, without a network: PutItem keeps the item
// by key, GetItem returns it, other calls answer {}. The benchmarks measure the client side
// alone: the store's work next to the SDK's own.
type cannedDynamoDB struct {
	mu    sync.Mutex
	items map[string]json.RawMessage
	// frozen stops PutItem from parsing and keeping items, so that a timed PutItem costs the
	// transport nothing more than an UpdateItem does.
	frozen bool
}

type cannedKey struct {
	ID struct{ S string } `json:"id"`
}

func (c *cannedDynamoDB) RoundTrip(r *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(r.Body)
	answer := []byte("{}")
	c.mu.Lock()
	frozen := c.frozen
	c.mu.Unlock()
	switch strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.") {
	case "PutItem":
		if frozen {
			break
		}
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

// BenchmarkRequest measures whole requests on sessions of 1 KiB and 16 KiB, next to the raw SDK
// moving the same bytes. Two kinds of session: "strings", string values (the codec's compact
// form, as the figures were taken), and "cart", realistic values of Go types
// (internal/sessiondata: a user record, a cart, flashes), which go through encoding/gob.
//
//   - Get: the store's New (GetItem, open, decode) against a raw GetItem of an item of the same size;
//   - ChangedSave: Get, a changed value and Save (GetItem, UpdateItem) against a raw GetItem and
//     an unconditional PutItem of the same bytes;
//   - Regenerate: Regenerate of a loaded session (PutItem, DeleteItem) against a raw PutItem and
//     DeleteItem.
//
// The bench program turns the pairs into ratios (docs/benchmarks.md).
func BenchmarkRequest(b *testing.B) {
	for _, size := range []struct {
		name   string
		target int
	}{{"strings-1KiB", 1024}, {"strings-16KiB", 16384}, {"cart-1KiB", 1024}, {"cart-16KiB", 16384}} {
		values := stringValues(size.target)
		if strings.HasPrefix(size.name, "cart") {
			var err error
			if values, _, err = sessiondata.Sized(7, size.target, dynamostore.GobCodec{}.Encode); err != nil {
				b.Fatal(err)
			}
		}
		canned := &cannedDynamoDB{}
		store, err := dynamostore.New(cannedClient(canned), dynamostore.WithKeyPairs(hashKey1, blockKey1))
		if err != nil {
			b.Fatal(err)
		}
		first := httptest.NewRequest("GET", "/", nil)
		s, _ := store.New(first, cookieName)
		for k, v := range values {
			s.Values[k] = v
		}
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
		stored := canned.onlyItem(b)
		canned.freeze()

		rawCanned := &cannedDynamoDB{}
		client := cannedClient(rawCanned)
		ctx := context.Background()
		table := aws.String("sessions")
		key := map[string]types.AttributeValue{"id": stored["id"]}
		if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: stored}); err != nil {
			b.Fatal(err)
		}
		rawCanned.freeze()
		r, w := request(), httptest.NewRecorder() // the application's request and response, not the store's cost
		loaded, err := store.New(r, cookieName)
		if err != nil || loaded.IsNew {
			b.Fatal("load failed", err)
		}
		n := 0
		ops := []struct {
			name       string
			store, raw func() error
		}{
			{"Get", func() error {
				_, err := store.New(r, cookieName)
				return err
			}, func() error {
				_, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: key, ConsistentRead: aws.Bool(true)})
				return err
			}},
			{"ChangedSave", func() error {
				s, err := store.New(r, cookieName)
				if err != nil {
					return err
				}
				n++
				s.Values["last_seen"] = strconv.Itoa(n)
				err = store.Save(r, w, s)
				w.Header().Del("Set-Cookie")
				return err
			}, func() error {
				out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: key, ConsistentRead: aws.Bool(true)})
				if err != nil {
					return err
				}
				_, err = client.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: out.Item})
				return err
			}},
			{"Regenerate", func() error {
				err := store.Regenerate(r, w, loaded)
				w.Header().Del("Set-Cookie")
				return err
			}, func() error {
				if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: stored}); err != nil {
					return err
				}
				_, err := client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: table, Key: key})
				return err
			}},
		}
		for _, op := range ops {
			for _, side := range []struct {
				name string
				fn   func() error
			}{{"store", op.store}, {"raw", op.raw}} {
				fn := side.fn
				b.Run(size.name+"/"+side.name+"/"+op.name, func(b *testing.B) {
					b.ReportAllocs()
					defer reportCPU(b)()
					for b.Loop() {
						if err := fn(); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
			// The two sides in turns of a few operations each, so that the machine's drift (a
			// shared virtual machine's speed moves by a fifth within seconds) falls on both
			// alike: the CPU ratio that the benchmark page reports.
			b.Run(size.name+"/interleaved/"+op.name, func(b *testing.B) {
				const turn = 20
				var cpu [2]time.Duration
				sides := [2]func() error{op.store, op.raw}
				for i := 0; i < b.N; i += turn {
					for k, fn := range sides {
						start := cpuTime()
						for j := i; j < min(i+turn, b.N); j++ {
							if err := fn(); err != nil {
								b.Fatal(err)
							}
						}
						cpu[k] += cpuTime() - start
					}
				}
				b.ReportMetric(float64(cpu[0].Nanoseconds())/float64(b.N), "store-cpu-ns/op")
				b.ReportMetric(float64(cpu[1].Nanoseconds())/float64(b.N), "raw-cpu-ns/op")
				if cpu[1] > 0 {
					b.ReportMetric(float64(cpu[0])/float64(cpu[1]), "cpu-ratio")
				}
			})
		}
	}
}

// stringValues returns a session of string values of about n bytes in all.
func stringValues(n int) map[any]any {
	v := map[any]any{"user": "ada@example.com", "csrf": "k2f8Qz0cM1nY3t7w9xV4bA6dE5gH8jL0", "visits": "1"}
	for i := 0; n > 100; i++ {
		chunk := min(n-100, 400)
		v["note"+strconv.Itoa(i)] = strings.Repeat("session text ", chunk/13+1)[:chunk]
		n -= chunk
	}
	return v
}

func (c *cannedDynamoDB) freeze() {
	c.mu.Lock()
	c.frozen = true
	c.mu.Unlock()
}

// onlyItem returns the one item the canned table holds, decoded.
func (c *cannedDynamoDB) onlyItem(b *testing.B) map[string]types.AttributeValue {
	b.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, raw := range c.items {
		var item map[string]struct {
			S, N *string
			B    []byte
		}
		if err := json.Unmarshal(raw, &item); err != nil {
			b.Fatal(err)
		}
		out := map[string]types.AttributeValue{}
		for name, v := range item {
			switch {
			case v.S != nil:
				out[name] = &types.AttributeValueMemberS{Value: *v.S}
			case v.N != nil:
				out[name] = &types.AttributeValueMemberN{Value: *v.N}
			default:
				out[name] = &types.AttributeValueMemberB{Value: v.B}
			}
		}
		return out
	}
	b.Fatal("no item")
	return nil
}
