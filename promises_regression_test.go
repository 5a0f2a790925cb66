package dynamostore_test

import (
	"context"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/gorilla/sessions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
)

// Regression tests for the promises of users' sessions, Regenerate and the KV view that
// interleavings once broke (issue 19). Each is named after what broke, and each failed on the
// code before its fix.

// hookClient passes every call to its inner client, except that an update or a delete can be
// wrapped: the hook gets the input and the real call, and decides what the store sees.
type hookClient struct {
	dynamostore.ItemAPI
	mu       sync.Mutex
	onUpdate func(in *dynamodb.UpdateItemInput, call func() (*dynamodb.UpdateItemOutput, error)) (*dynamodb.UpdateItemOutput, error)
	onDelete func(in *dynamodb.DeleteItemInput, call func() (*dynamodb.DeleteItemOutput, error)) (*dynamodb.DeleteItemOutput, error)
}

func (c *hookClient) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.mu.Lock()
	hook := c.onUpdate
	c.mu.Unlock()
	call := func() (*dynamodb.UpdateItemOutput, error) { return c.ItemAPI.UpdateItem(ctx, in, o...) }
	if hook == nil {
		return call()
	}
	return hook(in, call)
}

func (c *hookClient) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	c.mu.Lock()
	hook := c.onDelete
	c.mu.Unlock()
	call := func() (*dynamodb.DeleteItemOutput, error) { return c.ItemAPI.DeleteItem(ctx, in, o...) }
	if hook == nil {
		return call()
	}
	return hook(in, call)
}

func (c *hookClient) hookUpdate(h func(in *dynamodb.UpdateItemInput, call func() (*dynamodb.UpdateItemOutput, error)) (*dynamodb.UpdateItemOutput, error)) {
	c.mu.Lock()
	c.onUpdate = h
	c.mu.Unlock()
}

func (c *hookClient) hookDelete(h func(in *dynamodb.DeleteItemInput, call func() (*dynamodb.DeleteItemOutput, error)) (*dynamodb.DeleteItemOutput, error)) {
	c.mu.Lock()
	c.onDelete = h
	c.mu.Unlock()
}

// failUpdates makes the UpdateItem calls whose update expression starts with prefix fail
// with a 500 (nothing applied).
func (c *hookClient) failUpdates(prefix, why string) {
	c.hookUpdate(func(in *dynamodb.UpdateItemInput, call func() (*dynamodb.UpdateItemOutput, error)) (*dynamodb.UpdateItemOutput, error) {
		if strings.HasPrefix(*in.UpdateExpression, prefix) {
			return nil, &types.InternalServerError{Message: ptr(why)}
		}
		return call()
	})
}

// hookedStore returns a store on the fixture's table whose calls go through a hookClient, with
// its own clock.
func (f *fixture) hookedStore(t *testing.T, now func() time.Time, opts ...dynamostore.Option) (*dynamostore.Store, *hookClient) {
	t.Helper()
	hc := &hookClient{ItemAPI: f.client}
	base := []dynamostore.Option{
		dynamostore.WithTableName(f.table),
		dynamostore.WithKeyPairs(hashKey1, blockKey1),
		dynamostore.WithClock(now),
	}
	s, err := dynamostore.New(hc, append(base, opts...)...)
	require.NoError(t, err)
	return s, hc
}

// userItem returns the table's only user item.
func (f *fixture) userItem(t *testing.T) map[string]types.AttributeValue {
	t.Helper()
	for _, item := range f.items() {
		if _, ok := item["sessions"]; ok {
			return item
		}
	}
	t.Fatal("no user item")
	return nil
}

func expiresOf(t *testing.T, item map[string]types.AttributeValue) int64 {
	t.Helper()
	n, ok := item["expires"].(*types.AttributeValueMemberN)
	require.True(t, ok, "expires attribute")
	v, err := strconv.ParseInt(n.Value, 10, 64)
	require.NoError(t, err)
	return v
}

// listedHandles returns the handles of the user item's entries.
func listedHandles(t *testing.T, item map[string]types.AttributeValue) []string {
	t.Helper()
	var out []string
	for h := range item["sessions"].(*types.AttributeValueMemberM).Value {
		out = append(out, h)
	}
	return out
}

// shifted is a clock that runs with c, off by d: a server whose clock differs.
func shifted(c *clock, d time.Duration) func() time.Time {
	return func() time.Time { return c.Now().Add(d) }
}

// Defect 1: a re-authentication moved the session's absolute deadline, but not the user
// item's expiry, so TTL removed the user item while the session still loaded, unlisted and
// out of reach of RevokeUserSessions.
func TestReauthenticationMovesTheUserItemExpiryToo(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dynamostore.WithAbsoluteTimeout(48*time.Hour))
	b := newBrowser()
	b.login(t, f.store, "ada")
	first := expiresOf(t, f.userItem(t))
	for range 5 { // days of use, each request within the idle lifetime
		f.clock.Advance(6 * time.Hour)
		_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["n"] = f.clock.Now().Unix(); return true })
		require.NoError(t, err)
	}
	h := b.login(t, f.store, "ada") // a re-authentication: a new deadline
	infos, err := f.store.UserSessions(context.Background(), "ada")
	require.NoError(t, err)
	require.Len(t, infos, 1)
	require.Equal(t, h, infos[0].Handle, "the same session, re-authenticated")
	deadline := infos[0].AuthTime.Add(48 * time.Hour).Unix()
	assert.Greater(t, expiresOf(t, f.userItem(t)), first, "the user item's expiry moved")
	assert.GreaterOrEqual(t, expiresOf(t, f.userItem(t)), deadline,
		"the user item outlives the session's new deadline")
}

// Defect 1, the other ways: a server whose clock is behind logged in another session and
// lowered the user item's expiry (an unconditional SET); a raised WithAbsoluteTimeout let a
// session live past the expiry its Login gave the user item.
func TestUserItemExpiryNeverMovesEarlier(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dynamostore.WithAbsoluteTimeout(time.Hour))
	b := newBrowser()
	b.login(t, f.store, "ada")
	before := expiresOf(t, f.userItem(t))

	behind, _ := f.hookedStore(t, shifted(f.clock, -30*time.Second), dynamostore.WithAbsoluteTimeout(time.Hour))
	newBrowser().login(t, behind, "ada")
	assert.GreaterOrEqual(t, expiresOf(t, f.userItem(t)), before, "a clock behind does not lower the expiry")

	// A server with a longer absolute timeout keeps the session no longer than the user item.
	longer, _ := f.hookedStore(t, f.clock.Now, dynamostore.WithAbsoluteTimeout(10*time.Hour))
	userExpires := expiresOf(t, f.userItem(t))
	for f.clock.Now().Add(10*time.Minute).Unix() < userExpires {
		f.clock.Advance(10 * time.Minute)
		_, err := b.visit(t, longer, func(s *sessions.Session) bool { s.Values["n"] = f.clock.Now().Unix(); return true })
		require.NoError(t, err)
	}
	f.clock.Advance(time.Duration(userExpires-f.clock.Now().Unix()) * time.Second)
	s, err := b.load(t, longer)
	require.NoError(t, err)
	assert.True(t, s.IsNew, "the session ended when its user item can end: %d", userExpires)
}

// Defect 2: a handle listing two item keys, and the DeleteItem of the first settled as
// "already gone" (its answer an error, the confirming read finding nothing): revoke returned
// at once, RevokeSession returned nil, and the session kept working under the other key.
func TestRevokeSessionEndsEveryListedKey(t *testing.T) {
	t.Parallel()
	for round := 0; ; round++ {
		require.Less(t, round, 40, "never got the old key sorted first")
		f := newFixture(t)
		s, hc := f.hookedStore(t, f.clock.Now)
		b := newBrowser()
		h := b.login(t, s, "ada")
		oldID := b.current(t, s).ID
		// A Regenerate whose tidying of the old key fails: the entry lists both keys.
		hc.failUpdates("REMOVE #s.#h.#k", "tidying fails")
		r := b.request(context.Background())
		sess, err := s.Get(r, cookieName)
		require.NoError(t, err)
		rec := httptest.NewRecorder()
		require.NoError(t, s.Regenerate(r, rec, sess))
		b.receive(rec)
		hc.hookUpdate(nil)
		if f.keyOf(oldID) > f.keyOf(sess.ID) {
			continue // the live key would be deleted first: the defect needs it second
		}
		// The first DeleteItem is applied, but its answer is an error.
		var once sync.Once
		hc.hookDelete(func(in *dynamodb.DeleteItemInput, call func() (*dynamodb.DeleteItemOutput, error)) (*dynamodb.DeleteItemOutput, error) {
			failed := false
			out, err := call()
			once.Do(func() { failed = true })
			if failed && err == nil {
				return nil, &types.InternalServerError{Message: ptr("applied, then lost")}
			}
			return out, err
		})
		err = s.RevokeSession(context.Background(), "ada", h)
		hc.hookDelete(nil)
		if err != nil {
			require.NoError(t, s.RevokeSession(context.Background(), "ada", h), "calling it again finishes")
		}
		now, err := b.load(t, s)
		require.NoError(t, err)
		assert.True(t, now.IsNew)
		return
	}
}

// Defect 3: with a cap of 2, sessions a and b, a active, b ended by idle timeout: a third
// Login counted b (whose entry was still listed) and ended a, the oldest, although only two
// sessions were live.
func TestCapDoesNotEndALiveSessionForAnExpiredOne(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dynamostore.WithMaxSessionsPerUser(2), dynamostore.WithCookieMaxAge(0), dynamostore.WithLifetime(time.Hour))
	a, b, c := newBrowser(), newBrowser(), newBrowser()
	a.login(t, f.store, "ada")
	f.clock.Advance(time.Minute)
	b.login(t, f.store, "ada")
	for range 5 { // a stays active; b is left alone until it times out
		f.clock.Advance(20 * time.Minute)
		_, err := a.visit(t, f.store, func(s *sessions.Session) bool { s.Values["n"] = f.clock.Now().Unix(); return true })
		require.NoError(t, err)
	}
	require.True(t, b.current(t, f.store).IsNew, "b has timed out")
	c.login(t, f.store, "ada")
	assert.False(t, a.current(t, f.store).IsNew, "a is live: two live sessions are within the cap")
	assert.False(t, c.current(t, f.store).IsNew)
	infos, err := f.store.UserSessions(context.Background(), "ada")
	require.NoError(t, err)
	assert.Len(t, infos, 2)
}

// Defect 4: a slow request loaded the session; another logged out; the slow request's
// Regenerate returned nil and its new cookie loaded the logged-out values.
func TestRegenerateAfterLogoutDoesNotBringTheSessionBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, bound := range []bool{false, true} {
		b := newBrowser()
		if bound {
			b.login(t, f.store, "ada")
		} else {
			b = f.withSession(t)
		}
		slowReq := b.request(context.Background())
		slow, err := f.store.New(slowReq, cookieName)
		require.NoError(t, err)
		logout, err := f.store.New(b.request(context.Background()), cookieName)
		require.NoError(t, err)
		require.NoError(t, f.store.Delete(b.request(context.Background()), httptest.NewRecorder(), logout))

		rec := httptest.NewRecorder()
		err = f.store.Regenerate(slowReq, rec, slow)
		require.ErrorIs(t, err, dynamostore.ErrSessionGone, "bound=%v", bound)
		assert.Empty(t, rec.Result().Cookies(), "no cookie for a session that is gone")
		b.receive(rec)
		assert.True(t, b.current(t, f.store).IsNew)
		assert.Empty(t, f.liveItems(), "nothing of the logged-out session is live (bound=%v)", bound)
	}
}

// Defect 4, bound: the logout is between its two steps (the item deleted, the key not yet
// unlisted) when the slow request regenerates.
func TestRegenerateDuringAHalfDoneLogoutDoesNotBringTheSessionBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s, hc := f.hookedStore(t, f.clock.Now)
	b := newBrowser()
	b.login(t, s, "ada")
	slowReq := b.request(context.Background())
	slow, err := s.New(slowReq, cookieName)
	require.NoError(t, err)
	hc.failUpdates("REMOVE #s.#h.#k", "the logout's second step has not happened yet")
	logout, err := s.New(b.request(context.Background()), cookieName)
	require.NoError(t, err)
	require.NoError(t, s.Delete(b.request(context.Background()), httptest.NewRecorder(), logout))
	hc.hookUpdate(nil)
	err = s.Regenerate(slowReq, httptest.NewRecorder(), slow)
	require.ErrorIs(t, err, dynamostore.ErrSessionGone)
	assert.Empty(t, f.liveItems())
	infos, err := s.UserSessions(context.Background(), "ada")
	require.NoError(t, err)
	assert.Empty(t, infos)
}

// Defect 4: two requests holding one session both regenerate it: at most one wins, and one
// live session remains.
func TestConcurrentRegeneratesLeaveOneSession(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, bound := range []bool{false, true} {
		b := newBrowser()
		if bound {
			b.login(t, f.store, "ada")
		} else {
			b = f.withSession(t)
		}
		r1, r2 := b.request(context.Background()), b.request(context.Background())
		s1, err := f.store.New(r1, cookieName)
		require.NoError(t, err)
		s2, err := f.store.New(r2, cookieName)
		require.NoError(t, err)
		var wg sync.WaitGroup
		var err1, err2 error
		wg.Add(2)
		go func() { defer wg.Done(); err1 = f.store.Regenerate(r1, httptest.NewRecorder(), s1) }()
		go func() { defer wg.Done(); err2 = f.store.Regenerate(r2, httptest.NewRecorder(), s2) }()
		wg.Wait()
		wins := 0
		for _, err := range []error{err1, err2} {
			if err == nil {
				wins++
			} else {
				require.ErrorIs(t, err, dynamostore.ErrSessionGone)
			}
		}
		assert.LessOrEqual(t, wins, 1, "bound=%v: at most one move wins", bound)
		assert.Len(t, f.liveItems(), wins, "bound=%v: one live item per winner", bound)
		if bound {
			infos, err := f.store.UserSessions(context.Background(), "ada")
			require.NoError(t, err)
			assert.Len(t, infos, wins)
			_, err = f.store.RevokeUserSessions(context.Background(), "ada")
			require.NoError(t, err)
		}
		for _, it := range f.liveItems() {
			_, err := f.ddb.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{TableName: &f.table, Key: map[string]types.AttributeValue{"id": it["id"]}})
			require.NoError(t, err)
		}
	}
}

// Defect 5: the cap's tidying removed "dead" entries with an unconditional REMOVE, judged on
// a listing that could be stale: an entry re-authenticated meanwhile (on a server whose clock
// is behind) was removed, leaving a live session unlisted and out of reach of revocation.
func TestTidyingKeepsAnEntryReauthenticatedMeanwhile(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dynamostore.WithAbsoluteTimeout(time.Hour))
	y := newBrowser()
	y.login(t, f.store, "ada")
	f.clock.Advance(time.Hour - 10*time.Second)
	// X's server is three minutes ahead: Y's entry looks past its absolute timeout there.
	xs, xc := f.hookedStore(t, shifted(f.clock, 3*time.Minute), dynamostore.WithAbsoluteTimeout(time.Hour))
	var once sync.Once
	xc.hookUpdate(func(in *dynamodb.UpdateItemInput, call func() (*dynamodb.UpdateItemOutput, error)) (*dynamodb.UpdateItemOutput, error) {
		out, err := call()
		if strings.HasPrefix(*in.UpdateExpression, "SET #s.#h = :v") {
			// X's listing is in hand; Y re-authenticates before X tidies.
			once.Do(func() { y.login(t, f.store, "ada") })
		}
		return out, err
	})
	newBrowser().login(t, xs, "ada")
	require.False(t, y.current(t, f.store).IsNew, "Y is live")
	infos, err := f.store.UserSessions(context.Background(), "ada")
	require.NoError(t, err)
	assert.Len(t, infos, 2, "Y is still listed")
	n, err := f.store.RevokeUserSessions(context.Background(), "ada")
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.True(t, y.current(t, f.store).IsNew, "and revocable")
}

// Defect 6: "switch account": Delete then Login on the same session returned nil, but the
// Set-Cookie carried Delete's Max-Age=0, so the browser dropped the new session's cookie.
func TestLoginAfterDeleteInTheSameRequestKeepsTheCookie(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, op := range []string{"Login", "Regenerate"} {
		b := newBrowser()
		b.login(t, f.store, "ada")
		r := b.request(context.Background())
		s, err := f.store.Get(r, cookieName)
		require.NoError(t, err)
		rec := httptest.NewRecorder()
		require.NoError(t, f.store.Delete(r, rec, s))
		s.Values["user"] = "bob"
		if op == "Login" {
			require.NoError(t, f.store.Login(r, rec, s, "bob"))
		} else {
			require.NoError(t, f.store.Regenerate(r, rec, s))
		}
		b.receive(rec)
		require.Contains(t, b.cookies, jarName, "%s after Delete: the browser keeps a cookie", op)
		now := b.current(t, f.store)
		assert.False(t, now.IsNew, "%s after Delete: the cookie loads the new session", op)
		assert.Equal(t, "bob", now.Values["user"])
	}
	infos, err := f.store.UserSessions(context.Background(), "bob")
	require.NoError(t, err)
	assert.Len(t, infos, 1)
}

// Defect 7: two stores on one table during a rolling key rotation (old keys [K1], new keys
// [K2, K1]): a key deleted on one side was stored again by a slow Set on the other, and found.
func TestDeletedKVKeyStaysDeletedWhileKeysRotate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	oldKV := f.store.KV("kv")
	newKV := f.newStore(dynamostore.WithKeyPairs(hashKey2, nil, hashKey1, blockKey1)).KV("kv")
	exp := time.Now().Add(time.Hour)
	for _, tc := range []struct {
		name            string
		deleter, setter *dynamostore.KV
		readers         []*dynamostore.KV
		key             string
	}{
		{"the new side deletes, the old side sets", newKV, oldKV, []*dynamostore.KV{oldKV, newKV}, "a"},
		{"the old side deletes, the new side sets", oldKV, newKV, []*dynamostore.KV{oldKV, newKV}, "b"},
	} {
		require.NoError(t, tc.setter.Set(ctx, tc.key, []byte("v1"), exp), tc.name)
		require.NoError(t, tc.deleter.Delete(ctx, tc.key), tc.name)
		err := tc.setter.Set(ctx, tc.key, []byte("v2"), exp) // the slow Set
		require.ErrorIs(t, err, dynamostore.ErrSessionGone, tc.name)
		for i, kv := range tc.readers {
			_, found, err := kv.Get(ctx, tc.key)
			require.NoError(t, err)
			assert.False(t, found, "%s: reader %d finds the deleted key", tc.name, i)
		}
	}
}

// Defect 9: a revoked entry whose final removal failed stayed in the user item for good,
// although users.go and docs/design.md said the next Login tidies it.
func TestRevokedEntryWhoseRemovalFailedIsTidiedByTheNextLogin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s, hc := f.hookedStore(t, f.clock.Now)
	h := newBrowser().login(t, s, "ada")
	hc.failUpdates("REMOVE #s.#h", "the entry's removal fails")
	require.NoError(t, s.RevokeSession(context.Background(), "ada", h), "the session's items are gone")
	hc.hookUpdate(nil)
	require.Contains(t, listedHandles(t, f.userItem(t)), h, "the flagged entry stayed")
	h2 := newBrowser().login(t, s, "ada")
	assert.Equal(t, []string{h2}, listedHandles(t, f.userItem(t)), "the next Login tidied it")
}

// From the review of the fixes above: with optimistic locking, Regenerate (and a
// re-authentication) of a stale copy overwrote the newer write that Save would have refused:
// the claim did not check the version.
func TestRegenerateOfAStaleCopyWithOptimisticLockingConflicts(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dynamostore.WithOptimisticLocking(true))
	for _, op := range []string{"Regenerate", "Login"} {
		b := newBrowser()
		if op == "Login" {
			b.login(t, f.store, "ada")
		} else {
			b = f.withSession(t)
		}
		slowReq := b.request(context.Background())
		slow, err := f.store.New(slowReq, cookieName)
		require.NoError(t, err)
		_, err = b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["role"] = "demoted"; return true })
		require.NoError(t, err)

		rec := httptest.NewRecorder()
		if op == "Login" {
			err = f.store.Login(slowReq, rec, slow, "ada") // a re-authentication of the stale copy
		} else {
			err = f.store.Regenerate(slowReq, rec, slow)
		}
		b.receive(rec)
		assert.ErrorIs(t, err, dynamostore.ErrConflict, "%s of a stale copy", op)
		assert.Equal(t, "demoted", b.current(t, f.store).Values["role"], "%s of a stale copy lost the newer write", op)
	}
}

// From the review: during a rolling key rotation (old servers [K1], new servers [K2, K1]), a
// session saved on a new server (its item sealed under K2) looked dead to an old server's
// cap, which cannot open the item, and its entry was removed: live, unlisted, unrevocable.
func TestCapTidyingKeepsASessionResealedUnderANewerKeyPair(t *testing.T) {
	t.Parallel()
	opts := []dynamostore.Option{dynamostore.WithMaxSessionsPerUser(2), dynamostore.WithCookieMaxAge(0), dynamostore.WithLifetime(time.Hour)}
	f := newFixture(t, opts...)
	oldSrv := f.store
	newSrv := f.newStore(append(opts, dynamostore.WithKeyPairs(hashKey2, nil, hashKey1, blockKey1))...)
	a, b, c := newBrowser(), newBrowser(), newBrowser()
	b.login(t, oldSrv, "ada")
	f.clock.Advance(time.Minute)
	a.login(t, oldSrv, "ada")
	for range 6 { // a stays active on a new server (its item resealed under K2); b times out
		f.clock.Advance(20 * time.Minute)
		_, err := a.visit(t, newSrv, func(s *sessions.Session) bool { s.Values["n"] = f.clock.Now().Unix(); return true })
		require.NoError(t, err)
	}
	c.login(t, oldSrv, "ada") // three entries over a cap of 2: the old server reads each item
	require.False(t, a.current(t, newSrv).IsNew, "a is live: two live sessions are within the cap")
	infos, err := newSrv.UserSessions(context.Background(), "ada")
	require.NoError(t, err)
	assert.Len(t, infos, 2, "a and c are listed")
	_, err = newSrv.RevokeUserSessions(context.Background(), "ada")
	require.NoError(t, err)
	assert.True(t, a.current(t, newSrv).IsNew, "a was still listed, so revocable")
}

// From the review: during a rolling raise of WithAbsoluteTimeout, a server with the shorter
// timeout judged another server's session past its deadline from its own option and removed
// its entry, leaving it live and unrevocable.
func TestTidyingKeepsASessionOfAServerWithALongerAbsoluteTimeout(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dynamostore.WithAbsoluteTimeout(10*time.Hour))
	longSrv := f.store
	shortSrv := f.newStore(dynamostore.WithAbsoluteTimeout(time.Hour))
	a := newBrowser()
	a.login(t, longSrv, "ada")
	for range 4 {
		f.clock.Advance(30 * time.Minute)
		_, err := a.visit(t, longSrv, func(s *sessions.Session) bool { s.Values["n"] = f.clock.Now().Unix(); return true })
		require.NoError(t, err)
	}
	newBrowser().login(t, shortSrv, "ada")
	require.False(t, a.current(t, longSrv).IsNew, "a is live on the server that logged it in")
	_, err := longSrv.RevokeUserSessions(context.Background(), "ada")
	require.NoError(t, err)
	assert.True(t, a.current(t, longSrv).IsNew, "a was still listed, so revocable")
}

// From the review: Login of a stored session that is not a re-authentication (an anonymous
// one, or another user's) deleted the old item unconditionally: racing a Regenerate of the
// same session both moves won, and after a logout it brought the logged-out values back.
func TestLoginOfAnotherUsersSessionIsAMoveToo(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	t.Run("racing Regenerate", func(t *testing.T) {
		b := newBrowser()
		b.login(t, f.store, "ada")
		r1, r2 := b.request(context.Background()), b.request(context.Background())
		s1, err := f.store.New(r1, cookieName)
		require.NoError(t, err)
		s2, err := f.store.New(r2, cookieName)
		require.NoError(t, err)
		err1 := f.store.Regenerate(r1, httptest.NewRecorder(), s1)
		err2 := f.store.Login(r2, httptest.NewRecorder(), s2, "bob")
		require.NoError(t, err1)
		require.ErrorIs(t, err2, dynamostore.ErrSessionGone, "the session has moved: at most one move wins")
		assert.Len(t, f.liveItems(), 1, "one live item")
		infos, err := f.store.UserSessions(context.Background(), "bob")
		require.NoError(t, err)
		assert.Empty(t, infos, "nothing listed for the refused Login")
	})
	t.Run("after logout", func(t *testing.T) {
		b := newBrowser()
		b.login(t, f.store, "cy")
		_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["secret"] = "cy's"; return true })
		require.NoError(t, err)
		slowReq := b.request(context.Background())
		slow, err := f.store.New(slowReq, cookieName)
		require.NoError(t, err)
		logout, err := f.store.New(b.request(context.Background()), cookieName)
		require.NoError(t, err)
		require.NoError(t, f.store.Delete(b.request(context.Background()), httptest.NewRecorder(), logout))
		rec := httptest.NewRecorder()
		err = f.store.Login(slowReq, rec, slow, "dan")
		require.ErrorIs(t, err, dynamostore.ErrSessionGone)
		b.receive(rec)
		assert.True(t, b.current(t, f.store).IsNew, "the logged-out session's values do not come back")
	})
}

// From the review: during a rotation, a value written under a key pair the deleting server
// does not have was only hidden by the marker, and came back when the marker expired. The
// next Get on a server with both key pairs now marks it as well.
func TestDeletedKVKeyDoesNotComeBackWhenItsMarkerExpires(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dynamostore.WithLifetime(time.Hour))
	ctx := context.Background()
	oldKV := f.store.KV("scs")
	newKV := f.newStore(dynamostore.WithLifetime(time.Hour), dynamostore.WithKeyPairs(hashKey2, nil, hashKey1, blockKey1)).KV("scs")
	require.NoError(t, newKV.Set(ctx, "tok", []byte("session"), f.clock.Now().Add(48*time.Hour)))
	require.NoError(t, oldKV.Delete(ctx, "tok"))
	_, found, err := newKV.Get(ctx, "tok")
	require.NoError(t, err)
	require.False(t, found)

	f.clock.Advance(2 * time.Hour) // past the markers' expiry: TTL removes them
	for _, it := range f.items() {
		if _, ok := it["deleted"]; ok {
			_, err := f.ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &f.table, Key: map[string]types.AttributeValue{"id": it["id"]}})
			require.NoError(t, err)
		}
	}
	for i, kv := range []*dynamostore.KV{newKV, oldKV} {
		_, found, err = kv.Get(ctx, "tok")
		require.NoError(t, err)
		assert.False(t, found, "reader %d: the deleted key came back", i)
	}
}

// putHookClient lets a test hold a PutItem.
type putHookClient struct {
	dynamostore.ItemAPI
	mu    sync.Mutex
	onPut func(in *dynamodb.PutItemInput)
}

func (c *putHookClient) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.mu.Lock()
	h := c.onPut
	c.mu.Unlock()
	if h != nil {
		h(in)
	}
	return c.ItemAPI.PutItem(ctx, in, o...)
}

// R2-1: liveness counts an item it cannot open as live whatever its clear expires says: a
// session resealed under a newer key pair that then timed out long ago counts as live on an
// old server's cap, which ends the oldest live session in its place (defect 3 again, during a
// rotation).
func TestCapDoesNotCountAnExpiredItemItCannotOpen(t *testing.T) {
	t.Parallel()
	opts := []dynamostore.Option{dynamostore.WithMaxSessionsPerUser(2), dynamostore.WithCookieMaxAge(0), dynamostore.WithLifetime(time.Hour)}
	f := newFixture(t, opts...)
	oldSrv := f.store
	newSrv := f.newStore(append(opts, dynamostore.WithKeyPairs(hashKey2, nil, hashKey1, blockKey1))...)
	a, b, c := newBrowser(), newBrowser(), newBrowser()
	a.login(t, oldSrv, "ada") // the oldest
	f.clock.Advance(time.Minute)
	b.login(t, oldSrv, "ada")
	_, err := b.visit(t, newSrv, func(s *sessions.Session) bool { s.Values["n"] = 1; return true }) // resealed under K2
	require.NoError(t, err)
	for range 5 { // a stays active; b times out (its expires attribute is 40 minutes past)
		f.clock.Advance(20 * time.Minute)
		_, err := a.visit(t, oldSrv, func(s *sessions.Session) bool { s.Values["n"] = f.clock.Now().Unix(); return true })
		require.NoError(t, err)
	}
	require.True(t, b.current(t, newSrv).IsNew, "b has timed out")
	c.login(t, oldSrv, "ada")
	assert.False(t, a.current(t, oldSrv).IsNew, "a is live: two live sessions (a, c) are within the cap")
}

// R2-2: KV.Get's mark is an unconditional PutItem: a mark computed from a read that a
// Remove and a fresh Set have since overtaken overwrites the fresh value with a deletion
// marker. The Set returned nil, its value is gone, and every later Set fails for Lifetime.
func TestKVMarkDoesNotOverwriteALaterSet(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dynamostore.WithLifetime(time.Hour))
	ctx := context.Background()
	oldKV := f.store.KV("kv")
	pc := &putHookClient{ItemAPI: f.client}
	newStore, err := dynamostore.New(pc, dynamostore.WithTableName(f.table), dynamostore.WithClock(f.clock.Now),
		dynamostore.WithLifetime(time.Hour), dynamostore.WithKeyPairs(hashKey2, nil, hashKey1, blockKey1))
	require.NoError(t, err)
	newKV := newStore.KV("kv")
	exp := f.clock.Now().Add(48 * time.Hour)

	require.NoError(t, newKV.Set(ctx, "k", []byte("v1"), exp)) // under K2
	require.NoError(t, oldKV.Delete(ctx, "k"))                 // marker under K1 only
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	pc.mu.Lock()
	pc.onPut = func(in *dynamodb.PutItemInput) {
		if _, marker := in.Item["deleted"]; marker {
			once.Do(func() { close(held); <-release })
		}
	}
	pc.mu.Unlock()
	done := make(chan struct{})
	go func() { // a slow reader: it read v1 and the K1 marker, its mark is in flight
		defer close(done)
		_, found, err := newKV.Get(ctx, "k")
		assert.NoError(t, err)
		assert.False(t, found)
	}()
	<-held
	require.NoError(t, newKV.Remove(ctx, "k"))                 // removes both items, markers too
	require.NoError(t, newKV.Set(ctx, "k", []byte("v2"), exp)) // "a later Set stores it again"
	close(release)
	<-done

	v, found, err := newKV.Get(ctx, "k")
	require.NoError(t, err)
	assert.True(t, found, "the Set after Remove returned nil: its value must be found")
	assert.Equal(t, []byte("v2"), v)
	assert.NoError(t, newKV.Set(ctx, "k", []byte("v3"), exp), "no Delete since the Remove")
}

// R2-3: Get marks the value under its own first key pair, not the one where it found the
// value: with three key pairs ([K3, K2, K1], a value under K2, a marker under K1) it marks K3,
// and the value under K2 comes back on a [K2, K1] server once the K1 marker expires.
func TestKVMarkLandsWhereTheValueIs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dynamostore.WithLifetime(time.Hour))
	ctx := context.Background()
	k1 := f.store.KV("kv")
	k21 := f.newStore(dynamostore.WithLifetime(time.Hour), dynamostore.WithKeyPairs(hashKey2, nil, hashKey1, blockKey1)).KV("kv")
	k321 := f.newStore(dynamostore.WithLifetime(time.Hour), dynamostore.WithKeyPairs([]byte("k3k3k3k3k3k3k3k3k3k3k3k3k3k3k3k3"), nil, hashKey2, nil, hashKey1, blockKey1)).KV("kv")
	require.NoError(t, k21.Set(ctx, "k", []byte("v1"), f.clock.Now().Add(48*time.Hour))) // under K2
	require.NoError(t, k1.Delete(ctx, "k"))                                              // marker under K1
	_, found, err := k321.Get(ctx, "k")                                                  // finds the value under K2 and the marker: marks
	require.NoError(t, err)
	require.False(t, found)

	f.clock.Advance(2 * time.Hour) // the markers expire: TTL removes them
	for _, it := range f.items() {
		if _, ok := it["deleted"]; ok {
			_, err := f.ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &f.table, Key: map[string]types.AttributeValue{"id": it["id"]}})
			require.NoError(t, err)
		}
	}
	_, found, err = k21.Get(ctx, "k")
	require.NoError(t, err)
	assert.False(t, found, "the deleted key came back")
}
