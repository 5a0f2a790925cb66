package dynamostore_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/smithy-go/metrics"
	"github.com/gorilla/sessions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/dynamostoretest"
)

// recorder is a metrics.MeterProvider that keeps every measurement, keyed by instrument name
// and its attributes ("name{k=v,k=v}"), and runs async callbacks on demand.
type recorder struct {
	metrics.NopMeter
	mu        sync.Mutex
	sums      map[string]float64
	counts    map[string]int
	units     map[string]string
	callbacks map[string]metrics.Float64Callback
	scopes    []string
}

func newRecorder() *recorder {
	return &recorder{sums: map[string]float64{}, counts: map[string]int{}, units: map[string]string{}, callbacks: map[string]metrics.Float64Callback{}}
}

func (r *recorder) Meter(scope string, _ ...metrics.MeterOption) metrics.Meter {
	r.mu.Lock()
	r.scopes = append(r.scopes, scope)
	r.mu.Unlock()
	return r
}

func (r *recorder) record(name string, v float64, opts []metrics.RecordMetricOption) {
	var o metrics.RecordMetricOptions
	for _, fn := range opts {
		fn(&o)
	}
	var attrs []string
	for k, val := range o.Properties.Values() {
		attrs = append(attrs, fmt.Sprintf("%v=%v", k, val))
	}
	sort.Strings(attrs)
	key := name + "{" + strings.Join(attrs, ",") + "}"
	r.mu.Lock()
	r.sums[key] += v
	r.counts[key]++
	r.mu.Unlock()
}

func (r *recorder) instrument(name string, opts []metrics.InstrumentOption) *instrument {
	var o metrics.InstrumentOptions
	for _, fn := range opts {
		fn(&o)
	}
	r.mu.Lock()
	r.units[name] = o.UnitLabel
	r.mu.Unlock()
	return &instrument{r: r, name: name}
}

func (r *recorder) Int64Counter(name string, opts ...metrics.InstrumentOption) (metrics.Int64Counter, error) {
	return r.instrument(name, opts), nil
}

func (r *recorder) Float64Histogram(name string, opts ...metrics.InstrumentOption) (metrics.Float64Histogram, error) {
	return r.instrument(name, opts), nil
}

func (r *recorder) Float64AsyncGauge(name string, cb metrics.Float64Callback, opts ...metrics.InstrumentOption) (metrics.AsyncInstrument, error) {
	r.instrument(name, opts)
	r.mu.Lock()
	r.callbacks[name] = cb
	r.mu.Unlock()
	return stopper(func() { r.mu.Lock(); delete(r.callbacks, name); r.mu.Unlock() }), nil
}

// observe runs the async callback of name, as a collection would, and returns what it observed.
func (r *recorder) observe(name string) []float64 {
	r.mu.Lock()
	cb := r.callbacks[name]
	r.mu.Unlock()
	var got []float64
	if cb != nil {
		cb(context.Background(), observer(func(v float64) { got = append(got, v) }))
	}
	return got
}

func (r *recorder) sum(key string) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sums[key]
}

func (r *recorder) count(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[key]
}

type instrument struct {
	r    *recorder
	name string
}

func (i *instrument) Add(_ context.Context, v int64, o ...metrics.RecordMetricOption) {
	i.r.record(i.name, float64(v), o)
}

func (i *instrument) Record(_ context.Context, v float64, o ...metrics.RecordMetricOption) {
	i.r.record(i.name, v, o)
}

type stopper func()

func (s stopper) Stop() { s() }

type observer func(float64)

func (o observer) Observe(_ context.Context, v float64, _ ...metrics.RecordMetricOption) { o(v) }

// Every load and save outcome shows in the Store's metrics, on DynamoDB Local.
func TestStoreMetrics(t *testing.T) {
	rec := newRecorder()
	f := newFixture(t, dynamostore.WithMeterProvider(rec), dynamostore.WithOptimisticLocking(true),
		dynamostore.WithMaxLength(2000))
	loads := func(outcome string) float64 { return rec.sum(dynamostore.MetricLoads + "{outcome=" + outcome + "}") }
	saves := func(op, outcome string) float64 {
		return rec.sum(dynamostore.MetricSaves + "{operation=" + op + ",outcome=" + outcome + "}")
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
	assert.Equal(t, 2.0, rec.sum(dynamostore.MetricDeletes+"{outcome=deleted}"))
	assert.Equal(t, 15, rec.count(dynamostore.MetricDuration+"{operation=load}"))
	assert.Equal(t, 9, rec.count(dynamostore.MetricDuration+"{operation=save}"))
	assert.Positive(t, rec.sum(dynamostore.MetricDuration+"{operation=save}"))
	assert.Equal(t, "s", rec.units[dynamostore.MetricDuration])
	assert.Equal(t, "{load}", rec.units[dynamostore.MetricLoads])
	assert.Equal(t, []string{dynamostore.MeterScope}, rec.scopes)
}

// The credentials report renewals, failures by kind, waits and the time to expiry, through
// the STS emulator and the gateway.
func TestCredentialsMetrics(t *testing.T) {
	x := newXFixture(t, dynamostoretest.CrossAccountOptions{})
	x.STS.SetLifetime(3 * time.Second)
	rec := newRecorder()
	store, creds := x.ours(t, func(o *dynamostore.CredentialsOptions) {
		o.MeterProvider = rec
		o.RetryBaseDelay, o.RetryMaxDelay = 10*time.Millisecond, 50*time.Millisecond
	})
	assert.Empty(t, rec.observe(dynamostore.MetricExpiry), "nothing to observe before the first retrieval")
	b := newBrowser()
	_, err := b.visit(t, store, func(s *sessions.Session) bool { s.Values["a"] = 1; return true })
	require.NoError(t, err)
	got := rec.observe(dynamostore.MetricExpiry)
	require.Len(t, got, 1)
	assert.InDelta(t, 3, got[0], 1, "seconds until expiry")

	x.STS.FailNext("Throttling", 1) // one transient failure at the next renewal, then success
	require.Eventually(t, func() bool {
		_, err := b.visit(t, store, func(s *sessions.Session) bool { s.Values["a"] = 2; return true })
		require.NoError(t, err)
		return creds.Stats().Renewals >= 2
	}, 15*time.Second, 50*time.Millisecond)

	assert.Equal(t, float64(creds.Stats().Renewals), rec.sum(dynamostore.MetricRenewals+"{}"))
	assert.Equal(t, 1.0, rec.sum(dynamostore.MetricRenewalFailures+"{error_code=Throttling,kind=transient}"))
	assert.Equal(t, 1.0, rec.sum(dynamostore.MetricWaits+"{initial=true}"))
	assert.Zero(t, rec.sum(dynamostore.MetricWaits+"{initial=false}"), "no caller waited after the first retrieval")

	require.NoError(t, creds.Close())
	assert.Empty(t, rec.observe(dynamostore.MetricExpiry), "Close stops the gauge")
}

// A role that does not trust the caller: the failure is counted as non-recoverable, with AWS's code.
func TestCredentialsMetricsNonRecoverable(t *testing.T) {
	x := newXFixture(t, dynamostoretest.CrossAccountOptions{})
	rec := newRecorder()
	store, _ := x.ours(t, func(o *dynamostore.CredentialsOptions) {
		o.MeterProvider = rec
		o.ExternalID = "wrong"
	})
	_, err := newBrowser().visit(t, store, func(s *sessions.Session) bool { s.Values["a"] = 1; return true })
	require.Error(t, err)
	assert.Equal(t, 1.0, rec.sum(dynamostore.MetricRenewalFailures+"{error_code=AccessDenied,kind=non_recoverable}"))
}
