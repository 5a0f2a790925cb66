package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/dynamostoretest"
	"github.com/dynamostore/dynamostore/ginstore"
)

func TestCounterLoginLogout(t *testing.T) {
	client := dynamostoretest.Client(t)
	store, err := dynamostore.New(client, dynamostore.WithTableName(dynamostoretest.NewTable(t, client)),
		dynamostore.WithKeyPairs([]byte("0123456789abcdef0123456789abcdef")))
	require.NoError(t, err)
	r := router(ginstore.New(store))
	cookie := ""
	do := func(method, path string, form url.Values) string {
		var req *http.Request
		if form != nil {
			req = httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req = httptest.NewRequest(method, path, nil)
		}
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		if set := rec.Header().Get("Set-Cookie"); set != "" {
			cookie = strings.Split(set, ";")[0]
		}
		return rec.Body.String()
	}
	assert.Equal(t, "visits: 1, user: \"\"\n", do(http.MethodGet, "/", nil))
	assert.Equal(t, "visits: 2, user: \"\"\n", do(http.MethodGet, "/", nil))
	before := cookie
	do(http.MethodPost, "/login", url.Values{"name": {"ada"}})
	assert.NotEqual(t, before, cookie, "a new session ID at login")
	assert.Equal(t, "visits: 3, user: \"ada\"\n", do(http.MethodGet, "/", nil))
	do(http.MethodPost, "/logout", url.Values{})
	assert.Equal(t, "visits: 1, user: \"\"\n", do(http.MethodGet, "/", nil))
}
