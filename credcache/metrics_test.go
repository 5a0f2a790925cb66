package credcache_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go/metrics"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore/credcache"
	"github.com/dynamostore/dynamostore/internal/metricstest"
)

// The cache reports renewals, failures by kind, waits and the time to expiry, through the
// STS emulator, under its own scope.
func TestMetrics(t *testing.T) {
	t.Parallel()
	rec := metricstest.New()
	emu, c, _ := assumeRole(t, func(o *credcache.AssumeRoleOptions) {
		o.MeterProvider = rec
		o.RetryBaseDelay, o.RetryMaxDelay = 10*time.Millisecond, 50*time.Millisecond
	})
	emu.SetLifetime(3 * time.Second)
	assert.Empty(t, rec.Observe(credcache.MetricExpiry), "nothing to observe before the first retrieval")
	_, err := c.Retrieve(context.Background())
	require.NoError(t, err)
	got := rec.Observe(credcache.MetricExpiry)
	require.Len(t, got, 1)
	assert.InDelta(t, 3, got[0], 1, "seconds until expiry")

	emu.FailNext("Throttling", 1) // one transient failure at the next renewal, then success
	require.Eventually(t, func() bool {
		_, err := c.Retrieve(context.Background())
		require.NoError(t, err)
		return c.Stats().Renewals >= 2
	}, 15*time.Second, 20*time.Millisecond)

	assert.Equal(t, float64(c.Stats().Renewals), rec.Sum(credcache.MetricRenewals+"{}"))
	assert.Equal(t, 1.0, rec.Sum(credcache.MetricFailures+"{error_code=Throttling,kind=transient}"))
	assert.Equal(t, 1.0, rec.Sum(credcache.MetricWaits+"{initial=true}"))
	assert.Zero(t, rec.Sum(credcache.MetricWaits+"{initial=false}"), "no caller waited after the first retrieval")
	assert.Equal(t, []string{credcache.MeterScope}, rec.Scopes())
	assert.Equal(t, "s", rec.Unit(credcache.MetricExpiry))

	require.NoError(t, c.Close())
	assert.Empty(t, rec.Observe(credcache.MetricExpiry), "Close stops the gauge")
}

// A role that does not trust the caller: the failure is counted as non-recoverable, with AWS's code.
func TestMetricsNonRecoverable(t *testing.T) {
	t.Parallel()
	rec := metricstest.New()
	emu, client, _, app := roleSTS(t)
	role := "arn:aws:iam::444455556666:role/with-external-id"
	emu.AddRole(stsRole(role, app.ARN, "right-id"))
	c, err := credcache.AssumeRole(client, role, func(o *credcache.AssumeRoleOptions) {
		o.MeterProvider = rec
		o.ExternalID = "wrong"
	})
	require.NoError(t, err)
	_, err = c.Retrieve(context.Background())
	require.Error(t, err)
	assert.Equal(t, 1.0, rec.Sum(credcache.MetricFailures+"{error_code=AccessDenied,kind=non_recoverable}"))
}

// failingSTS refuses every AssumeRole.
type failingSTS struct{}

func (failingSTS) AssumeRole(context.Context, *sts.AssumeRoleInput, ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	return nil, &ststypes.ExpiredTokenException{Message: aws.String("no")}
}

// When Retrieve returns a failure, the failure must already be counted: the metrics were
// once recorded after the waiting callers were released, so a caller that read the figures
// right after its call could see them lag behind Stats().
func TestFailureCountedBeforeRetrieveReturns(t *testing.T) {
	t.Parallel()
	lagged := 0
	const rounds = 2000
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range rounds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := metricstest.New()
			c, err := credcache.AssumeRole(failingSTS{}, "arn:aws:iam::444455556666:role/r",
				func(o *credcache.AssumeRoleOptions) { o.MeterProvider = rec; o.Timeout = time.Second })
			if err != nil {
				t.Error(err)
				return
			}
			_, err = c.Retrieve(context.Background())
			var ce *credcache.Error
			if !errors.As(err, &ce) {
				t.Errorf("want a *credcache.Error, got %v", err)
				return
			}
			if float64(c.Stats().Failures) != rec.SumAll(credcache.MetricFailures) {
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
type brokenCounters struct{ *metricstest.Recorder }

func (b brokenCounters) Meter(string, ...metrics.MeterOption) metrics.Meter { return b }

func (b brokenCounters) Int64Counter(string, ...metrics.InstrumentOption) (metrics.Int64Counter, error) {
	return nil, errors.New("no counters here")
}

// When the MeterProvider fails, the cache logs "metrics disabled" and drops its instruments;
// an expiry gauge registered before it found out once stayed registered, reporting and
// keeping the cache reachable, and Close could not stop it.
func TestDisabledMetricsLeaveNoGauge(t *testing.T) {
	t.Parallel()
	rec := metricstest.New()
	c, err := credcache.AssumeRole(failingSTS{}, "arn:aws:iam::444455556666:role/r",
		func(o *credcache.AssumeRoleOptions) { o.MeterProvider = brokenCounters{rec} })
	require.NoError(t, err)
	require.NoError(t, c.Close())
	assert.False(t, rec.Registered(credcache.MetricExpiry), "the metrics are disabled and the cache closed, yet the expiry gauge's callback is still registered")
}
