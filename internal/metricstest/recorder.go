// Package metricstest is a smithy-go metrics.MeterProvider for tests that keeps every
// measurement, so that the store's and the credential cache's tests can read them back.
package metricstest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/aws/smithy-go/metrics"
)

// Recorder keeps every measurement, keyed by instrument name and its attributes
// ("name{k=v,k=v}"), and runs async callbacks on demand. It is safe for concurrent use.
type Recorder struct {
	metrics.NopMeter
	mu        sync.Mutex
	sums      map[string]float64
	counts    map[string]int
	units     map[string]string
	callbacks map[string]metrics.Float64Callback
	scopes    []string
}

// New returns an empty Recorder.
func New() *Recorder {
	return &Recorder{sums: map[string]float64{}, counts: map[string]int{}, units: map[string]string{}, callbacks: map[string]metrics.Float64Callback{}}
}

// Meter implements metrics.MeterProvider; it notes the scope.
func (r *Recorder) Meter(scope string, _ ...metrics.MeterOption) metrics.Meter {
	r.mu.Lock()
	r.scopes = append(r.scopes, scope)
	r.mu.Unlock()
	return r
}

func (r *Recorder) record(name string, v float64, opts []metrics.RecordMetricOption) {
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

func (r *Recorder) instrument(name string, opts []metrics.InstrumentOption) *instrument {
	var o metrics.InstrumentOptions
	for _, fn := range opts {
		fn(&o)
	}
	r.mu.Lock()
	r.units[name] = o.UnitLabel
	r.mu.Unlock()
	return &instrument{r: r, name: name}
}

// Int64Counter implements metrics.Meter.
func (r *Recorder) Int64Counter(name string, opts ...metrics.InstrumentOption) (metrics.Int64Counter, error) {
	return r.instrument(name, opts), nil
}

// Float64Histogram implements metrics.Meter.
func (r *Recorder) Float64Histogram(name string, opts ...metrics.InstrumentOption) (metrics.Float64Histogram, error) {
	return r.instrument(name, opts), nil
}

// Float64AsyncGauge implements metrics.Meter: Observe runs its callback.
func (r *Recorder) Float64AsyncGauge(name string, cb metrics.Float64Callback, opts ...metrics.InstrumentOption) (metrics.AsyncInstrument, error) {
	r.instrument(name, opts)
	r.mu.Lock()
	r.callbacks[name] = cb
	r.mu.Unlock()
	return stopper(func() { r.mu.Lock(); delete(r.callbacks, name); r.mu.Unlock() }), nil
}

// Observe runs the async callback of name, as a collection would, and returns what it observed.
func (r *Recorder) Observe(name string) []float64 {
	r.mu.Lock()
	cb := r.callbacks[name]
	r.mu.Unlock()
	var got []float64
	if cb != nil {
		cb(context.Background(), observer(func(v float64) { got = append(got, v) }))
	}
	return got
}

// Registered reports whether an async instrument of name is registered and not stopped.
func (r *Recorder) Registered(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.callbacks[name]
	return ok
}

// Sum is the sum of the measurements under key ("name{k=v,k=v}").
func (r *Recorder) Sum(key string) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sums[key]
}

// SumAll is the sum of the measurements of the instrument name, whatever their attributes.
func (r *Recorder) SumAll(name string) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	total := 0.0
	for k, v := range r.sums {
		if strings.HasPrefix(k, name+"{") {
			total += v
		}
	}
	return total
}

// Count is the number of measurements under key.
func (r *Recorder) Count(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[key]
}

// Unit is the unit the instrument name was created with.
func (r *Recorder) Unit(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.units[name]
}

// Scopes are the scopes meters were asked for, in order.
func (r *Recorder) Scopes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.scopes...)
}

type instrument struct {
	r    *Recorder
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
