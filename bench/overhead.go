package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynamostore/dynamostore"
)

var benchKey = []byte("bench-hash-key-0123456789abcdef!")

// benchBlockKey encrypts items where a scenario measures sizes: production sets usually do.
var benchBlockKey = []byte("bench-block-key-0123456789abcde!")

const cookieName = "session"

// overheadCell is one size and worker count, measured for each side.
type overheadCell struct {
	size, workers int
	// raw is the baseline: GetItem and an unconditional PutItem of the same bytes.
	// same is the raw SDK making the very calls the store makes (GetItem and the conditional
	// UpdateItem), which isolates the store's own cost from DynamoDB's cost of conditions.
	raw, same, store throughput
	itemBytes        int
}

type throughput struct {
	ops      int
	elapsed  time.Duration
	lat      latencies
	failures int
}

func (t throughput) perSecond() float64 { return float64(t.ops) / t.elapsed.Seconds() }

// overhead compares the Store's Get+Save (changed values: a GetItem and an UpdateItem) with
// the raw SDK's GetItem+PutItem of an item of the same size, and with the raw SDK making the
// store's very calls.
func overhead(ctx context.Context, e *env, o options, r *report) error {
	store, table, err := e.newStore(ctx)
	if err != nil {
		return err
	}
	for _, size := range o.sizes {
		for _, workers := range []int{1, o.concurrency} {
			cell := overheadCell{size: size, workers: workers}
			storeOp, itemBytes, err := storeSide(ctx, store, e, table, size, workers)
			if err != nil {
				return err
			}
			cell.itemBytes = itemBytes
			rawOp := rawSide(e.admin, table, itemBytes)
			sameOp := sameCallsSide(e.admin, table, itemBytes)
			// Four slices per side, in mirrored order (A B C, C B A, ...), so that drift
			// within the cell favours no side.
			sides := []struct {
				t  *throughput
				op func(int) error
			}{{&cell.raw, rawOp}, {&cell.same, sameOp}, {&cell.store, storeOp}}
			for slice := 0; slice < 4; slice++ {
				for k := range sides {
					if slice%2 == 1 {
						k = len(sides) - 1 - k
					}
					sides[k].t.add(measure(workers, o.duration/4, sides[k].op))
				}
			}
			if n := cell.raw.failures + cell.same.failures + cell.store.failures; n > 0 {
				return fmt.Errorf("size %d, %d workers: %d failures", size, workers, n)
			}
			r.overhead = append(r.overhead, cell)
		}
	}
	return nil
}

func (t *throughput) add(u throughput) {
	t.ops += u.ops
	t.elapsed += u.elapsed
	t.lat = append(t.lat, u.lat...)
	t.failures += u.failures
}

// measure runs op from workers goroutines for d; op gets the worker's index.
func measure(workers int, d time.Duration, op func(worker int) error) throughput {
	var mu sync.Mutex
	var t throughput
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var lat latencies
			failures := 0
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if err := op(w); err != nil {
					failures++
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			t.ops += len(lat)
			t.lat = append(t.lat, lat...)
			t.failures += failures
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	t.elapsed = time.Since(start)
	return t
}

// storeSide creates one session per worker holding a value of about size bytes and returns
// the operation (load, change, save) and the size of the stored data attribute.
func storeSide(ctx context.Context, store *dynamostore.Store, e *env, table string, size, workers int) (func(int) error, int, error) {
	cookies := make([]*http.Cookie, workers)
	payload := strings.Repeat("x", size)
	var id string
	for w := range cookies {
		r := httptest.NewRequest("GET", "/", nil)
		s, _ := store.New(r, cookieName)
		s.Values["payload"] = payload
		s.Values["n"] = 0
		rec := httptest.NewRecorder()
		if err := store.Save(r, rec, s); err != nil {
			return nil, 0, err
		}
		cookies[w], id = rec.Result().Cookies()[0], s.ID
	}
	sum := sha256.Sum256([]byte(id))
	out, err := e.admin.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: map[string]types.AttributeValue{
		"id": &types.AttributeValueMemberS{Value: "session#" + base64.RawURLEncoding.EncodeToString(sum[:])}}})
	if err != nil || out.Item == nil {
		return nil, 0, fmt.Errorf("read back a session: %v", err)
	}
	itemBytes := len(out.Item["data"].(*types.AttributeValueMemberB).Value)
	counters := make([]int, workers)
	op := func(w int) error {
		r := httptest.NewRequest("GET", "/", nil)
		r.AddCookie(cookies[w])
		s, err := store.New(r, cookieName)
		if err != nil {
			return err
		}
		if s.IsNew {
			return fmt.Errorf("session lost")
		}
		counters[w]++
		s.Values["n"] = counters[w]
		return store.Save(r, discard{}, s)
	}
	return op, itemBytes, nil
}

// rawSide is what a hand-written store would do: GetItem, then PutItem of the same bytes.
func rawSide(client *dynamodb.Client, table string, itemBytes int) func(int) error {
	data := make([]byte, itemBytes)
	return func(w int) error {
		key := map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "raw#" + strconv.Itoa(w) + strings.Repeat("k", 40)}}
		ctx := context.Background()
		if _, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: key, ConsistentRead: aws.Bool(true)}); err != nil {
			return err
		}
		now := time.Now().Unix()
		_, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: map[string]types.AttributeValue{
			"id":      key["id"],
			"data":    &types.AttributeValueMemberB{Value: data},
			"expires": &types.AttributeValueMemberN{Value: strconv.FormatInt(now+86400, 10)},
			"written": &types.AttributeValueMemberN{Value: strconv.FormatInt(now, 10)},
		}})
		return err
	}
}

// sameCallsSide makes the store's calls by hand: GetItem, then the conditional UpdateItem.
func sameCallsSide(client *dynamodb.Client, table string, itemBytes int) func(int) error {
	data := make([]byte, itemBytes)
	return func(w int) error {
		key := map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "same#" + strconv.Itoa(w) + strings.Repeat("k", 40)}}
		ctx := context.Background()
		out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: key, ConsistentRead: aws.Bool(true)})
		if err != nil {
			return err
		}
		now := time.Now().Unix()
		values := map[string]types.AttributeValue{
			":d":   &types.AttributeValueMemberB{Value: data},
			":e":   &types.AttributeValueMemberN{Value: strconv.FormatInt(now+86400, 10)},
			":w":   &types.AttributeValueMemberN{Value: strconv.FormatInt(now, 10)},
			":now": &types.AttributeValueMemberN{Value: strconv.FormatInt(now, 10)},
		}
		if out.Item == nil { // the first call creates the item, as a new session would
			_, err = client.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: map[string]types.AttributeValue{
				"id": key["id"], "data": values[":d"], "expires": values[":e"], "written": values[":w"]}})
			return err
		}
		_, err = client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &table, Key: key,
			UpdateExpression:                    aws.String("SET #d = :d, #e = :e, #w = :w"),
			ConditionExpression:                 aws.String("attribute_exists(#k) AND #e > :now"),
			ExpressionAttributeNames:            map[string]string{"#k": "id", "#d": "data", "#e": "expires", "#w": "written"},
			ExpressionAttributeValues:           values,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		return err
	}
}

// discard is a ResponseWriter that keeps nothing.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}
