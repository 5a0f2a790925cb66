package dynamostoretest

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"
)

// FaultKind is a network fault that a FaultTransport injects.
type FaultKind string

// The faults a FaultTransport injects, as real networks and DynamoDB produce them.
const (
	// FaultLostAnswer sends the request to DynamoDB, which applies it, then drops the answer:
	// the client sees a connection reset and the SDK retries a request that already happened.
	FaultLostAnswer FaultKind = "lost-answer"
	// FaultReset resets the connection before the request reaches DynamoDB.
	FaultReset FaultKind = "reset"
	// FaultServerError answers 500 InternalServerError without passing the request on.
	FaultServerError FaultKind = "server-error"
	// FaultThrottle answers 400 ThrottlingException without passing the request on.
	FaultThrottle FaultKind = "throttle"
	// FaultLatency delays the request by FaultOptions.LatencySpike, then sends it.
	FaultLatency FaultKind = "latency"
)

// FaultKinds lists every FaultKind, in a fixed order for reports.
var FaultKinds = []FaultKind{FaultLostAnswer, FaultReset, FaultServerError, FaultThrottle, FaultLatency}

// FaultOptions configures a FaultTransport. Each rate is the probability that a request gets
// that fault; at most one fault is drawn per request.
type FaultOptions struct {
	// Seed seeds the generator that draws the faults, so a run's fault mix is reproducible
	// (which request gets which fault still depends on the order in which requests arrive).
	Seed uint64
	// Rates by kind, from 0 to 1; their sum must not exceed 1.
	Rates map[FaultKind]float64
	// LatencySpike is the delay of FaultLatency. Default: 100 ms.
	LatencySpike time.Duration
	// Operations limits the drawn faults to these DynamoDB operations (GetItem, PutItem, ...).
	// Default: every operation.
	Operations []string
}

// FaultStats counts what a FaultTransport did.
type FaultStats struct {
	Requests int64               // requests seen
	Injected map[FaultKind]int64 // faults injected, by kind
	ByOp     map[string]int64    // faults injected, by DynamoDB operation
}

// FaultTransport is an http.RoundTripper for a DynamoDB client that injects network faults
// between the SDK and DynamoDB (Local): lost answers of applied writes, resets, 500 and
// throttling answers, latency spikes. The SDK's own retries see them exactly as they would
// see a real network's, which a fake ItemAPI cannot show. Use it with
// dynamodb.Options.HTTPClient = &http.Client{Transport: ft}.
type FaultTransport struct {
	base http.RoundTripper
	opts FaultOptions
	ops  map[string]bool

	mu       sync.Mutex
	rng      *rand.Rand
	queued   map[string][]FaultKind
	enabled  bool
	requests int64
	injected map[FaultKind]int64
	byOp     map[string]int64
}

// NewFaultTransport returns a FaultTransport in front of base (http.DefaultTransport when nil).
// It returns an error for rates outside 0..1 or adding up to more than 1.
func NewFaultTransport(base http.RoundTripper, opts FaultOptions) (*FaultTransport, error) {
	if base == nil {
		base = http.DefaultTransport
	}
	sum := 0.0
	for kind, rate := range opts.Rates {
		if rate < 0 || rate > 1 || rate != rate {
			return nil, fmt.Errorf("dynamostoretest: fault rate %v for %s is outside 0..1", rate, kind)
		}
		sum += rate
	}
	if sum > 1 {
		return nil, fmt.Errorf("dynamostoretest: fault rates add up to %v, more than 1", sum)
	}
	if opts.LatencySpike <= 0 {
		opts.LatencySpike = 100 * time.Millisecond
	}
	t := &FaultTransport{
		base: base, opts: opts, enabled: true,
		rng:      rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		queued:   map[string][]FaultKind{},
		injected: map[FaultKind]int64{},
		byOp:     map[string]int64{},
	}
	if len(opts.Operations) > 0 {
		t.ops = map[string]bool{}
		for _, op := range opts.Operations {
			t.ops[op] = true
		}
	}
	return t, nil
}

// Inject queues faults for the next requests of the DynamoDB operation op, one per request,
// in order, whatever the rates and even while drawing is disabled.
func (t *FaultTransport) Inject(op string, kinds ...FaultKind) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.queued[op] = append(t.queued[op], kinds...)
}

// SetEnabled turns the drawing of faults at the configured rates on or off (queued faults
// are always injected).
func (t *FaultTransport) SetEnabled(on bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.enabled = on
}

// Stats returns the counts so far.
func (t *FaultTransport) Stats() FaultStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := FaultStats{Requests: t.requests, Injected: map[FaultKind]int64{}, ByOp: map[string]int64{}}
	for k, v := range t.injected {
		st.Injected[k] = v
	}
	for k, v := range t.byOp {
		st.ByOp[k] = v
	}
	return st
}

// draw picks the fault for one request of op, if any.
func (t *FaultTransport) draw(op string) (FaultKind, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.requests++
	var kind FaultKind
	if q := t.queued[op]; len(q) > 0 {
		kind, t.queued[op] = q[0], q[1:]
	} else if t.enabled && (t.ops == nil || t.ops[op]) {
		x := t.rng.Float64()
		for _, k := range FaultKinds {
			if r := t.opts.Rates[k]; x < r {
				kind = k
				break
			} else {
				x -= r
			}
		}
	}
	if kind == "" {
		return "", false
	}
	t.injected[kind]++
	t.byOp[op]++
	return kind, true
}

// RoundTrip implements http.RoundTripper.
func (t *FaultTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
	kind, ok := t.draw(op)
	if !ok {
		return t.base.RoundTrip(r)
	}
	switch kind {
	case FaultLostAnswer:
		resp, err := t.base.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	case FaultLatency:
		timer := time.NewTimer(t.opts.LatencySpike)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-r.Context().Done():
			closeBody(r)
			return nil, r.Context().Err()
		}
		return t.base.RoundTrip(r)
	case FaultReset:
		closeBody(r)
		return nil, &net.OpError{Op: "write", Net: "tcp", Err: syscall.ECONNRESET}
	case FaultServerError:
		closeBody(r)
		return ddbAnswer(r, http.StatusInternalServerError, "com.amazonaws.dynamodb.v20120810#InternalServerError", "Internal server error"), nil
	default: // FaultThrottle
		closeBody(r)
		return ddbAnswer(r, http.StatusBadRequest, "com.amazonaws.dynamodb.v20120810#ThrottlingException", "Rate of requests exceeds the allowed throughput."), nil
	}
}

func closeBody(r *http.Request) {
	if r.Body != nil {
		_ = r.Body.Close()
	}
}

// ddbAnswer is a DynamoDB error answer.
func ddbAnswer(r *http.Request, status int, errType, message string) *http.Response {
	body := fmt.Sprintf(`{"__type":%q,"message":%q}`, errType, message)
	h := http.Header{}
	h.Set("Content-Type", "application/x-amz-json-1.0")
	h.Set("X-Amzn-Requestid", requestID())
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", status, http.StatusText(status)),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       r,
	}
}
