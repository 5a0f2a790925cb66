package dynamostore_test

import (
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/gorilla/sessions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
)

// A complete, explicit cookie configuration for a browser-session cookie (MaxAge 0: the
// cookie dies with the browser, as on a shared computer) used to give exactly that. Since
// WithCookieOptions merges, MaxAge 0 is read as "keep the default" and the cookie silently
// becomes a persistent one-day cookie: New accepts it, nothing is logged, and the CHANGELOG's
// "Changed" entry does not mention it. The weakening (browser-session -> persistent) is the
// very kind the issue asked to make impossible by accident.
func TestExplicitBrowserSessionCookieIsNotMadePersistent(t *testing.T) {
	store, err := dynamostore.New(dynamodb.New(dynamodb.Options{}),
		dynamostore.WithKeyPairs(hashKey1),
		dynamostore.WithCookieOptions(sessions.Options{
			Path: "/", MaxAge: 0, Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
		}))
	if err != nil {
		// Rejecting the ambiguous struct would be a fine fix too.
		var cfg *dynamostore.ConfigError
		require.ErrorAs(t, err, &cfg)
		return
	}
	got := store.CookieOptions()
	assert.Equal(t, 0, got.MaxAge, "an explicit MaxAge 0 became a persistent cookie of %d s, silently", got.MaxAge)
}
