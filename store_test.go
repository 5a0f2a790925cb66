package dynamostore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
)

func TestRoundTripBothCodecs(t *testing.T) {
	for name, codec := range map[string]dynamostore.Codec{"gob": dynamostore.GobCodec{}, "json": dynamostore.JSONCodec{}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, dynamostore.WithCodec(codec))
			b := newBrowser()
			_, err := b.visit(t, f.store, func(s *sessions.Session) bool {
				assert.True(t, s.IsNew)
				s.Values["user"] = "ada"
				s.Values["visits"] = 1
				return true
			})
			require.NoError(t, err)
			require.Contains(t, b.cookies, jarName, "Save must set the cookie")

			getErr, saveErr := b.visit(t, f.store, func(s *sessions.Session) bool {
				assert.False(t, s.IsNew)
				assert.Equal(t, "ada", s.Values["user"])
				assert.EqualValues(t, 1, s.Values["visits"]) // JSON gives float64(1)
				s.Values["visits"] = 2
				return true
			})
			require.NoError(t, getErr)
			require.NoError(t, saveErr)
			s, err := b.load(t, f.store)
			require.NoError(t, err)
			assert.EqualValues(t, 2, s.Values["visits"])
			assert.Len(t, f.items(), 1)
		})
	}
}

// The cookie carries only the signed ID; the table holds only a hash of it; the item has the
// documented layout with epoch seconds.
func TestItemLayoutAndHashedKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dynamostore.WithKeyPairs(hashKey1)) // no block key: the ID is readable in the cookie
	b := newBrowser()
	_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["k"] = "v"; return true })
	require.NoError(t, err)

	var raw []byte
	codec := securecookie.New(hashKey1, nil)
	codec.SetSerializer(securecookie.NopEncoder{})
	require.NoError(t, codec.Decode(jarName, b.cookies[jarName].Value, &raw), "the cookie is signed with the store's hash key")
	id := string(raw)
	decoded, err := base64.RawURLEncoding.DecodeString(id)
	require.NoError(t, err)
	assert.Len(t, decoded, 32, "IDs are 32 random bytes")

	items := f.items()
	require.Len(t, items, 1)
	item := items[0]
	sum := sha256.Sum256([]byte(id))
	assert.Equal(t, &types.AttributeValueMemberS{Value: "session#" + base64.RawURLEncoding.EncodeToString(sum[:])}, item["id"])
	for name, v := range item {
		var text []byte
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			text = []byte(v.Value)
		case *types.AttributeValueMemberB:
			text = v.Value
		}
		assert.False(t, bytes.Contains(text, []byte(id)), "attribute %s must not contain the raw session ID", name)
	}
	require.IsType(t, &types.AttributeValueMemberB{}, item["data"])
	expires, err := strconv.ParseInt(item["expires"].(*types.AttributeValueMemberN).Value, 10, 64)
	require.NoError(t, err)
	assert.Equal(t, f.clock.Now().Unix()+dynamostore.DefaultMaxAge, expires, "expires is epoch seconds: now + MaxAge")
	assert.NotContains(t, item, "written", "the last write's time is sealed in data, not kept in clear")
	assert.NotContains(t, item, "version", "no version attribute without optimistic locking")
	assert.Len(t, item, 3, "id, data, expires: nothing else is billed")

	c := b.last.Cookies()[0]
	assert.True(t, c.HttpOnly)
	assert.True(t, c.Secure)
	assert.Equal(t, http.SameSiteLaxMode, c.SameSite)
	assert.Equal(t, "/", c.Path)
	assert.Equal(t, dynamostore.DefaultMaxAge, c.MaxAge)
}

// Bad cookies give a fresh session, no error and no DynamoDB call.
func TestBadCookiesMakeNoCall(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.withSession(t)
	good := b.cookies[jarName].Value

	foreign := securecookie.New(hashKey2, nil)
	foreign.SetSerializer(securecookie.NopEncoder{})
	signedByOthers, err := foreign.Encode(jarName, []byte(strings.Repeat("A", 43)))
	require.NoError(t, err)
	ours := securecookie.New(hashKey1, blockKey1)
	ours.SetSerializer(securecookie.NopEncoder{})
	badID, err := ours.Encode(jarName, []byte("../../etc/passwd"))
	require.NoError(t, err)

	cases := map[string]string{
		"tampered":        good[:len(good)-3] + "AAA",
		"malformed":       "not-a-cookie%%%",
		"empty":           "",
		"oversized":       strings.Repeat("A", 5000),
		"unknown key":     signedByOthers,
		"bad ID, signed":  badID,
		"other name's ID": mustEncodeOtherName(t),
	}
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
			before := f.client.calls()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.AddCookie(&http.Cookie{Name: jarName, Value: value})
			s, err := f.store.New(r, cookieName)
			require.NoError(t, err)
			assert.True(t, s.IsNew)
			assert.Empty(t, s.Values)
			assert.Empty(t, s.ID)
			assert.Equal(t, before, f.client.calls(), "no DynamoDB call for a bad cookie")
		})
	}
	s, err := b.load(t, f.store)
	require.NoError(t, err)
	assert.Equal(t, "ada", s.Values["user"], "the real session is untouched")
}

func mustEncodeOtherName(t *testing.T) string {
	ours := securecookie.New(hashKey1, blockKey1)
	ours.SetSerializer(securecookie.NopEncoder{})
	v, err := ours.Encode("other", []byte(strings.Repeat("A", 43)))
	require.NoError(t, err)
	return v
}

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dynamostore.WithKeyPairs(hashKey1, blockKey1))
	b := f.withSession(t)
	oldCookie := b.cookies[jarName].Value

	rotated := f.newStore(dynamostore.WithKeyPairs(hashKey2, nil, hashKey1, blockKey1))
	_, err := b.visit(t, rotated, func(s *sessions.Session) bool {
		assert.Equal(t, "ada", s.Values["user"], "old cookies and items still verify after rotation")
		s.Values["visits"] = 1
		return true
	})
	require.NoError(t, err)
	assert.NotEqual(t, oldCookie, b.cookies[jarName].Value, "new cookies use the first key pair")

	onlyNew := f.newStore(dynamostore.WithKeyPairs(hashKey2))
	s, err := b.load(t, onlyNew)
	require.NoError(t, err)
	assert.Equal(t, "ada", s.Values["user"], "the rewritten item is sealed with the new key")

	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: jarName, Value: oldCookie})
	s, err = onlyNew.New(r, cookieName)
	require.NoError(t, err)
	assert.True(t, s.IsNew, "a cookie signed only with a retired key is rejected")
}

// A cookie the first key pair signed is sent back as it is while the ID stays, changed or
// not, with its attributes renewed; a new ID, or a cookie signed by an older key pair, is
// signed anew (TestKeyRotation).
func TestCookieIsSentBackWithoutResigning(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.withSession(t)
	issued := b.cookies[jarName].Value
	for _, change := range []bool{false, true} {
		_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["changed"] = change; return true })
		require.NoError(t, err)
		set := b.last.Cookies()
		require.Len(t, set, 1, "the cookie is set again, so its Max-Age is renewed")
		assert.Equal(t, issued, set[0].Value)
		assert.Equal(t, dynamostore.DefaultMaxAge, set[0].MaxAge)
	}
	s, err := b.load(t, f.store)
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	require.NoError(t, f.store.Regenerate(b.request(context.Background()), rec, s))
	b.receive(rec)
	assert.NotEqual(t, issued, b.cookies[jarName].Value, "a new ID gets a new cookie")
	_, err = b.visit(t, f.store, nil)
	require.NoError(t, err)
	assert.Equal(t, "ada", f.stored(t, b)["user"])
}

// Rotating the block key alone (the same hash key in both pairs) keeps cookies and items
// readable: a pair whose MAC verifies but whose block key cannot decrypt gives way to the next.
func TestBlockKeyRotationAlone(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dynamostore.WithKeyPairs(hashKey1, blockKey1))
	b := f.withSession(t)
	otherBlock := []byte("another-32-byte-block-key-000000")
	rotated := f.newStore(dynamostore.WithKeyPairs(hashKey1, otherBlock, hashKey1, blockKey1))
	_, err := b.visit(t, rotated, func(s *sessions.Session) bool {
		assert.Equal(t, "ada", s.Values["user"], "the old cookie and item still open")
		s.Values["visits"] = 1
		return true
	})
	require.NoError(t, err)
	onlyNew := f.newStore(dynamostore.WithKeyPairs(hashKey1, otherBlock))
	s, err := b.load(t, onlyNew)
	require.NoError(t, err)
	assert.Equal(t, "ada", s.Values["user"], "rewritten with the new block key")
}

func TestExpiryIsCheckedOnRead(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dynamostore.WithCookieMaxAge(600))
	b := f.withSession(t)

	f.clock.Advance(599 * time.Second)
	s, err := b.load(t, f.store)
	require.NoError(t, err)
	assert.Equal(t, "ada", s.Values["user"])

	f.clock.Advance(time.Second)
	s, err = b.load(t, f.store)
	require.NoError(t, err)
	assert.True(t, s.IsNew, "an expired item is no session, though TTL has not deleted it")
	assert.Empty(t, s.Values)
	assert.Len(t, f.items(), 1, "the item is still in the table (DynamoDB Local never runs TTL)")
}

func TestMaxAgeZeroIsBrowserSessionWithServerLifetime(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dynamostore.WithLifetime(2*time.Hour))
	b := newBrowser()
	_, err := b.visit(t, f.store, func(s *sessions.Session) bool {
		s.Options.MaxAge = 0
		s.Values["user"] = "ada"
		return true
	})
	require.NoError(t, err)
	c := b.last.Cookies()[0]
	assert.Equal(t, 0, c.MaxAge, "no Max-Age: a browser-session cookie")
	assert.True(t, c.Expires.IsZero())
	require.Len(t, f.items(), 1, "MaxAge 0 must not delete the item")
	expires, _ := strconv.ParseInt(f.items()[0]["expires"].(*types.AttributeValueMemberN).Value, 10, 64)
	assert.Equal(t, f.clock.Now().Add(2*time.Hour).Unix(), expires)

	s, err := b.load(t, f.store)
	require.NoError(t, err)
	assert.Equal(t, "ada", s.Values["user"])
	f.clock.Advance(2 * time.Hour)
	s, err = b.load(t, f.store)
	require.NoError(t, err)
	assert.True(t, s.IsNew, "the server-side lifetime ends it")
}

func TestNegativeMaxAgeDeletes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.withSession(t)
	cookieBefore := b.cookies[jarName]
	_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Options.MaxAge = -1; return true })
	require.NoError(t, err)
	assert.Empty(t, f.items())
	assert.Equal(t, -1, b.last.Cookies()[0].MaxAge)
	assert.NotContains(t, b.cookies, jarName)

	replay := newBrowser()
	replay.cookies[jarName] = cookieBefore
	s, err := replay.load(t, f.store)
	require.NoError(t, err)
	assert.True(t, s.IsNew, "the old cookie no longer leads to a session")
}

func TestDynamoDBFailureDuringNewLosesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.withSession(t)
	before := f.items()
	cookie := b.cookies[jarName].Value

	throttled := &types.ProvisionedThroughputExceededException{Message: ptr("slow down")}
	f.client.setFault(func(op string) error {
		if op == "GetItem" {
			return throttled
		}
		return nil
	})
	getErr, saveErr := b.visit(t, f.store, func(s *sessions.Session) bool {
		assert.True(t, s.IsNew, "a fresh session comes with the error")
		s.Values["user"] = "mallory"
		return true
	})
	var opErr *dynamostore.OpError
	require.ErrorAs(t, getErr, &opErr)
	assert.Equal(t, "GetItem", opErr.Op)
	var typed *types.ProvisionedThroughputExceededException
	assert.ErrorAs(t, getErr, &typed, "the SDK's typed error is reachable")
	assert.ErrorIs(t, saveErr, dynamostore.ErrLoadFailed)
	assert.Empty(t, b.last.Cookies(), "no cookie is set, so the user keeps theirs")
	assert.Equal(t, cookie, b.cookies[jarName].Value)

	f.client.setFault(nil)
	assert.Equal(t, before, f.items(), "the stored session is unchanged")
	s, err := b.load(t, f.store)
	require.NoError(t, err)
	assert.Equal(t, "ada", s.Values["user"])
}

func TestUnchangedSessionIsNotWritten(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dynamostore.WithTouchInterval(10*time.Minute))
	b := newBrowser()
	_, err := b.visit(t, f.store, func(s *sessions.Session) bool {
		s.Values["user"] = "ada"
		s.Values["roles"] = []string{"admin", "dev"}
		s.Values["n"] = 1
		return true
	})
	require.NoError(t, err)
	require.EqualValues(t, 1, f.client.writes())

	for i := 0; i < 20; i++ {
		_, err := b.visit(t, f.store, func(s *sessions.Session) bool { return true })
		require.NoError(t, err)
		f.clock.Advance(20 * time.Second)
	}
	assert.EqualValues(t, 1, f.client.writes(), "20 unchanged saves within the touch interval write nothing")

	f.clock.Advance(4 * time.Minute) // now 10m40s after the first write
	_, err = b.visit(t, f.store, nil)
	require.NoError(t, err)
	assert.EqualValues(t, 2, f.client.writes(), "the touch renews the expiry once the interval has passed")
	_, err = b.visit(t, f.store, nil)
	require.NoError(t, err)
	assert.EqualValues(t, 2, f.client.writes())

	_, err = b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["n"] = 2; return true })
	require.NoError(t, err)
	assert.EqualValues(t, 3, f.client.writes(), "a changed value is written at once")
}

func TestTouchIntervalIsCappedAtATenthOfTheLifetime(t *testing.T) {
	t.Parallel()
	// Default touch interval is an hour, but a 10-minute session must be touched every minute.
	f := newFixture(t, dynamostore.WithCookieMaxAge(600))
	b := newBrowser()
	_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["a"] = 1; return true })
	require.NoError(t, err)
	for i := 0; i < 30; i++ { // 30 minutes of activity, one request every minute
		f.clock.Advance(time.Minute)
		_, err := b.visit(t, f.store, nil)
		require.NoError(t, err)
	}
	s, err := b.load(t, f.store)
	require.NoError(t, err)
	assert.False(t, s.IsNew, "an active session outlives its MaxAge")
	assert.EqualValues(t, 31, f.client.writes())
}

func TestSaveAfterDeleteDoesNotResurrect(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.withSession(t)

	slow, err := b.load(t, f.store) // a long request started before the logout
	require.NoError(t, err)

	logout := httptest.NewRecorder()
	r := b.request(context.Background())
	s, err := f.store.Get(r, cookieName)
	require.NoError(t, err)
	require.NoError(t, f.store.Delete(r, logout, s))
	assert.Empty(t, f.items())

	slow.Values["cart"] = "book"
	err = f.store.Save(b.request(context.Background()), httptest.NewRecorder(), slow)
	assert.ErrorIs(t, err, dynamostore.ErrSessionGone)
	assert.Empty(t, f.items(), "the session stays deleted")
}

func TestSaveAfterExpiryDoesNotExtend(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dynamostore.WithCookieMaxAge(60))
	b := f.withSession(t)
	s, err := b.load(t, f.store)
	require.NoError(t, err)
	f.clock.Advance(2 * time.Minute)
	s.Values["user"] = "eve"
	err = f.store.Save(b.request(context.Background()), httptest.NewRecorder(), s)
	assert.ErrorIs(t, err, dynamostore.ErrSessionGone)
}

func TestOptimisticLocking(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dynamostore.WithOptimisticLocking(true))
	b := newBrowser()
	_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["n"] = 0; return true })
	require.NoError(t, err)
	assert.Equal(t, &types.AttributeValueMemberN{Value: "1"}, f.items()[0]["version"])

	first, err := b.load(t, f.store)
	require.NoError(t, err)
	second, err := b.load(t, f.store)
	require.NoError(t, err)

	first.Values["n"] = 1
	require.NoError(t, f.store.Save(b.request(context.Background()), httptest.NewRecorder(), first))
	second.Values["n"] = 2
	err = f.store.Save(b.request(context.Background()), httptest.NewRecorder(), second)
	assert.ErrorIs(t, err, dynamostore.ErrConflict)

	s, err := b.load(t, f.store)
	require.NoError(t, err)
	assert.Equal(t, 1, s.Values["n"], "the stale copy did not overwrite")
	assert.Equal(t, &types.AttributeValueMemberN{Value: "2"}, f.items()[0]["version"])

	// The winner can keep saving its own copy.
	first.Values["n"] = 3
	require.NoError(t, f.store.Save(b.request(context.Background()), httptest.NewRecorder(), first))
}

func TestTooLargeSessionIsRejectedAndStoredOneKept(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dynamostore.WithMaxLength(4096))
	b := f.withSession(t)
	before := f.items()
	writes := f.client.writes()

	_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["blob"] = strings.Repeat("x", 5000); return true })
	require.ErrorIs(t, err, dynamostore.ErrTooLarge)
	var sizeErr *dynamostore.SizeError
	require.ErrorAs(t, err, &sizeErr)
	assert.Equal(t, 4096, sizeErr.Limit)
	assert.Greater(t, sizeErr.Size, 5000)
	assert.Equal(t, writes, f.client.writes(), "nothing is sent to DynamoDB")
	assert.Equal(t, before, f.items())

	// A brand-new oversized session is refused too.
	_, err = newBrowser().visit(t, f.store, func(s *sessions.Session) bool { s.Values["blob"] = strings.Repeat("x", 5000); return true })
	assert.ErrorIs(t, err, dynamostore.ErrTooLarge)
}

type unregistered struct{ A int }

func TestValuesTheCodecCannotEncode(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		codec dynamostore.Codec
		set   func(s *sessions.Session)
	}{
		"gob unregistered type": {dynamostore.GobCodec{}, func(s *sessions.Session) { s.Values["x"] = unregistered{1} }},
		"json non-string key":   {dynamostore.JSONCodec{}, func(s *sessions.Session) { s.Values[42] = "x" }},
		"json channel":          {dynamostore.JSONCodec{}, func(s *sessions.Session) { s.Values["c"] = make(chan int) }},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, dynamostore.WithCodec(tc.codec))
			b := f.withSession(t)
			_, err := b.visit(t, f.store, func(s *sessions.Session) bool { tc.set(s); return true })
			var codecErr *dynamostore.CodecError
			require.ErrorAs(t, err, &codecErr)
			assert.Equal(t, "encode", codecErr.Op)
			s, err := b.load(t, f.store)
			require.NoError(t, err)
			assert.Equal(t, "ada", s.Values["user"], "the stored session is unchanged")
		})
	}
}

// Items written by someone without the keys, corrupted, or moved between keys are rejected
// before decoding, and a bad item is never overwritten.
// keyKinds are the two kinds of key pairs: with a block key, AES-GCM's additional data binds
// the envelope to its item key as well as the MAC does; with a hash key only, the MAC is the
// only binding, so each test of that binding must run without a block key too.
var keyKinds = map[string]dynamostore.Option{
	"hash and block key": dynamostore.WithKeyPairs(hashKey1, blockKey1),
	"hash key only":      dynamostore.WithKeyPairs(hashKey1),
}

// An envelope cannot be moved to another item, forged with other keys, or corrupted without
// the store noticing, with either kind of key pair: whoever can write the table cannot make
// Bob's cookie load Alice's session.
func TestMovedForeignAndCorruptItemsAreRejectedWithEitherKeyKind(t *testing.T) {
	t.Parallel()
	for kind, keys := range keyKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			testRejectedItems(t, newFixture(t, keys))
		})
	}
}

func testRejectedItems(t *testing.T, f *fixture) {
	alice, bob := newBrowser(), newBrowser()
	_, err := alice.visit(t, f.store, func(s *sessions.Session) bool { s.Values["user"] = "alice"; return true })
	require.NoError(t, err)
	_, err = bob.visit(t, f.store, func(s *sessions.Session) bool { s.Values["user"] = "bob"; return true })
	require.NoError(t, err)
	aliceKey, aliceItem := f.itemOf(t, alice)
	bobKey, _ := f.itemOf(t, bob)

	put := func(key string, mutate func(item map[string]types.AttributeValue)) {
		item := map[string]types.AttributeValue{}
		for k, v := range aliceItem {
			item[k] = v
		}
		item["id"] = &types.AttributeValueMemberS{Value: key}
		mutate(item)
		_, err := f.ddb.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: &f.table, Item: item})
		require.NoError(t, err)
	}
	data := aliceItem["data"].(*types.AttributeValueMemberB).Value
	cases := map[string]struct {
		who    *browser
		key    string
		mutate func(item map[string]types.AttributeValue)
	}{
		"flipped byte": {alice, aliceKey, func(item map[string]types.AttributeValue) {
			d := bytes.Clone(data)
			d[len(d)/2] ^= 1
			item["data"] = &types.AttributeValueMemberB{Value: d}
		}},
		"truncated": {alice, aliceKey, func(item map[string]types.AttributeValue) {
			item["data"] = &types.AttributeValueMemberB{Value: data[:5]}
		}},
		"data as string": {alice, aliceKey, func(item map[string]types.AttributeValue) {
			item["data"] = &types.AttributeValueMemberS{Value: "{}"}
		}},
		"missing data": {alice, aliceKey, func(item map[string]types.AttributeValue) { delete(item, "data") }},
		"moved to another key": {bob, bobKey, func(item map[string]types.AttributeValue) {
			// alice's authentic data under bob's key: bob must not become alice
		}},
		"sealed by other keys": {alice, aliceKey, func(item map[string]types.AttributeValue) {
			other := f.newStore(dynamostore.WithKeyPairs(hashKey2))
			b := newBrowser()
			_, err := b.visit(t, other, func(s *sessions.Session) bool { s.Values["user"] = "mallory"; return true })
			require.NoError(t, err)
			s, err := b.load(t, other)
			require.NoError(t, err)
			foreign, ok := f.itemByKey(t, f.keyOf(s.ID))
			require.True(t, ok)
			item["data"] = foreign["data"]
		}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			put(tc.key, tc.mutate)
			s, err := tc.who.load(t, f.store)
			require.ErrorIs(t, err, dynamostore.ErrInvalidItem)
			assert.True(t, s.IsNew)
			assert.Empty(t, s.Values)
			// Saving the fresh session writes a new item and leaves the bad one for inspection.
			require.NoError(t, f.store.Save(tc.who.request(context.Background()), httptest.NewRecorder(), s))
			assert.NotEqual(t, tc.key, f.keyOf(s.ID))
			_, stillThere := f.itemByKey(t, tc.key)
			assert.True(t, stillThere)
		})
	}
}

// Whoever can write the table cannot extend a session by editing its expires attribute, with
// either kind of key pair.
func TestEditedExpiresAttributeDoesNotExtendTheSession(t *testing.T) {
	t.Parallel()
	for kind, keys := range keyKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, keys, dynamostore.WithCookieMaxAge(60))
			b := f.withSession(t)
			key, _ := f.itemOf(t, b)
			_, err := f.ddb.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
				TableName: &f.table, Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: key}},
				UpdateExpression:          ptr("SET expires = :e"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":e": &types.AttributeValueMemberN{Value: "9999999999"}},
			})
			require.NoError(t, err)
			f.clock.Advance(61 * time.Second)
			s, err := b.load(t, f.store)
			require.NoError(t, err)
			assert.True(t, s.IsNew, "the authenticated expiry inside the data decides")
		})
	}
}

func TestRegenerate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := newBrowser()
	_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["cart"] = "book"; return true })
	require.NoError(t, err)
	before := b.cookies[jarName]
	old, err := b.load(t, f.store)
	require.NoError(t, err)

	r := b.request(context.Background())
	s, err := f.store.Get(r, cookieName)
	require.NoError(t, err)
	s.Values["user"] = "ada"
	rec := httptest.NewRecorder()
	require.NoError(t, f.store.Regenerate(r, rec, s))
	b.receive(rec)

	assert.NotEqual(t, old.ID, s.ID, "a new ID")
	assert.NotEqual(t, before.Value, b.cookies[jarName].Value)
	items := f.liveItems()
	require.Len(t, items, 1, "the old item is ended")
	assert.Equal(t, f.keyOf(s.ID), items[0]["id"].(*types.AttributeValueMemberS).Value)
	tomb, ok := f.itemByKey(t, f.keyOf(old.ID))
	require.True(t, ok, "the old key holds a tombstone until TTL removes it")
	assert.NotContains(t, tomb, "data", "the tombstone keeps none of the session's data")

	now, err := b.load(t, f.store)
	require.NoError(t, err)
	assert.Equal(t, "book", now.Values["cart"], "values are kept")
	assert.Equal(t, "ada", now.Values["user"])

	attacker := newBrowser()
	attacker.cookies[jarName] = before
	fixated, err := attacker.load(t, f.store)
	require.NoError(t, err)
	assert.True(t, fixated.IsNew, "the pre-login ID is worthless")

	// Regenerating a session that was never stored just stores it.
	_, err = newBrowser().visit(t, f.store, func(s *sessions.Session) bool {
		require.NoError(t, f.store.Regenerate(httptest.NewRequest("GET", "/", nil), httptest.NewRecorder(), s))
		return false
	})
	require.NoError(t, err)
	assert.Len(t, f.liveItems(), 2)
}

func TestDelete(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.withSession(t)

	r := b.request(context.Background())
	s, err := f.store.Get(r, cookieName)
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	require.NoError(t, f.store.Delete(r, rec, s))
	assert.Empty(t, f.items())
	assert.Empty(t, s.Values)
	assert.Empty(t, s.ID)
	assert.Equal(t, -1, rec.Result().Cookies()[0].MaxAge)

	// The registry's Save at the end of the request must not bring the session back.
	rec2 := httptest.NewRecorder()
	require.NoError(t, sessions.Save(r, rec2))
	assert.Empty(t, f.items())

	// Deleting a session that was never stored only expires the cookie.
	fresh, _ := f.store.New(httptest.NewRequest("GET", "/", nil), cookieName)
	require.NoError(t, f.store.Delete(httptest.NewRequest("GET", "/", nil), httptest.NewRecorder(), fresh))

	// A failed DeleteItem keeps the cookie so the user can log out again.
	_, err = b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["user"] = "ada"; return true })
	require.NoError(t, err)
	f.client.setFault(func(op string) error {
		if op == "DeleteItem" {
			return &smithy.GenericAPIError{Code: "InternalServerError", Message: "boom"}
		}
		return nil
	})
	r = b.request(context.Background())
	s, err = f.store.Get(r, cookieName)
	require.NoError(t, err)
	rec = httptest.NewRecorder()
	err = f.store.Delete(r, rec, s)
	var opErr *dynamostore.OpError
	require.ErrorAs(t, err, &opErr)
	assert.Equal(t, "DeleteItem", opErr.Op)
	assert.Empty(t, rec.Result().Cookies())
	assert.Len(t, f.items(), 1)
}

func TestEveryCallUsesTheRequestContext(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dynamostore.WithOptimisticLocking(true))
	f.client.ctxKey = ctxMarker{} // a call without the request's context panics
	b := newBrowser()
	_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["a"] = 1; return true })
	require.NoError(t, err)
	_, err = b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["a"] = 2; return true })
	require.NoError(t, err)
	ctx := context.WithValue(context.Background(), ctxMarker{}, true)
	r := b.request(ctx)
	s, err := f.store.Get(r, cookieName)
	require.NoError(t, err)
	require.NoError(t, f.store.Regenerate(r, httptest.NewRecorder(), s))
	require.NoError(t, f.store.Delete(r, httptest.NewRecorder(), s))
	assert.EqualValues(t, 2+1+1+1+1+1, f.client.calls())

	// A cancelled request context stops the call and is reported.
	_, err = b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["a"] = 3; return true })
	require.NoError(t, err)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = f.store.New(b.request(cancelled), cookieName)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestConsistentReadOption(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := newBrowser()
	_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["a"] = 1; return true })
	require.NoError(t, err)
	_, err = b.load(t, f.store)
	require.NoError(t, err)
	assert.True(t, *f.client.lastGet.Load().ConsistentRead, "strongly consistent by default")

	eventual := f.newStore(dynamostore.WithConsistentRead(false))
	_, err = b.load(t, eventual)
	require.NoError(t, err)
	assert.False(t, *f.client.lastGet.Load().ConsistentRead)
}

func TestTableARNAsTableName(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tableARN := "arn:aws:dynamodb:us-east-1:000000000000:table/" + f.table
	store := f.newStore(dynamostore.WithTableName(tableARN))
	b := newBrowser()
	_, err := b.visit(t, store, func(s *sessions.Session) bool { s.Values["user"] = "ada"; return true })
	require.NoError(t, err)
	s, err := b.load(t, f.store) // the same table by name
	require.NoError(t, err)
	assert.Equal(t, "ada", s.Values["user"])
}

func TestCustomPartitionKeyAndPrefix(t *testing.T) {
	t.Parallel()
	ddb := newFixture(t).ddb
	table := "custom-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	require.NoError(t, dynamostore.CreateTable(context.Background(), ddb, table, func(o *dynamostore.CreateTableOptions) { o.PartitionKey = "pk" }))
	t.Cleanup(func() { _, _ = ddb.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &table}) })
	store, err := dynamostore.New(ddb, dynamostore.WithTableName(table), dynamostore.WithKeyPairs(hashKey1),
		dynamostore.WithPartitionKey("pk"), dynamostore.WithKeyPrefix("app1:"))
	require.NoError(t, err)
	b := newBrowser()
	_, err = b.visit(t, store, func(s *sessions.Session) bool { s.Values["a"] = 1; return true })
	require.NoError(t, err)
	out, err := ddb.Scan(context.Background(), &dynamodb.ScanInput{TableName: &table})
	require.NoError(t, err)
	require.Len(t, out.Items, 1)
	assert.True(t, strings.HasPrefix(out.Items[0]["pk"].(*types.AttributeValueMemberS).Value, "app1:"))
}

func TestCreateTable(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	require.NoError(t, dynamostore.CreateTable(ctx, f.ddb, f.table), "an existing table is fine")
	ttl, err := f.ddb.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: &f.table})
	require.NoError(t, err)
	assert.Equal(t, "expires", *ttl.TimeToLiveDescription.AttributeName)
	assert.Equal(t, types.TimeToLiveStatusEnabled, ttl.TimeToLiveDescription.TimeToLiveStatus)
	desc, err := f.ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &f.table})
	require.NoError(t, err)
	assert.Equal(t, types.BillingModePayPerRequest, desc.Table.BillingModeSummary.BillingMode)

	err = dynamostore.CreateTable(ctx, f.ddb, f.table, func(o *dynamostore.CreateTableOptions) { o.PartitionKey = "pk" })
	assert.ErrorContains(t, err, "exists but")
	err = dynamostore.CreateTable(ctx, f.ddb, "arn:aws:dynamodb:us-east-1:111122223333:table/x")
	assert.ErrorContains(t, err, "needs a table name")
}

// 200 clients, each with its own session, making requests at once.
func TestConcurrentClients(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const clients, rounds = 200, 3
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			b := newBrowser()
			for round := 1; round <= rounds; round++ {
				r := b.request(context.Background())
				rec := httptest.NewRecorder()
				s, err := f.store.Get(r, cookieName)
				if err == nil && !s.IsNew && (s.Values["client"] != i || s.Values["visits"] != round-1) {
					err = fmt.Errorf("client %d round %d sees %v", i, round, s.Values)
				}
				if err == nil {
					s.Values["client"] = i
					s.Values["visits"] = round
					err = f.store.Save(r, rec, s)
				}
				if err != nil {
					errs <- err
					return
				}
				b.receive(rec)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assert.Len(t, f.items(), clients)
}

// 50 goroutines load and save one session at once: no error, no race, one valid item.
func TestConcurrentSavesOfOneSession(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.withSession(t)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := b.request(context.Background())
			s, err := f.store.Get(r, cookieName)
			if err == nil {
				s.Values["last"] = i
				err = f.store.Save(r, httptest.NewRecorder(), s)
			}
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	s, err := b.load(t, f.store)
	require.NoError(t, err)
	assert.Equal(t, "ada", s.Values["user"])
	assert.Contains(t, s.Values, "last")
	assert.Len(t, f.items(), 1)
}

// Nothing secret reaches the log, even at debug level and on every error path.
func TestNoSecretsInLogs(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := newFixture(t, dynamostore.WithLogger(logger))
	b := newBrowser()
	_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["secret"] = "hunter2"; return true })
	require.NoError(t, err)
	cookie := b.cookies[jarName].Value
	s, err := b.load(t, f.store)
	require.NoError(t, err)
	id := s.ID

	tampered := newBrowser()
	tampered.cookies[jarName] = &http.Cookie{Name: jarName, Value: cookie[:len(cookie)-2] + "xx"}
	_, _ = tampered.load(t, f.store)
	f.client.setFault(func(op string) error { return errors.New("injected fault") })
	_, _ = b.load(t, f.store)
	_, _ = b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["secret"] = "hunter3"; return true })
	f.client.setFault(nil)

	mu.Lock()
	defer mu.Unlock()
	logged := buf.String()
	assert.Contains(t, logged, "rejected session cookie", "the log does record events")
	for _, secret := range []string{id, cookie, cookie[:40], "hunter2", "hunter3", f.keyOf(id)} {
		assert.NotContains(t, logged, secret)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// keyOf returns the item key for a session ID.
func (f *fixture) keyOf(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "session#" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// itemOf returns the key and item of the browser's session.
func (f *fixture) itemOf(t *testing.T, b *browser) (string, map[string]types.AttributeValue) {
	t.Helper()
	s, err := b.load(t, f.store)
	require.NoError(t, err)
	require.False(t, s.IsNew)
	key := f.keyOf(s.ID)
	item, ok := f.itemByKey(t, key)
	require.True(t, ok)
	return key, item
}

func (f *fixture) itemByKey(t *testing.T, key string) (map[string]types.AttributeValue, bool) {
	out, err := f.ddb.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: &f.table, ConsistentRead: ptr(true),
		Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: key}},
	})
	require.NoError(t, err)
	return out.Item, out.Item != nil
}

// Regenerate whose claim of the old item (an UpdateItem) fails: it rolls back. The *OpError
// says why, no cookie is set, the session keeps its ID and values, and the new item is deleted
// again, so the table holds exactly what it held before.
func TestRegenerateWithFailedClaimRollsBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.withSession(t)
	r := b.request(context.Background())
	s, err := f.store.Get(r, cookieName)
	require.NoError(t, err)
	oldID, oldKey := s.ID, f.keyOf(s.ID)
	var updates atomic.Int64
	f.client.setFault(func(op string) error {
		if op == "UpdateItem" && updates.Add(1) == 1 {
			return &types.InternalServerError{Message: ptr("boom")}
		}
		return nil
	})
	rec := httptest.NewRecorder()
	err = f.store.Regenerate(r, rec, s)
	f.client.setFault(nil)
	var opErr *dynamostore.OpError
	require.ErrorAs(t, err, &opErr)
	assert.Equal(t, "UpdateItem", opErr.Op)
	assert.False(t, opErr.OutcomeUnknown, "the store read the old item back: it is still there")
	assert.Empty(t, rec.Result().Cookies(), "no cookie for a failed Regenerate")
	assert.Equal(t, oldID, s.ID, "the session keeps its ID")
	items := f.items()
	require.Len(t, items, 1, "the new item was deleted again")
	assert.Equal(t, oldKey, items[0]["id"].(*types.AttributeValueMemberS).Value)
	b.receive(rec)
	now, err := b.load(t, f.store)
	require.NoError(t, err)
	assert.Equal(t, "ada", now.Values["user"])
	assert.Equal(t, oldID, now.ID)
}

// An authentic item that the codec cannot decode (the store switched codecs) gives a fresh
// session and a *CodecError; saving that session writes a new item and leaves the old one.
func TestItemTheCodecCannotDecode(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.withSession(t)
	oldKey, _ := f.itemOf(t, b)
	switched := f.newStore(dynamostore.WithCodec(dynamostore.JSONCodec{}))
	r := b.request(context.Background())
	s, err := switched.New(r, cookieName)
	var codecErr *dynamostore.CodecError
	require.ErrorAs(t, err, &codecErr)
	assert.Equal(t, "decode", codecErr.Op)
	assert.True(t, s.IsNew)
	s.Values["user"] = "ada"
	require.NoError(t, switched.Save(r, httptest.NewRecorder(), s))
	assert.NotEqual(t, oldKey, f.keyOf(s.ID))
	_, oldThere := f.itemByKey(t, oldKey)
	assert.True(t, oldThere, "the undecodable item is left as it was")
}
