package dynamostore_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/internal/metricstest"
)

// A Login on a copy of a session that was revoked meanwhile is one Login, counted once with
// one duration. (It once started a new session by calling itself, counted twice; it now
// returns ErrSessionGone, as a Regenerate of a revoked session does.)
func TestLoginAfterRevocationIsCountedOnce(t *testing.T) {
	rec := metricstest.New()
	f := newFixture(t, dynamostore.WithMeterProvider(rec))
	ctx := context.Background()
	b := newBrowser()
	h := b.login(t, f.store, "ada") // login #1
	stale := b.current(t, f.store)
	require.NoError(t, f.store.RevokeSession(ctx, "ada", h))
	err := f.store.Login(b.request(ctx), httptest.NewRecorder(), stale, "ada") // login #2
	require.ErrorIs(t, err, dynamostore.ErrSessionGone, "a re-authentication of a revoked session")
	b.login(t, f.store, "ada") // login #3, on a new session
	logins := rec.Sum(dynamostore.MetricSaves + "{operation=login,outcome=written}")
	durations := rec.Count(dynamostore.MetricDuration + "{operation=login}")
	assert.Equal(t, 2.0, logins, "two Login calls wrote, counted as %v", logins)
	assert.Equal(t, 3, durations, "three Login calls, %d login durations recorded", durations)
}
