package dynamostore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"syscall"
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

// sdkAttempts is how many attempts the SDK makes of a DynamoDB call: 3 before aws-sdk-go-v2
// v1.48.0, 4 since (its "Retry Behavior 2.1").
var sdkAttempts = sync.OnceValue(func() int {
	return dynamodb.New(dynamodb.Options{Region: "us-east-1"}).Options().Retryer.MaxAttempts()
})

// everyAttempt returns first, then pad as often as needed for a fault or step for each of
// the attempts the SDK makes of one call: every attempt fails.
func everyAttempt[T any](pad T, first ...T) []T {
	steps := append([]T(nil), first...)
	for len(steps) < sdkAttempts() {
		steps = append(steps, pad)
	}
	return steps
}

// newNetFixture is a fixture whose store reaches DynamoDB Local through a FaultTransport, with
// the SDK's own retries (sdkAttempts); f.ddb stays a clean client for looking at the table.
func newNetFixture(t *testing.T, opts ...dynamostore.Option) (*fixture, *dynamostoretest.FaultTransport) {
	t.Helper()
	ft, err := dynamostoretest.NewFaultTransport(nil, dynamostoretest.FaultOptions{})
	require.NoError(t, err)
	clean := dynamostoretest.Client(t)
	faulty := dynamostoretest.Client(t, func(o *dynamodb.Options) { o.HTTPClient = &http.Client{Transport: ft} })
	f := &fixture{t: t, ddb: clean, client: &recordingClient{inner: faulty}, table: dynamostoretest.NewTable(t, clean), clock: newClock()}
	f.store = f.newStore(opts...)
	return f, ft
}

// stored returns the session values stored for the browser's cookie.
func (f *fixture) stored(t *testing.T, b *browser) map[any]any {
	t.Helper()
	s, err := b.load(t, f.store)
	require.NoError(t, err)
	require.False(t, s.IsNew, "the browser's session must be stored")
	return s.Values
}

// The answer of the PutItem that creates a session is lost; the SDK retries, and the retry
// fails attribute_not_exists against the item the first attempt wrote. Before retry-safe
// writes, Save returned an *OpError (ConditionalCheckFailedException), set no cookie and left
// an orphaned item: the user was logged out as they logged in.
func TestLostAnswerOfCreateIsSuccess(t *testing.T) {
	t.Parallel()
	f, ft := newNetFixture(t)
	ft.Inject("PutItem", dynamostoretest.FaultLostAnswer)
	b := newBrowser()
	_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["user"] = "ada"; return true })
	require.NoError(t, err)
	assert.EqualValues(t, 1, ft.Stats().Injected[dynamostoretest.FaultLostAnswer])
	assert.EqualValues(t, 0, f.client.gets.Load(), "no extra call: the retry's own answer told")
	assert.Equal(t, "ada", f.stored(t, b)["user"])
	assert.Len(t, f.items(), 1, "one item, no orphan")
}

// The same for Regenerate, so for every login.
func TestLostAnswerOfRegenerateIsSuccess(t *testing.T) {
	t.Parallel()
	f, ft := newNetFixture(t)
	b := f.withSession(t)
	r := b.request(context.Background())
	s, err := f.store.Get(r, cookieName)
	require.NoError(t, err)
	oldID := s.ID
	ft.Inject("PutItem", dynamostoretest.FaultLostAnswer)
	ft.Inject("UpdateItem", dynamostoretest.FaultLostAnswer) // the claim of the old item
	rec := httptest.NewRecorder()
	require.NoError(t, f.store.Regenerate(r, rec, s))
	b.receive(rec)
	assert.NotEqual(t, oldID, s.ID)
	assert.Equal(t, "ada", f.stored(t, b)["user"])
	assert.False(t, f.holdsData(t, f.keyOf(oldID)), "the old ID no longer works")
	assert.Len(t, f.liveItems(), 1)
}

// With optimistic locking, the answer of an UpdateItem is lost and the retry fails
// version = :pv against the item it wrote itself. Before, Save returned ErrConflict, whose
// advice (reload and apply again) incremented the counter twice.
func TestLostAnswerOfLockedUpdateIsAppliedOnce(t *testing.T) {
	t.Parallel()
	f, ft := newNetFixture(t, dynamostore.WithOptimisticLocking(true))
	b := newBrowser()
	increment := func(s *sessions.Session) bool {
		n, _ := s.Values["n"].(int)
		s.Values["n"] = n + 1
		return true
	}
	_, err := b.visit(t, f.store, increment)
	require.NoError(t, err)
	ft.Inject("UpdateItem", dynamostoretest.FaultLostAnswer)
	_, err = b.visit(t, f.store, increment)
	require.NoError(t, err, "our own retried write is no conflict")
	_, err = b.visit(t, f.store, increment)
	require.NoError(t, err)
	assert.Equal(t, 3, f.stored(t, b)["n"], "three increments, each applied once")
	_, item := f.itemOf(t, b)
	assert.Equal(t, "3", item["version"].(*types.AttributeValueMemberN).Value)
}

// Without locking, a retried UpdateItem passes its condition again: the write is applied once
// in effect, and DeleteItem is idempotent.
func TestLostAnswerOfUpdateAndDelete(t *testing.T) {
	t.Parallel()
	f, ft := newNetFixture(t)
	b := f.withSession(t)
	ft.Inject("UpdateItem", dynamostoretest.FaultLostAnswer)
	_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["user"] = "eve"; return true })
	require.NoError(t, err)
	assert.Equal(t, "eve", f.stored(t, b)["user"])

	ft.Inject("DeleteItem", dynamostoretest.FaultLostAnswer)
	r := b.request(context.Background())
	s, err := f.store.Get(r, cookieName)
	require.NoError(t, err)
	require.NoError(t, f.store.Delete(r, httptest.NewRecorder(), s))
	assert.Empty(t, f.items())
}

// The write landed, then every retry failed: the SDK gives up with an error although the
// session is stored. The store reads the item once, finds its own write and reports success.
func TestWriteAppliedThenRetriesFailedIsConfirmed(t *testing.T) {
	t.Parallel()
	f, ft := newNetFixture(t, dynamostore.WithOptimisticLocking(true))
	ft.Inject("PutItem", everyAttempt(dynamostoretest.FaultReset, dynamostoretest.FaultLostAnswer, dynamostoretest.FaultServerError)...)
	b := newBrowser()
	_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["user"] = "ada"; return true })
	require.NoError(t, err)
	assert.EqualValues(t, 1, f.client.gets.Load(), "one confirming read after the failure")
	assert.Equal(t, "ada", f.stored(t, b)["user"])

	ft.Inject("UpdateItem", everyAttempt(dynamostoretest.FaultThrottle, dynamostoretest.FaultLostAnswer)...)
	_, err = b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["user"] = "eve"; return true })
	require.NoError(t, err)
	assert.Equal(t, "eve", f.stored(t, b)["user"])
}

// Every attempt failed before reaching DynamoDB: the confirming read proves nothing was
// written, so the error is definite and retryable, no cookie is set, and the table is as before.
func TestWriteNeverAppliedIsADefiniteError(t *testing.T) {
	t.Parallel()
	f, ft := newNetFixture(t)
	b := f.withSession(t)
	before := f.stored(t, b)
	ft.Inject("UpdateItem", everyAttempt(dynamostoretest.FaultReset, dynamostoretest.FaultReset, dynamostoretest.FaultServerError)...)
	_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["user"] = "eve"; return true })
	var opErr *dynamostore.OpError
	require.ErrorAs(t, err, &opErr)
	assert.Equal(t, "UpdateItem", opErr.Op)
	assert.False(t, opErr.OutcomeUnknown)
	assert.NotErrorIs(t, err, dynamostore.ErrOutcomeUnknown)
	assert.True(t, opErr.Retryable(), "a reset connection can pass: %v", err)
	assert.Empty(t, b.last.Cookies())
	assert.Equal(t, before, f.stored(t, b))

	ft.Inject("PutItem", everyAttempt(dynamostoretest.FaultReset)...)
	fresh := newBrowser()
	_, err = fresh.visit(t, f.store, func(s *sessions.Session) bool { s.Values["user"] = "bob"; return true })
	require.ErrorAs(t, err, &opErr)
	assert.Equal(t, "PutItem", opErr.Op)
	assert.False(t, opErr.OutcomeUnknown)
	assert.Empty(t, fresh.last.Cookies())
	assert.Len(t, f.items(), 1, "no item for the failed create")
}

// When the confirming read fails too, the error says the outcome is unknown, and the stored
// session is one of the two states, never anything else.
func TestUnconfirmableWriteSaysOutcomeUnknown(t *testing.T) {
	t.Parallel()
	f, ft := newNetFixture(t)
	b := f.withSession(t)
	ft.Inject("UpdateItem", everyAttempt(dynamostoretest.FaultReset, dynamostoretest.FaultLostAnswer)...)
	r := b.request(context.Background())
	s, err := f.store.Get(r, cookieName)
	require.NoError(t, err)
	ft.Inject("GetItem", everyAttempt(dynamostoretest.FaultReset)...)
	s.Values["user"] = "eve"
	err = f.store.Save(r, httptest.NewRecorder(), s)
	require.ErrorIs(t, err, dynamostore.ErrOutcomeUnknown)
	var opErr *dynamostore.OpError
	require.ErrorAs(t, err, &opErr)
	assert.True(t, opErr.OutcomeUnknown)
	assert.False(t, opErr.Retryable(), "reload before retrying an unknown outcome")
	assert.Contains(t, err.Error(), "may or may not have been applied")
	assert.Equal(t, "eve", f.stored(t, b)["user"], "here the write had landed")
}

// A definite refusal (access denied) is reported without a confirming read.
func TestDefiniteRefusalMakesNoConfirmingRead(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.withSession(t)
	gets := f.client.gets.Load()
	f.client.setFault(func(op string) error {
		if op == "UpdateItem" {
			return &types.ResourceNotFoundException{Message: ptr("Requested resource not found")}
		}
		return nil
	})
	_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["user"] = "eve"; return true })
	var opErr *dynamostore.OpError
	require.ErrorAs(t, err, &opErr)
	assert.False(t, opErr.Retryable())
	assert.False(t, errors.Is(err, dynamostore.ErrOutcomeUnknown))
	assert.Equal(t, gets+1, f.client.gets.Load(), "the load only, no confirming read")
}

// clashingClient plants another item under the very key of every PutItem just before
// forwarding it, as a writer of the table (or a broken random source) could.
type clashingClient struct {
	dynamostore.ItemAPI
	ddb     *dynamodb.Client
	table   string
	planted []map[string]types.AttributeValue
}

func (c *clashingClient) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	other := map[string]types.AttributeValue{
		"id":      in.Item["id"],
		"data":    &types.AttributeValueMemberB{Value: []byte("someone else's session")},
		"expires": &types.AttributeValueMemberN{Value: "9999999999"},
	}
	if _, err := c.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: &c.table, Item: other}); err != nil {
		return nil, err
	}
	c.planted = append(c.planted, other)
	return c.ItemAPI.PutItem(ctx, in, o...)
}

// The attribute_not_exists condition on a create is the only guard against a new session
// replacing an existing item. With an item planted under the new key, Save of a new session,
// Regenerate and Login return an error, write nothing, set no cookie and leave the other item as it
// was; Regenerate leaves the old session live. The SDK's retries (sdkAttempts, lost
// answers recognised as our own writes) do not change that: the item there is not ours.
func TestCreateNeverReplacesAnotherSession(t *testing.T) {
	t.Parallel()
	f, ft := newNetFixture(t)
	b := f.withSession(t)
	clash := &clashingClient{ItemAPI: f.client, ddb: f.ddb, table: f.table}
	clashing, err := dynamostore.New(clash, dynamostore.WithTableName(f.table), dynamostore.WithKeyPairs(hashKey1, blockKey1), dynamostore.WithClock(f.clock.Now))
	require.NoError(t, err)

	check := func(t *testing.T, err error, rec *httptest.ResponseRecorder) {
		t.Helper()
		var opErr *dynamostore.OpError
		require.ErrorAs(t, err, &opErr)
		assert.Equal(t, "PutItem", opErr.Op)
		assert.Contains(t, err.Error(), "another item already has the new session's key")
		var failed *types.ConditionalCheckFailedException
		assert.ErrorAs(t, err, &failed)
		assert.Empty(t, rec.Result().Cookies(), "no cookie")
		planted := clash.planted[len(clash.planted)-1]
		now, there := f.itemByKey(t, planted["id"].(*types.AttributeValueMemberS).Value)
		require.True(t, there)
		assert.Equal(t, planted, now, "the other item is untouched")
	}

	t.Run("Save of a new session", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		s, err := clashing.New(r, cookieName)
		require.NoError(t, err)
		s.Values["user"] = "eve"
		ft.Inject("PutItem", dynamostoretest.FaultLostAnswer) // the first attempt's answer is lost too
		rec := httptest.NewRecorder()
		check(t, clashing.Save(r, rec, s), rec)
	})
	t.Run("Regenerate", func(t *testing.T) {
		r := b.request(context.Background())
		s, err := clashing.Get(r, cookieName)
		require.NoError(t, err)
		oldID := s.ID
		rec := httptest.NewRecorder()
		check(t, clashing.Regenerate(r, rec, s), rec)
		assert.Equal(t, oldID, s.ID)
		assert.Equal(t, "ada", f.stored(t, b)["user"], "the old session is live and unchanged")
	})
	t.Run("Login", func(t *testing.T) {
		r := b.request(context.Background())
		s, err := clashing.Get(r, cookieName)
		require.NoError(t, err)
		oldID := s.ID
		rec := httptest.NewRecorder()
		check(t, clashing.Login(r, rec, s, "mallory"), rec)
		assert.Equal(t, oldID, s.ID)
		_, bound := clashing.AuthTime(s)
		assert.False(t, bound, "the session is not bound to the user")
		assert.Equal(t, "ada", f.stored(t, b)["user"], "the old session is live and unchanged")
		list, err := clashing.UserSessions(context.Background(), "mallory")
		require.NoError(t, err)
		assert.Empty(t, list, "nothing listed under the user")
	})
	assert.Len(t, f.items(), 1+len(clash.planted), "nothing but the session and the planted items")
}

// scriptedTransport runs a scripted step for the next requests of an operation.
type scriptedTransport struct {
	base   http.RoundTripper
	mu     sync.Mutex
	script map[string][]func(*http.Request) (*http.Response, error)
}

func (s *scriptedTransport) then(op string, steps ...func(*http.Request) (*http.Response, error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script[op] = append(s.script[op], steps...)
}

func (s *scriptedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
	s.mu.Lock()
	var step func(*http.Request) (*http.Response, error)
	if q := s.script[op]; len(q) > 0 {
		step, s.script[op] = q[0], q[1:]
	}
	s.mu.Unlock()
	if step == nil {
		return s.base.RoundTrip(r)
	}
	return step(r)
}

// applyThenLose forwards the request (DynamoDB applies it), runs meanwhile, then loses the answer.
func applyThenLose(base http.RoundTripper, meanwhile func()) func(*http.Request) (*http.Response, error) {
	return func(r *http.Request) (*http.Response, error) {
		resp, err := base.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if meanwhile != nil {
			meanwhile()
		}
		return nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	}
}

func answer(status int, code, msg string) func(*http.Request) (*http.Response, error) {
	return func(r *http.Request) (*http.Response, error) {
		body := fmt.Sprintf(`{"__type":"com.amazon.coral.service#%s","message":%q}`, code, msg)
		h := http.Header{}
		h.Set("Content-Type", "application/x-amz-json-1.0")
		return &http.Response{StatusCode: status, Status: fmt.Sprint(status), Header: h, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: r}, nil
	}
}

func newScriptedFixture(t *testing.T, opts ...dynamostore.Option) (*fixture, *scriptedTransport) {
	t.Helper()
	st := &scriptedTransport{base: http.DefaultTransport, script: map[string][]func(*http.Request) (*http.Response, error){}}
	clean := dynamostoretest.Client(t)
	faulty := dynamostoretest.Client(t, func(o *dynamodb.Options) { o.HTTPClient = &http.Client{Transport: st} })
	f := &fixture{t: t, ddb: clean, client: &recordingClient{inner: faulty}, table: dynamostoretest.NewTable(t, clean), clock: newClock()}
	f.store = f.newStore(opts...)
	return f, st
}

// The first attempt of a locked UpdateItem is applied and its answer lost; before the SDK's
// retry, another request (a second tab) loads the session, which now holds our increment, and
// writes its own. The retry fails version = :pv against that item and Save returns
// ErrConflict, "not applied, reload and apply again": doing so applies our increment twice.
func TestConflictOnTopOfOwnAppliedWriteIsOutcomeUnknown(t *testing.T) {
	t.Parallel()
	f, st := newScriptedFixture(t, dynamostore.WithOptimisticLocking(true))
	other := f.otherServer(t, dynamostore.WithOptimisticLocking(true))
	increment := func(s *sessions.Session) bool {
		n, _ := s.Values["n"].(int)
		s.Values["n"] = n + 1
		return true
	}
	b := newBrowser()
	_, err := b.visit(t, f.store, increment) // n = 1
	require.NoError(t, err)
	var otherErr error
	st.then("UpdateItem", applyThenLose(st.base, func() {
		r := b.request(context.Background())
		s, err := other.Get(r, cookieName)
		if err == nil {
			increment(s) // sees n = 2: our write is there
			err = other.Save(r, httptest.NewRecorder(), s)
		}
		otherErr = err
	}))
	_, err = b.visit(t, f.store, increment)
	require.NoError(t, otherErr)
	assert.Equal(t, 3, f.stored(t, b)["n"], "both increments are stored")
	assert.NotErrorIs(t, err, dynamostore.ErrConflict, "our write was applied; the doc says ErrConflict means it was not")
	assert.ErrorIs(t, err, dynamostore.ErrOutcomeUnknown, "another write sits on top of ours: the store cannot tell")
	if errors.Is(err, dynamostore.ErrConflict) { // follow ErrConflict's advice
		_, err = b.visit(t, f.store, increment)
		require.NoError(t, err)
		assert.Equal(t, 3, f.stored(t, b)["n"], "two increments intended")
	}
}

// Without optimistic locking, as above: the first attempt of an UpdateItem is applied and its
// answer lost; another request loads the session, which holds our write, and writes its own;
// then the SDK's retry, conditioned only on the session being live, applied our write again
// on top of it. Both Saves returned nil and the other request's write was lost (the checker
// found it in seeds 35 and 37 of make soak).
func TestRetriedSaveWithoutLockingDoesNotOverwriteALaterWrite(t *testing.T) {
	t.Parallel()
	f, st := newScriptedFixture(t)
	other := f.otherServer(t)
	b := f.withSession(t)
	var otherErr error
	st.then("UpdateItem", applyThenLose(st.base, func() {
		r := b.request(context.Background())
		s, err := other.Get(r, cookieName)
		if err == nil {
			if s.Values["cart"] != "book" {
				err = errors.New("the other request does not see our write")
			}
			s.Values["cart"] = "book, pen"
			err = errors.Join(err, other.Save(r, httptest.NewRecorder(), s))
		}
		otherErr = err
	}))
	_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["cart"] = "book"; return true })
	require.NoError(t, otherErr)
	assert.Equal(t, "book, pen", f.stored(t, b)["cart"], "the later write survives the retry of the earlier one")
	assert.ErrorIs(t, err, dynamostore.ErrOutcomeUnknown, "another write sits on top of ours, which may have come before it")
}

// Without optimistic locking the last writer wins: a Save whose copy another request wrote
// over since the load still lands, in one more round, on top of that write.
func TestSaveWithoutLockingWinsOverAWriteSinceTheLoad(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.withSession(t)
	slowReq, slow := b.copy(t, f.store)
	_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["theme"] = "dark"; return true })
	require.NoError(t, err)
	updates := f.client.updates.Load()
	slow.Values["user"] = "eve"
	require.NoError(t, f.store.Save(slowReq, httptest.NewRecorder(), slow))
	assert.Equal(t, int64(2), f.client.updates.Load()-updates, "one round lost to the other write, one landed")
	assert.Equal(t, "eve", f.stored(t, b)["user"])
	assert.Nil(t, f.stored(t, b)["theme"], "the last writer wins, with the values it saved")
}

// A touch (same values, only the expiry moves) of a copy that another request wrote over
// since the load must not put the old values back: that write has refreshed the session.
// Before the writes were conditioned on what they replace, a read-only request that
// happened to touch undid a login or a cart change made beside it.
func TestTouchDoesNotUndoAWriteSinceTheLoad(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.withSession(t)
	slowReq, slow := b.copy(t, f.store)
	f.clock.Advance(2 * time.Hour) // past the touch interval
	_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["cart"] = "book"; return true })
	require.NoError(t, err)
	updates := f.client.updates.Load()
	require.NoError(t, f.store.Save(slowReq, httptest.NewRecorder(), slow))
	assert.Equal(t, int64(1), f.client.updates.Load()-updates, "the touch was sent, and lost to the other write")
	assert.Equal(t, "book", f.stored(t, b)["cart"], "the touch left the other write be")
}

// The second round of an unlocked Save, over the write it found, is blind but for the session
// being live: it is a single attempt, since an SDK retry of it, after an applied attempt
// whose answer was lost, could land on a later request's write.
func TestSaveWithoutLockingSendsItsSecondRoundOnce(t *testing.T) {
	t.Parallel()
	f, st := newScriptedFixture(t)
	other := f.otherServer(t)
	b := f.withSession(t)
	otherWrites := func(user string) error {
		req := b.request(context.Background())
		s, err := other.Get(req, cookieName)
		if err != nil {
			return err
		}
		s.Values["user"] = user
		return other.Save(req, httptest.NewRecorder(), s)
	}
	var otherErr error
	st.then("UpdateItem",
		func(r *http.Request) (*http.Response, error) { // round 1 loses to another write
			if err := otherWrites("bob"); err != nil {
				return nil, err
			}
			return st.base.RoundTrip(r)
		},
		applyThenLose(st.base, func() { otherErr = otherWrites("cy") }), // round 2 lands, its answer is lost
		answer(http.StatusInternalServerError, "InternalServerError", "an SDK retry of round 2 would be sent"))
	_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["user"] = "eve"; return true })
	require.NoError(t, otherErr)
	assert.Equal(t, "cy", f.stored(t, b)["user"], "the write after round 2 survives")
	assert.ErrorIs(t, err, dynamostore.ErrOutcomeUnknown, "round 2 was applied before that write, or not at all")
}

// The first attempt is applied and its answer lost; the retry gets a non-retryable answer
// (here the credentials expired in between). It comes from the last attempt, not the only
// one, so it proves nothing: the store counts the attempts and reads the item back.
func TestNonRetryableAnswerAfterAnAppliedAttemptIsConfirmed(t *testing.T) {
	t.Parallel()
	f, st := newScriptedFixture(t)
	b := f.withSession(t)
	st.then("UpdateItem", applyThenLose(st.base, nil),
		answer(http.StatusBadRequest, "ExpiredTokenException", "The security token included in the request is expired"))
	_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["user"] = "eve"; return true })
	stored := f.stored(t, b)["user"]
	require.NoError(t, err, "the first attempt was applied: the confirming read finds it")
	assert.Equal(t, "eve", stored)
}

// Regenerate: the new item is written, the claim of the old one (an UpdateItem) is applied but
// its answer is lost, and the retries and the confirming read fail. The old session may have
// ended, or not; keeping the new one could bring back a session that a concurrent logout
// ended, so Regenerate rolls back: ErrOutcomeUnknown, no cookie, no second live item. At
// worst the user logs in again.
func TestRegenerateWithAnUnknownClaimKeepsNoSecondSession(t *testing.T) {
	t.Parallel()
	f, st := newScriptedFixture(t)
	b := f.withSession(t)
	reset := func(r *http.Request) (*http.Response, error) {
		return nil, &net.OpError{Op: "write", Net: "tcp", Err: syscall.ECONNRESET}
	}
	r := b.request(context.Background())
	s, err := f.store.Get(r, cookieName)
	require.NoError(t, err)
	oldID := s.ID
	st.then("UpdateItem", everyAttempt(reset, applyThenLose(st.base, nil))...)
	st.then("GetItem", everyAttempt(reset)...)
	rec := httptest.NewRecorder()
	err = f.store.Regenerate(r, rec, s)
	require.ErrorIs(t, err, dynamostore.ErrOutcomeUnknown)
	assert.Empty(t, rec.Result().Cookies(), "no cookie")
	assert.Equal(t, oldID, s.ID)
	assert.Empty(t, f.liveItems(), "the claim applied, and the new item was rolled back")
}

// corruptAnswer forwards the request (DynamoDB applies it) and answers with its body altered
// but the X-Amz-Crc32 of the original: what a corrupting network hop would deliver.
func corruptAnswer(base http.RoundTripper) func(*http.Request) (*http.Response, error) {
	return func(r *http.Request) (*http.Response, error) {
		resp, err := base.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return nil, err
		}
		resp.Header.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
		altered := append(bytes.Clone(body), ' ') // still JSON, another checksum
		resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(altered)), int64(len(altered))
		resp.Header.Del("Content-Length")
		return resp, nil
	}
}

// Since dynamodb v1.74.1 the SDK checks each answer's CRC32 and retries one that fails it. An
// applied write whose answer arrives corrupted is such a retry: it must be recognised as the
// store's own write, not reported as a failure or a conflict.
func TestCorruptedAnswerOfAnAppliedWriteIsRecognised(t *testing.T) {
	t.Parallel()
	for _, locking := range []bool{false, true} {
		f, st := newScriptedFixture(t, dynamostore.WithOptimisticLocking(locking))
		sent := &countingTransport{base: st.base, n: map[string]int{}}
		st.base = sent
		st.then("PutItem", corruptAnswer(st.base))
		b := newBrowser()
		_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["user"] = "ada"; return true })
		require.NoError(t, err, "locking %v: the create", locking)
		puts := f.client.puts.Load()
		st.then("UpdateItem", corruptAnswer(st.base))
		_, err = b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["user"] = "eve"; return true })
		require.NoError(t, err, "locking %v: the update", locking)
		assert.Equal(t, "eve", f.stored(t, b)["user"])
		assert.EqualValues(t, 1, puts, "one PutItem call (the SDK retried inside it)")
		assert.EqualValues(t, 2, sent.count("PutItem"), "the corrupted answer was retried")
		assert.EqualValues(t, 2, sent.count("UpdateItem"), "the corrupted answer was retried")
		assert.Zero(t, f.client.gets.Load()-2, "no confirming read: the retry's failed condition showed the write")
	}
}
