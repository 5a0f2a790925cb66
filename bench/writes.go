package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynamostore/dynamostore"
)

// meteredClient counts calls and the write capacity DynamoDB reports consuming.
type meteredClient struct {
	inner         *dynamodb.Client
	reads, writes atomic.Int64
	wcuTenths     atomic.Int64
	rcuTenths     atomic.Int64
}

func (m *meteredClient) consumed(c *types.ConsumedCapacity) {
	if c != nil && c.CapacityUnits != nil {
		m.wcuTenths.Add(int64(*c.CapacityUnits * 10))
	}
}

func (m *meteredClient) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	m.reads.Add(1)
	in.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := m.inner.GetItem(ctx, in, o...)
	if err == nil && out.ConsumedCapacity != nil && out.ConsumedCapacity.CapacityUnits != nil {
		m.rcuTenths.Add(int64(*out.ConsumedCapacity.CapacityUnits * 10))
	}
	return out, err
}

func (m *meteredClient) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	m.writes.Add(1)
	in.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := m.inner.PutItem(ctx, in, o...)
	if err == nil {
		m.consumed(out.ConsumedCapacity)
	}
	return out, err
}

func (m *meteredClient) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	m.writes.Add(1)
	in.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := m.inner.UpdateItem(ctx, in, o...)
	if err == nil {
		m.consumed(out.ConsumedCapacity)
	}
	return out, err
}

func (m *meteredClient) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	m.writes.Add(1)
	in.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := m.inner.DeleteItem(ctx, in, o...)
	if err == nil {
		m.consumed(out.ConsumedCapacity)
	}
	return out, err
}

// reset zeroes the counts, after a scenario's set-up.
func (m *meteredClient) reset() {
	m.reads.Store(0)
	m.writes.Store(0)
	m.wcuTenths.Store(0)
	m.rcuTenths.Store(0)
}

// firstSession saves a new session holding values and returns its cookie.
func firstSession(store *dynamostore.Store, values map[any]any) (*http.Cookie, error) {
	r := httptest.NewRequest("GET", "/", nil)
	s, _ := store.New(r, cookieName)
	for k, v := range values {
		s.Values[k] = v
	}
	rec := httptest.NewRecorder()
	if err := store.Save(r, rec, s); err != nil {
		return nil, err
	}
	return rec.Result().Cookies()[0], nil
}

type writeRun struct {
	name          string
	requests      int
	reads, writes int64
	wcu           float64
}

const writeRequests = 1000

// writes: 1,000 requests on one unchanged 1 KiB session, for our Store (touch interval: one
// hour) and for the same store told to write on every save (WithTouchInterval(0)), which is
// what the common Node.js stores do (express-session's resave, connect-dynamodb's touch).
func writes(ctx context.Context, e *env, o options, r *report) error {
	for _, c := range []struct {
		name string
		opts []dynamostore.Option
	}{
		{"dynamostore (default touch interval)", nil},
		{"write on every save", []dynamostore.Option{dynamostore.WithTouchInterval(0)}},
	} {
		table, err := e.newTable(ctx)
		if err != nil {
			return err
		}
		metered := &meteredClient{inner: e.admin}
		store, err := dynamostore.New(metered, append([]dynamostore.Option{dynamostore.WithTableName(table), dynamostore.WithKeyPairs(benchKey)}, c.opts...)...)
		if err != nil {
			return err
		}
		cookie, err := firstSession(store, map[any]any{"user": "ada", "prefs": strings.Repeat("p", 900)})
		if err != nil {
			return err
		}
		metered.reset()
		for i := 0; i < writeRequests; i++ {
			r := httptest.NewRequest("GET", "/", nil)
			r.AddCookie(cookie)
			s, err := store.New(r, cookieName)
			if err != nil {
				return err
			}
			if err := store.Save(r, http.ResponseWriter(discard{}), s); err != nil {
				return err
			}
		}
		r.writes = append(r.writes, writeRun{name: c.name, requests: writeRequests,
			reads: metered.reads.Load(), writes: metered.writes.Load(), wcu: float64(metered.wcuTenths.Load()) / 10})
	}
	return nil
}
