package dynamostore_test

// Pins for promises that hold in the code but that no other test would notice breaking
// (issue 19, "Eight more promises"). Each test here was checked to fail when the code is
// changed in the way its comment names.

import (
	"bytes"
	"compress/flate"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/dynamostoretest"
)

// countingTransport counts the HTTP requests of each DynamoDB operation (so every attempt
// the SDK makes) before passing them on.
type countingTransport struct {
	base http.RoundTripper
	mu   sync.Mutex
	n    map[string]int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
	c.mu.Lock()
	c.n[op]++
	c.mu.Unlock()
	return c.base.RoundTrip(r)
}

func (c *countingTransport) count(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[op]
}

// newDryBucketFixture is a scripted fixture whose client's retry-token bucket is empty and
// stays empty, as the SDK's is after a burst of 5xx answers: the SDK makes one attempt of
// each call and returns its error. Every request is counted.
func newDryBucketFixture(t *testing.T, opts ...dynamostore.Option) (*fixture, *scriptedTransport, *countingTransport) {
	t.Helper()
	ct := &countingTransport{base: http.DefaultTransport, n: map[string]int{}}
	st := &scriptedTransport{base: ct, script: map[string][]func(*http.Request) (*http.Response, error){}}
	clean := dynamostoretest.Client(t)
	dry := dynamostoretest.Client(t, func(o *dynamodb.Options) {
		o.HTTPClient = &http.Client{Transport: st}
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) { so.RateLimiter = ratelimit.NewTokenRateLimit(0) })
	})
	f := &fixture{t: t, ddb: clean, client: &recordingClient{inner: dry}, table: dynamostoretest.NewTable(t, clean), clock: newClock()}
	f.store = f.newStore(opts...)
	return f, st, ct
}

// applyThenServerError forwards the request (DynamoDB applies it), then answers 500
// InternalServerError in place of DynamoDB's answer.
func applyThenServerError(base http.RoundTripper) func(*http.Request) (*http.Response, error) {
	return func(r *http.Request) (*http.Response, error) {
		resp, err := base.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return answer(http.StatusInternalServerError, "InternalServerError", "Internal server error")(r)
	}
}

// A 5xx answer says the request may or may not have been applied, even when it answers the
// only attempt (the SDK makes one when its retry-token bucket is dry). A write DynamoDB
// applied and answered with a 500 must be confirmed by the read-back, not reported as failed:
// a failed Save or Delete here would leave the user with a stale cookie (or none) for a
// session that was in fact written or removed.
// Guards definite (retrysafe.go): a 5xx answer to a single attempt is not a refusal.
func TestAppliedWriteAnswered5xxOnItsOnlyAttemptIsConfirmed(t *testing.T) {
	t.Parallel()
	t.Run("create", func(t *testing.T) {
		t.Parallel()
		f, st, ct := newDryBucketFixture(t)
		st.then("PutItem", applyThenServerError(ct))
		b := newBrowser()
		_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["user"] = "ada"; return true })
		require.NoError(t, err, "the session was written: the 500 proves nothing")
		assert.Equal(t, 1, ct.count("PutItem"), "a single attempt")
		assert.NotEmpty(t, b.last.Cookies(), "the cookie is set")
		assert.Equal(t, "ada", f.stored(t, b)["user"])
	})
	t.Run("update", func(t *testing.T) {
		t.Parallel()
		f, st, ct := newDryBucketFixture(t)
		b := f.withSession(t)
		st.then("UpdateItem", applyThenServerError(ct))
		_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["user"] = "eve"; return true })
		require.NoError(t, err, "the change was written: the 500 proves nothing")
		assert.Equal(t, 1, ct.count("UpdateItem"), "a single attempt")
		assert.Equal(t, "eve", f.stored(t, b)["user"])
	})
	t.Run("delete", func(t *testing.T) {
		t.Parallel()
		f, st, ct := newDryBucketFixture(t)
		b := f.withSession(t)
		st.then("DeleteItem", applyThenServerError(ct))
		r := b.request(context.Background())
		s, err := f.store.Get(r, cookieName)
		require.NoError(t, err)
		rec := httptest.NewRecorder()
		require.NoError(t, f.store.Delete(r, rec, s), "the item was deleted: the 500 proves nothing")
		assert.Equal(t, 1, ct.count("DeleteItem"), "a single attempt")
		b.receive(rec)
		assert.Empty(t, b.cookies, "the logout's cookie is set")
		assert.Empty(t, f.items())
	})
}

// Without optimistic locking: the first attempt of an UpdateItem is applied and its answer
// lost; before the SDK retries, another request writes the session on top of it; every retry
// then fails on the network. The confirming read finds neither this write nor the state it
// replaced but the other request's write, which may sit on top of ours: the outcome is
// unknown. Reported "not applied", the caller would apply its change again.
// Guards confirm (retrysafe.go): the item read back is "as it was" only if it carries the
// write token of the envelope this write replaced.
func TestWriteUnderAnotherRequestsWriteIsOutcomeUnknown(t *testing.T) {
	t.Parallel()
	f, st := newScriptedFixture(t)
	other := f.otherServer(t)
	b := f.withSession(t)
	reset := func(*http.Request) (*http.Response, error) {
		return nil, &net.OpError{Op: "write", Net: "tcp", Err: syscall.ECONNRESET}
	}
	var otherErr error
	st.then("UpdateItem", everyAttempt(reset, applyThenLose(st.base, func() {
		r := b.request(context.Background())
		s, err := other.Get(r, cookieName)
		if err == nil {
			s.Values["cart"] = "tea"
			err = other.Save(r, httptest.NewRecorder(), s)
		}
		otherErr = err
	}))...)
	_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["user"] = "eve"; return true })
	require.NoError(t, otherErr)
	stored := f.stored(t, b)
	require.Equal(t, "eve", stored["user"], "our write landed")
	require.Equal(t, "tea", stored["cart"], "and the other request's on top of it")
	require.ErrorIs(t, err, dynamostore.ErrOutcomeUnknown, "the store cannot tell whether its write was applied")
	var opErr *dynamostore.OpError
	require.ErrorAs(t, err, &opErr)
	assert.True(t, opErr.OutcomeUnknown)
	assert.False(t, opErr.Retryable(), "not 'not applied, try again'")
}

// A time moved to another zone is another value to both codecs (they store the offset), so
// Save must write it even inside the touch interval. Only the gob codec gives a time.Time
// back (JSON gives a string), so only it can carry the same instant in two zones.
// Guards the digest (digest.go): a time counts by its zone offset too.
func TestDigestSeesATimeZoneChange(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dynamostore.WithTouchInterval(time.Hour))
	since := time.Date(2026, 11, 22, 10, 0, 0, 0, time.FixedZone("", 3600))
	moved := since.In(time.FixedZone("", 7200))
	require.True(t, since.Equal(moved), "the same instant")
	b := newBrowser()
	_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["since"] = since; return true })
	require.NoError(t, err)
	writes := f.client.writes()
	_, err = b.visit(t, f.store, func(s *sessions.Session) bool {
		_, offset := s.Values["since"].(time.Time).Zone()
		require.Equal(t, 3600, offset, "loaded with its offset")
		s.Values["since"] = moved
		return true
	})
	require.NoError(t, err)
	assert.Equal(t, writes+1, f.client.writes(), "the new offset is written")
	stored, ok := f.stored(t, b)["since"].(time.Time)
	require.True(t, ok)
	_, offset := stored.Zone()
	assert.Equal(t, 7200, offset, "the stored time has the new offset")
	assert.True(t, stored.Equal(since))
}

// admin flipped from true to false is written at once, not at the end of the touch interval:
// a demoted user must not keep the privilege meanwhile.
// Guards the digest (digest.go): a top-level bool counts by its value.
func TestDigestSeesABoolTurnedFalse(t *testing.T) {
	t.Parallel()
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, dynamostore.WithCodec(c.codec), dynamostore.WithTouchInterval(time.Hour))
			b := newBrowser()
			_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["admin"] = true; return true })
			require.NoError(t, err)
			writes := f.client.writes()
			_, err = b.visit(t, f.store, func(s *sessions.Session) bool {
				require.Equal(t, true, s.Values["admin"])
				s.Values["admin"] = false
				return true
			})
			require.NoError(t, err)
			assert.Equal(t, writes+1, f.client.writes(), "the demotion is written")
			assert.Equal(t, false, f.stored(t, b)["admin"], "the stored session is no longer admin")
		})
	}
}

// The adapters' values (scs, Fiber) are removed by DynamoDB's TTL: KV.Set writes the
// table's TTL attribute with the value's expiry, and none for a value that never expires.
// Guards KV.Set (kv.go): it writes the expires attribute.
func TestKVSetWritesTheTTLAttribute(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	ttl, err := f.ddb.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: &f.table})
	require.NoError(t, err)
	require.NotNil(t, ttl.TimeToLiveDescription)
	require.NotNil(t, ttl.TimeToLiveDescription.AttributeName)
	attr := *ttl.TimeToLiveDescription.AttributeName

	kv := f.store.KV("pins")
	expires := f.clock.Now().Add(time.Hour)
	require.NoError(t, kv.Set(ctx, "token", []byte("value"), expires))
	item, ok := f.itemByKey(t, dynamostore.KVItemKey(kv, "token"))
	require.True(t, ok)
	require.IsType(t, &types.AttributeValueMemberN{}, item[attr], "the TTL attribute %q is written", attr)
	assert.Equal(t, strconv.FormatInt(expires.Unix(), 10), item[attr].(*types.AttributeValueMemberN).Value)

	require.NoError(t, kv.Set(ctx, "forever", []byte("value"), time.Time{}))
	item, ok = f.itemByKey(t, dynamostore.KVItemKey(kv, "forever"))
	require.True(t, ok)
	assert.NotContains(t, item, attr, "a value that never expires has no TTL")
}

// A 65 KB item that inflates to 64 MiB (sealed with the store's own keys, so it passes
// authentication) is refused having inflated at most MaxUncompressedLength: one Get must not
// allocate anywhere near the 64 MiB. TestDecompressionIsBounded's item inflates to just over
// MaxUncompressedLength, so it cannot tell a bounded read from a check afterwards. The
// allocation is measured over the whole test binary, so the test does not run in parallel
// (parallel tests wait until it has ended).
// Guards inflate (compress.go): it reads through its size limit.
func TestDecompressionBombAllocatesLittle(t *testing.T) {
	f := newFixture(t)
	const inflated = 64 << 20
	var deflated bytes.Buffer
	w, err := flate.NewWriter(&deflated, flate.BestSpeed)
	require.NoError(t, err)
	chunk := bytes.Repeat([]byte{'a'}, 1<<20)
	for range inflated / len(chunk) {
		_, err = w.Write(chunk)
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	require.Less(t, deflated.Len(), 70_000, "a bomb: 65 KB in, 64 MiB out")

	id := strings.Repeat("C", 43)
	expires := f.clock.Now().Add(time.Hour).Unix()
	data := dynamostore.ForgeCompressedData(f.store, id, expires, deflated.Bytes())
	_, err = f.ddb.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: &f.table, Item: map[string]types.AttributeValue{
		"id":      &types.AttributeValueMemberS{Value: f.keyOf(id)},
		"data":    &types.AttributeValueMemberB{Value: data},
		"expires": &types.AttributeValueMemberN{Value: strconv.FormatInt(expires, 10)},
	}})
	require.NoError(t, err)
	sc := securecookie.New(hashKey1, blockKey1)
	sc.SetSerializer(securecookie.NopEncoder{})
	cookie, err := sc.Encode(jarName, []byte(id))
	require.NoError(t, err)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: jarName, Value: cookie})

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s, err := f.store.New(r, cookieName)
	runtime.ReadMemStats(&after)
	require.ErrorIs(t, err, dynamostore.ErrInvalidItem)
	assert.True(t, s.IsNew)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("one Get of the bomb allocated %.1f MiB", float64(allocated)/(1<<20))
	assert.Less(t, allocated, uint64(32<<20), "the bomb was inflated past the limit before it was refused")
}

// Incompressible values (random bytes: tokens, keys, already compressed data) gain nothing
// from DEFLATE: with compression on, they are stored as they are, never larger than without
// it (and so not inflated on every read), by Save and by the key-value view alike.
// Guards compress (compress.go): deflated output is kept only when it is smaller.
func TestIncompressibleSessionIsStoredPlain(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dynamostore.WithCompression(0))
	plain := f.newStore()
	blob := make([]byte, 4096)
	_, _ = rand.NewChaCha8([32]byte{19}).Read(blob)
	values := map[any]any{"user": "ada", "blob": blob}

	raw, err := dynamostore.GobCodec{}.Encode(values)
	require.NoError(t, err)
	for _, level := range []int{flate.BestSpeed, flate.DefaultCompression, flate.BestCompression} {
		var out bytes.Buffer
		w, err := flate.NewWriter(&out, level)
		require.NoError(t, err)
		_, err = w.Write(raw)
		require.NoError(t, err)
		require.NoError(t, w.Close())
		require.GreaterOrEqual(t, out.Len(), len(raw), "DEFLATE level %d cannot shrink the session", level)
	}

	t.Run("session", func(t *testing.T) {
		b, bPlain := newBrowser(), newBrowser()
		_, err := b.visit(t, f.store, fill(values))
		require.NoError(t, err)
		_, err = bPlain.visit(t, plain, fill(values))
		require.NoError(t, err)
		data, plainData := f.dataOf(t, b), f.dataOf(t, bPlain)
		assert.False(t, dynamostore.Compressed(data), "stored as it is")
		assert.LessOrEqual(t, len(data), len(plainData), "never larger than without compression")
		assert.Equal(t, blob, f.stored(t, b)["blob"])
	})
	t.Run("KV", func(t *testing.T) {
		ctx := context.Background()
		kv, plainKV := f.store.KV("pins"), plain.KV("pins")
		require.NoError(t, kv.Set(ctx, "a", blob, time.Time{}))
		require.NoError(t, plainKV.Set(ctx, "b", blob, time.Time{}))
		item, ok := f.itemByKey(t, dynamostore.KVItemKey(kv, "a"))
		require.True(t, ok)
		plainItem, ok := f.itemByKey(t, dynamostore.KVItemKey(plainKV, "b"))
		require.True(t, ok)
		data := item["data"].(*types.AttributeValueMemberB).Value
		plainData := plainItem["data"].(*types.AttributeValueMemberB).Value
		assert.False(t, dynamostore.Compressed(data), "stored as it is")
		assert.LessOrEqual(t, len(data), len(plainData), "never larger than without compression")
		got, found, err := kv.Get(ctx, "a")
		require.NoError(t, err)
		assert.True(t, found)
		assert.Equal(t, blob, got)
	})
}

// Optimistic locking turned on over sessions written without it: two requests that loaded
// one unversioned session both try to write it; the first wins and the second gets
// ErrConflict, as with versioned sessions, instead of overwriting the first.
// Guards update (store.go): an unversioned item is written only while it has no version.
func TestOptimisticLockingOverUnversionedSessionRefusesTheSecondWriter(t *testing.T) {
	t.Parallel()
	f := newFixture(t) // no locking: the item has no version
	b := f.withSession(t)
	_, item := f.itemOf(t, b)
	require.NotContains(t, item, "version", "written without a version")

	locked := f.newStore(dynamostore.WithOptimisticLocking(true))
	first, err := b.load(t, locked)
	require.NoError(t, err)
	second, err := b.load(t, locked)
	require.NoError(t, err)

	first.Values["cart"] = "tea"
	require.NoError(t, locked.Save(b.request(context.Background()), httptest.NewRecorder(), first))
	second.Values["cart"] = "coffee"
	err = locked.Save(b.request(context.Background()), httptest.NewRecorder(), second)
	require.ErrorIs(t, err, dynamostore.ErrConflict, "the second writer held a stale copy")

	now, err := b.load(t, locked)
	require.NoError(t, err)
	assert.Equal(t, "tea", now.Values["cart"], "the first write stands")
}
