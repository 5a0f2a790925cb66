package fiberstore_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v3"
	"github.com/gofiber/fiber/v3/middleware/cache"
	"github.com/gofiber/fiber/v3/middleware/session"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/dynamostoretest"
	"github.com/dynamostore/dynamostore/fiberstore"
)

var hashKey = []byte("0123456789abcdef0123456789abcdef")

// TestMain starts one DynamoDB Local for the tests and the examples of this binary (the
// examples use $DYNAMODB_ENDPOINT when it is set), rather than one each. When it cannot be
// started, dynamostoretest.Endpoint reports why (a skip, or a failure under CI=true).
func TestMain(m *testing.M) {
	if os.Getenv("DYNAMODB_ENDPOINT") == "" {
		local, err := dynamostoretest.StartLocal(context.Background(), dynamostoretest.LocalOptions{})
		if err == nil {
			os.Setenv("DYNAMODB_ENDPOINT", local.Endpoint)
			code := m.Run()
			local.Close()
			os.Exit(code)
		}
	}
	os.Exit(m.Run())
}

// clock is a test's time: the store checks expiries with it and the Storage computes them
// with it, so time moves without sleeping. It starts at the real time, and only moves ahead,
// so that no TTL attribute is in the past for DynamoDB Local while a test expects its item.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newStore returns a store on a table of the test's own, on the test's clock.
func newStore(t *testing.T) (*dynamostore.Store, *clock) {
	t.Helper()
	clk := newClock()
	client := dynamostoretest.Client(t)
	s, err := dynamostore.New(client, dynamostore.WithTableName(dynamostoretest.NewTable(t, client)),
		dynamostore.WithKeyPairs(hashKey), dynamostore.WithClock(clk.Now))
	require.NoError(t, err)
	return s, clk
}

// onClock sets the Storage's clock to the store's, and returns it.
func onClock(s *fiberstore.Storage, clk *clock) *fiberstore.Storage {
	fiberstore.SetClock(s, clk.Now)
	return s
}

// testConfig gives a request all the time a loaded machine needs: app.Test's default
// timeout, one second, fails a test when DynamoDB Local answers slowly.
var testConfig = fiber.TestConfig{Timeout: time.Minute, FailOnTimeout: true}

// browser sends requests to a Fiber app with the session cookie it was last given.
type browser struct {
	t      *testing.T
	app    *fiber.App
	cookie string
}

// do sends a GET for path and returns the response's status and body.
func (b *browser) do(path string) (int, string) {
	b.t.Helper()
	status, body, cookie, err := request(b.app, path, b.cookie)
	require.NoError(b.t, err)
	if cookie != "" {
		b.cookie = cookie
	}
	return status, body
}

// get is do for a request that must succeed.
func (b *browser) get(path string) string {
	b.t.Helper()
	status, body := b.do(path)
	require.Equal(b.t, http.StatusOK, status, body)
	return body
}

// request sends a GET for path with cookie (if any) and returns the response's status, body
// and session cookie (if it set one). It calls no testing function: goroutines may use it.
func request(app *fiber.App, path, cookie string) (status int, body, setCookie string, err error) {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := app.Test(req, testConfig)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "session_id" {
			setCookie = c.Name + "=" + c.Value
		}
	}
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), setCookie, err
}

// Every method of fiber.Storage, the WithContext variants included, for both kinds.
func TestStorage(t *testing.T) {
	for name, constructor := range map[string]func(*dynamostore.Store) *fiberstore.Storage{
		"New": fiberstore.New, "NewSessionStorage": fiberstore.NewSessionStorage,
	} {
		t.Run(name, func(t *testing.T) {
			store, clk := newStore(t)
			s := onClock(constructor(store), clk)
			ctx := context.Background()
			v, err := s.Get("missing")
			require.NoError(t, err)
			assert.Nil(t, v)
			require.NoError(t, s.Set("k", []byte("v"), 0))
			v, err = s.GetWithContext(ctx, "k")
			require.NoError(t, err)
			assert.Equal(t, "v", string(v))
			require.NoError(t, s.SetWithContext(ctx, "short", []byte("v"), time.Hour))
			require.NoError(t, s.Set("", []byte("v"), 0), "an empty key is ignored")
			require.NoError(t, s.Set("empty", nil, 0), "an empty value is ignored")
			v, _ = s.Get("empty")
			assert.Nil(t, v)
			v, _ = s.Get("")
			assert.Nil(t, v)

			clk.Advance(59 * time.Minute)
			v, err = s.Get("short")
			require.NoError(t, err)
			assert.Equal(t, "v", string(v), "not expired yet")
			clk.Advance(2 * time.Minute)
			v, err = s.Get("short")
			require.NoError(t, err)
			assert.Nil(t, v, "exp is honoured on read")
			v, _ = s.Get("k")
			assert.Equal(t, "v", string(v), "exp 0: no expiry")

			require.NoError(t, s.DeleteWithContext(ctx, "k"))
			require.NoError(t, s.Delete("never-set"))
			require.NoError(t, s.Delete(""))
			v, err = s.Get("k")
			require.NoError(t, err)
			assert.Nil(t, v)
			require.ErrorIs(t, s.Reset(), fiberstore.ErrResetUnsupported)
			require.ErrorIs(t, s.ResetWithContext(ctx), fiberstore.ErrResetUnsupported)
			require.NoError(t, s.Close())
		})
	}
}

// Defect 8 of issue 19: the Storage from New dropped every Set that followed a Delete of the
// key, and returned nil. A fiber.Storage must store the value.
func TestSetAfterDeleteStoresTheValue(t *testing.T) {
	store, _ := newStore(t)
	s := fiberstore.New(store)
	ctx := context.Background()
	require.NoError(t, s.Set("k", []byte("first"), time.Hour))
	require.NoError(t, s.Delete("k"))
	require.NoError(t, s.Set("k", []byte("second"), time.Hour))
	v, err := s.Get("k")
	require.NoError(t, err)
	assert.Equal(t, "second", string(v), "a Set after a Delete stores the value")

	require.NoError(t, s.DeleteWithContext(ctx, "k"))
	require.NoError(t, s.SetWithContext(ctx, "k", []byte("third"), 0))
	v, err = s.GetWithContext(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, "third", string(v), "and again, with a context")
}

// The Storage from NewSessionStorage keeps a deleted key deleted: a Set of it writes nothing
// and says so with an error, never nil.
func TestSessionStorageRefusesASetAfterDelete(t *testing.T) {
	store, _ := newStore(t)
	s := fiberstore.NewSessionStorage(store)
	ctx := context.Background()
	require.NoError(t, s.Set("sid", []byte("values"), time.Hour))
	require.NoError(t, s.Delete("sid"))

	err := s.Set("sid", []byte("resurrected"), time.Hour)
	require.ErrorIs(t, err, fiberstore.ErrDeleted)
	require.ErrorIs(t, err, dynamostore.ErrSessionGone)
	err = s.SetWithContext(ctx, "sid", []byte("resurrected"), 0)
	require.ErrorIs(t, err, fiberstore.ErrDeleted)
	v, err := s.Get("sid")
	require.NoError(t, err)
	assert.Nil(t, v, "nothing was written")

	// The two kinds share the namespace: the plain Storage finds the sessions, and a Set of a
	// key the session storage deleted is refused there too, with the error.
	plain := fiberstore.New(store)
	require.NoError(t, s.Set("other", []byte("values"), time.Hour))
	v, err = plain.Get("other")
	require.NoError(t, err)
	assert.Equal(t, "values", string(v))
	require.ErrorIs(t, plain.Set("sid", []byte("resurrected"), time.Hour), fiberstore.ErrDeleted)
}

// Fiber's cache middleware deletes an entry when it is invalidated and stores the new
// response under the same key: the route is cached again, from DynamoDB.
func TestUnderFibersCacheMiddlewareARouteIsCachedAgainAfterAnInvalidation(t *testing.T) {
	store, _ := newStore(t)
	var renders atomic.Int64
	app := fiber.New()
	app.Use(cache.New(cache.Config{
		Storage:          fiberstore.New(store),
		Expiration:       time.Hour,
		CacheInvalidator: func(c fiber.Ctx) bool { return c.Get("X-Invalidate") != "" },
	}))
	app.Get("/", func(c fiber.Ctx) error {
		return c.SendString("render " + strconv.FormatInt(renders.Add(1), 10))
	})
	get := func(invalidate bool) (body, cacheHeader string) {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if invalidate {
			req.Header.Set("X-Invalidate", "1")
		}
		resp, err := app.Test(req, testConfig)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(b), resp.Header.Get("X-Cache")
	}

	body, x := get(false)
	assert.Equal(t, "render 1", body)
	assert.Equal(t, "miss", x)
	body, x = get(false)
	assert.Equal(t, "render 1", body)
	assert.Equal(t, "hit", x, "cached")

	body, _ = get(true)
	assert.Equal(t, "render 2", body, "invalidated: rendered again")
	for range 2 {
		body, x = get(false)
		assert.Equal(t, "render 2", body)
		assert.Equal(t, "hit", x, "cached again after the invalidation")
	}
	assert.EqualValues(t, 2, renders.Load())
}

// Fiber's session middleware on DynamoDB Local: values survive requests, Regenerate gives a
// new ID with the values, Destroy ends the session, the idle timeout ends it, and every
// request renews it.
func TestUnderFibersSessionMiddleware(t *testing.T) {
	store, clk := newStore(t)
	app := fiber.New()
	app.Use(session.New(session.Config{
		Storage:     onClock(fiberstore.NewSessionStorage(store), clk),
		IdleTimeout: time.Hour, CookieSecure: false,
	}))
	app.Get("/set", func(c fiber.Ctx) error {
		session.FromContext(c).Set("name", c.Query("v"))
		return nil
	})
	app.Get("/get", func(c fiber.Ctx) error {
		name, _ := session.FromContext(c).Get("name").(string)
		return c.SendString(name)
	})
	app.Get("/regenerate", func(c fiber.Ctx) error { return session.FromContext(c).Regenerate() })
	app.Get("/destroy", func(c fiber.Ctx) error { return session.FromContext(c).Destroy() })

	b := &browser{t: t, app: app}
	b.get("/set?v=ada")
	assert.Equal(t, "ada", b.get("/get"))
	before := b.cookie
	b.get("/regenerate")
	assert.NotEqual(t, before, b.cookie)
	assert.Equal(t, "ada", b.get("/get"))
	assert.Equal(t, "", (&browser{t: t, app: app, cookie: before}).get("/get"), "the old ID is dead")
	old := b.cookie
	b.get("/destroy")
	b.cookie = old
	assert.Equal(t, "", b.get("/get"), "destroyed")

	b.get("/set?v=bob")
	assert.Equal(t, "bob", b.get("/get"))
	clk.Advance(45 * time.Minute)
	assert.Equal(t, "bob", b.get("/get"), "within the idle timeout")
	clk.Advance(45 * time.Minute)
	assert.Equal(t, "bob", b.get("/get"), "each request renewed the idle timeout")
	clk.Advance(61 * time.Minute)
	assert.Equal(t, "", b.get("/get"), "the idle timeout ended it")
}

// Under Fiber's session middleware, a request that loaded the session before another
// destroyed it does not bring it back when the middleware saves it: the save fails with
// ErrDeleted, which reaches the ErrorHandler.
func TestSessionStorageKeepsADestroyedSessionDestroyed(t *testing.T) {
	store, _ := newStore(t)
	errs := make(chan error, 1)
	loaded, release := make(chan struct{}), make(chan struct{})
	app := fiber.New()
	app.Use(session.New(session.Config{
		Storage: fiberstore.NewSessionStorage(store),
		ErrorHandler: func(c fiber.Ctx, err error) {
			errs <- err
			_ = c.Status(fiber.StatusConflict).SendString("session ended")
		},
	}))
	app.Get("/set", func(c fiber.Ctx) error {
		session.FromContext(c).Set("name", c.Query("v"))
		return nil
	})
	app.Get("/get", func(c fiber.Ctx) error {
		name, _ := session.FromContext(c).Get("name").(string)
		return c.SendString(name)
	})
	app.Get("/destroy", func(c fiber.Ctx) error { return session.FromContext(c).Destroy() })
	app.Get("/slow-set", func(c fiber.Ctx) error {
		session.FromContext(c).Set("name", "slow")
		close(loaded)
		<-release // the middleware saves after the handler returns
		return nil
	})

	b := &browser{t: t, app: app}
	b.get("/set?v=ada")
	cookie := b.cookie
	type result struct {
		status int
		err    error
	}
	slow := make(chan result, 1)
	go func() {
		status, _, _, err := request(app, "/slow-set", cookie)
		slow <- result{status, err}
	}()
	<-loaded
	b.get("/destroy")
	close(release)
	r := <-slow
	require.NoError(t, r.err)
	assert.Equal(t, fiber.StatusConflict, r.status)
	select {
	case err := <-errs:
		require.ErrorIs(t, err, fiberstore.ErrDeleted)
		require.ErrorIs(t, err, dynamostore.ErrSessionGone)
	default:
		t.Fatal("the refused save did not reach the ErrorHandler")
	}
	assert.Equal(t, "", (&browser{t: t, app: app, cookie: cookie}).get("/get"), "the destroyed session did not come back")
}

// The constructor path of a table in another account: NewCrossAccount's store, through the
// signing gateway with exactly the policy of CROSS-ACCOUNT.md, for both kinds of Storage.
func TestThroughTheCrossAccountSetUp(t *testing.T) {
	client := dynamostoretest.Client(t)
	x, err := dynamostoretest.StartCrossAccount(dynamostoretest.Endpoint(t), dynamostoretest.NewTable(t, client), dynamostoretest.CrossAccountOptions{})
	require.NoError(t, err)
	t.Cleanup(x.Close)
	ca, err := dynamostore.NewCrossAccount(x.BaseConfig(), x.TableARN, x.RoleARN, x.Options())
	require.NoError(t, err)
	t.Cleanup(func() { ca.Credentials.Close() })
	ca.Config.BaseEndpoint = &x.Gateway.URL
	ds, err := ca.NewStore(dynamostore.WithKeyPairs(hashKey))
	require.NoError(t, err)
	for _, s := range []*fiberstore.Storage{fiberstore.New(ds), fiberstore.NewSessionStorage(ds)} {
		require.NoError(t, s.Set("k", []byte("v"), time.Hour))
		v, err := s.Get("k")
		require.NoError(t, err)
		assert.Equal(t, "v", string(v))
		require.NoError(t, s.Delete("k"))
	}
	assert.Empty(t, x.Gateway.Stats().Rejected)
	assert.Positive(t, x.Gateway.Stats().Forwarded)
}
