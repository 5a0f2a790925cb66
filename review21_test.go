package dynamostore_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/gorilla/sessions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
)

// Regression (issue 21 review), was: the legacy fallback lets an attacker on a sibling subdomain fix a victim's session,
// which is what __Host- exists to prevent (ASVS 5.0 3.3.3). The attacker keeps the
// unprefixed value of their own session from the old deployment. The migration keeps the
// session's ID, so that value stays a valid credential after the attacker's own browser has
// moved to __Host- (until the absolute timeout). The attacker plants it as
// "sid=...; Domain=example.com" in a victim that has no __Host- cookie: a new visitor, one
// whose one-day cookie has expired, or one who just logged out. The store reads it, and
// re-issues it as the victim's __Host- cookie. From then on the attacker reads everything the
// victim puts in the session.
func TestPlantedLegacyCookieSharesTheAttackersSessionWithTheVictim(t *testing.T) {
	f := newFixture(t)
	old := f.newStore(dynamostore.WithInsecureCookie()) // the old deployment: same keys, no prefix
	attacker := newBrowser()
	_, err := attacker.visit(t, old, func(s *sessions.Session) bool { s.Values["who"] = "mallory"; return true })
	require.NoError(t, err)
	planted := attacker.cookies[cookieName].Value
	_, err = attacker.visit(t, f.store, func(*sessions.Session) bool { return true }) // the attacker migrates
	require.NoError(t, err)
	require.Contains(t, attacker.cookies, jarName)
	require.NotContains(t, attacker.cookies, cookieName)

	victim := newBrowser()
	victim.cookies[cookieName] = &http.Cookie{Name: cookieName, Value: planted} // tossed from evil.example.com
	_, err = victim.visit(t, f.store, func(s *sessions.Session) bool { s.Values["card"] = "4111111111111111"; return true })
	require.NoError(t, err)

	s, err := attacker.load(t, f.store)
	require.NoError(t, err)
	assert.Nil(t, s.Values["card"], "the attacker's own __Host- cookie reads what the victim stored: the planted legacy cookie fixed the victim's session")
}

// Regression (issue 21 review), was: New refuses a store whose cookie drops HttpOnly (without WithCookieScriptAccess) or
// leaves SameSite unset, but a session's own Options may drop both in silence. This is a gorilla
// migrant's usual per-session line. Secure is set, so the __Host- check passes, and the
// cookie goes out readable by scripts and without SameSite (ASVS 5.0 3.3.2 and 3.3.4).
func TestPerSessionOptionsDropHttpOnlyAndSameSiteSilently(t *testing.T) {
	f := newFixture(t)
	r := httptest.NewRequest(http.MethodGet, "https://example.com/", nil)
	s, err := f.store.Get(r, cookieName)
	require.NoError(t, err)
	s.Options = &sessions.Options{Path: "/", MaxAge: 3600, Secure: true}
	s.Values["a"] = 1
	rec := httptest.NewRecorder()
	err = f.store.Save(r, rec, s)
	if errors.Is(err, dynamostore.ErrCookiePolicy) {
		return // refusing is a fine fix
	}
	require.NoError(t, err)
	headers := rec.Result().Header.Values("Set-Cookie")
	require.Len(t, headers, 1)
	_, _, attrs := setCookieAttrs(t, headers[0])
	assert.Contains(t, attrs, "httponly", "sent without HttpOnly: %s", headers[0])
	assert.Contains(t, attrs, "samesite", "sent without SameSite: %s", headers[0])
}

// Regression (issue 21 review), was: ErrCookiePolicy promises that Save refuses a cookie that a browser would drop. With
// WithInsecureCookie, a session's Options with SameSite None (and Secure off) give a cookie
// that every current browser rejects. Save returns nil, so the user loses the session in
// silence. New refuses the same attributes on the store.
func TestPerSessionSameSiteNoneWithoutSecureIsSentThoughBrowsersDropIt(t *testing.T) {
	f := newFixture(t)
	store := f.newStore(dynamostore.WithInsecureCookie())
	r := httptest.NewRequest(http.MethodGet, "http://localhost/", nil)
	s, err := store.Get(r, cookieName)
	require.NoError(t, err)
	s.Options.SameSite = http.SameSiteNoneMode
	s.Values["a"] = 1
	rec := httptest.NewRecorder()
	err = store.Save(r, rec, s)
	assert.ErrorIs(t, err, dynamostore.ErrCookiePolicy, "sent: %q", rec.Result().Header.Values("Set-Cookie"))
}

// Regression (issue 21 review), was: CookieName trusts a lower-case "__host-" as the prefix and sends the cookie under
// that name. Browsers that match prefixes case-sensitively (every one before RFC 6265bis
// made the match case-insensitive in 2024) do not enforce it. A sibling subdomain can then
// set "__host-sid" (a valid value is one visit away), and the store reads it. The project's own ASVS
// check requires the prefix spelled exactly. (TestCookieNamePrefixIsSpelledAsBrowsersRequire
// pins the current mapping "__host-session" -> "__host-session" and would change with the fix.)
func TestLowercaseHostPrefixIsSentUnnormalised(t *testing.T) {
	f := newFixture(t)
	r := httptest.NewRequest(http.MethodGet, "https://example.com/", nil)
	s, err := f.store.New(r, "__host-sid")
	require.NoError(t, err)
	s.Values["a"] = 1
	rec := httptest.NewRecorder()
	require.NoError(t, f.store.Save(r, rec, s))
	headers := rec.Result().Header.Values("Set-Cookie")
	require.Len(t, headers, 1)
	assertASVS33(t, headers[0])
}

// Regression (issue 21 review), was: the commit promises that every error from New names a fix that works. An invalid
// Domain (a port, a scheme) or a Path with ';' instead gives "Cookie attributes are not
// valid in a Set-Cookie header: http: invalid Cookie.Domain". That error names no field
// assignment and no call, and it is the only cookie error without one.
func TestInvalidCookieDomainOrPathErrorNamesNoFix(t *testing.T) {
	for name, tc := range map[string]struct {
		edit  func(*sessions.Options)
		field string
	}{
		"a Domain with a port":   {func(c *sessions.Options) { c.Domain = "example.com:8443" }, "c.Domain"},
		"a Domain with a scheme": {func(c *sessions.Options) { c.Domain = "https://example.com" }, "c.Domain"},
		"a Path with a ';'":      {func(c *sessions.Options) { c.Path = "/a;b" }, "c.Path"},
	} {
		_, err := newOfflineStore(t, dynamostore.WithCookie(tc.edit))
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), tc.field, "%s: the error says what to set", name)
	}
}

// Regression (issue 21 review), was: New accepts WithPartitionKey("moved"), the one attribute the store writes that is
// missing from the collision check. The read projection then names "moved" twice (#k and
// #m), and DynamoDB refuses every GetItem ("Two document paths overlap"). Every session's load
// fails, and Save then refuses with ErrLoadFailed. Before the projection this was a silent
// new session on every request. (Refusing the name in New is a fine fix: the test then passes.)
func TestPartitionKeyMovedBreaksEveryRead(t *testing.T) {
	ddb := newFixture(t).ddb
	table := "moved-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	require.NoError(t, dynamostore.CreateTable(context.Background(), ddb, table, func(o *dynamostore.CreateTableOptions) { o.PartitionKey = "moved" }))
	t.Cleanup(func() { _, _ = ddb.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &table}) })
	store, err := dynamostore.New(ddb, dynamostore.WithTableName(table), dynamostore.WithKeyPairs(hashKey1), dynamostore.WithPartitionKey("moved"))
	if err != nil {
		var cfg *dynamostore.ConfigError
		require.ErrorAs(t, err, &cfg)
		return
	}
	b := newBrowser()
	_, err = b.visit(t, store, func(s *sessions.Session) bool { s.Values["a"] = 1; return true })
	require.NoError(t, err)
	s, err := b.load(t, store)
	require.NoError(t, err, "a session just saved cannot be read")
	assert.Equal(t, 1, s.Values["a"])
}
