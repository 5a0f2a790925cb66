package scsstore_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/dynamostoretest"
	"github.com/dynamostore/dynamostore/scsstore"
)

var (
	_ scs.Store    = (*scsstore.Store)(nil)
	_ scs.CtxStore = (*scsstore.Store)(nil)
)

var hashKey = []byte("0123456789abcdef0123456789abcdef")

// app is an scs.SessionManager with its LoadAndSave middleware on DynamoDB Local.
type app struct {
	sm     *scs.SessionManager
	server *httptest.Server
	store  *scsstore.Store
}

func newApp(t *testing.T, opts ...dynamostore.Option) *app {
	t.Helper()
	client := dynamostoretest.Client(t)
	ds, err := dynamostore.New(client, append([]dynamostore.Option{
		dynamostore.WithTableName(dynamostoretest.NewTable(t, client)), dynamostore.WithKeyPairs(hashKey, nil),
	}, opts...)...)
	require.NoError(t, err)
	a := &app{sm: scs.New(), store: scsstore.New(ds)}
	a.sm.Store = a.store
	mux := http.NewServeMux()
	mux.HandleFunc("/put", func(w http.ResponseWriter, r *http.Request) {
		a.sm.Put(r.Context(), "msg", r.URL.Query().Get("v"))
	})
	mux.HandleFunc("/get", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, a.sm.GetString(r.Context(), "msg"))
	})
	mux.HandleFunc("/renew", func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, a.sm.RenewToken(r.Context()))
	})
	mux.HandleFunc("/destroy", func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, a.sm.Destroy(r.Context()))
	})
	mux.HandleFunc("/slow-put", func(w http.ResponseWriter, r *http.Request) {
		a.sm.Put(r.Context(), "msg", "slow") // LoadAndSave loaded the session before the handler
		loaded <- struct{}{}
		<-release // the Commit happens after the handler returns
	})
	a.server = httptest.NewServer(a.sm.LoadAndSave(mux))
	t.Cleanup(a.server.Close)
	return a
}

// loaded tells that /slow-put holds the session; release lets it return and commit.
var loaded, release = make(chan struct{}), make(chan struct{})

type client struct {
	t      *testing.T
	a      *app
	cookie string
}

func (c *client) get(path string) string {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.a.server.URL+path, nil)
	if c.cookie != "" {
		req.Header.Set("Cookie", c.cookie)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(c.t, http.StatusOK, resp.StatusCode, string(body))
	for _, sc := range resp.Cookies() {
		if sc.Name == c.a.sm.Cookie.Name {
			c.cookie = sc.Name + "=" + sc.Value
			if sc.MaxAge < 0 {
				c.cookie = ""
			}
		}
	}
	return string(body)
}

func TestPutGetRenewDestroy(t *testing.T) {
	a := newApp(t)
	c := &client{t: t, a: a}
	c.get("/put?v=hello")
	assert.Equal(t, "hello", c.get("/get"))
	before := c.cookie
	c.get("/renew")
	assert.NotEqual(t, before, c.cookie, "a new token")
	assert.Equal(t, "hello", c.get("/get"), "the data moved to the new token")
	old := &client{t: t, a: a, cookie: before}
	assert.Equal(t, "", old.get("/get"), "the old token is dead")
	c.get("/destroy")
	assert.Equal(t, "", (&client{t: t, a: a, cookie: strings.TrimSpace(c.cookie)}).get("/get"))
}

func TestExpiryIsCheckedOnRead(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	a := newApp(t, dynamostore.WithClock(clock))
	a.sm.Lifetime = time.Hour
	c := &client{t: t, a: a}
	c.get("/put?v=hello")
	assert.Equal(t, "hello", c.get("/get"))
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	b, found, err := a.store.Find(strings.SplitN(c.cookie, "=", 2)[1])
	require.NoError(t, err)
	assert.False(t, found, "expired, whatever TTL has done")
	assert.Nil(t, b)
}

// A Destroy in one request is never undone by the Commit of another that loaded the session
// before it.
func TestDestroyIsNeverUndoneByACommit(t *testing.T) {
	a := newApp(t)
	c := &client{t: t, a: a}
	c.get("/put?v=hello")
	slow := &client{t: t, a: a, cookie: c.cookie}
	done := make(chan struct{})
	go func() {
		defer close(done)
		slow.get("/slow-put") // loads now, commits after the destroy
	}()
	<-loaded // however slow the machine: the destroy comes after the load
	c.get("/destroy")
	release <- struct{}{}
	<-done
	fresh := &client{t: t, a: a, cookie: slow.cookie}
	assert.Equal(t, "", fresh.get("/get"), "the destroyed session did not come back")
}

// The constructor path of a table in another account: NewCrossAccount's store, through the
// signing gateway with exactly the policy of CROSS-ACCOUNT.md.
func TestThroughTheCrossAccountSetUp(t *testing.T) {
	client := dynamostoretest.Client(t)
	table := dynamostoretest.NewTable(t, client)
	x, err := dynamostoretest.StartCrossAccount(dynamostoretest.Endpoint(t), table, dynamostoretest.CrossAccountOptions{})
	require.NoError(t, err)
	t.Cleanup(x.Close)
	ca, err := dynamostore.NewCrossAccount(x.BaseConfig(), x.TableARN, x.RoleARN, x.Options())
	require.NoError(t, err)
	t.Cleanup(func() { ca.Credentials.Close() })
	ca.Config.BaseEndpoint = &x.Gateway.URL
	ds, err := ca.NewStore(dynamostore.WithKeyPairs(hashKey, nil))
	require.NoError(t, err)
	s := scsstore.New(ds)
	require.NoError(t, s.Commit("token", []byte("data"), time.Now().Add(time.Hour)))
	b, found, err := s.Find("token")
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, "data", string(b))
	require.NoError(t, s.Delete("token"))
	assert.Empty(t, x.Gateway.Stats().Rejected)
	assert.Positive(t, x.Gateway.Stats().Forwarded)
}
