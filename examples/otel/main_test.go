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
	"github.com/dynamostore/dynamostore/dynamostoretest"
)

// The figures move through the OpenTelemetry SDK: sessions are loaded and saved, the
// credentials renew while the load runs, no caller waits after the first retrieval, and the
// expiry gauge and the SDK's own client metrics arrive through the same provider.
func TestMetricsReachOpenTelemetry(t *testing.T) {
	t.Setenv("DYNAMODB_ENDPOINT", dynamostoretest.Endpoint(t))
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = provider.Shutdown(context.Background()) })
	var got metricdata.ResourceMetrics
	collect := func() {
		require.NoError(t, reader.Collect(context.Background(), &got))
	}
	done := make(chan error, 1)
	go func() { done <- run(context.Background(), provider, 5*time.Second, 2*time.Second) }()
	time.Sleep(2 * time.Second)
	collect() // mid-run, while the credentials are live
	assert.Positive(t, gauge(got, dynamostore.MetricExpiry), "seconds until expiry")
	require.NoError(t, <-done)
	collect()

	assert.Positive(t, sum(got, dynamostore.MetricLoads, attribute.String("outcome", "found")))
	assert.Positive(t, sum(got, dynamostore.MetricSaves, attribute.String("operation", "save"), attribute.String("outcome", "written")))
	assert.Positive(t, sum(got, dynamostore.MetricRenewals), "renewals during the load")
	assert.Positive(t, sum(got, dynamostore.MetricWaits, attribute.String("initial", "true")))
	assert.Zero(t, sum(got, dynamostore.MetricWaits, attribute.String("initial", "false")), "no caller waited after the first retrieval")
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
