package dynamostore_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/sessions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
)

// setCookieAttrs splits a raw Set-Cookie header into its name, value and attributes (names
// lower-cased), reading the header as a browser does rather than through net/http's parser,
// so that a wrong spelling or a missing attribute cannot be normalised away.
func setCookieAttrs(t *testing.T, header string) (name, value string, attrs map[string]string) {
	t.Helper()
	parts := strings.Split(header, ";")
	name, value, ok := strings.Cut(strings.TrimSpace(parts[0]), "=")
	require.True(t, ok, "Set-Cookie without name=value: %q", header)
	attrs = map[string]string{}
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		attrs[strings.ToLower(k)] = v
	}
	return name, value, attrs
}

// assertASVS33 checks one session Set-Cookie header against OWASP ASVS 5.0 V3.3, item by item.
func assertASVS33(t *testing.T, header string) {
	t.Helper()
	name, value, attrs := setCookieAttrs(t, header)
	// 3.3.1: Secure, and the __Secure- prefix where __Host- is not used.
	assert.Contains(t, attrs, "secure", "3.3.1: Secure in %q", header)
	assert.True(t, strings.HasPrefix(name, "__Host-") || strings.HasPrefix(name, "__Secure-"), "3.3.1: a prefix, spelled exactly, in %q", header)
	// 3.3.2: SameSite set by purpose (Lax for a session cookie that top-level links carry).
	assert.Equal(t, "Lax", attrs["samesite"], "3.3.2: SameSite in %q", header)
	// 3.3.3: __Host-, with what the prefix requires: Path=/, no Domain (and Secure, above).
	assert.True(t, strings.HasPrefix(name, "__Host-"), "3.3.3: the __Host- prefix in %q", header)
	assert.Equal(t, "/", attrs["path"], "3.3.3: Path=/ in %q", header)
	assert.NotContains(t, attrs, "domain", "3.3.3: no Domain in %q", header)
	// 3.3.4: HttpOnly.
	assert.Contains(t, attrs, "httponly", "3.3.4: HttpOnly in %q", header)
	// 3.3.5: name and value together at most 4096 bytes.
	assert.LessOrEqual(t, len(name)+len(value), 4096, "3.3.5: name and value size")
}

// Every Set-Cookie the store sends for a session with the default options (a new session's
// Save, a reload's Save, Regenerate, Login and the logout's Delete) meets OWASP ASVS 5.0 3.3.1
// to 3.3.5, checked on the raw header of sessions kept in DynamoDB Local; and the session ID
// travels only in Set-Cookie (3.3.4).
func TestSessionCookieMeetsASVS33(t *testing.T) {
	f := newFixture(t)
	b := newBrowser()
	steps := map[string]func(r *http.Request, w http.ResponseWriter, s *sessions.Session) error{
		"save new": func(r *http.Request, w http.ResponseWriter, s *sessions.Session) error {
			s.Values["n"] = 1
			return f.store.Save(r, w, s)
		},
		"save again": func(r *http.Request, w http.ResponseWriter, s *sessions.Session) error {
			s.Values["n"] = 2
			return f.store.Save(r, w, s)
		},
		"regenerate": func(r *http.Request, w http.ResponseWriter, s *sessions.Session) error {
			return f.store.Regenerate(r, w, s)
		},
		"login": func(r *http.Request, w http.ResponseWriter, s *sessions.Session) error {
			return f.store.Login(r, w, s, "ada")
		},
		"delete": func(r *http.Request, w http.ResponseWriter, s *sessions.Session) error {
			return f.store.Delete(r, w, s)
		},
	}
	for _, step := range []string{"save new", "save again", "regenerate", "login", "delete"} {
		r := b.request(context.Background())
		s, err := f.store.Get(r, cookieName)
		require.NoError(t, err, step)
		rec := httptest.NewRecorder()
		require.NoError(t, steps[step](r, rec, s), step)
		headers := rec.Result().Header.Values("Set-Cookie")
		require.Len(t, headers, 1, "%s: one Set-Cookie", step)
		assertASVS33(t, headers[0])
		_, value, _ := setCookieAttrs(t, headers[0])
		for k, vs := range rec.Result().Header {
			if k != "Set-Cookie" && value != "" {
				for _, v := range vs {
					assert.NotContains(t, v, value, "%s: 3.3.4: the cookie value only in Set-Cookie", step)
				}
			}
		}
		if value != "" {
			assert.NotContains(t, rec.Body.String(), value, "%s: 3.3.4: the cookie value is not in the body", step)
		}
		b.receive(rec)
		if step != "delete" {
			require.Contains(t, b.cookies, jarName, step)
		}
	}
	assert.Empty(t, b.cookies, "the logout expired the cookie")
}

// A cookie scoped by Domain or by a Path other than "/" cannot be __Host- (browsers would drop
// it), so it gets __Secure-; plain-HTTP development gets no prefix (a prefixed cookie
// without Secure would be dropped too).
func TestCookiePrefixFollowsTheAttributes(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name string
		opt  dynamostore.Option
		want string
	}{
		{"a domain", dynamostore.WithCookie(func(c *sessions.Options) { c.Domain = "example.com" }), "__Secure-sid"},
		{"a path", dynamostore.WithCookie(func(c *sessions.Options) { c.Path = "/app" }), "__Secure-sid"},
		{"plain HTTP", dynamostore.WithInsecureCookie(), "sid"},
	} {
		store := f.newStore(tc.opt)
		b := newBrowser()
		_, err := b.visit(t, store, func(s *sessions.Session) bool { s.Values["a"] = 1; return true })
		require.NoError(t, err, tc.name)
		headers := b.last.Header.Values("Set-Cookie")
		require.Len(t, headers, 1, tc.name)
		name, _, attrs := setCookieAttrs(t, headers[0])
		assert.Equal(t, tc.want, name, tc.name)
		assert.Equal(t, tc.want, store.CookieName(cookieName), tc.name)
		if strings.HasPrefix(name, "__") {
			assert.Contains(t, attrs, "secure", tc.name)
		}
		loaded, err := b.load(t, store)
		require.NoError(t, err)
		assert.Equal(t, 1, loaded.Values["a"], "%s: the cookie is read back under its name", tc.name)
	}
}

// A cookie that breaks its prefix's rules is refused with ErrCookiePolicy before anything is
// written, never sent: a browser would drop it in silence and the user would be logged out.
func TestPrefixedCookieThatBreaksItsRulesIsRefused(t *testing.T) {
	f := newFixture(t)
	insecure := f.newStore(dynamostore.WithInsecureCookie())
	for _, tc := range []struct {
		name   string
		store  *dynamostore.Store
		sess   string
		change func(*sessions.Options)
	}{
		{"__Host- name without Secure", insecure, "__Host-sid", nil},
		{"__Secure- name without Secure", insecure, "__Secure-sid", nil},
		{"__Host- name with a Domain", f.store, "__Host-sid", func(o *sessions.Options) { o.Domain = "example.com" }},
		{"__Host- name with a Path", f.store, "__Host-sid", func(o *sessions.Options) { o.Path = "/app" }},
		{"the default prefix, then a Domain on the session", f.store, "sid", func(o *sessions.Options) { o.Domain = "example.com" }},
		{"the default prefix, then Secure off on the session", f.store, "sid", func(o *sessions.Options) { o.Secure = false }},
		{"a name longer than a cookie may be", f.store, strings.Repeat("n", 4000), nil},
		{"a name browsers cannot read", f.store, "s id;", nil},
	} {
		for _, op := range []string{"save", "regenerate", "login"} {
			before := len(f.items())
			r := httptest.NewRequest(http.MethodGet, "https://example.com/", nil)
			s, err := tc.store.New(r, tc.sess) // Get's registry refuses a name with a space itself
			require.NoError(t, err)
			s.Values["a"] = 1
			if tc.change != nil {
				tc.change(s.Options)
			}
			rec := httptest.NewRecorder()
			switch op {
			case "save":
				err = tc.store.Save(r, rec, s)
			case "regenerate":
				err = tc.store.Regenerate(r, rec, s)
			case "login":
				err = tc.store.Login(r, rec, s, "ada")
			}
			require.ErrorIs(t, err, dynamostore.ErrCookiePolicy, "%s: %s", tc.name, op)
			assert.Empty(t, rec.Result().Header.Values("Set-Cookie"), "%s: %s: no cookie is sent", tc.name, op)
			assert.Len(t, f.items(), before, "%s: %s: nothing is written", tc.name, op)
		}
	}
}

// Switching a deployment from an unprefixed cookie to __Host- logs nobody out: the old
// cookie is still read, the first Save sets the prefixed one and expires the old one, and the
// browser carries on with the prefixed cookie alone. The session moves to a new ID as it
// switches, so that the old value, which a sibling subdomain could plant, opens nothing after.
func TestSwitchingToThePrefixedCookieLogsNobodyOut(t *testing.T) {
	f := newFixture(t)
	before := f.newStore(dynamostore.WithInsecureCookie()) // the same keys, no prefix: the old deployment's cookie
	b := newBrowser()
	_, err := b.visit(t, before, func(s *sessions.Session) bool { s.Values["user"] = "ada"; return true })
	require.NoError(t, err)
	require.Contains(t, b.cookies, cookieName)
	oldCookie := b.cookies[cookieName]

	// The new deployment reads the old cookie, with the same session behind it.
	r := b.request(context.Background())
	s, err := f.store.Get(r, cookieName)
	require.NoError(t, err)
	require.False(t, s.IsNew, "the unprefixed cookie is still read")
	assert.Equal(t, "ada", s.Values["user"])
	rec := httptest.NewRecorder()
	require.NoError(t, f.store.Save(r, rec, s)) // unchanged: a page view
	got := map[string]*http.Cookie{}
	for _, c := range rec.Result().Cookies() {
		got[c.Name] = c
	}
	require.Contains(t, got, jarName, "the prefixed cookie is set")
	require.Contains(t, got, cookieName, "the old cookie is expired")
	assert.Negative(t, got[cookieName].MaxAge)
	b.receive(rec)
	assert.NotContains(t, b.cookies, cookieName)

	// Reloads carry the prefixed cookie only, and the session goes on.
	loaded, err := b.load(t, f.store)
	require.NoError(t, err)
	assert.False(t, loaded.IsNew)
	assert.Equal(t, "ada", loaded.Values["user"])

	// The old value opens nothing any more, wherever it is planted.
	planted := newBrowser()
	planted.cookies[cookieName] = oldCookie
	s, err = planted.load(t, f.store)
	require.NoError(t, err)
	assert.True(t, s.IsNew, "the old cookie's session moved to a new ID")

	// A value signed for the old name is no good under the new one (the signature covers the
	// name), so the prefix's protection cannot be had by renaming an old cookie.
	old := newBrowser()
	_, err = old.visit(t, before, func(s *sessions.Session) bool { s.Values["user"] = "eve"; return true })
	require.NoError(t, err)
	renamed := newBrowser()
	renamed.cookies[jarName] = &http.Cookie{Name: jarName, Value: old.cookies[cookieName].Value}
	s, err = renamed.load(t, f.store)
	require.NoError(t, err)
	assert.True(t, s.IsNew, "an unprefixed cookie's value under the prefixed name is rejected")
}

// Regenerate, Login and Delete of a session read from the old cookie also retire it.
func TestOldUnprefixedCookieIsRetiredByEveryWrite(t *testing.T) {
	f := newFixture(t)
	before := f.newStore(dynamostore.WithInsecureCookie())
	for _, op := range []string{"regenerate", "login", "delete"} {
		b := newBrowser()
		_, err := b.visit(t, before, func(s *sessions.Session) bool { s.Values["n"] = 1; return true })
		require.NoError(t, err)
		r := b.request(context.Background())
		s, err := f.store.Get(r, cookieName)
		require.NoError(t, err)
		require.False(t, s.IsNew)
		rec := httptest.NewRecorder()
		switch op {
		case "regenerate":
			err = f.store.Regenerate(r, rec, s)
		case "login":
			err = f.store.Login(r, rec, s, "ada")
		case "delete":
			err = f.store.Delete(r, rec, s)
		}
		require.NoError(t, err, op)
		b.receive(rec)
		assert.NotContains(t, b.cookies, cookieName, "%s: the old cookie is expired", op)
		if op != "delete" {
			loaded, err := b.load(t, f.store)
			require.NoError(t, err)
			assert.Equal(t, 1, loaded.Values["n"], "%s: the session goes on under the prefixed cookie", op)
		}
	}
}
