package credcache

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"
)

// defaultLifetime sizes the backoff before the first credentials arrive, when their lifetime
// is not known yet: STS's default.
const defaultLifetime = time.Hour

// Event describes one call of the provider, for Options.OnRenew.
type Event struct {
	Initial bool          // the first retrieval
	Expires time.Time     // expiry of the credentials in service after the call
	Calls   int64         // calls of the provider so far, this one included
	Err     error         // nil on success; an *Error otherwise
	RetryIn time.Duration // after a failure, when the next call may start
}

// Stats counts what the cache did. Waits is the figure to watch: callers that had to wait
// for the provider after the first retrieval.
type Stats struct {
	Calls        int64     // calls of the provider
	Failures     int64     // calls that failed
	Renewals     int64     // successful calls after the first retrieval
	InitialWaits int64     // callers that waited for the first retrieval
	Waits        int64     // callers that waited for the provider after the first retrieval
	MaxInFlight  int64     // most calls in flight at once: 1, unless a provider ignored its context past Timeout
	Expires      time.Time // expiry of the credentials in service (zero if none, or if they cannot expire)
	RenewAt      time.Time // when the next background renewal is due (zero if none)
	LastError    error     // the last failure, nil after a success
}

// Error reports a failed retrieval. It names the source (the role ARN for AssumeRole) and
// unwraps to the provider's error (for example smithy.APIError).
type Error struct {
	Source string
	// NonRecoverable is true for failures that retrying cannot fix: AccessDenied (trust
	// policy, ExternalId), MalformedPolicyDocument, PackedPolicyTooLarge, RegionDisabled,
	// ValidationError, a rejected web identity token, and credentials that had expired when
	// they arrived (a wrong clock). Those are answered from memory for NonRecoverableDelay.
	NonRecoverable bool
	Err            error
}

// Error implements error.
func (e *Error) Error() string {
	hint := ""
	if e.NonRecoverable {
		hint = " (not retried at once: check the role's trust policy, the ExternalId and the session parameters)"
	}
	return fmt.Sprintf("credcache: retrieve credentials from %s: %v%s", e.Source, e.Err, hint)
}

// Unwrap returns the underlying error, for errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Err }

// Cache is an aws.CredentialsProvider that keeps the credentials of another provider fresh
// so that no request waits for them after start-up: ahead of expiry, one renewal runs in the
// background while every caller keeps getting the current credentials; transient failures keep
// the still-valid credentials in service and are retried with jittered exponential backoff;
// non-recoverable failures are answered from memory for a while, without a retry storm. There
// is never more than one call of the provider in flight, unless a provider ignores its
// context: a call is not waited for beyond Timeout. A provider that panics fails the call,
// not the process. Only when the credentials are about
// to expire (MinRemaining) do callers wait, all on one call. Credentials that cannot expire
// are retrieved once and served as they are.
//
// Use one Cache per source and share it between clients: it is safe for concurrent use. Do
// not wrap it in aws.CredentialsCache, which would hide its renewals until expiry.
type Cache struct {
	provider aws.CredentialsProvider
	source   string
	o        Options

	mu       sync.Mutex
	creds    aws.Credentials
	have     bool // creds may be served
	started  bool // a retrieval has succeeded once
	lifetime time.Duration
	renewAt  time.Time // when the background renewal starts
	retryAt  time.Time // no new call before this (backoff)
	failures int       // consecutive
	lastErr  *Error
	flight   *flight
	wake     chan struct{} // closed (and replaced) when keep-warm loops should look again

	closeOnce sync.Once
	closed    chan struct{}

	calls, failed, renewals, initialWaits, waits, inFlight, maxInFlight atomic.Int64
	metrics                                                             *cacheMetrics
}

type flight struct {
	done  chan struct{}
	creds aws.Credentials
	err   error
}

var _ aws.CredentialsProvider = (*Cache)(nil)

// invalidator is a provider that caches on its own, such as aws.CredentialsCache (which
// config.LoadDefaultConfig puts around every provider): it is invalidated before each
// renewal, so that the renewal gets new credentials, not the ones being replaced.
type invalidator interface{ Invalidate() }

// isNil reports a nil interface value, typed or not: a nil provider's first call would panic
// in the renewing goroutine, and so would a nil instrument's.
func isNil(value any) bool {
	if value == nil {
		return true
	}
	switch v := reflect.ValueOf(value); v.Kind() {
	case reflect.Pointer, reflect.Func, reflect.Map, reflect.Chan, reflect.Interface, reflect.Slice:
		return v.IsNil()
	}
	return false
}

// New returns a Cache over provider: any aws.CredentialsProvider (web identity on EKS, ECS,
// SSO, IMDS, AssumeRole, one of your own). A provider that caches on its own and can be
// invalidated, such as the aws.CredentialsCache that config.LoadDefaultConfig returns, is
// invalidated before each renewal. New of a *Cache returns it as it is; with options, it is a
// *ConfigError (they could not apply). New makes no call until the first Retrieve (or
// KeepWarm). It returns a *ConfigError for options out of range.
func New(provider aws.CredentialsProvider, optFns ...func(*Options)) (*Cache, error) {
	if isNil(provider) {
		return nil, &ConfigError{Err: fmt.Errorf("the provider is a nil %T", provider)}
	}
	if c, ok := provider.(*Cache); ok {
		for _, fn := range optFns {
			if fn != nil {
				return nil, &ConfigError{Err: errors.New("the provider is already a *Cache: its options were set by New or AssumeRole, and cannot be changed")}
			}
		}
		return c, nil
	}
	var o Options
	for _, fn := range optFns {
		if fn != nil {
			fn(&o)
		}
	}
	return newCache(provider, fmt.Sprintf("%T", provider), defaultLifetime, o)
}

func newCache(provider aws.CredentialsProvider, source string, lifetime time.Duration, o Options) (*Cache, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	c := &Cache{provider: provider, source: source, o: o, lifetime: lifetime,
		closed: make(chan struct{}), wake: make(chan struct{})}
	m, err := newCacheMetrics(o.MeterProvider, c)
	if err != nil { // a broken provider costs the metrics, never the credentials
		o.Logger.Warn("credcache: metrics disabled: the MeterProvider failed", "source", source, "error", err)
	}
	c.metrics = m
	return c, nil
}

// Retrieve returns the current credentials. It waits for the provider only for the first
// retrieval and when the credentials are about to expire (both bounded by ctx and Timeout);
// otherwise it returns at once, starting a background renewal when one is due. On failure it
// returns an *Error.
func (c *Cache) Retrieve(ctx context.Context) (aws.Credentials, error) {
	now := c.o.Clock()
	c.mu.Lock()
	if c.have && c.fresh(now) {
		creds := c.creds
		if creds.CanExpire && !now.Before(c.renewAt) {
			c.startLocked(now)
		}
		c.mu.Unlock()
		return creds, nil
	}
	f := c.startLocked(now)
	if f == nil { // backing off after a failure: answer from memory, no storm
		creds, valid := c.creds, c.have && c.valid(now)
		var err error = c.lastErr
		if c.lastErr == nil {
			err = &Error{Source: c.source, Err: errors.New("no credentials yet")}
		}
		c.mu.Unlock()
		if valid {
			return creds, nil
		}
		return aws.Credentials{}, err
	}
	initial := !c.started
	c.mu.Unlock()
	if initial {
		c.initialWaits.Add(1)
	} else {
		c.waits.Add(1)
	}
	c.metrics.waited(initial)
	select {
	case <-f.done:
	case <-ctx.Done():
		return aws.Credentials{}, &Error{Source: c.source, Err: ctx.Err()}
	}
	if f.err == nil {
		return f.creds, nil
	}
	c.mu.Lock()
	creds, valid := c.creds, c.have && c.valid(c.o.Clock())
	c.mu.Unlock()
	if valid { // still good for a moment: better than failing the request
		return creds, nil
	}
	return aws.Credentials{}, f.err
}

// fresh reports whether the credentials in service are outside the MinRemaining margin.
// c.mu must be held.
func (c *Cache) fresh(now time.Time) bool {
	return !c.creds.CanExpire || now.Before(c.creds.Expires.Add(-c.minRemaining()))
}

// valid reports whether the credentials in service have not expired. c.mu must be held.
func (c *Cache) valid(now time.Time) bool {
	return !c.creds.CanExpire || now.Before(c.creds.Expires)
}

// startLocked starts a call of the provider unless one is in flight (then it returns that
// one) or a backoff is running (then it returns nil). c.mu must be held.
func (c *Cache) startLocked(now time.Time) *flight {
	if c.flight != nil {
		return c.flight
	}
	if now.Before(c.retryAt) {
		return nil
	}
	f := &flight{done: make(chan struct{})}
	c.flight = f
	go c.run(f)
	return f
}

func (c *Cache) run(f *flight) {
	c.calls.Add(1)
	n := c.inFlight.Add(1)
	for m := c.maxInFlight.Load(); n > m && !c.maxInFlight.CompareAndSwap(m, n); m = c.maxInFlight.Load() {
	}
	c.mu.Lock()
	renewal := c.started
	c.mu.Unlock()
	creds, err := c.call(renewal)

	now := c.o.Clock()
	if err == nil && creds.CanExpire && !creds.Expires.After(now) {
		err = &expiredOnArrival{expires: creds.Expires, now: now}
	}
	c.mu.Lock()
	initial := !c.started
	event := Event{Initial: initial}
	if err != nil {
		c.failed.Add(1)
		c.failures++
		ce := &Error{Source: c.source, NonRecoverable: nonRecoverable(err), Err: err}
		delay := c.o.NonRecoverableDelay
		if !ce.NonRecoverable {
			delay = c.backoff(c.failures)
		}
		// Whatever was configured, the provider is asked again within a sixth of the
		// lifetime, so that one failure at the renewal time cannot outlast the credentials.
		delay = jitter(min(delay, max(c.lifetime/6, time.Millisecond)))
		c.retryAt = now.Add(delay)
		c.lastErr = ce
		f.err = ce
		event.Err, event.RetryIn = ce, delay
	} else {
		c.creds, c.have, c.started = creds, true, true
		c.renewAt = time.Time{}
		if creds.CanExpire {
			c.lifetime = min(creds.Expires.Sub(now), maxLifetime)
			// Never sooner than minRenewalInterval: credentials that live milliseconds are
			// renewed at a bounded pace, and callers wait for them only when they expire.
			c.renewAt = creds.Expires.Add(-c.renewBefore())
			if floor := now.Add(minRenewalInterval); c.renewAt.Before(floor) {
				c.renewAt = floor
			}
		}
		c.failures, c.lastErr, c.retryAt = 0, nil, time.Time{}
		f.creds = creds
		if !initial {
			c.renewals.Add(1)
		}
	}
	if c.have && c.creds.CanExpire { // credentials still in service
		event.Expires = c.creds.Expires
	}
	event.Calls = c.calls.Load()
	c.flight = nil
	c.mu.Unlock()
	// Counted before the waiting callers go, so that a metric never lags what they saw.
	ce, _ := f.err.(*Error)
	c.metrics.renewed(initial, ce)
	close(f.done)
	c.signal()
	c.report(event)
}

// maxLifetime bounds the lifetime the windows are computed from, so that credentials that
// expire in centuries do not overflow them.
const maxLifetime = 100 * 365 * 24 * time.Hour

// minRenewalInterval is the least time between a retrieval and the background renewal after it.
const minRenewalInterval = 100 * time.Millisecond

// call asks the provider once, within Timeout. A provider that ignores its context is not
// waited for beyond Timeout (its call goes on, and its answer is dropped), and one that
// panics fails the call, never the process.
func (c *Cache) call(renewal bool) (aws.Credentials, error) {
	type answer struct {
		creds aws.Credentials
		err   error
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.o.Timeout)
	defer cancel()
	done := make(chan answer, 1)
	go func() {
		defer c.inFlight.Add(-1)
		defer func() {
			if p := recover(); p != nil {
				done <- answer{err: &providerPanic{value: p}}
			}
		}()
		if inv, ok := c.provider.(invalidator); ok && renewal {
			inv.Invalidate() // a cache of its own would answer with the credentials being replaced
		}
		creds, err := c.provider.Retrieve(ctx)
		done <- answer{creds, err}
	}()
	select {
	case a := <-done:
		return a.creds, a.err
	case <-ctx.Done():
		select {
		case a := <-done: // it answered as its context ended
			return a.creds, a.err
		default:
			return aws.Credentials{}, fmt.Errorf("the provider did not answer within Timeout (%v): %w", c.o.Timeout, ctx.Err())
		}
	}
}

// providerPanic is a provider's panic, as a failure: retrying will not fix it.
type providerPanic struct{ value any }

func (e *providerPanic) Error() string { return fmt.Sprintf("the provider panicked: %v", e.value) }

func (c *Cache) report(e Event) {
	log := c.o.Logger
	switch {
	case e.Err == nil && e.Initial:
		log.Info("credcache: retrieved credentials", "source", c.source, "expires", formatExpiry(e.Expires), "calls", e.Calls)
	case e.Err == nil:
		log.Info("credcache: renewed credentials", "source", c.source, "expires", formatExpiry(e.Expires), "calls", e.Calls)
	case e.Expires.IsZero() && !c.servingForever():
		log.Error("credcache: retrieval failed", "source", c.source, "error", e.Err, "retry_in", e.RetryIn)
	default:
		log.Warn("credcache: renewal failed; the current credentials stay in service", "source", c.source,
			"error", e.Err, "retry_in", e.RetryIn, "expires", formatExpiry(e.Expires))
	}
	if c.o.OnRenew != nil {
		defer func() {
			if p := recover(); p != nil {
				log.Error("credcache: the OnRenew hook panicked", "source", c.source, "panic", p)
			}
		}()
		c.o.OnRenew(e)
	}
}

// servingForever reports whether credentials that cannot expire are in service.
func (c *Cache) servingForever() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.have && !c.creds.CanExpire
}

func formatExpiry(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Format(time.RFC3339)
}

// Invalidate drops the credentials with accessKeyID if they are still the current ones, so the
// next Retrieve waits for a renewal. Call it when a service rejects them as expired or unknown;
// RecoverRejected does. It reports whether they were dropped.
func (c *Cache) Invalidate(accessKeyID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.have || c.creds.AccessKeyID != accessKeyID {
		return false
	}
	c.have = false
	c.retryAt = time.Time{} // the next Retrieve asks at once, even during a backoff
	c.o.Logger.Warn("credcache: credentials rejected by a service; renewing", "source", c.source)
	return true
}

// KeepWarm renews the credentials in the background, without traffic, until ctx ends or Close
// is called: the first retrieval starts at once, and every renewal at its due time. It returns
// immediately. On a nil *Cache it does nothing.
func (c *Cache) KeepWarm(ctx context.Context) {
	if c == nil {
		return
	}
	go func() {
		for {
			select { // Close, or a context that has ended, stops it before any call
			case <-ctx.Done():
				return
			case <-c.closed:
				return
			default:
			}
			c.mu.Lock()
			wake := c.wake
			now := c.o.Clock()
			next := c.retryAt
			switch {
			case c.have && !c.creds.CanExpire:
				next = now.Add(24 * time.Hour) // nothing to renew; woken by Invalidate's next retrieval
			case c.have && c.renewAt.After(next):
				next = c.renewAt
			}
			if !next.After(now) {
				c.startLocked(now)
				next = now.Add(time.Hour) // woken by signal when the call ends
			}
			c.mu.Unlock()
			timer := time.NewTimer(next.Sub(now))
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-c.closed:
				timer.Stop()
				return
			case <-wake:
			case <-timer.C:
			}
			timer.Stop()
		}
	}()
}

// Close stops KeepWarm and the expiry gauge. The Cache keeps working on demand after Close.
// On a nil *Cache it does nothing.
func (c *Cache) Close() error {
	if c == nil {
		return nil
	}
	c.closeOnce.Do(func() {
		close(c.closed)
		c.metrics.stop()
	})
	return nil
}

// signal wakes every KeepWarm loop (there may be several, each with its own context).
func (c *Cache) signal() {
	c.mu.Lock()
	close(c.wake)
	c.wake = make(chan struct{})
	c.mu.Unlock()
}

// Stats returns the cache's counts.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	var expires, renewAt time.Time
	if c.have && c.creds.CanExpire {
		expires, renewAt = c.creds.Expires, c.renewAt
	}
	var lastErr error
	if c.lastErr != nil {
		lastErr = c.lastErr
	}
	c.mu.Unlock()
	return Stats{
		Calls:        c.calls.Load(),
		Failures:     c.failed.Load(),
		Renewals:     c.renewals.Load(),
		InitialWaits: c.initialWaits.Load(),
		Waits:        c.waits.Load(),
		MaxInFlight:  c.maxInFlight.Load(),
		Expires:      expires,
		RenewAt:      renewAt,
		LastError:    lastErr,
	}
}

// renewBefore is the jittered lead of the background renewal: at most half the lifetime (three
// quarters with the jitter), and at least twice the MinRemaining margin, so the renewal
// always starts before callers would have to wait, and never right after the last one.
// c.mu must be held.
func (c *Cache) renewBefore() time.Duration {
	lead := c.o.RenewBefore
	if lead == 0 {
		lead = min(c.lifetime/3, 15*time.Minute)
	}
	lead = max(min(lead, c.lifetime/2), min(2*c.minRemaining(), c.lifetime/2))
	jittered := lead + time.Duration(rand.Float64()*c.o.Jitter*float64(lead))
	return min(jittered, c.lifetime-c.lifetime/4) // three quarters, without overflowing

}

// minRemaining is the margin for the current lifetime: at most a quarter of it, so that
// credentials granted for less than the configured margin are still used. c.mu must be held.
func (c *Cache) minRemaining() time.Duration {
	if c.o.MinRemaining > 0 {
		return min(c.o.MinRemaining, c.lifetime/4)
	}
	return min(c.lifetime/10, time.Minute)
}

// backoff is the delay after the n-th consecutive transient failure, before jitter.
func (c *Cache) backoff(n int) time.Duration {
	base, maxDelay := c.o.RetryBaseDelay, c.o.RetryMaxDelay
	if base == 0 {
		base = min(max(c.lifetime/60, 50*time.Millisecond), time.Second)
	}
	if maxDelay == 0 {
		maxDelay = min(max(c.lifetime/12, 250*time.Millisecond), 30*time.Second)
	}
	// Whatever was configured, a retry comes within a sixth of the lifetime, so that a
	// renewal that meets a failure is tried again well before the credentials expire.
	maxDelay = max(min(maxDelay, c.lifetime/6), time.Millisecond)
	base = min(base, maxDelay)
	d := base
	for i := 1; i < n && d < maxDelay; i++ {
		d *= 2
	}
	return min(d, maxDelay)
}

// jitter returns a random duration in [d/2, d] (zero for d <= 0).
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// expiredOnArrival means the provider returned credentials whose expiry had passed by the
// clock of this process when they arrived: the clock is wrong, and asking again does not help.
type expiredOnArrival struct{ expires, now time.Time }

func (e *expiredOnArrival) Error() string {
	return fmt.Sprintf("the provider returned credentials that expire at %s, which is already past by this machine's clock (%s): check the clock",
		e.expires.UTC().Format(time.RFC3339), e.now.UTC().Format(time.RFC3339))
}

// nonRecoverable reports failures that retrying cannot fix.
func nonRecoverable(err error) bool {
	var expired *expiredOnArrival
	var panicked *providerPanic
	if errors.As(err, &expired) || errors.As(err, &panicked) {
		return true
	}
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch strings.TrimSuffix(apiErr.ErrorCode(), "Exception") {
	case "AccessDenied", "MalformedPolicyDocument", "PackedPolicyTooLarge", "RegionDisabled",
		"ValidationError", "IDPRejectedClaim", "InvalidIdentityToken":
		return true
	}
	return false
}
