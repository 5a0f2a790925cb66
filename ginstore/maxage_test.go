package ginstore_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/dynamostoretest"
	"github.com/dynamostore/dynamostore/ginstore"
)

// These tests show what README.md's "Cookie lifetime: MaxAge 0" says.

// maxAgeRouter is a gin router on a ginstore over a dynamostore.Store made with opts:
// /set stores a value and saves the session, /get answers it without saving.
func maxAgeRouter(t *testing.T, configure func(ginstore.Store), opts ...dynamostore.Option) *gin.Engine {
	t.Helper()
	gin.SetMode(gin.TestMode)
	client := dynamostoretest.Client(t)
	ds, err := dynamostore.New(client, append([]dynamostore.Option{
		dynamostore.WithTableName(dynamostoretest.NewTable(t, client)), dynamostore.WithKeyPairs(hashKey),
	}, opts...)...)
	require.NoError(t, err)
	store := ginstore.New(ds)
	if configure != nil {
		configure(store)
	}
	r := gin.New()
	r.Use(sessions.Sessions("s", store))
	r.GET("/set", func(c *gin.Context) {
		s := sessions.Default(c)
		s.Set("k", "v")
		require.NoError(t, s.Save())
	})
	r.GET("/get", func(c *gin.Context) {
		v, _ := sessions.Default(c).Get("k").(string)
		c.String(http.StatusOK, v)
	})
	return r
}

// serve sends a GET for path with cookie (if any) and returns the response.
func serve(r *gin.Engine, path, cookie string) *http.Response {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, req)
	return rec.Result()
}

// sessionCookie returns the one cookie that resp sets, and its Set-Cookie header.
func sessionCookie(t *testing.T, resp *http.Response) (*http.Cookie, string) {
	t.Helper()
	require.Len(t, resp.Cookies(), 1)
	return resp.Cookies()[0], resp.Header.Get("Set-Cookie")
}

// In gin-contrib, MaxAge 0 asks for a cookie with no Max-Age (a browser-session cookie).
// ginstore.Options reads it as "not set", like Secure, HttpOnly and SameSite: the cookie keeps
// the dynamostore.Store's MaxAge, a day by default.
func TestOptionsMaxAgeZeroKeepsTheStoresMaxAge(t *testing.T) {
	for name, tc := range map[string]struct {
		opts   []dynamostore.Option
		maxAge int
	}{
		"default store":                     {maxAge: 86400},
		"store with WithCookieMaxAge(3600)": {opts: []dynamostore.Option{dynamostore.WithCookieMaxAge(3600)}, maxAge: 3600},
	} {
		t.Run(name, func(t *testing.T) {
			r := maxAgeRouter(t, func(s ginstore.Store) { s.Options(sessions.Options{Path: "/", MaxAge: 0}) }, tc.opts...)
			c, header := sessionCookie(t, serve(r, "/set", ""))
			assert.Equal(t, tc.maxAge, c.MaxAge, "MaxAge 0 keeps the store's MaxAge: %s", header)
			assert.Contains(t, header, "Expires=", "not a browser-session cookie")
		})
	}
}

// A browser-session cookie comes from the store: dynamostore.WithCookieMaxAge(0). Its cookie has
// neither Max-Age nor Expires, with or without ginstore.Options{MaxAge: 0}; the server keeps
// the session for the store's WithLifetime after its last write.
func TestBrowserSessionCookieComesFromWithCookieMaxAgeZero(t *testing.T) {
	for name, configure := range map[string]func(ginstore.Store){
		"no Options":             nil,
		"Options with MaxAge 0":  func(s ginstore.Store) { s.Options(sessions.Options{Path: "/", MaxAge: 0}) },
		"Options without MaxAge": func(s ginstore.Store) { s.Options(sessions.Options{Path: "/", SameSite: http.SameSiteStrictMode}) },
	} {
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			now := time.Now()
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
			r := maxAgeRouter(t, configure, dynamostore.WithCookieMaxAge(0), dynamostore.WithLifetime(time.Hour),
				dynamostore.WithClock(clock))

			c, header := sessionCookie(t, serve(r, "/set", ""))
			assert.Zero(t, c.MaxAge, "no Max-Age: %s", header)
			assert.NotContains(t, header, "Max-Age", "a browser-session cookie")
			assert.NotContains(t, header, "Expires", "a browser-session cookie")
			cookie := c.Name + "=" + c.Value

			body := func() string {
				resp := serve(r, "/get", cookie)
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				return string(b)
			}
			assert.Equal(t, "v", body(), "the session lives while the browser keeps the cookie")
			advance(59 * time.Minute)
			assert.Equal(t, "v", body(), "within WithLifetime of its last write")
			advance(2 * time.Minute)
			assert.Equal(t, "", body(), "past WithLifetime since its last write: ended on the server")
		})
	}
}
