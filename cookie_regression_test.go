package dynamostore_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/gorilla/sessions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
)

func newOfflineStore(t *testing.T, opts ...dynamostore.Option) (*dynamostore.Store, error) {
	t.Helper()
	return dynamostore.New(dynamodb.New(dynamodb.Options{}), append([]dynamostore.Option{dynamostore.WithKeyPairs(hashKey1)}, opts...)...)
}

// A complete, explicit cookie configuration for a browser-session cookie (MaxAge 0: the
// cookie dies with the browser, as on a shared computer) once became a persistent one-day
// cookie in silence, because the old merging option read MaxAge 0 as "keep the default".
// WithCookie edits the defaults in place, so MaxAge 0 is taken as written.
func TestExplicitBrowserSessionCookieIsNotMadePersistent(t *testing.T) {
	store, err := newOfflineStore(t, dynamostore.WithCookie(func(c *sessions.Options) {
		c.MaxAge = 0
		c.SameSite = http.SameSiteStrictMode
	}))
	require.NoError(t, err)
	got := store.CookieOptions()
	assert.Equal(t, 0, got.MaxAge)
	assert.Equal(t, http.SameSiteStrictMode, got.SameSite)
	assert.True(t, got.Secure && got.HttpOnly && got.Path == "/", "the other defaults are kept: %+v", got)
}

// The old WithCookieOptions refused sessions.Options{Path: "/", HttpOnly: true} with advice
// ("add WithCookieMaxAge(0)") that gave the same error again. Every set of attributes a user
// can write now either works or gets errors whose advice, followed to the letter, works.
func TestEveryCookieErrorsAdviceFixesIt(t *testing.T) {
	// fixes maps a call named in an error's advice to the option that follows it.
	fixes := []struct {
		advice string
		fix    dynamostore.Option
	}{
		{"WithInsecureCookie()", dynamostore.WithInsecureCookie()},
		{"WithCookieScriptAccess()", dynamostore.WithCookieScriptAccess()},
		{"c.SameSite = http.SameSiteLaxMode", dynamostore.WithCookie(func(c *sessions.Options) { c.SameSite = http.SameSiteLaxMode })},
		{`c.Path = "/"`, dynamostore.WithCookie(func(c *sessions.Options) { c.Path = "/" })},
		{"use 0 for a browser-session cookie", dynamostore.WithCookieMaxAge(0)},
		{"use http.SameSiteLaxMode, or keep Secure", dynamostore.WithCookie(func(c *sessions.Options) { c.SameSite = http.SameSiteLaxMode })},
		{"set c.Partitioned = false", dynamostore.WithCookie(func(c *sessions.Options) { c.Partitioned = false })},
		{`or to "" for this host alone`, dynamostore.WithCookie(func(c *sessions.Options) { c.Domain = "" })},
		{"set c.Path to an absolute path without", dynamostore.WithCookie(func(c *sessions.Options) { c.Path = "/" })},
	}
	for name, edit := range map[string]func(*sessions.Options){
		"a gorilla migrant's struct":         func(c *sessions.Options) { *c = sessions.Options{Path: "/", HttpOnly: true} },
		"a browser-session struct":           func(c *sessions.Options) { *c = sessions.Options{Path: "/", MaxAge: 0, Secure: true, HttpOnly: true} },
		"the zero struct":                    func(c *sessions.Options) { *c = sessions.Options{} },
		"Secure off by hand":                 func(c *sessions.Options) { c.Secure = false },
		"HttpOnly off by hand":               func(c *sessions.Options) { c.HttpOnly = false },
		"SameSite None without Secure":       func(c *sessions.Options) { c.SameSite, c.Secure = http.SameSiteNoneMode, false },
		"SameSite default mode":              func(c *sessions.Options) { c.SameSite = http.SameSiteDefaultMode },
		"a negative MaxAge":                  func(c *sessions.Options) { c.MaxAge = -1 },
		"a relative path":                    func(c *sessions.Options) { c.Path = "app" },
		"Partitioned without Secure":         func(c *sessions.Options) { c.Partitioned, c.Secure = true, false },
		"everything wrong at once":           func(c *sessions.Options) { *c = sessions.Options{MaxAge: -5, Partitioned: true} },
		"a Domain with a port":               func(c *sessions.Options) { c.Domain = "example.com:8443" },
		"a Domain with a scheme":             func(c *sessions.Options) { c.Domain = "https://example.com" },
		"a Path with a semicolon":            func(c *sessions.Options) { c.Path = "/a;b" },
		"a Domain and a Path (valid as is)":  func(c *sessions.Options) { c.Domain, c.Path = "example.com", "/app" },
		"Strict and browser-session (valid)": func(c *sessions.Options) { c.SameSite, c.MaxAge = http.SameSiteStrictMode, 0 },
	} {
		t.Run(name, func(t *testing.T) {
			opts := []dynamostore.Option{dynamostore.WithCookie(edit)}
			for round := 0; ; round++ {
				_, err := newOfflineStore(t, opts...)
				if err == nil {
					return
				}
				var cfg *dynamostore.ConfigError
				require.ErrorAs(t, err, &cfg)
				require.Less(t, round, len(fixes), "the advice does not converge: %v", err)
				applied := false
				for _, f := range fixes {
					if strings.Contains(err.Error(), f.advice) {
						opts = append(opts, f.fix)
						applied = true
					}
				}
				require.True(t, applied, "no advice in the error can be followed: %v", err)
			}
		})
	}
}

// Secure and HttpOnly are turned off only by the calls named after them, whatever the order.
func TestCookieProtectionIsDroppedOnlyByTheCallThatSaysSo(t *testing.T) {
	_, err := newOfflineStore(t, dynamostore.WithCookie(func(c *sessions.Options) { c.Secure = false }))
	require.ErrorContains(t, err, "WithInsecureCookie()")
	store, err := newOfflineStore(t, dynamostore.WithInsecureCookie(), dynamostore.WithCookie(func(c *sessions.Options) { c.MaxAge = 60 }))
	require.NoError(t, err)
	assert.False(t, store.CookieOptions().Secure)
	store, err = newOfflineStore(t, dynamostore.WithCookie(func(c *sessions.Options) { c.HttpOnly = false }), dynamostore.WithCookieScriptAccess())
	require.NoError(t, err)
	assert.False(t, store.CookieOptions().HttpOnly)
	_, err = newOfflineStore(t, dynamostore.WithCookie(nil))
	require.ErrorContains(t, err, "WithCookie got a nil function")
}

// A misspelt prefix ("Host__", as a widely used CSRF library once shipped) is no prefix: the
// store puts the real one in front of it rather than trust the name.
func TestCookieNamePrefixIsSpelledAsBrowsersRequire(t *testing.T) {
	store, err := newOfflineStore(t)
	require.NoError(t, err)
	for name, want := range map[string]string{
		"session":         "__Host-session",
		"Host__session":   "__Host-Host__session",
		"__Host-session":  "__Host-session",
		"__host-session":  "__Host-session",
		"__SECURE-sess":   "__Secure-sess",
		"__Secure-sess":   "__Secure-sess",
		"_Host-session":   "__Host-_Host-session",
		"__Host_session":  "__Host-__Host_session",
		"__Secure_Fake-x": "__Host-__Secure_Fake-x",
	} {
		assert.Equal(t, want, store.CookieName(name), name)
	}
	assert.True(t, errors.Is(dynamostore.ErrCookiePolicy, dynamostore.ErrCookiePolicy))
}
