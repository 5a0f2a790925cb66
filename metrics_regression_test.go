package dynamostore_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go/metrics"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
)

// A Login on a copy of a session that was revoked meanwhile is one Login, counted once with
// one duration. (It once started a new session by calling itself, counted twice; it now
// returns ErrSessionGone, as a Regenerate of a revoked session does.)
func TestLoginAfterRevocationIsCountedOnce(t *testing.T) {
	rec := newRecorder()
	f := newFixture(t, dynamostore.WithMeterProvider(rec))
	ctx := context.Background()
	b := newBrowser()
	h := b.login(t, f.store, "ada") // login #1
	stale := b.current(t, f.store)
	require.NoError(t, f.store.RevokeSession(ctx, "ada", h))
	err := f.store.Login(b.request(ctx), httptest.NewRecorder(), stale, "ada") // login #2
	require.ErrorIs(t, err, dynamostore.ErrSessionGone, "a re-authentication of a revoked session")
	b.login(t, f.store, "ada") // login #3, on a new session
	logins := rec.sum(dynamostore.MetricSaves + "{operation=login,outcome=written}")
	durations := rec.count(dynamostore.MetricDuration + "{operation=login}")
	assert.Equal(t, 2.0, logins, "two Login calls wrote, counted as %v", logins)
	assert.Equal(t, 3, durations, "three Login calls, %d login durations recorded", durations)
}

// failingSTS refuses every AssumeRole.
type failingSTS struct{}

func (failingSTS) AssumeRole(context.Context, *sts.AssumeRoleInput, ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	return nil, &ststypes.ExpiredTokenException{Message: aws.String("no")}
}

// When Retrieve returns a failure, the failure must already be counted: the credentials'
// metrics are recorded after close(f.done) (credentials.go run), so a caller (or a test, such
// as TestCredentialsMetrics comparing Stats().Renewals with the metric) that reads the figures
// right after the call it made can see them lag behind Stats().
func TestFailureCountedBeforeRetrieveReturns(t *testing.T) {
	lagged := 0
	const rounds = 2000
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range rounds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := newRecorder()
			c := dynamostore.NewAssumeRoleCredentials(failingSTS{}, "arn:aws:iam::444455556666:role/r",
				func(o *dynamostore.CredentialsOptions) { o.MeterProvider = rec; o.Timeout = time.Second })
			_, err := c.Retrieve(context.Background())
			var re *dynamostore.RenewalError
			if !errors.As(err, &re) {
				t.Errorf("want a RenewalError, got %v", err)
				return
			}
			failed := c.Stats().Failures
			counted := 0.0
			rec.mu.Lock()
			for k, v := range rec.sums {
				if len(k) > len(dynamostore.MetricRenewalFailures) && k[:len(dynamostore.MetricRenewalFailures)] == dynamostore.MetricRenewalFailures {
					counted += v
				}
			}
			rec.mu.Unlock()
			if float64(failed) != counted {
				mu.Lock()
				lagged++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	assert.Zero(t, lagged, "%d of %d failed Retrieves returned before their failure was counted (Stats().Failures already was)", lagged, rounds)
}

// brokenCounters is a provider whose counters fail but whose gauges work.
type brokenCounters struct{ *recorder }

func (b brokenCounters) Meter(string, ...metrics.MeterOption) metrics.Meter { return b }

func (b brokenCounters) Int64Counter(string, ...metrics.InstrumentOption) (metrics.Int64Counter, error) {
	return nil, errors.New("no counters here")
}

// When the MeterProvider fails, NewAssumeRoleCredentials logs "credentials metrics disabled"
// and drops its instruments, but the expiry gauge it registered before finding out stays
// registered: it keeps reporting (and keeps the Credentials reachable) and Close, which only
// stops c.metrics's gauge, cannot stop it.
func TestDisabledCredentialsMetricsLeaveNoGauge(t *testing.T) {
	rec := newRecorder()
	c := dynamostore.NewAssumeRoleCredentials(failingSTS{}, "arn:aws:iam::444455556666:role/r",
		func(o *dynamostore.CredentialsOptions) { o.MeterProvider = brokenCounters{rec} })
	require.NoError(t, c.Close())
	rec.mu.Lock()
	_, registered := rec.callbacks[dynamostore.MetricExpiry]
	rec.mu.Unlock()
	assert.False(t, registered, "the metrics are disabled and the credentials closed, yet the expiry gauge's callback is still registered")
}
