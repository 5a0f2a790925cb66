package dynamostore_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/gorilla/sessions"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/dynamostoretest"
)

// Test keys: 32-byte hash keys, 32-byte block keys.
var (
	hashKey1  = []byte("0123456789abcdef0123456789abcdef")
	blockKey1 = []byte("fedcba9876543210fedcba9876543210")
	hashKey2  = []byte("abcdefghijklmnopqrstuvwxyz012345")
)

// cookieName is the tests' session name; jarName is the cookie that carries it (the store
// prefixes it with __Host- by default).
const (
	cookieName = "sid"
	jarName    = "__Host-" + cookieName
)

// clock is a settable clock for expiry tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// recordingClient wraps a real DynamoDB client: it counts calls, checks that each carries the
// request's context, and can inject faults. The data always goes to DynamoDB Local.
type recordingClient struct {
	inner                        *dynamodb.Client
	gets, puts, updates, deletes atomic.Int64
	consumedWrites               atomic.Int64
	lastGet                      atomic.Pointer[dynamodb.GetItemInput]
	fault                        atomic.Pointer[func(op string) error]
	ctxKey                       any // when set, every call's context must carry it
}

type ctxMarker struct{}

func (c *recordingClient) check(ctx context.Context, op string) error {
	if c.ctxKey != nil && ctx.Value(c.ctxKey) == nil {
		panic(op + " was called without the request's context")
	}
	if f := c.fault.Load(); f != nil {
		return (*f)(op)
	}
	return nil
}

func (c *recordingClient) setFault(f func(op string) error) {
	if f == nil {
		c.fault.Store(nil)
		return
	}
	c.fault.Store(&f)
}

func (c *recordingClient) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	c.gets.Add(1)
	c.lastGet.Store(in)
	if err := c.check(ctx, "GetItem"); err != nil {
		return nil, err
	}
	return c.inner.GetItem(ctx, in, o...)
}

func (c *recordingClient) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.puts.Add(1)
	if err := c.check(ctx, "PutItem"); err != nil {
		return nil, err
	}
	in.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := c.inner.PutItem(ctx, in, o...)
	if err == nil && out.ConsumedCapacity != nil && out.ConsumedCapacity.CapacityUnits != nil {
		c.consumedWrites.Add(int64(*out.ConsumedCapacity.CapacityUnits))
	}
	return out, err
}

func (c *recordingClient) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.updates.Add(1)
	if err := c.check(ctx, "UpdateItem"); err != nil {
		return nil, err
	}
	return c.inner.UpdateItem(ctx, in, o...)
}

func (c *recordingClient) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	c.deletes.Add(1)
	if err := c.check(ctx, "DeleteItem"); err != nil {
		return nil, err
	}
	return c.inner.DeleteItem(ctx, in, o...)
}

func (c *recordingClient) writes() int64 { return c.puts.Load() + c.updates.Load() + c.deletes.Load() }
func (c *recordingClient) calls() int64  { return c.gets.Load() + c.writes() }

// fixture is a store on a fresh table in DynamoDB Local.
type fixture struct {
	t      *testing.T
	ddb    *dynamodb.Client
	client *recordingClient
	table  string
	clock  *clock
	store  *dynamostore.Store
}

func newFixture(t *testing.T, opts ...dynamostore.Option) *fixture {
	t.Helper()
	ddb := dynamostoretest.Client(t)
	f := &fixture{t: t, ddb: ddb, client: &recordingClient{inner: ddb}, table: dynamostoretest.NewTable(t, ddb), clock: newClock()}
	f.store = f.newStore(opts...)
	return f
}

// newStore returns another store on the same table and client (for key rotation tests).
func (f *fixture) newStore(opts ...dynamostore.Option) *dynamostore.Store {
	f.t.Helper()
	base := []dynamostore.Option{
		dynamostore.WithTableName(f.table),
		dynamostore.WithKeyPairs(hashKey1, blockKey1),
		dynamostore.WithClock(f.clock.Now),
	}
	s, err := dynamostore.New(f.client, append(base, opts...)...)
	require.NoError(f.t, err)
	return s
}

// otherServer returns another store on the fixture's table, as another server would run it:
// through the plain client, outside any scripted faults.
func (f *fixture) otherServer(t *testing.T, opts ...dynamostore.Option) *dynamostore.Store {
	t.Helper()
	base := []dynamostore.Option{dynamostore.WithTableName(f.table), dynamostore.WithKeyPairs(hashKey1, blockKey1), dynamostore.WithClock(f.clock.Now)}
	s, err := dynamostore.New(f.ddb, append(base, opts...)...)
	require.NoError(t, err)
	return s
}

// withSession returns a browser whose stored session holds user=ada.
func (f *fixture) withSession(t *testing.T) *browser {
	t.Helper()
	b := newBrowser()
	_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["user"] = "ada"; return true })
	require.NoError(t, err)
	return b
}

// browser keeps cookies like a browser: it replays Set-Cookie headers into the next request.
type browser struct {
	cookies map[string]*http.Cookie
	last    *http.Response
}

func newBrowser() *browser { return &browser{cookies: map[string]*http.Cookie{}} }

func (b *browser) request(ctx context.Context) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "https://example.com/", nil).WithContext(ctx)
	for _, c := range b.cookies {
		r.AddCookie(c)
	}
	return r
}

func (b *browser) receive(rec *httptest.ResponseRecorder) {
	b.last = rec.Result()
	for _, c := range b.last.Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = &http.Cookie{Name: c.Name, Value: c.Value}
		}
	}
}

// visit runs one request: it gets the session, lets fn change it, saves it unless fn says not
// to, and replays the response's cookies. It returns Get's error and Save's error.
func (b *browser) visit(t *testing.T, store *dynamostore.Store, fn func(s *sessions.Session) bool) (getErr, saveErr error) {
	t.Helper()
	r := b.request(context.WithValue(context.Background(), ctxMarker{}, true))
	rec := httptest.NewRecorder()
	s, getErr := store.Get(r, cookieName)
	require.NotNil(t, s, "Get must never return a nil session")
	if fn == nil || fn(s) {
		saveErr = store.Save(r, rec, s)
	}
	b.receive(rec)
	return getErr, saveErr
}

// load returns the session the browser's cookie leads to, without saving.
// copy loads the browser's session in a request that the test finishes later: a slow request.
func (b *browser) copy(t *testing.T, store *dynamostore.Store) (*http.Request, *sessions.Session) {
	t.Helper()
	r := b.request(context.Background())
	s, err := store.Get(r, cookieName)
	require.NoError(t, err)
	return r, s
}

func (b *browser) load(t *testing.T, store *dynamostore.Store) (*sessions.Session, error) {
	t.Helper()
	return store.New(b.request(context.Background()), cookieName)
}

// items returns every item in the fixture's table.
func (f *fixture) items() []map[string]types.AttributeValue {
	f.t.Helper()
	out, err := f.ddb.Scan(context.Background(), &dynamodb.ScanInput{TableName: &f.table, ConsistentRead: ptr(true)})
	require.NoError(f.t, err)
	return out.Items
}

func ptr[T any](v T) *T { return &v }

// liveItems returns the items of the table that hold data: every item but the tombstones
// that Regenerate leaves under a moved session's old key (for TTL to remove).
func (f *fixture) liveItems() []map[string]types.AttributeValue {
	f.t.Helper()
	var out []map[string]types.AttributeValue
	for _, it := range f.items() {
		if _, ok := it["data"]; ok {
			out = append(out, it)
		}
	}
	return out
}

// holdsData reports whether the table has an item under key that holds data (not a
// tombstone).
func (f *fixture) holdsData(t *testing.T, key string) bool {
	t.Helper()
	item, ok := f.itemByKey(t, key)
	_, data := item["data"]
	return ok && data
}
