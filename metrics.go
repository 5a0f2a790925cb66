package dynamostore

import (
	"context"
	"errors"
	"time"

	"github.com/aws/smithy-go/metrics"
)

// MeterScope is the scope (instrumentation name) of the meters the Store asks of a
// MeterProvider.
const MeterScope = "github.com/dynamostore/dynamostore"

// The metrics, with their units and attributes, that the Store reports when WithMeterProvider
// is set (the credential cache has its own: see credcache). The provider is smithy-go's
// metrics.MeterProvider, the one the AWS SDK clients take (dynamodb.Options.MeterProvider),
// so one OpenTelemetry bridge (smithy-go's metrics/smithyotelmetrics) serves all; see
// examples/otel.
const (
	// MetricLoads counts the sessions New loads ({load}), by "outcome": found; no_cookie;
	// missing (a valid cookie, no item); expired (the item is past its expiry or absolute
	// timeout); rejected_cookie (it failed verification: tampered, foreign key, oversized);
	// rejected_item (it failed authentication, or the codec could not decode it); failed
	// (DynamoDB failed).
	MetricLoads = "dynamostore.session.loads"
	// MetricSaves counts Save, Regenerate and Login ({save}), by "operation" (save,
	// regenerate, login) and "outcome": written; skipped (unchanged within the touch
	// interval: no write); conflict (ErrConflict); gone (ErrSessionGone); too_large
	// (ErrTooLarge); failed (any other error). A Save with Options.MaxAge < 0 is a Delete,
	// and counted as one.
	MetricSaves = "dynamostore.session.saves"
	// MetricDeletes counts Delete ({delete}), by "outcome": deleted or failed.
	MetricDeletes = "dynamostore.session.deletes"
	// MetricDuration is the time the Store's operations take, DynamoDB calls included, in
	// seconds (s), by "operation": load, save, regenerate, login, delete.
	MetricDuration = "dynamostore.operation.duration"
)

// WithMeterProvider makes the Store report its metrics (MetricLoads, MetricSaves,
// MetricDeletes, MetricDuration) to mp. Default: none, at no cost. The KV view (the scs and
// Fiber adapters) reports none: their session managers own the session's lifecycle; its
// DynamoDB calls show in the SDK client's own metrics (dynamodb.Options.MeterProvider).
func WithMeterProvider(mp metrics.MeterProvider) Option {
	return func(o *Options) { o.MeterProvider = mp }
}

// attr returns a record option that sets the attributes given as key, value pairs.
func attr(kv ...string) metrics.RecordMetricOption {
	return func(o *metrics.RecordMetricOptions) {
		for i := 0; i+1 < len(kv); i += 2 {
			o.Properties.Set(kv[i], kv[i+1])
		}
	}
}

// storeMetrics holds the Store's instruments; a nil *storeMetrics records nothing.
type storeMetrics struct {
	loads, saves, deletes metrics.Int64Counter
	duration              metrics.Float64Histogram
}

func newStoreMetrics(mp metrics.MeterProvider) (*storeMetrics, error) {
	if mp == nil {
		return nil, nil
	}
	m := mp.Meter(MeterScope)
	var sm storeMetrics
	var errs [4]error
	sm.loads, errs[0] = m.Int64Counter(MetricLoads, unit("{load}", "Sessions loaded, by outcome"))
	sm.saves, errs[1] = m.Int64Counter(MetricSaves, unit("{save}", "Saves, Regenerates and Logins, by operation and outcome"))
	sm.deletes, errs[2] = m.Int64Counter(MetricDeletes, unit("{delete}", "Deletes, by outcome"))
	sm.duration, errs[3] = m.Float64Histogram(MetricDuration, unit("s", "Duration of the store's operations"))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	return &sm, nil
}

func unit(u, description string) metrics.InstrumentOption {
	return func(o *metrics.InstrumentOptions) { o.UnitLabel, o.Description = u, description }
}

func (m *storeMetrics) loaded(ctx context.Context, start time.Time, outcome string) {
	if m == nil {
		return
	}
	m.loads.Add(ctx, 1, attr("outcome", outcome))
	m.duration.Record(ctx, time.Since(start).Seconds(), attr("operation", "load"))
}

func (m *storeMetrics) saved(ctx context.Context, start time.Time, op string, wrote bool, err error) {
	if m == nil {
		return
	}
	outcome := "written"
	switch {
	case errors.Is(err, ErrConflict):
		outcome = "conflict"
	case errors.Is(err, ErrSessionGone):
		outcome = "gone"
	case errors.Is(err, ErrTooLarge):
		outcome = "too_large"
	case err != nil:
		outcome = "failed"
	case !wrote:
		outcome = "skipped"
	}
	m.saves.Add(ctx, 1, attr("operation", op, "outcome", outcome))
	m.duration.Record(ctx, time.Since(start).Seconds(), attr("operation", op))
}

func (m *storeMetrics) deleted(ctx context.Context, start time.Time, err error) {
	if m == nil {
		return
	}
	outcome := "deleted"
	if err != nil {
		outcome = "failed"
	}
	m.deletes.Add(ctx, 1, attr("outcome", outcome))
	m.duration.Record(ctx, time.Since(start).Seconds(), attr("operation", "delete"))
}
