package dynamostore_test

// Regression tests of Saves without optimistic locking, which are conditioned on the write
// they replace (issue 19's last defect). An adversarial review of the first version of that
// fix broke it in the ways of the first tests ("Broke in the first version of the fix"); the
// others are attacks it withstood from the start.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/gorilla/sessions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/dynamostoretest"
)

// otherWrites loads the browser's session on other and sets key=value: another request,
// on another server, outside any scripted faults.
func otherWrites(b *browser, other *dynamostore.Store, key, value string) error {
	req := b.request(context.Background())
	s, err := other.Get(req, cookieName)
	if err != nil {
		return err
	}
	s.Values[key] = value
	return other.Save(req, httptest.NewRecorder(), s)
}

// storedExpires is the expires attribute of the browser's item.
func storedExpires(t *testing.T, f *fixture, b *browser) int64 {
	t.Helper()
	_, item := f.itemOf(t, b)
	n, ok := item["expires"].(*types.AttributeValueMemberN)
	require.True(t, ok)
	v, err := strconv.ParseInt(n.Value, 10, 64)
	require.NoError(t, err)
	return v
}

// Broke in the first version of the fix: a touch (a read-only request past the touch interval) whose first attempt got a
// 500 (not applied) while another request wrote a cart: the SDK's retry fails begins_with
// against that write, and since the call made two attempts, sendUpdate returns
// ErrOutcomeUnknown before update ever looks at `touch`. For a touch the outcome is not in
// doubt at all: applied or not, the item holds the other write, which is what the touch rule
// leaves anyway. Before 39fea76 this Save returned nil. A page that changed nothing now
// fails with ErrOutcomeUnknown.
func TestTouchAfterA5xxAttemptUnderAnotherWriteIsNoError(t *testing.T) {
	t.Parallel()
	f, st := newScriptedFixture(t)
	other := f.otherServer(t)
	b := f.withSession(t)
	f.clock.Advance(2 * time.Hour) // past the touch interval
	slowReq, slow := b.copy(t, f.store)
	var otherErr error
	st.then("UpdateItem", func(r *http.Request) (*http.Response, error) {
		otherErr = otherWrites(b, other, "cart", "book")
		return answer(http.StatusInternalServerError, "InternalServerError", "not applied")(r)
	})
	err := f.store.Save(slowReq, httptest.NewRecorder(), slow)
	require.NoError(t, otherErr)
	assert.Equal(t, "book", f.stored(t, b)["cart"], "the touch leaves the other write be")
	assert.NoError(t, err, "a touch whose outcome is the other write either way is no error")
}

// Broke in the first version of the fix: As above, but the touch's first attempt was applied and its answer lost, and the
// other request wrote on top of it. Same result: the item holds the other write (which saw
// our touch, a no-op for values), yet Save returns ErrOutcomeUnknown.
func TestTouchAppliedThenLostUnderAnotherWriteIsNoError(t *testing.T) {
	t.Parallel()
	f, st := newScriptedFixture(t)
	other := f.otherServer(t)
	b := f.withSession(t)
	f.clock.Advance(2 * time.Hour)
	slowReq, slow := b.copy(t, f.store)
	var otherErr error
	st.then("UpdateItem", applyThenLose(st.base, func() { otherErr = otherWrites(b, other, "cart", "book") }))
	err := f.store.Save(slowReq, httptest.NewRecorder(), slow)
	require.NoError(t, otherErr)
	assert.Equal(t, "book", f.stored(t, b)["cart"])
	assert.NoError(t, err, "a touch whose outcome is the other write either way is no error")
}

// r19NoCount is a client that does not run the per-call option functions, as a DAX client
// does not report the SDK's attempts: the store's counter stays 0.
type r19NoCount struct{ *recordingClient }

func (c r19NoCount) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return c.recordingClient.UpdateItem(ctx, in)
}

// Broke in the first version of the fix: Through a client that reports 0 attempts (DAX), every touch that meets a
// concurrent write returns ErrOutcomeUnknown (docs/design.md says such a client counts as
// more than one attempt, which is right for a change, but a touch has nothing in doubt).
// Two tabs of one browser, one of them a plain page view after the touch interval, are
// enough.
func TestTouchThroughAClientThatDoesNotCountAttemptsIsNoError(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	dax, err := dynamostore.New(r19NoCount{f.client}, dynamostore.WithTableName(f.table),
		dynamostore.WithKeyPairs(hashKey1, blockKey1), dynamostore.WithClock(f.clock.Now))
	require.NoError(t, err)
	other := f.otherServer(t)
	b := f.withSession(t)
	f.clock.Advance(2 * time.Hour)
	slowReq, slow := b.copy(t, dax)
	require.NoError(t, otherWrites(b, other, "cart", "book"))
	err = dax.Save(slowReq, httptest.NewRecorder(), slow)
	assert.Equal(t, "book", f.stored(t, b)["cart"])
	assert.NoError(t, err, "a touch that finds another write leaves it be and succeeds")
}

// Broke in the first version of the fix: `touch` is only "same values" (store.go save: st.fp.equal(next.fp)); the expiry
// may move anywhere. A request that keeps the values but gives the session a longer life
// (sess.Options.MaxAge: "remember me", 30 days, capped at the 7-day absolute timeout) meets
// a concurrent cart write made with the default one-day MaxAge: its update is dropped as a
// "touch", Save returns nil and sets a 30-day cookie, and the item expires in one day.
// update's comment promises the rule only for "same values, a later expiry" than... the
// write it replaced, but the write it finds may end far earlier than this one.
func TestLongerLifeWithSameValuesIsNotDroppedAsATouch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	other := f.otherServer(t)
	b := f.withSession(t)
	slowReq, slow := b.copy(t, f.store)
	require.NoError(t, otherWrites(b, other, "cart", "book"))
	slow.Options.MaxAge = 30 * 86400
	require.NoError(t, f.store.Save(slowReq, httptest.NewRecorder(), slow))
	now := f.clock.Now()
	assert.Greater(t, storedExpires(t, f, b), now.Add(48*time.Hour).Unix(),
		"Save returned nil for a longer life, so the session must have it (the last writer wins)")
}

// Broke in the first version of the fix: the other direction: the request shortens the session (MaxAge 10 minutes, values
// unchanged) while another request writes a cart. Save returns nil, the cookie says 10
// minutes, and the server keeps the session for a day.
func TestShorterLifeWithSameValuesIsNotDroppedAsATouch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	other := f.otherServer(t)
	b := f.withSession(t)
	slowReq, slow := b.copy(t, f.store)
	require.NoError(t, otherWrites(b, other, "cart", "book"))
	slow.Options.MaxAge = 600
	require.NoError(t, f.store.Save(slowReq, httptest.NewRecorder(), slow))
	now := f.clock.Now()
	assert.LessOrEqual(t, storedExpires(t, f, b), now.Add(10*time.Minute).Unix(),
		"Save returned nil for a 10-minute life, so the server must not keep the session a day")
}

// Broke in the first version of the fix (low severity): The first attempt is refused with throttling (a 400: DynamoDB says
// it did not apply it); another request writes meanwhile; the SDK's retry fails begins_with.
// Nothing of this call was applied, which the single-attempt rule would have allowed to
// settle with one more round, but the count is 2, so Save returns ErrOutcomeUnknown where
// it used to succeed. Throttling and contention come together under load.
func TestThrottledFirstAttemptThenAnotherWriteStillLands(t *testing.T) {
	t.Parallel()
	f, st := newScriptedFixture(t)
	other := f.otherServer(t)
	b := f.withSession(t)
	var otherErr error
	st.then("UpdateItem", func(r *http.Request) (*http.Response, error) {
		otherErr = otherWrites(b, other, "cart", "book")
		return answer(http.StatusBadRequest, "ProvisionedThroughputExceededException", "slow down")(r)
	})
	_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["user"] = "eve"; return true })
	require.NoError(t, otherErr)
	assert.NoError(t, err, "a throttled attempt was not applied: the Save can win over the other write")
	assert.Equal(t, "eve", f.stored(t, b)["user"])
}

// Broke in the first version of the fix: a session whose item still holds a
// version 1 envelope (written before write tokens) gets no begins_with condition (store.go
// update: `prev.header[0] == envelopeVersion`), so the lost update the change mends is still
// there for the first write after an upgrade: our first attempt is applied and its answer
// lost, another request writes on top, the SDK's retry lands again, both Saves return nil,
// and the other write is gone. confirm.go's comment ("a retry never lands on a later write")
// claims more than the code gives. A v1 item could be conditioned on its whole data
// (#d = :old) or on its MAC, which names it as well as a token does.
func TestRetryOverAVersion1ItemDoesNotOverwriteALaterWrite(t *testing.T) {
	t.Parallel()
	f, st := newScriptedFixture(t)
	other := f.otherServer(t)
	b := f.withSession(t)
	key, _ := f.itemOf(t, b)
	r19PlantVersion1(t, f, key, map[any]any{"user": "ada"}, f.clock.Now().Add(time.Hour).Unix())
	require.Equal(t, "ada", f.stored(t, b)["user"], "the planted v1 item loads")
	var otherErr error
	st.then("UpdateItem", applyThenLose(st.base, func() { otherErr = otherWrites(b, other, "cart", "book, pen") }))
	_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["cart"] = "book"; return true })
	require.NoError(t, otherErr)
	assert.Equal(t, "book, pen", f.stored(t, b)["cart"], "the later write survives the retry of the earlier one")
	assert.ErrorIs(t, err, dynamostore.ErrOutcomeUnknown)
}

// r19PlantVersion1 writes a version 1 envelope (version, flags, expires, codec bytes, MAC;
// no token, no metadata) under key, sealed with hashKey1 and not encrypted.
func r19PlantVersion1(t *testing.T, f *fixture, key string, values map[any]any, expires int64) {
	t.Helper()
	raw, err := dynamostore.GobCodec{}.Encode(values)
	require.NoError(t, err)
	env := []byte{1, 0}
	env = binary.BigEndian.AppendUint64(env, uint64(expires))
	env = append(env, raw...)
	derive := hmac.New(sha256.New, hashKey1)
	derive.Write([]byte("dynamostore item mac v1"))
	mac := hmac.New(sha256.New, derive.Sum(nil))
	mac.Write([]byte(key))
	mac.Write(env)
	env = mac.Sum(env)
	_, err = f.ddb.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: &f.table, Item: map[string]types.AttributeValue{
		"id":      &types.AttributeValueMemberS{Value: key},
		"data":    &types.AttributeValueMemberB{Value: env},
		"expires": &types.AttributeValueMemberN{Value: strconv.FormatInt(expires, 10)},
	}})
	require.NoError(t, err)
}

// ---------------------------------------------------------------------------------------
// Attacks that the fix withstood from the start.

// Save twice in one request: the second Save's condition names the first Save's write
// (prev.header from item()). Its first attempt is applied and lost, another request writes
// on top, and the SDK's retry must not land again.
func TestSecondSaveInARequestIsConditionedOnTheFirst(t *testing.T) {
	t.Parallel()
	f, st := newScriptedFixture(t)
	other := f.otherServer(t)
	b := f.withSession(t)
	r := b.request(context.Background())
	s, err := f.store.Get(r, cookieName)
	require.NoError(t, err)
	s.Values["step"] = "1"
	require.NoError(t, f.store.Save(r, httptest.NewRecorder(), s))
	var otherErr error
	st.then("UpdateItem", applyThenLose(st.base, func() { otherErr = otherWrites(b, other, "cart", "book") }))
	s.Values["step"] = "2"
	err = f.store.Save(r, httptest.NewRecorder(), s)
	require.NoError(t, otherErr)
	assert.Equal(t, "book", f.stored(t, b)["cart"], "the later write survives the retry")
	assert.ErrorIs(t, err, dynamostore.ErrOutcomeUnknown)
}

// The same after Regenerate in the same request (prev.header from the create).
func TestSaveAfterRegenerateIsConditionedOnTheNewItem(t *testing.T) {
	t.Parallel()
	f, st := newScriptedFixture(t)
	other := f.otherServer(t)
	b := f.withSession(t)
	r := b.request(context.Background())
	s, err := f.store.Get(r, cookieName)
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	require.NoError(t, f.store.Regenerate(r, rec, s))
	b.receive(rec)
	var otherErr error
	st.then("UpdateItem", applyThenLose(st.base, func() { otherErr = otherWrites(b, other, "cart", "book") }))
	s.Values["step"] = "2"
	err = f.store.Save(r, httptest.NewRecorder(), s)
	require.NoError(t, otherErr)
	assert.Equal(t, "book", f.stored(t, b)["cart"])
	assert.ErrorIs(t, err, dynamostore.ErrOutcomeUnknown)
}

// The same after Login in the same request (users.go creates the item).
func TestSaveAfterLoginIsConditionedOnTheNewItem(t *testing.T) {
	t.Parallel()
	f, st := newScriptedFixture(t)
	other := f.otherServer(t)
	b := f.withSession(t)
	r := b.request(context.Background())
	s, err := f.store.Get(r, cookieName)
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	require.NoError(t, f.store.Login(r, rec, s, "ada"))
	b.receive(rec)
	var otherErr error
	st.then("UpdateItem", applyThenLose(st.base, func() { otherErr = otherWrites(b, other, "cart", "book") }))
	s.Values["step"] = "2"
	err = f.store.Save(r, httptest.NewRecorder(), s)
	require.NoError(t, otherErr)
	assert.Equal(t, "book", f.stored(t, b)["cart"])
	assert.ErrorIs(t, err, dynamostore.ErrOutcomeUnknown)
	_, bound := other.AuthTime(func() *sessions.Session {
		s2, err := other.New(b.request(context.Background()), cookieName)
		require.NoError(t, err)
		return s2
	}())
	assert.True(t, bound, "the binding survives")
}

// A touch that found another write records that write's header: a later change in
// the same request lands over it in one UpdateItem (no spurious second round), last writer
// wins.
func TestChangeAfterATouchThatFoundAnotherWrite(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	other := f.otherServer(t)
	b := f.withSession(t)
	f.clock.Advance(2 * time.Hour)
	slowReq, slow := b.copy(t, f.store)
	require.NoError(t, otherWrites(b, other, "cart", "book"))
	require.NoError(t, f.store.Save(slowReq, httptest.NewRecorder(), slow)) // the touch, dropped
	assert.Equal(t, "book", f.stored(t, b)["cart"])
	updates := f.client.updates.Load()
	slow.Values["user"] = "eve"
	require.NoError(t, f.store.Save(slowReq, httptest.NewRecorder(), slow))
	assert.Equal(t, int64(1), f.client.updates.Load()-updates)
	assert.Equal(t, "eve", f.stored(t, b)["user"])
}

// The second round stays a single attempt with a client built with its own
// RetryMaxAttempts (5): round 2 is applied and its answer lost, a third write lands, and a
// 500 waits for an SDK retry that must not be sent.
func TestSecondRoundIsOnceWithAClientRetryMaxAttempts(t *testing.T) {
	t.Parallel()
	st := &scriptedTransport{base: http.DefaultTransport, script: map[string][]func(*http.Request) (*http.Response, error){}}
	clean := dynamostoretest.Client(t)
	faulty := dynamostoretest.Client(t, func(o *dynamodb.Options) {
		o.HTTPClient = &http.Client{Transport: st}
		o.RetryMaxAttempts = 5
	})
	f := &fixture{t: t, ddb: clean, client: &recordingClient{inner: faulty}, table: dynamostoretest.NewTable(t, clean), clock: newClock()}
	f.store = f.newStore()
	other := f.otherServer(t)
	b := f.withSession(t)
	var otherErr error
	st.then("UpdateItem",
		func(r *http.Request) (*http.Response, error) {
			if err := otherWrites(b, other, "user", "bob"); err != nil {
				return nil, err
			}
			return st.base.RoundTrip(r)
		},
		applyThenLose(st.base, func() { otherErr = otherWrites(b, other, "user", "cy") }),
		answer(http.StatusInternalServerError, "InternalServerError", "an SDK retry of round 2 would be sent"))
	_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["user"] = "eve"; return true })
	require.NoError(t, otherErr)
	assert.Equal(t, "cy", f.stored(t, b)["user"])
	assert.ErrorIs(t, err, dynamostore.ErrOutcomeUnknown)
}

// Key rotation: another server whose first key pair is new reseals the item; this
// server (old pair first, new pair known) still wins in the second round.
func TestWriteResealedByAnotherKeyPair(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dynamostore.WithKeyPairs(hashKey1, blockKey1, hashKey2, nil))
	rotated := f.otherServer(t, dynamostore.WithKeyPairs(hashKey2, nil, hashKey1, blockKey1))
	b := f.withSession(t)
	slowReq, slow := b.copy(t, f.store)
	require.NoError(t, otherWrites(b, rotated, "cart", "book"))
	slow.Values["user"] = "eve"
	require.NoError(t, f.store.Save(slowReq, httptest.NewRecorder(), slow))
	v := f.stored(t, b)
	assert.Equal(t, "eve", v["user"])
	assert.Nil(t, v["cart"])
}
