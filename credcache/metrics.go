package credcache

import (
	"context"
	"errors"
	"net"

	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/metrics"
)

// MeterScope is the scope (instrumentation name) of the meters a Cache asks of its
// Options.MeterProvider.
const MeterScope = "github.com/dynamostore/dynamostore/credcache"

// The metrics, with their units and attributes. The provider is smithy-go's
// metrics.MeterProvider, the one the AWS SDK clients take, so one OpenTelemetry bridge
// (smithy-go's metrics/smithyotelmetrics) serves the cache and the clients.
const (
	// MetricRenewals counts successful calls of the provider after the first retrieval
	// ({renewal}).
	MetricRenewals = "dynamostore.credentials.renewals"
	// MetricFailures counts failed calls of the provider ({failure}), by "kind"
	// (non_recoverable or transient) and "error_code" (the AWS error code, such as
	// AccessDenied or Throttling, or network, timeout, expired_on_arrival, other).
	MetricFailures = "dynamostore.credentials.failures"
	// MetricWaits counts callers that waited for the provider ({caller}), by "initial": true
	// for the first retrieval, false after it. The false series is the one that must stay at
	// 0: a rising count means renewals do not finish before the credentials expire.
	MetricWaits = "dynamostore.credentials.waits"
	// MetricExpiry is the time until the credentials in service expire, in seconds (s),
	// observed when the provider collects; nothing before the first retrieval, or for
	// credentials that cannot expire.
	MetricExpiry = "dynamostore.credentials.expiry"
)

// cacheMetrics holds a Cache's instruments; a nil one records nothing.
type cacheMetrics struct {
	renewals, failures, waits metrics.Int64Counter
	expiry                    metrics.AsyncInstrument
}

func newCacheMetrics(mp metrics.MeterProvider, c *Cache) (*cacheMetrics, error) {
	if mp == nil {
		return nil, nil
	}
	m := mp.Meter(MeterScope)
	if isNil(m) {
		return nil, errors.New("the MeterProvider returned no Meter")
	}
	var cm cacheMetrics
	var errs [3]error
	cm.renewals, errs[0] = m.Int64Counter(MetricRenewals, unit("{renewal}", "Successful calls of the provider after the first retrieval"))
	cm.failures, errs[1] = m.Int64Counter(MetricFailures, unit("{failure}", "Failed calls of the provider, by kind and error code"))
	cm.waits, errs[2] = m.Int64Counter(MetricWaits, unit("{caller}", "Callers that waited for the provider; after the first retrieval it must stay 0"))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	if isNil(cm.renewals) || isNil(cm.failures) || isNil(cm.waits) {
		return nil, errors.New("the MeterProvider returned a nil instrument")
	}
	// Last, and only if the others worked: a registered callback would keep c alive.
	var err error
	cm.expiry, err = m.Float64AsyncGauge(MetricExpiry, func(ctx context.Context, o metrics.Float64Observer) {
		if expires := c.Stats().Expires; !expires.IsZero() {
			o.Observe(ctx, expires.Sub(c.o.Clock()).Seconds())
		}
	}, unit("s", "Time until the credentials in service expire"))
	if err != nil {
		return nil, err
	}
	return &cm, nil
}

func unit(u, description string) metrics.InstrumentOption {
	return func(o *metrics.InstrumentOptions) { o.UnitLabel, o.Description = u, description }
}

func attr(kv ...string) metrics.RecordMetricOption {
	return func(o *metrics.RecordMetricOptions) {
		for i := 0; i+1 < len(kv); i += 2 {
			o.Properties.Set(kv[i], kv[i+1])
		}
	}
}

func (m *cacheMetrics) waited(initial bool) {
	if m == nil {
		return
	}
	v := "false"
	if initial {
		v = "true"
	}
	m.waits.Add(context.Background(), 1, attr("initial", v))
}

func (m *cacheMetrics) renewed(initial bool, err *Error) {
	if m == nil {
		return
	}
	ctx := context.Background()
	switch {
	case err != nil:
		kind := "transient"
		if err.NonRecoverable {
			kind = "non_recoverable"
		}
		m.failures.Add(ctx, 1, attr("kind", kind, "error_code", errorCode(err.Err)))
	case !initial:
		m.renewals.Add(ctx, 1)
	}
}

func (m *cacheMetrics) stop() {
	if m != nil && m.expiry != nil {
		m.expiry.Stop()
	}
}

// errorCode names a failure for a metric attribute, with few distinct values.
func errorCode(err error) string {
	var apiErr smithy.APIError
	var expired *expiredOnArrival
	var netErr net.Error
	switch {
	case errors.As(err, &expired):
		return "expired_on_arrival"
	case errors.As(err, &apiErr):
		return apiErr.ErrorCode()
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &netErr):
		if netErr.Timeout() {
			return "timeout"
		}
		return "network"
	}
	return "other"
}
