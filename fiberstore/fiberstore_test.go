package fiberstore_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gofiber/fiber/v3"
	"github.com/gofiber/fiber/v3/middleware/session"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/dynamostoretest"
	"github.com/dynamostore/dynamostore/fiberstore"
)

var hashKey = []byte("0123456789abcdef0123456789abcdef")

func newStorage(t *testing.T) *fiberstore.Storage {
	t.Helper()
	client := dynamostoretest.Client(t)
	s, err := dynamostore.New(client, dynamostore.WithTableName(dynamostoretest.NewTable(t, client)), dynamostore.WithKeyPairs(hashKey))
	require.NoError(t, err)
	return fiberstore.New(s)
}

// Every method of fiber.Storage, the WithContext variants included.
func TestStorage(t *testing.T) {
	s := newStorage(t)
	ctx := context.Background()
	v, err := s.Get("missing")
	require.NoError(t, err)
	assert.Nil(t, v)
	require.NoError(t, s.Set("k", []byte("v"), 0))
	v, err = s.GetWithContext(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, "v", string(v))
	require.NoError(t, s.SetWithContext(ctx, "short", []byte("v"), time.Second))
	require.NoError(t, s.Set("", []byte("v"), 0), "an empty key is ignored")
	require.NoError(t, s.Set("empty", nil, 0), "an empty value is ignored")
	v, _ = s.Get("empty")
	assert.Nil(t, v)
	time.Sleep(2100 * time.Millisecond)
	v, err = s.Get("short")
	require.NoError(t, err)
	assert.Nil(t, v, "exp is honoured on read")
	require.NoError(t, s.DeleteWithContext(ctx, "k"))
	require.NoError(t, s.Delete("never-set"))
	v, _ = s.Get("k")
	assert.Nil(t, v)
	require.NoError(t, s.Set("k", []byte("resurrected"), 0), "a Set after a Delete is dropped")
	v, _ = s.Get("k")
	assert.Nil(t, v)
	require.ErrorIs(t, s.Reset(), fiberstore.ErrResetUnsupported)
	require.ErrorIs(t, s.ResetWithContext(ctx), fiberstore.ErrResetUnsupported)
	require.NoError(t, s.Close())
}

// Fiber's session middleware on DynamoDB Local: values survive requests, Regenerate gives a
// new ID with the values, Destroy ends the session, the idle timeout ends it.
func TestUnderFibersSessionMiddleware(t *testing.T) {
	storage := newStorage(t)
	app := fiber.New()
	app.Use(session.New(session.Config{Storage: storage, IdleTimeout: 2 * time.Second, CookieSecure: false}))
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

	cookie := ""
	get := func(path string) string {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		resp, err := app.Test(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		for _, c := range resp.Cookies() {
			if c.Name == "session_id" {
				cookie = c.Name + "=" + c.Value
			}
		}
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	get("/set?v=ada")
	assert.Equal(t, "ada", get("/get"))
	before := cookie
	get("/regenerate")
	assert.NotEqual(t, before, cookie)
	assert.Equal(t, "ada", get("/get"))
	old := cookie
	get("/destroy")
	cookie = old
	assert.Equal(t, "", get("/get"), "destroyed")
	get("/set?v=bob")
	assert.Equal(t, "bob", get("/get"))
	time.Sleep(2500 * time.Millisecond)
	assert.Equal(t, "", get("/get"), "the idle timeout ended it")
}

// The constructor path of a table in another account: NewCrossAccount's store, through the
// signing gateway with exactly the policy of CROSS-ACCOUNT.md.
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
	s := fiberstore.New(ds)
	require.NoError(t, s.Set("k", []byte("v"), time.Hour))
	v, err := s.Get("k")
	require.NoError(t, err)
	assert.Equal(t, "v", string(v))
	require.NoError(t, s.Delete("k"))
	assert.Empty(t, x.Gateway.Stats().Rejected)
	assert.Positive(t, x.Gateway.Stats().Forwarded)
}
