package ginstore_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/gin-contrib/sessions"
	"github.com/gin-contrib/sessions/tester"
	"github.com/gin-gonic/gin"
	gsessions "github.com/gorilla/sessions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/dynamostoretest"
	"github.com/dynamostore/dynamostore/ginstore"
)

var hashKey = []byte("0123456789abcdef0123456789abcdef")

func newStore(t *testing.T) sessions.Store { return newStoreWith(t) }

func newStoreWith(t *testing.T, opts ...dynamostore.Option) sessions.Store {
	t.Helper()
	client := dynamostoretest.Client(t)
	s, err := dynamostore.New(client, append([]dynamostore.Option{dynamostore.WithTableName(dynamostoretest.NewTable(t, client)), dynamostore.WithKeyPairs(hashKey)}, opts...)...)
	require.NoError(t, err)
	return ginstore.New(s)
}

// newPlainHTTPStore is a store for plain HTTP whose cookie scripts may read: its cookie has
// no prefix, so gin-contrib's per-session options may set any Domain and Path and drop Secure
// and HttpOnly, as its suite does (without WithCookieScriptAccess, Save restores HttpOnly).
func newPlainHTTPStore(t *testing.T) sessions.Store {
	return newStoreWith(t, dynamostore.WithInsecureCookie(), dynamostore.WithCookieScriptAccess())
}

// gin-contrib/sessions' own conformance suite, on DynamoDB Local.
func TestGinContribSuite(t *testing.T) {
	gin.SetMode(gin.TestMode)
	t.Run("GetSet", func(t *testing.T) { tester.GetSet(t, newStore) })
	t.Run("DeleteKey", func(t *testing.T) { tester.DeleteKey(t, newStore) })
	t.Run("Flashes", func(t *testing.T) { tester.Flashes(t, newStore) })
	t.Run("Clear", func(t *testing.T) { tester.Clear(t, newStore) })
	// The suite's Options test sets a Domain and, per session, a Path without Secure: a
	// prefixed cookie must refuse both (TestOptionsThatBreakThePrefixAreRefused).
	t.Run("Options", func(t *testing.T) { tester.Options(t, newPlainHTTPStore) })
	t.Run("Many", func(t *testing.T) { tester.Many(t, newStore) })
}

// Options keeps the store's protections that gin's options leave at their zero values.
func TestOptionsKeepTheStoreDefaults(t *testing.T) {
	gin.SetMode(gin.TestMode)
	store := newStoreWith(t, dynamostore.WithCookie(func(c *gsessions.Options) { c.Domain = "example.com" }))
	store.Options(sessions.Options{MaxAge: 600})
	r := gin.New()
	r.Use(sessions.Sessions("s", store))
	r.GET("/", func(c *gin.Context) {
		s := sessions.Default(c)
		s.Set("k", "v")
		require.NoError(t, s.Save())
	})
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	c := rec.Result().Cookies()
	require.Len(t, c, 1)
	assert.Equal(t, "__Secure-s", c[0].Name, "a Domain allows __Secure-, not __Host-")
	assert.Equal(t, "example.com", c[0].Domain)
	assert.Equal(t, 600, c[0].MaxAge)
	assert.True(t, c[0].Secure, "Secure kept")
	assert.True(t, c[0].HttpOnly, "HttpOnly kept")
	assert.Equal(t, http.SameSiteLaxMode, c[0].SameSite, "SameSite kept")
}

// gin's Options with an empty Path keep the store's "/", so the default __Host- cookie works
// for the gin migrant who sets only MaxAge; a Domain the __Host- prefix cannot have is an
// error from Save, never a cookie that browsers drop.
func TestOptionsThatBreakThePrefixAreRefused(t *testing.T) {
	gin.SetMode(gin.TestMode)
	for name, tc := range map[string]struct {
		opts    sessions.Options
		refused bool
	}{
		"only MaxAge":   {sessions.Options{MaxAge: 600}, false},
		"SameSite only": {sessions.Options{SameSite: http.SameSiteStrictMode}, false},
		"a Domain":      {sessions.Options{Domain: "example.com"}, true},
		"a Path":        {sessions.Options{Path: "/app"}, true},
	} {
		t.Run(name, func(t *testing.T) {
			store := newStore(t)
			store.Options(tc.opts)
			r := gin.New()
			r.Use(sessions.Sessions("s", store))
			var saveErr error
			r.GET("/", func(c *gin.Context) {
				s := sessions.Default(c)
				s.Set("k", "v")
				saveErr = s.Save()
			})
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
			if tc.refused {
				require.ErrorIs(t, saveErr, dynamostore.ErrCookiePolicy)
				assert.Empty(t, rec.Result().Cookies())
				return
			}
			require.NoError(t, saveErr)
			c := rec.Result().Cookies()
			require.Len(t, c, 1)
			assert.Equal(t, "__Host-s", c[0].Name)
			assert.Equal(t, "/", c[0].Path)
			assert.True(t, c[0].Secure)
		})
	}
}

// Login from a gin handler: a new session ID, bound to the user and listed; Regenerate too.
func TestLoginAndRegenerateFromAGinHandler(t *testing.T) {
	gin.SetMode(gin.TestMode)
	store := newStore(t)
	r := gin.New()
	r.Use(sessions.Sessions("s", store))
	r.GET("/visit", func(c *gin.Context) {
		s := sessions.Default(c)
		s.Set("cart", "book")
		require.NoError(t, s.Save())
	})
	r.POST("/login", func(c *gin.Context) {
		s := sessions.Default(c)
		s.Set("user", "ada")
		require.NoError(t, ginstore.Login(c, store, "s", "ada"))
	})
	r.POST("/regenerate", func(c *gin.Context) {
		require.NoError(t, ginstore.Regenerate(c, store, "s"))
	})
	r.GET("/whoami", func(c *gin.Context) {
		s := sessions.Default(c)
		user, _ := s.Get("user").(string)
		cart, _ := s.Get("cart").(string)
		c.String(http.StatusOK, user+"/"+cart)
	})
	cookie := ""
	do := func(method, path string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		if set := rec.Header().Get("Set-Cookie"); set != "" {
			cookie = strings.Split(set, ";")[0]
		}
		return rec
	}
	do(http.MethodGet, "/visit")
	before := cookie
	do(http.MethodPost, "/login")
	assert.NotEqual(t, before, cookie, "a new session ID at login")
	assert.Equal(t, "ada/book", do(http.MethodGet, "/whoami").Body.String())
	list, err := ginstore.Dynamo(store).UserSessions(context.Background(), "ada")
	require.NoError(t, err)
	assert.Len(t, list, 1)
	loggedIn := cookie
	do(http.MethodPost, "/regenerate")
	assert.NotEqual(t, loggedIn, cookie)
	assert.Equal(t, "ada/book", do(http.MethodGet, "/whoami").Body.String())
	list, err = ginstore.Dynamo(store).UserSessions(context.Background(), "ada")
	require.NoError(t, err)
	assert.Len(t, list, 1, "still one session, moved to the new ID")
}

// ManyStores, as gin-contrib/sessions' newer suite has it (its v1.0.4 tester does not): two
// stores, each under its own session name, in one router; both sessions survive a round trip.
func TestManyStores(t *testing.T) {
	gin.SetMode(gin.TestMode)
	r := gin.New()
	// gin-contrib v1.0.4 keeps one session per context key: keep a's before b's middleware runs.
	r.Use(sessions.Sessions("a", newStore(t)), func(c *gin.Context) { c.Set("a", sessions.Default(c)) }, sessions.Sessions("b", newStore(t)))
	r.GET("/set", func(c *gin.Context) {
		a, b := c.MustGet("a").(sessions.Session), sessions.Default(c)
		a.Set("hello", "world")
		b.Set("foo", "bar")
		require.NoError(t, a.Save())
		require.NoError(t, b.Save())
	})
	r.GET("/get", func(c *gin.Context) {
		a, b := c.MustGet("a").(sessions.Session), sessions.Default(c)
		c.String(http.StatusOK, "%v %v", a.Get("hello"), b.Get("foo"))
	})
	res := httptest.NewRecorder()
	r.ServeHTTP(res, httptest.NewRequest(http.MethodGet, "/set", nil))
	require.Len(t, res.Result().Cookies(), 2)
	req := httptest.NewRequest(http.MethodGet, "/get", nil)
	for _, c := range res.Result().Cookies() {
		req.AddCookie(c)
	}
	res = httptest.NewRecorder()
	r.ServeHTTP(res, req)
	assert.Equal(t, "world bar", res.Body.String())
}

// The constructor path of a table in another account: NewCrossAccount's store, through the
// signing gateway with exactly the policy of CROSS-ACCOUNT.md, under gin.
func TestThroughTheCrossAccountSetUp(t *testing.T) {
	gin.SetMode(gin.TestMode)
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
	r := gin.New()
	r.Use(sessions.Sessions("session", ginstore.New(ds)))
	r.GET("/", func(c *gin.Context) {
		s := sessions.Default(c)
		n, _ := s.Get("n").(int)
		s.Set("n", n+1)
		require.NoError(t, s.Save())
		c.String(http.StatusOK, "%d", n+1)
	})
	var cookie *http.Cookie
	for want := 1; want <= 2; want++ {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		res := httptest.NewRecorder()
		r.ServeHTTP(res, req)
		assert.Equal(t, strconv.Itoa(want), res.Body.String())
		if c := res.Result().Cookies(); len(c) > 0 {
			cookie = c[0]
		}
	}
	assert.Empty(t, x.Gateway.Stats().Rejected)
	assert.Positive(t, x.Gateway.Stats().Forwarded)
}
