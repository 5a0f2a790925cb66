package dynamostore_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/gorilla/sessions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
)

func TestNewValidatesOptions(t *testing.T) {
	client := &dynamodb.Client{}
	cases := map[string]struct {
		opts []dynamostore.Option
		want string
	}{
		"no keys":         {nil, "KeyPairs is empty"},
		"short hash key":  {[]dynamostore.Option{dynamostore.WithKeyPairs([]byte("short"))}, "hash key of 5 bytes"},
		"bad block key":   {[]dynamostore.Option{dynamostore.WithKeyPairs(hashKey1, []byte("123"))}, "block key of 3 bytes"},
		"bad table":       {[]dynamostore.Option{dynamostore.WithKeyPairs(hashKey1), dynamostore.WithTableName("a")}, "neither a table name"},
		"bad table ARN":   {[]dynamostore.Option{dynamostore.WithKeyPairs(hashKey1), dynamostore.WithTableName("arn:aws:s3:::bucket")}, "service is \"s3\""},
		"negative touch":  {[]dynamostore.Option{dynamostore.WithKeyPairs(hashKey1), dynamostore.WithTouchInterval(-1)}, "TouchInterval"},
		"huge max length": {[]dynamostore.Option{dynamostore.WithKeyPairs(hashKey1), dynamostore.WithMaxLength(500_000)}, "400 KB"},
		"nil codec":       {[]dynamostore.Option{dynamostore.WithKeyPairs(hashKey1), dynamostore.WithCodec(nil)}, "Codec is nil"},
		"key collides":    {[]dynamostore.Option{dynamostore.WithKeyPairs(hashKey1), dynamostore.WithPartitionKey("data")}, "collides"},
		"samesite none, not secure": {[]dynamostore.Option{dynamostore.WithKeyPairs(hashKey1),
			dynamostore.WithCookie(func(c *sessions.Options) { c.SameSite = http.SameSiteNoneMode }), dynamostore.WithInsecureCookie()}, "requires Cookie.Secure"},
		"negative cookie MaxAge": {[]dynamostore.Option{dynamostore.WithKeyPairs(hashKey1), dynamostore.WithCookieMaxAge(-5)}, "Cookie.MaxAge -5 is negative"},
		"empty table name":       {[]dynamostore.Option{dynamostore.WithKeyPairs(hashKey1), dynamostore.WithTableName("")}, "neither a table name"},
		"zero lifetime":          {[]dynamostore.Option{dynamostore.WithKeyPairs(hashKey1), dynamostore.WithLifetime(0)}, "Lifetime"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s, err := dynamostore.New(client, tc.opts...)
			assert.Nil(t, s)
			var cfg *dynamostore.ConfigError
			require.ErrorAs(t, err, &cfg)
			assert.ErrorContains(t, err, tc.want)
			assert.ErrorContains(t, err, "dynamostore: ")
		})
	}
	_, err := dynamostore.New(nil, dynamostore.WithKeyPairs(hashKey1))
	assert.ErrorContains(t, err, "client is nil")

	s, err := dynamostore.New(client, dynamostore.WithKeyPairs(hashKey1, nil, hashKey2, blockKey1))
	require.NoError(t, err)
	assert.NotNil(t, s)
}

func TestParseTableARN(t *testing.T) {
	a, err := dynamostore.ParseTableARN("arn:aws:dynamodb:us-east-1:111122223333:table/sessions")
	require.NoError(t, err)
	assert.Equal(t, dynamostore.TableARN{Partition: "aws", Region: "us-east-1", Account: "111122223333", Table: "sessions"}, a)
	assert.Equal(t, "arn:aws:dynamodb:us-east-1:111122223333:table/sessions", a.String())
	gov, err := dynamostore.ParseTableARN("arn:aws-us-gov:dynamodb:us-gov-west-1:111122223333:table/my.table_1-x")
	require.NoError(t, err)
	assert.Equal(t, "us-gov-west-1", gov.Region)

	bad := map[string]string{
		"":         "want arn:",
		"sessions": "want arn:",
		"arn:aws:dynamodb:us-east-1:111122223333:table/sessions/index/byUser":            "names a part of table \"sessions\"",
		"arn:aws:dynamodb:us-east-1:111122223333:table/sessions/stream/2024-01-01T00:00": "names a part",
		"arn:aws:s3:us-east-1:111122223333:table/sessions":                               "service is \"s3\"",
		"arn:aws:dynamodb:useast1:111122223333:table/sessions":                           "region \"useast1\"",
		"arn:aws:dynamodb:us-east-1:1111:table/sessions":                                 "not 12 digits",
		"arn:aws:dynamodb:us-east-1:111122223333:bucket/sessions":                        "does not start with table/",
		"arn:aws:dynamodb:us-east-1:111122223333:table/a":                                "3-255 characters",
		"arn:AWS:dynamodb:us-east-1:111122223333:table/sessions":                         "partition \"AWS\"",
	}
	for in, want := range bad {
		_, err := dynamostore.ParseTableARN(in)
		var arnErr *dynamostore.ARNError
		require.True(t, errors.As(err, &arnErr), "input %q", in)
		assert.ErrorContains(t, err, want, "input %q", in)
	}
}

// WithCookie changes what it sets and keeps every other protection; weakening one takes an
// option that says so. The attributes choose the name's prefix. Checked on the Set-Cookie
// header of a session saved in DynamoDB Local.
func TestCookieOptionsCannotWeakenByAccident(t *testing.T) {
	f := newFixture(t)
	cases := map[string]struct {
		opts []dynamostore.Option
		want http.Cookie
	}{
		"defaults": {nil, http.Cookie{Name: "__Host-sid", Path: "/", MaxAge: dynamostore.DefaultMaxAge, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode}},
		"only a shorter MaxAge": {[]dynamostore.Option{dynamostore.WithCookie(func(c *sessions.Options) { c.MaxAge = 3600 })},
			http.Cookie{Name: "__Host-sid", Path: "/", MaxAge: 3600, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode}},
		"a domain": {[]dynamostore.Option{dynamostore.WithCookie(func(c *sessions.Options) { c.Domain = "example.com" })},
			http.Cookie{Name: "__Secure-sid", Path: "/", Domain: "example.com", MaxAge: dynamostore.DefaultMaxAge, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode}},
		"strict, then a path": {[]dynamostore.Option{dynamostore.WithCookie(func(c *sessions.Options) { c.SameSite = http.SameSiteStrictMode }),
			dynamostore.WithCookie(func(c *sessions.Options) { c.Path = "/app" })},
			http.Cookie{Name: "__Secure-sid", Path: "/app", MaxAge: dynamostore.DefaultMaxAge, Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode}},
		"insecure on purpose": {[]dynamostore.Option{dynamostore.WithInsecureCookie()},
			http.Cookie{Name: "sid", Path: "/", MaxAge: dynamostore.DefaultMaxAge, HttpOnly: true, SameSite: http.SameSiteLaxMode}},
		"script access on purpose": {[]dynamostore.Option{dynamostore.WithCookieScriptAccess()},
			http.Cookie{Name: "__Host-sid", Path: "/", MaxAge: dynamostore.DefaultMaxAge, Secure: true, SameSite: http.SameSiteLaxMode}},
		"browser-session cookie": {[]dynamostore.Option{dynamostore.WithCookieMaxAge(0)},
			http.Cookie{Name: "__Host-sid", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			store := f.newStore(tc.opts...)
			b := newBrowser()
			_, err := b.visit(t, store, func(s *sessions.Session) bool { s.Values["a"] = 1; return true })
			require.NoError(t, err)
			got := b.last.Cookies()
			require.Len(t, got, 1)
			c := got[0]
			assert.Equal(t, tc.want.Name, c.Name, "Name")
			assert.Equal(t, tc.want.Path, c.Path, "Path")
			assert.Equal(t, tc.want.Domain, c.Domain, "Domain")
			assert.Equal(t, tc.want.MaxAge, c.MaxAge, "MaxAge")
			assert.Equal(t, tc.want.Secure, c.Secure, "Secure")
			assert.Equal(t, tc.want.HttpOnly, c.HttpOnly, "HttpOnly")
			assert.Equal(t, tc.want.SameSite, c.SameSite, "SameSite")
			assert.Equal(t, tc.want.MaxAge == 0, c.Expires.IsZero(), "a browser-session cookie has no expiry")
		})
	}

	for name, opts := range map[string][]dynamostore.Option{
		"negative MaxAge":         {dynamostore.WithCookieMaxAge(-1)},
		"SameSite None, insecure": {dynamostore.WithCookie(func(c *sessions.Options) { c.SameSite = http.SameSiteNoneMode }), dynamostore.WithInsecureCookie()},
	} {
		_, err := dynamostore.New(f.client, append([]dynamostore.Option{dynamostore.WithKeyPairs(hashKey1)}, opts...)...)
		var cfg *dynamostore.ConfigError
		assert.ErrorAs(t, err, &cfg, name)
	}
}
