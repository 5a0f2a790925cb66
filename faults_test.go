package dynamostore_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/gorilla/sessions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
)

// fault is injected into every DynamoDB call of an operation (or, for "cancelled context",
// applied to the request itself).
type fault struct {
	name string
	err  error // nil: cancel the request's context instead
	// check tells the fault's error apart in what the operation returned.
	check func(error) bool
}

func apiCodeIs(code string) func(error) bool {
	return func(err error) bool {
		var apiErr smithy.APIError
		return errors.As(err, &apiErr) && apiErr.ErrorCode() == code
	}
}

func faults() []fault {
	return []fault{
		{"throttling", &types.ProvisionedThroughputExceededException{Message: ptr("Rate of requests exceeds the allowed throughput.")}, apiCodeIs("ProvisionedThroughputExceededException")},
		{"5xx", &types.InternalServerError{Message: ptr("Internal server error")}, apiCodeIs("InternalServerError")},
		{"timeout", fmt.Errorf("operation error DynamoDB: https response error: %w", context.DeadlineExceeded), func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }},
		{"ConditionalCheckFailed", &types.ConditionalCheckFailedException{Message: ptr("The conditional request failed")}, apiCodeIs("ConditionalCheckFailedException")},
		{"AccessDenied", &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "User: arn:aws:sts::444455556666:assumed-role/r/s is not authorized"}, apiCodeIs("AccessDeniedException")},
		{"ExpiredToken", &smithy.GenericAPIError{Code: "ExpiredTokenException", Message: "The security token included in the request is expired"}, apiCodeIs("ExpiredTokenException")},
		{"ResourceNotFound", &types.ResourceNotFoundException{Message: ptr("Requested resource not found")}, apiCodeIs("ResourceNotFoundException")},
		{"item too large", &smithy.GenericAPIError{Code: "ValidationException", Message: "Item size has exceeded the maximum allowed size"}, apiCodeIs("ValidationException")},
		{"cancelled context", nil, func(err error) bool { return errors.Is(err, context.Canceled) }},
	}
}

// operation runs one store operation on a browser whose session holds user=ada. It returns
// the operation's error and whether it wrote a cookie.
type operation struct {
	name string
	// calls reports whether the operation calls DynamoDB at all (Save of an unchanged
	// session does not, so no fault can reach it).
	calls bool
	// run gets the browser's session as loaded before the fault was switched on.
	run func(f *fixture, b *browser, loaded *sessions.Session, ctx context.Context) (err error, cookie bool)
}

func operations() []operation {
	withSession := func(do func(store *dynamostore.Store, r *http.Request, w http.ResponseWriter, s *sessions.Session) error) func(*fixture, *browser, *sessions.Session, context.Context) (error, bool) {
		return func(f *fixture, b *browser, s *sessions.Session, ctx context.Context) (error, bool) {
			rec := httptest.NewRecorder()
			err := do(f.store, b.request(ctx), rec, s)
			return err, len(rec.Result().Cookies()) > 0
		}
	}
	return []operation{
		{"Get", true, func(f *fixture, b *browser, _ *sessions.Session, ctx context.Context) (error, bool) {
			s, err := f.store.New(b.request(ctx), cookieName)
			if err == nil {
				return nil, false
			}
			// The gorilla contract: a fresh session comes with the error, and it must not be saved.
			if s == nil || !s.IsNew || len(s.Values) != 0 {
				return fmt.Errorf("New returned %v with the error", s), false
			}
			rec := httptest.NewRecorder()
			if saveErr := f.store.Save(b.request(context.Background()), rec, s); !errors.Is(saveErr, dynamostore.ErrLoadFailed) {
				return fmt.Errorf("saving the fresh session after a failed load: %v", saveErr), true
			}
			return err, len(rec.Result().Cookies()) > 0
		}},
		{"Save new", true, func(f *fixture, _ *browser, _ *sessions.Session, ctx context.Context) (error, bool) {
			r := httptest.NewRequest("GET", "/", nil).WithContext(ctx)
			s, _ := f.store.New(r, cookieName)
			s.Values["user"] = "eve"
			rec := httptest.NewRecorder()
			err := f.store.Save(r, rec, s)
			return err, len(rec.Result().Cookies()) > 0
		}},
		{"Save changed", true, withSession(func(store *dynamostore.Store, r *http.Request, w http.ResponseWriter, s *sessions.Session) error {
			s.Values["user"] = "eve"
			return store.Save(r, w, s)
		})},
		{"Save unchanged", false, withSession(func(store *dynamostore.Store, r *http.Request, w http.ResponseWriter, s *sessions.Session) error {
			return store.Save(r, w, s)
		})},
		{"Delete", true, withSession(func(store *dynamostore.Store, r *http.Request, w http.ResponseWriter, s *sessions.Session) error {
			return store.Delete(r, w, s)
		})},
		{"Regenerate", true, withSession(func(store *dynamostore.Store, r *http.Request, w http.ResponseWriter, s *sessions.Session) error {
			return store.Regenerate(r, w, s)
		})},
	}
}

// Every operation against every fault: the typed error it returns, no panic, and the stored
// session unchanged in DynamoDB Local unless the operation succeeded.
func TestFaultMatrix(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var mu sync.Mutex
	matrix := map[string]map[string]string{}
	for _, op := range operations() {
		for _, fl := range faults() {
			t.Run(op.name+"/"+fl.name, func(t *testing.T) {
				b := f.withSession(t)
				before := f.items()
				loaded, err := b.load(t, f.store)
				require.NoError(t, err)

				ctx := context.Background()
				if fl.err == nil {
					cancelled, cancel := context.WithCancel(ctx)
					cancel()
					ctx = cancelled
				} else {
					f.client.setFault(func(string) error { return fl.err })
				}
				var opErr error
				var cookie bool
				assert.NotPanics(t, func() { opErr, cookie = op.run(f, b, loaded, ctx) })
				f.client.setFault(nil)

				outcome := "ok"
				switch {
				case !op.calls:
					assert.NoError(t, opErr, "no DynamoDB call, so no fault reaches it")
				case op.name == "Save changed" && fl.name == "ConditionalCheckFailed":
					// A failed condition with no item returned means the session is gone.
					assert.ErrorIs(t, opErr, dynamostore.ErrSessionGone)
					outcome = "ErrSessionGone"
				default:
					require.Error(t, opErr)
					assert.True(t, fl.check(opErr), "the fault is reachable in %v", opErr)
					var typed *dynamostore.OpError
					if assert.ErrorAs(t, opErr, &typed) {
						outcome = "*OpError{" + typed.Op + "}"
					}
					assert.False(t, cookie, "no cookie is set on failure")
				}
				if opErr != nil {
					assert.Equal(t, before, f.items(), "the stored session is unchanged")
				}
				assert.True(t, strings.HasPrefix(fmt.Sprint(opErr), "dynamostore: ") || opErr == nil)
				mu.Lock()
				if matrix[op.name] == nil {
					matrix[op.name] = map[string]string{}
				}
				matrix[op.name][fl.name] = outcome
				mu.Unlock()
				// Clean up this cell's session so the next cell compares only its own.
				s, _ := b.load(t, f.store)
				_ = f.store.Delete(b.request(context.Background()), httptest.NewRecorder(), s)
			})
		}
	}
	var lines []string
	for op, row := range matrix {
		var cells []string
		for _, fl := range faults() {
			cells = append(cells, fl.name+": "+row[fl.name])
		}
		lines = append(lines, op+" -> "+strings.Join(cells, "; "))
	}
	sort.Strings(lines)
	t.Log("fault matrix:\n" + strings.Join(lines, "\n"))
}

// 50 goroutines save one session at once with optimistic locking: exactly one writer per
// version wins and the others get ErrConflict.
func TestConcurrentSavesWithOptimisticLocking(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dynamostore.WithOptimisticLocking(true))
	b := newBrowser()
	_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["n"] = -1; return true })
	require.NoError(t, err)
	copies := make([]*sessions.Session, 50)
	for i := range copies {
		copies[i], err = b.load(t, f.store) // all at version 1
		require.NoError(t, err)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(copies))
	for i, s := range copies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Values["n"] = i
			errs[i] = f.store.Save(b.request(context.Background()), httptest.NewRecorder(), s)
		}()
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		if err == nil {
			assert.Equal(t, -1, winner, "a second winner for one version")
			winner = i
		} else {
			assert.ErrorIs(t, err, dynamostore.ErrConflict)
		}
	}
	require.NotEqual(t, -1, winner)
	s, err := b.load(t, f.store)
	require.NoError(t, err)
	assert.Equal(t, winner, s.Values["n"], "the stored values are the winner's")
	assert.Equal(t, &types.AttributeValueMemberN{Value: "2"}, f.items()[0]["version"])
}

// Delete racing Save never resurrects the session, whichever comes first.
func TestDeleteRacingSaveNeverResurrects(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for round := 0; round < 20; round++ {
		b := f.withSession(t)
		saver, err := b.load(t, f.store)
		require.NoError(t, err)
		deleter, err := b.load(t, f.store)
		require.NoError(t, err)
		var wg sync.WaitGroup
		var saveErr, deleteErr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			saver.Values["user"] = "eve"
			saveErr = f.store.Save(b.request(context.Background()), httptest.NewRecorder(), saver)
		}()
		go func() {
			defer wg.Done()
			deleteErr = f.store.Delete(b.request(context.Background()), httptest.NewRecorder(), deleter)
		}()
		wg.Wait()
		require.NoError(t, deleteErr)
		if saveErr != nil {
			require.ErrorIs(t, saveErr, dynamostore.ErrSessionGone)
		}
		s, err := b.load(t, f.store)
		require.NoError(t, err)
		require.True(t, s.IsNew, "round %d: the deleted session came back", round)
	}
	assert.Empty(t, f.items())
}

// Regenerate racing Save leaves exactly one live ID: the new one.
func TestRegenerateRacingSaveLeavesOneLiveID(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for round := 0; round < 20; round++ {
		b := f.withSession(t)
		regen, err := b.load(t, f.store)
		require.NoError(t, err)
		saver, err := b.load(t, f.store)
		require.NoError(t, err)
		oldKey := f.keyOf(regen.ID)
		var wg sync.WaitGroup
		var regenErr, saveErr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			regenErr = f.store.Regenerate(b.request(context.Background()), httptest.NewRecorder(), regen)
		}()
		go func() {
			defer wg.Done()
			saver.Values["cart"] = "book"
			saveErr = f.store.Save(b.request(context.Background()), httptest.NewRecorder(), saver)
		}()
		wg.Wait()
		require.NoError(t, regenErr)
		if saveErr != nil {
			require.ErrorIs(t, saveErr, dynamostore.ErrSessionGone)
		}
		oldLive := f.holdsData(t, oldKey)
		newLive := f.holdsData(t, f.keyOf(regen.ID))
		require.False(t, oldLive, "round %d: the old ID is still live", round)
		require.True(t, newLive, "round %d: the new ID is not live", round)
		require.NoError(t, f.store.Delete(b.request(context.Background()), httptest.NewRecorder(), regen))
	}
	assert.Empty(t, f.liveItems())
}
