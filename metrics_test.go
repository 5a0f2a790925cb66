package dynamostore_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/sessions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/internal/metricstest"
)

// Every load and save outcome shows in the Store's metrics, on DynamoDB Local.
func TestStoreMetrics(t *testing.T) {
	rec := metricstest.New()
	f := newFixture(t, dynamostore.WithMeterProvider(rec), dynamostore.WithOptimisticLocking(true),
		dynamostore.WithMaxLength(2000))
	loads := func(outcome string) float64 { return rec.Sum(dynamostore.MetricLoads + "{outcome=" + outcome + "}") }
	saves := func(op, outcome string) float64 {
		return rec.Sum(dynamostore.MetricSaves + "{operation=" + op + ",outcome=" + outcome + "}")
	}
	set := func(k string, v any) func(*sessions.Session) bool {
		return func(s *sessions.Session) bool { s.Values[k] = v; return true }
	}

	b := newBrowser()
	_, err := b.visit(t, f.store, set("a", 1)) // no cookie; a new session is written
	require.NoError(t, err)
	_, err = b.visit(t, f.store, nil) // found, unchanged: skipped
	require.NoError(t, err)
	_, err = b.visit(t, f.store, func(*sessions.Session) bool { return true }) // again
	require.NoError(t, err)
	stale, err := b.load(t, f.store) // found
	require.NoError(t, err)
	_, err = b.visit(t, f.store, set("a", 2)) // found, written
	require.NoError(t, err)
	stale.Values["a"] = 3
	assert.ErrorIs(t, f.store.Save(b.request(context.Background()), httptest.NewRecorder(), stale), dynamostore.ErrConflict)
	_, err = b.visit(t, f.store, set("big", strings.Repeat("x", 3000)))
	assert.ErrorIs(t, err, dynamostore.ErrTooLarge)

	sess, err := b.load(t, f.store) // found
	require.NoError(t, err)
	req := b.request(context.Background())
	require.NoError(t, f.store.Regenerate(req, httptest.NewRecorder(), sess))
	require.NoError(t, f.store.Login(req, httptest.NewRecorder(), sess, "ada"))
	require.NoError(t, f.store.Delete(req, httptest.NewRecorder(), sess))
	sess.Values["a"] = 4
	// A copy loaded before the delete is gone.
	b2 := newBrowser()
	_, err = b2.visit(t, f.store, set("x", 1))
	require.NoError(t, err)
	copyOf, err := b2.load(t, f.store)
	require.NoError(t, err)
	gone, err := b2.load(t, f.store)
	require.NoError(t, err)
	require.NoError(t, f.store.Delete(b2.request(context.Background()), httptest.NewRecorder(), gone))
	copyOf.Values["x"] = 2
	assert.ErrorIs(t, f.store.Save(b2.request(context.Background()), httptest.NewRecorder(), copyOf), dynamostore.ErrSessionGone)
	_, err = b2.load(t, f.store) // missing: the cookie is valid, the item gone
	require.NoError(t, err)

	b3 := newBrowser()
	_, err = b3.visit(t, f.store, set("y", 1))
	require.NoError(t, err)
	f.clock.Advance(2 * time.Duration(dynamostore.DefaultMaxAge) * time.Second)
	_, err = b3.load(t, f.store) // expired
	require.NoError(t, err)

	tampered := newBrowser()
	for k, c := range b3.cookies {
		forged := *c
		forged.Value = c.Value[:len(c.Value)-2] + "AA"
		tampered.cookies[k] = &forged
	}
	_, err = tampered.load(t, f.store) // rejected_cookie
	require.NoError(t, err)

	f.client.setFault(func(op string) error {
		if op == "GetItem" {
			return fmt.Errorf("injected")
		}
		return nil
	})
	_, err = b3.load(t, f.store) // failed
	require.Error(t, err)
	f.client.setFault(nil)

	assert.Equal(t, 3.0, loads("no_cookie"))
	assert.Equal(t, 8.0, loads("found"))
	assert.Equal(t, 1.0, loads("missing"))
	assert.Equal(t, 1.0, loads("expired"))
	assert.Equal(t, 1.0, loads("rejected_cookie"))
	assert.Equal(t, 1.0, loads("failed"))
	assert.Equal(t, 4.0, saves("save", "written"), "b: first, a=2; b2: first; b3: first")
	assert.Equal(t, 2.0, saves("save", "skipped"))
	assert.Equal(t, 1.0, saves("save", "conflict"))
	assert.Equal(t, 1.0, saves("save", "too_large"))
	assert.Equal(t, 1.0, saves("save", "gone"))
	assert.Equal(t, 1.0, saves("regenerate", "written"))
	assert.Equal(t, 1.0, saves("login", "written"))
	assert.Equal(t, 2.0, rec.Sum(dynamostore.MetricDeletes+"{outcome=deleted}"))
	assert.Equal(t, 15, rec.Count(dynamostore.MetricDuration+"{operation=load}"))
	assert.Equal(t, 9, rec.Count(dynamostore.MetricDuration+"{operation=save}"))
	assert.Positive(t, rec.Sum(dynamostore.MetricDuration+"{operation=save}"))
	assert.Equal(t, "s", rec.Unit(dynamostore.MetricDuration))
	assert.Equal(t, "{load}", rec.Unit(dynamostore.MetricLoads))
	assert.Equal(t, []string{dynamostore.MeterScope}, rec.Scopes())
}
