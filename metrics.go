package dynamostore

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/metrics"
)

// MeterScope is the scope (instrumentation name) of the meters the Store and Credentials ask
// of a MeterProvider.
const MeterScope = "github.com/dynamostore/dynamostore"

// The metrics, with their units and attributes. The Store reports the session ones when
// WithMeterProvider is set, and Credentials the credential ones when
// CredentialsOptions.MeterProvider is. The provider is smithy-go's metrics.MeterProvider, the
// one the AWS SDK clients take (dynamodb.Options.MeterProvider), so one OpenTelemetry bridge
// (smithy-go's metrics/smithyotelmetrics) serves both; see examples/otel.
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

	// MetricRenewals counts successful AssumeRole calls after the first retrieval ({renewal}).
	MetricRenewals = "dynamostore.credentials.renewals"
	// MetricRenewalFailures counts failed AssumeRole calls ({failure}), by "kind"
	// (non_recoverable or transient) and "error_code" (the AWS error code, such as
	// AccessDenied or Throttling, or network, timeout, expired_on_arrival, other).
	MetricRenewalFailures = "dynamostore.credentials.failures"
	// MetricWaits counts callers that waited for STS ({caller}), by "initial": true for the
	// first retrieval, false after it. The false series is the one that must stay at 0: a
	// rising count means renewals do not finish before the credentials expire.
	MetricWaits = "dynamostore.credentials.waits"
	// MetricExpiry is the time until the credentials in service expire, in seconds (s),
	// observed when the provider collects; nothing before the first retrieval.
	MetricExpiry = "dynamostore.credentials.expiry"
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

// credentialsMetrics holds the Credentials' instruments; a nil one records nothing.
type credentialsMetrics struct {
	renewals, failures, waits metrics.Int64Counter
	expiry                    metrics.AsyncInstrument
}

func newCredentialsMetrics(mp metrics.MeterProvider, c *Credentials) (*credentialsMetrics, error) {
	if mp == nil {
		return nil, nil
	}
	m := mp.Meter(MeterScope)
	var cm credentialsMetrics
	var errs [3]error
	cm.renewals, errs[0] = m.Int64Counter(MetricRenewals, unit("{renewal}", "Successful AssumeRole calls after the first retrieval"))
	cm.failures, errs[1] = m.Int64Counter(MetricRenewalFailures, unit("{failure}", "Failed AssumeRole calls, by kind and error code"))
	cm.waits, errs[2] = m.Int64Counter(MetricWaits, unit("{caller}", "Callers that waited for STS; after the first retrieval it must stay 0"))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
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

func (m *credentialsMetrics) waited(initial bool) {
	if m == nil {
		return
	}
	v := "false"
	if initial {
		v = "true"
	}
	m.waits.Add(context.Background(), 1, attr("initial", v))
}

func (m *credentialsMetrics) renewed(initial bool, err *RenewalError) {
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

func (m *credentialsMetrics) stop() {
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
