package ginstore_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-contrib/sessions"
	"github.com/gin-contrib/sessions/tester"
	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/dynamostoretest"
	"github.com/dynamostore/dynamostore/ginstore"
)

var hashKey = []byte("0123456789abcdef0123456789abcdef")

func newStore(t *testing.T) sessions.Store {
	t.Helper()
	client := dynamostoretest.Client(t)
	s, err := dynamostore.New(client, dynamostore.WithTableName(dynamostoretest.NewTable(t, client)), dynamostore.WithKeyPairs(hashKey))
	require.NoError(t, err)
	return ginstore.New(s)
}

// gin-contrib/sessions' own conformance suite, on DynamoDB Local.
func TestGinContribSuite(t *testing.T) {
	gin.SetMode(gin.TestMode)
	t.Run("GetSet", func(t *testing.T) { tester.GetSet(t, newStore) })
	t.Run("DeleteKey", func(t *testing.T) { tester.DeleteKey(t, newStore) })
	t.Run("Flashes", func(t *testing.T) { tester.Flashes(t, newStore) })
	t.Run("Clear", func(t *testing.T) { tester.Clear(t, newStore) })
	t.Run("Options", func(t *testing.T) { tester.Options(t, newStore) })
	t.Run("Many", func(t *testing.T) { tester.Many(t, newStore) })
}

// Options keeps the store's protections that gin's options leave at their zero values.
func TestOptionsKeepTheStoreDefaults(t *testing.T) {
	gin.SetMode(gin.TestMode)
	store := newStore(t)
	store.Options(sessions.Options{Domain: "example.com", MaxAge: 600})
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
	assert.Equal(t, "example.com", c[0].Domain)
	assert.Equal(t, 600, c[0].MaxAge)
	assert.True(t, c[0].Secure, "Secure kept")
	assert.True(t, c[0].HttpOnly, "HttpOnly kept")
	assert.Equal(t, http.SameSiteLaxMode, c[0].SameSite, "SameSite kept")
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
