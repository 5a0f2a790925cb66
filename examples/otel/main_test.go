package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/credcache"
	"github.com/dynamostore/dynamostore/dynamostoretest"
)

// The figures move through the OpenTelemetry SDK: sessions are loaded and saved, the
// credentials renew while the load runs, no caller waits after the first retrieval, and the
// expiry gauge and the SDK's own client metrics arrive through the same provider.
//
// Nothing depends on the machine's speed. The load runs until the figures are in, not for a
// fixed time: on a busy machine the set-up and the first requests to a cold DynamoDB Local
// take seconds. The credentials live 4 s and KeepWarm renews them at their due time, whatever
// the requests' latency: a renewal has close to a second before callers would wait for it.
// Whether the first retrieval made a request wait depends on which starts first, KeepWarm or
// a worker, so it is not checked.
func TestMetricsReachOpenTelemetry(t *testing.T) {
	t.Setenv("DYNAMODB_ENDPOINT", dynamostoretest.Endpoint(t))
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = provider.Shutdown(context.Background()) })
	var got metricdata.ResourceMetrics
	collect := func() {
		require.NoError(t, reader.Collect(context.Background(), &got))
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- run(ctx, provider, 10*time.Minute, 4*time.Second) }() // stopped below
	loaded := func() bool {
		return sum(got, dynamostore.MetricLoads, attribute.String("outcome", "found")) > 0 &&
			sum(got, dynamostore.MetricSaves, attribute.String("operation", "save"), attribute.String("outcome", "written")) > 0
	}
	expiry := 0.0
	deadline := time.Now().Add(3 * time.Minute) // only bounds a failure
	for expiry == 0 || !loaded() || sum(got, credcache.MetricRenewals) < 2 {
		select {
		case err := <-done:
			t.Fatalf("the load ended before its figures were in: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		require.True(t, time.Now().Before(deadline), "no figures after 3 minutes")
		collect() // mid-run, while the credentials are live
		if expiry == 0 {
			expiry = gauge(got, credcache.MetricExpiry)
		}
	}
	t.Logf("the figures were in after %s", time.Since(start).Round(time.Millisecond))
	stop()
	require.NoError(t, <-done)
	collect()

	assert.Positive(t, expiry, "seconds until expiry")
	assert.Positive(t, sum(got, dynamostore.MetricLoads, attribute.String("outcome", "found")))
	assert.Positive(t, sum(got, dynamostore.MetricSaves, attribute.String("operation", "save"), attribute.String("outcome", "written")))
	assert.GreaterOrEqual(t, sum(got, credcache.MetricRenewals), int64(2), "renewals during the load")
	assert.Zero(t, sum(got, credcache.MetricWaits, attribute.String("initial", "false")), "no caller waited after the first retrieval")
	assert.True(t, has(got, dynamostore.MetricDuration))
	assert.True(t, has(got, "client.call.duration"), "the SDK's own client metrics share the provider")
}

func find(rm metricdata.ResourceMetrics, name string) (metricdata.Metrics, bool) {
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m, true
			}
		}
	}
	return metricdata.Metrics{}, false
}

func has(rm metricdata.ResourceMetrics, name string) bool {
	_, ok := find(rm, name)
	return ok
}

// sum adds the data points of a counter whose attributes include attrs.
func sum(rm metricdata.ResourceMetrics, name string, attrs ...attribute.KeyValue) int64 {
	m, ok := find(rm, name)
	if !ok {
		return 0
	}
	var n int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		match := true
		for _, kv := range attrs {
			if v, ok := dp.Attributes.Value(kv.Key); !ok || v != kv.Value {
				match = false
			}
		}
		if match {
			n += dp.Value
		}
	}
	return n
}

func gauge(rm metricdata.ResourceMetrics, name string) float64 {
	m, ok := find(rm, name)
	if !ok {
		return 0
	}
	points := m.Data.(metricdata.Gauge[float64]).DataPoints
	if len(points) == 0 {
		return 0
	}
	return points[0].Value
}
