package dynamostore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
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
	"github.com/dynamostore/dynamostore/dynamostoretest"
)

// login runs a request that logs the browser in as user, and returns the session's handle.
func (b *browser) login(t *testing.T, store *dynamostore.Store, user string) string {
	t.Helper()
	r := b.request(context.Background())
	r.Header.Set("User-Agent", "test browser "+user)
	s, err := store.Get(r, cookieName)
	require.NoError(t, err)
	s.Values["user"] = user
	rec := httptest.NewRecorder()
	require.NoError(t, store.Login(r, rec, s, user))
	b.receive(rec)
	h := store.Handle(s)
	require.NotEmpty(t, h)
	return h
}

// current loads the browser's session without saving it.
func (b *browser) current(t *testing.T, store *dynamostore.Store) *sessions.Session {
	t.Helper()
	s, err := b.load(t, store)
	require.NoError(t, err)
	return s
}

func handles(infos []dynamostore.SessionInfo) []string {
	out := make([]string, len(infos))
	for i, in := range infos {
		out[i] = in.Handle
	}
	return out
}

func labelOption() dynamostore.Option {
	return dynamostore.WithSessionLabel(func(r *http.Request) string { return r.UserAgent() })
}

// Login regenerates the ID, binds the session, lists it, and a re-authentication refreshes
// the authentication time and keeps the handle.
func TestLoginBindsAndListsTheSession(t *testing.T) {
	t.Parallel()
	f := newFixture(t, labelOption())
	ctx := context.Background()
	b := f.withSession(t)
	anon := b.current(t, f.store)
	_, bound := f.store.AuthTime(anon)
	assert.False(t, bound, "an anonymous session has no authentication time")
	assert.Empty(t, f.store.Handle(anon))
	before := anon.ID

	f.clock.Advance(time.Minute)
	h := b.login(t, f.store, "ada")
	s := b.current(t, f.store)
	assert.NotEqual(t, before, s.ID, "Login regenerates the ID")
	assert.False(t, f.holdsData(t, f.keyOf(before)), "the pre-login item has ended")
	at, bound := f.store.AuthTime(s)
	require.True(t, bound)
	assert.Equal(t, f.clock.Now(), at)
	assert.Equal(t, h, f.store.Handle(s))
	assert.Equal(t, "ada", s.Values["user"])

	infos, err := f.store.UserSessions(ctx, "ada")
	require.NoError(t, err)
	require.Len(t, infos, 1)
	in := infos[0]
	assert.Equal(t, h, in.Handle)
	assert.Equal(t, f.clock.Now(), in.Created)
	assert.Equal(t, f.clock.Now(), in.AuthTime)
	assert.Equal(t, f.clock.Now(), in.LastSeen)
	assert.Equal(t, f.clock.Now().Add(dynamostore.DefaultMaxAge*time.Second), in.Expires)
	assert.Equal(t, "test browser ada", in.Label)

	// Activity moves LastSeen; a re-authentication keeps the handle and Created.
	f.clock.Advance(2 * time.Hour)
	_, err = b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["n"] = 1; return true })
	require.NoError(t, err)
	f.clock.Advance(time.Hour)
	again := b.login(t, f.store, "ada")
	assert.Equal(t, h, again, "a re-authentication keeps the handle")
	infos, err = f.store.UserSessions(ctx, "ada")
	require.NoError(t, err)
	require.Len(t, infos, 1)
	assert.Equal(t, in.Created, infos[0].Created)
	assert.Equal(t, f.clock.Now(), infos[0].AuthTime, "the authentication time is refreshed")
	at, _ = f.store.AuthTime(b.current(t, f.store))
	assert.Equal(t, f.clock.Now(), at)

	none, err := f.store.UserSessions(ctx, "bob")
	require.NoError(t, err)
	assert.Empty(t, none)
}

// Logging out removes the session from the listing; a revoked session's next request gets a
// fresh session and a copy loaded before cannot bring it back; another user's handle is not
// found and not revoked.
func TestRevokeAndLogout(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	laptop, phone, tablet := newBrowser(), newBrowser(), newBrowser()
	hLaptop := laptop.login(t, f.store, "ada")
	f.clock.Advance(time.Second)
	hPhone := phone.login(t, f.store, "ada")
	f.clock.Advance(time.Second)
	hTablet := tablet.login(t, f.store, "ada")
	bob := newBrowser()
	hBob := bob.login(t, f.store, "bob")

	infos, err := f.store.UserSessions(ctx, "ada")
	require.NoError(t, err)
	assert.Equal(t, []string{hTablet, hPhone, hLaptop}, handles(infos), "newest first")

	// A copy of the phone's session, loaded before the revocation.
	stale := phone.current(t, f.store)
	require.ErrorIs(t, f.store.RevokeSession(ctx, "ada", hBob), dynamostore.ErrSessionNotFound, "another user's handle")
	require.ErrorIs(t, f.store.RevokeSession(ctx, "ada", "not-a-handle"), dynamostore.ErrSessionNotFound)
	assert.False(t, bob.current(t, f.store).IsNew, "bob's session was not touched")
	require.NoError(t, f.store.RevokeSession(ctx, "ada", hPhone))
	assert.True(t, phone.current(t, f.store).IsNew, "the revoked session's next request is a new session")
	stale.Values["user"] = "mallory"
	require.ErrorIs(t, f.store.Save(phone.request(ctx), httptest.NewRecorder(), stale), dynamostore.ErrSessionGone)
	assert.True(t, phone.current(t, f.store).IsNew, "and never comes back")
	require.ErrorIs(t, f.store.RevokeSession(ctx, "ada", hPhone), dynamostore.ErrSessionNotFound, "already ended")

	// Logout of the tablet.
	r := tablet.request(ctx)
	s, err := f.store.Get(r, cookieName)
	require.NoError(t, err)
	require.NoError(t, f.store.Delete(r, httptest.NewRecorder(), s))
	infos, err = f.store.UserSessions(ctx, "ada")
	require.NoError(t, err)
	assert.Equal(t, []string{hLaptop}, handles(infos))

	// Everything but this device, then everything.
	other := newBrowser()
	hOther := other.login(t, f.store, "ada")
	n, err := f.store.RevokeUserSessions(ctx, "ada", hOther)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.True(t, laptop.current(t, f.store).IsNew)
	assert.False(t, other.current(t, f.store).IsNew)
	n, err = f.store.RevokeUserSessions(ctx, "ada")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	infos, err = f.store.UserSessions(ctx, "ada")
	require.NoError(t, err)
	assert.Empty(t, infos)
	assert.False(t, bob.current(t, f.store).IsNew, "bob keeps his session")
}

// The absolute timeout ends a session however active it is, and the TTL attribute is the
// earlier of the two expiries; Login restarts it, an anonymous session's starts at creation.
func TestAbsoluteTimeout(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dynamostore.WithAbsoluteTimeout(3*time.Hour), dynamostore.WithTouchInterval(0))
	b := newBrowser()
	b.login(t, f.store, "ada")
	start := f.clock.Now()
	for range 5 { // active every 30 minutes: the idle timeout never ends it
		f.clock.Advance(30 * time.Minute)
		_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["n"] = f.clock.Now().Unix(); return true })
		require.NoError(t, err)
	}
	_, item := f.itemOf(t, b)
	assert.Equal(t, fmt.Sprint(start.Add(3*time.Hour).Unix()), item["expires"].(*types.AttributeValueMemberN).Value,
		"the TTL attribute is the absolute expiry, earlier than the idle one")
	stale := b.current(t, f.store)
	f.clock.Advance(31 * time.Minute) // 3h01 after the Login
	assert.True(t, b.current(t, f.store).IsNew, "ended, however active")
	require.ErrorIs(t, f.store.Save(b.request(context.Background()), httptest.NewRecorder(), stale), dynamostore.ErrSessionGone)
	infos, err := f.store.UserSessions(context.Background(), "ada")
	require.NoError(t, err)
	assert.Empty(t, infos)

	anon := newBrowser()
	_, err = anon.visit(t, f.store, func(s *sessions.Session) bool { s.Values["a"] = 1; return true })
	require.NoError(t, err)
	id := anon.current(t, f.store).ID
	for range 5 {
		f.clock.Advance(30 * time.Minute)
		_, err = anon.visit(t, f.store, func(s *sessions.Session) bool { s.Values["a"] = f.clock.Now().Unix(); return true })
		require.NoError(t, err)
		require.Equal(t, id, anon.current(t, f.store).ID)
	}
	f.clock.Advance(31 * time.Minute)
	assert.True(t, anon.current(t, f.store).IsNew, "an anonymous session ends 3 h after its creation")
}

// A Login beyond the cap ends the user's oldest session.
func TestMaxSessionsPerUserEndsTheOldest(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dynamostore.WithMaxSessionsPerUser(3))
	ctx := context.Background()
	browsers := make([]*browser, 5)
	hs := make([]string, 5)
	for i := range browsers {
		browsers[i] = newBrowser()
		hs[i] = browsers[i].login(t, f.store, "ada")
		f.clock.Advance(time.Second)
	}
	infos, err := f.store.UserSessions(ctx, "ada")
	require.NoError(t, err)
	assert.Equal(t, []string{hs[4], hs[3], hs[2]}, handles(infos))
	assert.True(t, browsers[0].current(t, f.store).IsNew, "the oldest was ended")
	assert.True(t, browsers[1].current(t, f.store).IsNew)
	assert.False(t, browsers[2].current(t, f.store).IsNew)
}

// Get and Save of a bound session make exactly the calls they make for any session; the other
// operations' counts are those the docs state.
func TestUserOperationsCallCounts(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dynamostore.WithMaxSessionsPerUser(dynamostore.MaxSessionsPerUserLimit))
	ctx := context.Background()
	count := func(do func()) (gets, puts, updates, deletes int64) {
		g, p, u, d := f.client.gets.Load(), f.client.puts.Load(), f.client.updates.Load(), f.client.deletes.Load()
		do()
		return f.client.gets.Load() - g, f.client.puts.Load() - p, f.client.updates.Load() - u, f.client.deletes.Load() - d
	}
	change := func(b *browser) func() {
		return func() {
			_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["n"] = time.Now().UnixNano(); return true })
			require.NoError(t, err)
		}
	}
	anon := f.withSession(t)
	bound := newBrowser()
	bound.login(t, f.store, "ada")
	for _, b := range []*browser{anon, bound} {
		g, p, u, d := count(change(b))
		assert.Equal(t, [4]int64{1, 0, 1, 0}, [4]int64{g, p, u, d}, "Get and a changed Save: GetItem + UpdateItem")
		g, p, u, d = count(func() { _, err := b.visit(t, f.store, nil); require.NoError(t, err) })
		assert.Equal(t, [4]int64{1, 0, 0, 0}, [4]int64{g, p, u, d}, "Get and an unchanged Save: GetItem")
	}

	g, p, u, d := count(func() { newBrowser().login(t, f.store, "bob") })
	assert.Equal(t, [4]int64{0, 2, 1, 0}, [4]int64{g, p, u, d}, "a user's first Login on a new session: session PutItem, user UpdateItem (fails), user PutItem")
	g, p, u, d = count(func() { f.withSession(t).login(t, f.store, "bob") })
	assert.Equal(t, [4]int64{1, 2, 2, 0}, [4]int64{g, p, u, d}, "a first visit (PutItem), then Login: GetItem, PutItem, user UpdateItem, UpdateItem (claim)")
	g, p, u, d = count(func() { bound.login(t, f.store, "ada") })
	assert.Equal(t, [4]int64{1, 1, 3, 0}, [4]int64{g, p, u, d}, "re-authentication: GetItem, PutItem, user UpdateItem, UpdateItem (claim), user UpdateItem (tidy)")
	g, p, u, d = count(func() {
		r := bound.request(ctx)
		s, err := f.store.Get(r, cookieName)
		require.NoError(t, err)
		require.NoError(t, f.store.Delete(r, httptest.NewRecorder(), s))
	})
	assert.Equal(t, [4]int64{1, 0, 1, 1}, [4]int64{g, p, u, d}, "logout of a bound session: GetItem, DeleteItem, user UpdateItem")

	for _, n := range []int{1, 10, 100} {
		user := fmt.Sprintf("user-%d", n)
		for range n {
			newBrowser().login(t, f.store, user)
		}
		var infos []dynamostore.SessionInfo
		lg, lp, lu, ld := count(func() {
			var err error
			infos, err = f.store.UserSessions(ctx, user)
			require.NoError(t, err)
		})
		require.Len(t, infos, n)
		assert.Equal(t, [4]int64{int64(1 + n), 0, 0, 0}, [4]int64{lg, lp, lu, ld}, "UserSessions: 1 + N GetItem")
		var ended int
		rg, rp, ru, rd := count(func() {
			var err error
			ended, err = f.store.RevokeUserSessions(ctx, user)
			require.NoError(t, err)
		})
		assert.Equal(t, n, ended)
		assert.Equal(t, [4]int64{1, 0, int64(2 * n), int64(n)}, [4]int64{rg, rp, ru, rd}, "RevokeUserSessions: 1 GetItem, 2N UpdateItem, N DeleteItem")
		t.Logf("N=%d: UserSessions %d GetItem; RevokeUserSessions %d GetItem, %d UpdateItem, %d DeleteItem", n, lg, rg, ru, rd)
	}
}

// Revoke while 20 requests of the session are saving: every Save returns nil or
// ErrSessionGone, and afterwards the session is gone for good.
func TestRevokeRacingSavesNeverResurrects(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	for round := range 5 {
		b := newBrowser()
		h := b.login(t, f.store, "ada")
		copies := make([]*sessions.Session, 20)
		for i := range copies {
			copies[i] = b.current(t, f.store)
		}
		var wg sync.WaitGroup
		errs := make(chan error, len(copies)*3)
		for i, s := range copies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range 3 {
					s.Values["n"] = i*10 + j
					err := f.store.Save(b.request(ctx), httptest.NewRecorder(), s)
					if err != nil && !errors.Is(err, dynamostore.ErrSessionGone) {
						errs <- err
					}
				}
			}()
		}
		require.NoError(t, f.store.RevokeSession(ctx, "ada", h))
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("round %d: unexpected error %v", round, err)
		}
		assert.True(t, b.current(t, f.store).IsNew, "round %d: the session never comes back", round)
		infos, err := f.store.UserSessions(ctx, "ada")
		require.NoError(t, err)
		assert.Empty(t, infos)
	}
}

// Revoke while Regenerate moves the session to a new item: the revocation never misses the
// new item.
func TestRevokeRacingRegenerate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	for round := range 10 {
		b := newBrowser()
		h := b.login(t, f.store, "ada")
		r := b.request(ctx)
		s, err := f.store.Get(r, cookieName)
		require.NoError(t, err)
		rec := httptest.NewRecorder()
		done := make(chan error, 1)
		go func() { done <- f.store.Regenerate(r, rec, s) }()
		require.NoError(t, f.store.RevokeSession(ctx, "ada", h))
		regErr := <-done
		if regErr != nil {
			require.ErrorIs(t, regErr, dynamostore.ErrSessionGone, "round %d", round)
		}
		b.receive(rec)
		assert.True(t, b.current(t, f.store).IsNew, "round %d: the session is gone whatever the order (Regenerate: %v)", round, regErr)
		userItems := 0
		for _, item := range f.items() {
			if _, ok := item["sessions"]; ok {
				userItems++
				continue
			}
			t.Errorf("round %d: a session item is left: %v", round, item["id"])
		}
		assert.Equal(t, 1, userItems)
	}
}

// Concurrent Logins of one user from 50 goroutines: all listed, none lost.
func TestConcurrentLoginsOfOneUserAreAllListed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dynamostore.WithMaxSessionsPerUser(100))
	var wg sync.WaitGroup
	hs := make([]string, 50)
	for i := range hs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := newBrowser()
			r := b.request(context.Background())
			s, _ := f.store.New(r, cookieName)
			if err := f.store.Login(r, httptest.NewRecorder(), s, "ada"); err != nil {
				t.Errorf("login %d: %v", i, err)
			}
			hs[i] = f.store.Handle(s)
		}()
	}
	wg.Wait()
	infos, err := f.store.UserSessions(context.Background(), "ada")
	require.NoError(t, err)
	assert.ElementsMatch(t, hs, handles(infos))
}

// User IDs and labels are stored only as keyed hashes and inside the encrypted envelope.
func TestUserIDsAndLabelsAreNotStoredInClear(t *testing.T) {
	t.Parallel()
	const user, label = "ada.lovelace@example.com", "Firefox on a secret laptop"
	f := newFixture(t, dynamostore.WithSessionLabel(func(*http.Request) string { return label }))
	newBrowser().login(t, f.store, user)
	out, err := f.ddb.Scan(context.Background(), &dynamodb.ScanInput{TableName: &f.table})
	require.NoError(t, err)
	require.Len(t, out.Items, 2, "the session and the user's item")
	var all bytes.Buffer
	var dump func(v types.AttributeValue)
	dump = func(v types.AttributeValue) {
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			all.WriteString(v.Value)
		case *types.AttributeValueMemberB:
			all.Write(v.Value)
		case *types.AttributeValueMemberM:
			for k, e := range v.Value {
				all.WriteString(k)
				dump(e)
			}
		}
	}
	for _, item := range out.Items {
		dump(&types.AttributeValueMemberM{Value: item})
	}
	for _, secret := range []string{user, label, "ada", "Firefox"} {
		assert.False(t, strings.Contains(all.String(), secret), "%q is in the table", secret)
	}
}

// At the largest cap, with the longest labels, the user's item stays well under DynamoDB's
// 400 KB item limit.
func TestUserItemAtTheLargestCapFitsInAnItem(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dynamostore.WithMaxSessionsPerUser(dynamostore.MaxSessionsPerUserLimit),
		dynamostore.WithSessionLabel(func(*http.Request) string { return strings.Repeat("é", 200) }))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for range dynamostore.MaxSessionsPerUserLimit {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			s, _ := f.store.New(r, cookieName)
			if err := f.store.Login(r, httptest.NewRecorder(), s, "ada"); err != nil {
				t.Errorf("login: %v", err)
			}
		}()
	}
	wg.Wait()
	var userItem map[string]types.AttributeValue
	for _, item := range f.items() {
		if _, ok := item["sessions"]; ok {
			userItem = item
		}
	}
	require.NotNil(t, userItem)
	size := itemSize(userItem)
	t.Logf("user item with %d sessions: %d bytes", len(userItem["sessions"].(*types.AttributeValueMemberM).Value), size)
	assert.Less(t, size, 300_000, "room to spare under 400 KB")
}

// itemSize follows DynamoDB's item size rules closely enough: names plus values.
func itemSize(item map[string]types.AttributeValue) int {
	n := 0
	for k, v := range item {
		n += len(k) + valueSize(v)
	}
	return n
}

func valueSize(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return len(v.Value)/2 + 2
	case *types.AttributeValueMemberBOOL:
		return 1
	case *types.AttributeValueMemberM:
		n := 3
		for k, e := range v.Value {
			n += len(k) + valueSize(e) + 1
		}
		return n
	}
	return 0
}

// The whole user feature through the cross-account gateway with exactly the policy of
// CROSS-ACCOUNT.md: the four item calls and DescribeTable on the table ARN.
func TestUsersThroughTheCrossAccountPolicy(t *testing.T) {
	x := newXFixture(t, dynamostoretest.CrossAccountOptions{Actions: dynamostoretest.SessionTableActions})
	store, _ := x.ours(t)
	ctx := context.Background()
	a, b := newBrowser(), newBrowser()
	ha := a.login(t, store, "ada")
	hb := b.login(t, store, "ada")
	infos, err := store.UserSessions(ctx, "ada")
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{ha, hb}, handles(infos))
	require.NoError(t, store.RevokeSession(ctx, "ada", hb))
	assert.True(t, b.current(t, store).IsNew)
	a.login(t, store, "ada")
	n, err := store.RevokeUserSessions(ctx, "ada")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Empty(t, x.Gateway.Stats().Rejected)
}

// Login, Regenerate, logout and revocation through a network that loses the answers of
// applied writes: each reports success, and the listing is exact.
func TestUserOperationsSurviveLostAnswers(t *testing.T) {
	t.Parallel()
	f, ft := newNetFixture(t)
	ctx := context.Background()
	lose := func(ops ...string) {
		for _, op := range ops {
			ft.Inject(op, dynamostoretest.FaultLostAnswer)
		}
	}
	a, b := newBrowser(), newBrowser()
	lose("PutItem", "UpdateItem", "PutItem") // the session, the user item's update and creation
	ha := a.login(t, f.store, "ada")
	lose("PutItem", "UpdateItem")
	hb := b.login(t, f.store, "ada")
	lose("PutItem", "UpdateItem", "DeleteItem", "UpdateItem")
	assert.Equal(t, ha, a.login(t, f.store, "ada"), "a re-authentication through lost answers")
	r := b.request(ctx)
	s, err := f.store.Get(r, cookieName)
	require.NoError(t, err)
	lose("PutItem", "UpdateItem", "DeleteItem", "UpdateItem")
	rec := httptest.NewRecorder()
	require.NoError(t, f.store.Regenerate(r, rec, s))
	b.receive(rec)
	infos, err := f.store.UserSessions(ctx, "ada")
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{ha, hb}, handles(infos))

	lose("UpdateItem", "DeleteItem", "UpdateItem")
	require.NoError(t, f.store.RevokeSession(ctx, "ada", hb))
	assert.True(t, b.current(t, f.store).IsNew)
	r = a.request(ctx)
	s, err = f.store.Get(r, cookieName)
	require.NoError(t, err)
	lose("DeleteItem", "UpdateItem")
	require.NoError(t, f.store.Delete(r, httptest.NewRecorder(), s))
	infos, err = f.store.UserSessions(ctx, "ada")
	require.NoError(t, err)
	assert.Empty(t, infos)
	assert.Greater(t, ft.Stats().Injected[dynamostoretest.FaultLostAnswer], int64(15))
}
