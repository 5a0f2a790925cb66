package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/metrics"
)

// DefaultRoleDuration is the lifetime asked of STS: an hour, STS's own default (the SDK's
// stscreds asks for 15 minutes).
const DefaultRoleDuration = time.Hour

// CredentialsOptions configures NewAssumeRoleCredentials. Zero values take the defaults in
// the comments. Windows and delays that depend on the credentials' lifetime are computed from
// the lifetime STS actually granted, so the same defaults suit 15-minute and 12-hour roles.
//
// No value can make the provider panic, call STS in a loop or stop renewing. A value outside
// the range given in its comment is replaced, and the Logger gets a warning naming the option,
// the value and what is used instead: negative durations take the default, the others are
// clamped. Margins larger than the granted lifetime allows are shrunk for that lifetime:
// MinRemaining to at most a quarter of it and RenewBefore to at most half, so credentials
// that STS grants for less than the margins ask are still used, and renewed at a sane pace.
type CredentialsOptions struct {
	// ExternalID is passed to AssumeRole when the role's trust policy requires one.
	ExternalID string
	// RoleSessionName names the session in CloudTrail. Default: "dynamostore-" + host name,
	// cleaned to STS's rules (2-64 characters of [\w+=,.@-]).
	RoleSessionName string
	// Duration is the lifetime asked of STS, 15 minutes to 12 hours (STS's limits; the role's
	// MaxSessionDuration may be lower, and STS says so). Default: DefaultRoleDuration.
	Duration time.Duration
	// SourceIdentity, Tags, TransitiveTagKeys, Policy and PolicyARNs are passed to AssumeRole.
	SourceIdentity    string
	Tags              []ststypes.Tag
	TransitiveTagKeys []string
	Policy            string
	PolicyARNs        []ststypes.PolicyDescriptorType
	// AssumeRoleOptions are applied last to stscreds.AssumeRoleOptions, for anything else
	// (SerialNumber and TokenProvider for MFA, for example).
	AssumeRoleOptions []func(*stscreds.AssumeRoleOptions)

	// RenewBefore is how long before expiry the background renewal starts, plus up to Jitter
	// of it at random so that many processes do not renew at once. Default: a third of the
	// lifetime, at most 15 minutes (5 minutes before a 15-minute credential expires, 15 before
	// an hour's or a 12-hour one's).
	RenewBefore time.Duration
	// Jitter is the random fraction of RenewBefore added to it, 0 to 1. Default: 0.25.
	Jitter float64
	// MinRemaining is the margin below which credentials count as expiring: Retrieve then waits
	// for a renewal instead of returning them. Default: a tenth of the lifetime, at most 1 minute.
	MinRemaining time.Duration
	// Timeout bounds each AssumeRole call, at least 100 ms. Default: 10 seconds.
	Timeout time.Duration
	// RetryBaseDelay and RetryMaxDelay bound the jittered exponential backoff after a transient
	// STS failure (throttling, 5xx, network, timeout); the base is at least 10 ms, the
	// maximum at least the base, and both at most a sixth of the lifetime. Defaults: a sixtieth of the lifetime between 50 ms and 1 s,
	// and a twelfth of it between 250 ms and 30 s.
	RetryBaseDelay, RetryMaxDelay time.Duration
	// NonRecoverableDelay is how long a non-recoverable failure (AccessDenied, ValidationError,
	// ...) is answered from memory before STS is asked again, at least 100 ms. Default: 5 seconds.
	NonRecoverableDelay time.Duration

	// MeterProvider receives the credentials' metrics (MetricRenewals, MetricRenewalFailures,
	// MetricWaits, MetricExpiry): smithy-go's interface, which the AWS SDK clients take too.
	// Default: nil, no metrics. Close stops the expiry gauge.
	MeterProvider metrics.MeterProvider

	// Logger gets one line per renewal and per failure; never a key or token. Default: discard.
	Logger *slog.Logger
	// OnRenew is called after every AssumeRole call, in the renewing goroutine.
	OnRenew func(RenewalEvent)
	// Clock is for tests. Default: time.Now.
	Clock func() time.Time
}

// RenewalEvent describes one AssumeRole call, for CredentialsOptions.OnRenew.
type RenewalEvent struct {
	Initial         bool          // the first retrieval
	Expires         time.Time     // expiry of the credentials in service after the call
	AssumeRoleCalls int64         // calls so far, this one included
	Err             error         // nil on success; a *RenewalError otherwise
	RetryIn         time.Duration // after a failure, when the next attempt may start
}

// CredentialsStats counts what the provider did. Waits is the figure to watch: callers that
// had to wait for STS after the first retrieval.
type CredentialsStats struct {
	AssumeRoleCalls int64     // STS calls made
	Failures        int64     // STS calls that failed
	Renewals        int64     // successful calls after the first retrieval
	InitialWaits    int64     // callers that waited for the first retrieval
	Waits           int64     // callers that waited for STS after the first retrieval
	MaxInFlight     int64     // most AssumeRole calls in flight at once (never above 1)
	Expires         time.Time // expiry of the credentials in service (zero if none)
	RenewAt         time.Time // when the next background renewal is due (zero if none)
	LastError       error     // the last failure, nil after a success
}

// RenewalError reports a failed AssumeRole. It names the role and unwraps to the SDK's error
// (for example smithy.APIError).
type RenewalError struct {
	RoleARN string
	// NonRecoverable is true for failures that retrying cannot fix: AccessDenied (trust
	// policy, ExternalId), MalformedPolicyDocument, PackedPolicyTooLarge, RegionDisabled and
	// ValidationError. Those are not retried in the background.
	NonRecoverable bool
	Err            error
}

// Error implements error.
func (e *RenewalError) Error() string {
	hint := ""
	if e.NonRecoverable {
		hint = " (not retried: check the role's trust policy, the ExternalId and the session parameters)"
	}
	return fmt.Sprintf("dynamostore: assume role %s: %v%s", e.RoleARN, e.Err, hint)
}

// Unwrap returns the underlying error, for errors.Is and errors.As.
func (e *RenewalError) Unwrap() error { return e.Err }

// Credentials is an aws.CredentialsProvider for a role in another account. It wraps
// stscreds.AssumeRoleProvider in a cache built so that no request waits for STS after
// start-up: ahead of expiry, one renewal runs in the background while every caller keeps
// getting the current credentials; transient STS failures keep the still-valid credentials in
// service and are retried with jittered exponential backoff; non-recoverable failures are
// reported at once without a retry storm. There is never more than one AssumeRole in flight.
// Only when the credentials are about to expire (MinRemaining) do callers wait, all on one call.
//
// Use one Credentials per role and share it between clients: it is safe for concurrent use.
// Do not wrap it in aws.CredentialsCache, which would hide its renewals until expiry.
type Credentials struct {
	provider *stscreds.AssumeRoleProvider
	roleARN  string
	o        CredentialsOptions

	mu       sync.Mutex
	creds    aws.Credentials
	have     bool // creds may be served
	started  bool // a retrieval has succeeded once
	lifetime time.Duration
	renewAt  time.Time // when the background renewal starts
	retryAt  time.Time // no new STS call before this (backoff)
	failures int       // consecutive
	lastErr  *RenewalError
	flight   *flight
	wake     chan struct{} // signalled when keep-warm should look again

	closeOnce sync.Once
	closed    chan struct{}

	calls, failed, renewals, initialWaits, waits, inFlight, maxInFlight atomic.Int64
	metrics                                                             *credentialsMetrics
}

type flight struct {
	done  chan struct{}
	creds aws.Credentials
	err   error
}

var _ aws.CredentialsProvider = (*Credentials)(nil)

// NewAssumeRoleCredentials returns credentials for roleARN, obtained with client (an STS
// client in the caller's account). It makes no call until the first Retrieve (or KeepWarm).
// client should not retry on its own (sts.Options.RetryMaxAttempts = 1): the cache retries
// with backoff suited to the credentials' lifetime. NewCrossAccount sets this up.
func NewAssumeRoleCredentials(client stscreds.AssumeRoleAPIClient, roleARN string, optFns ...func(*CredentialsOptions)) *Credentials {
	o := CredentialsOptions{}
	for _, fn := range optFns {
		if fn != nil {
			fn(&o)
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.sanitize()
	if o.RoleSessionName == "" {
		o.RoleSessionName = defaultSessionName()
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	provider := stscreds.NewAssumeRoleProvider(client, roleARN, func(ao *stscreds.AssumeRoleOptions) {
		ao.RoleSessionName = o.RoleSessionName
		ao.Duration = o.Duration
		if o.ExternalID != "" {
			ao.ExternalID = aws.String(o.ExternalID)
		}
		if o.SourceIdentity != "" {
			ao.SourceIdentity = aws.String(o.SourceIdentity)
		}
		if o.Policy != "" {
			ao.Policy = aws.String(o.Policy)
		}
		ao.Tags = o.Tags
		ao.TransitiveTagKeys = o.TransitiveTagKeys
		ao.PolicyARNs = o.PolicyARNs
		for _, fn := range o.AssumeRoleOptions {
			fn(ao)
		}
	})
	c := &Credentials{provider: provider, roleARN: roleARN, o: o, lifetime: o.Duration,
		closed: make(chan struct{}), wake: make(chan struct{}, 1)}
	m, err := newCredentialsMetrics(o.MeterProvider, c)
	if err != nil { // a broken provider costs the metrics, never the credentials
		o.Logger.Warn("dynamostore: credentials metrics disabled: the MeterProvider failed", "error", err)
	}
	c.metrics = m
	return c
}

// RoleARN returns the role these credentials assume.
func (c *Credentials) RoleARN() string { return c.roleARN }

// Retrieve returns the current credentials. It waits for STS only for the first retrieval and
// when the credentials are about to expire (both bounded by ctx and Timeout); otherwise it
// returns at once, starting a background renewal when one is due. On failure it returns a
// *RenewalError.
func (c *Credentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	now := c.o.Clock()
	c.mu.Lock()
	if c.have && now.Before(c.creds.Expires.Add(-c.minRemaining())) {
		creds := c.creds
		if !now.Before(c.renewAt) {
			c.startLocked(now)
		}
		c.mu.Unlock()
		return creds, nil
	}
	f := c.startLocked(now)
	if f == nil { // backing off after a failure: answer from memory, no STS storm
		creds, valid := c.creds, c.have && now.Before(c.creds.Expires)
		var err error = c.lastErr
		if c.lastErr == nil {
			err = &RenewalError{RoleARN: c.roleARN, Err: errors.New("no credentials yet")}
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
		return aws.Credentials{}, &RenewalError{RoleARN: c.roleARN, Err: ctx.Err()}
	}
	if f.err == nil {
		return f.creds, nil
	}
	c.mu.Lock()
	creds, valid := c.creds, c.have && c.o.Clock().Before(c.creds.Expires)
	c.mu.Unlock()
	if valid { // still good for a moment: better than failing the request
		return creds, nil
	}
	return aws.Credentials{}, f.err
}

// startLocked starts an AssumeRole unless one is in flight (then it returns that one) or a
// backoff is running (then it returns nil). c.mu must be held.
func (c *Credentials) startLocked(now time.Time) *flight {
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

func (c *Credentials) run(f *flight) {
	c.calls.Add(1)
	n := c.inFlight.Add(1)
	for m := c.maxInFlight.Load(); n > m && !c.maxInFlight.CompareAndSwap(m, n); m = c.maxInFlight.Load() {
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.o.Timeout)
	creds, err := c.provider.Retrieve(ctx)
	cancel()
	c.inFlight.Add(-1)

	now := c.o.Clock()
	if err == nil && !creds.Expires.After(now) {
		err = &expiredOnArrival{expires: creds.Expires, now: now}
	}
	c.mu.Lock()
	initial := !c.started
	event := RenewalEvent{Initial: initial}
	if err != nil {
		c.failed.Add(1)
		c.failures++
		re := &RenewalError{RoleARN: c.roleARN, NonRecoverable: nonRecoverable(err), Err: err}
		delay := c.o.NonRecoverableDelay
		if !re.NonRecoverable {
			delay = c.backoff(c.failures)
		}
		delay = jitter(delay)
		c.retryAt = now.Add(delay)
		c.lastErr = re
		f.err = re
		event.Err, event.RetryIn = re, delay
	} else {
		c.creds, c.have, c.started = creds, true, true
		c.lifetime = creds.Expires.Sub(now)
		c.renewAt = creds.Expires.Add(-c.renewBefore())
		c.failures, c.lastErr, c.retryAt = 0, nil, time.Time{}
		f.creds = creds
		if !initial {
			c.renewals.Add(1)
		}
	}
	event.Expires = c.creds.Expires
	event.AssumeRoleCalls = c.calls.Load()
	c.flight = nil
	c.mu.Unlock()
	// Counted before the waiting callers go, so that a metric never lags what they saw.
	renewErr, _ := f.err.(*RenewalError)
	c.metrics.renewed(initial, renewErr)
	close(f.done)
	c.signal()
	c.report(event)
}

func (c *Credentials) report(e RenewalEvent) {
	log := c.o.Logger
	switch {
	case e.Err == nil && e.Initial:
		log.Info("dynamostore: assumed role", "role", c.roleARN, "expires", e.Expires.Format(time.RFC3339), "assume_role_calls", e.AssumeRoleCalls)
	case e.Err == nil:
		log.Info("dynamostore: renewed credentials", "role", c.roleARN, "expires", e.Expires.Format(time.RFC3339), "assume_role_calls", e.AssumeRoleCalls)
	case e.Expires.IsZero():
		log.Error("dynamostore: assume role failed", "role", c.roleARN, "error", e.Err, "retry_in", e.RetryIn)
	default:
		log.Warn("dynamostore: credential renewal failed; the current credentials stay in service", "role", c.roleARN,
			"error", e.Err, "retry_in", e.RetryIn, "expires", e.Expires.Format(time.RFC3339))
	}
	if c.o.OnRenew != nil {
		c.o.OnRenew(e)
	}
}

// Invalidate drops the credentials with accessKeyID if they are still the current ones, so the
// next Retrieve waits for a renewal. Call it when a service rejects them as expired or unknown;
// NewCrossAccount's clients do. It reports whether they were dropped.
func (c *Credentials) Invalidate(accessKeyID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.have || c.creds.AccessKeyID != accessKeyID {
		return false
	}
	c.have = false
	c.o.Logger.Warn("dynamostore: credentials rejected by a service; renewing", "role", c.roleARN)
	return true
}

// KeepWarm renews the credentials in the background, without traffic, until ctx ends or Close
// is called: the first retrieval starts at once, and every renewal at its due time. It returns
// immediately. On a nil *Credentials (a CrossAccount without a role) it does nothing.
func (c *Credentials) KeepWarm(ctx context.Context) {
	if c == nil {
		return
	}
	go func() {
		for {
			c.mu.Lock()
			now := c.o.Clock()
			next := c.retryAt
			if c.have && c.renewAt.After(next) {
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
			case <-c.wake:
			case <-timer.C:
			}
			timer.Stop()
		}
	}()
}

// Close stops KeepWarm. Credentials keep working on demand after Close. On a nil
// *Credentials it does nothing.
func (c *Credentials) Close() error {
	if c == nil {
		return nil
	}
	c.closeOnce.Do(func() {
		close(c.closed)
		c.metrics.stop()
	})
	return nil
}

func (c *Credentials) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Stats returns the provider's counts.
func (c *Credentials) Stats() CredentialsStats {
	c.mu.Lock()
	var expires, renewAt time.Time
	if c.have {
		expires, renewAt = c.creds.Expires, c.renewAt
	}
	var lastErr error
	if c.lastErr != nil {
		lastErr = c.lastErr
	}
	c.mu.Unlock()
	return CredentialsStats{
		AssumeRoleCalls: c.calls.Load(),
		Failures:        c.failed.Load(),
		Renewals:        c.renewals.Load(),
		InitialWaits:    c.initialWaits.Load(),
		Waits:           c.waits.Load(),
		MaxInFlight:     c.maxInFlight.Load(),
		Expires:         expires,
		RenewAt:         renewAt,
		LastError:       lastErr,
	}
}

// renewBefore is the jittered lead of the background renewal: at most half the lifetime (three
// quarters with the jitter), and at least twice the MinRemaining margin, so the renewal
// always starts before callers would have to wait, and never right after the last one.
// c.mu must be held.
func (c *Credentials) renewBefore() time.Duration {
	lead := c.o.RenewBefore
	if lead == 0 {
		lead = min(c.lifetime/3, 15*time.Minute)
	}
	lead = max(min(lead, c.lifetime/2), min(2*c.minRemaining(), c.lifetime/2))
	jittered := lead + time.Duration(rand.Float64()*c.o.Jitter*float64(lead))
	return min(jittered, c.lifetime*3/4)
}

func (c *Credentials) minRemaining() time.Duration { return c.minRemainingFor(c.lifetime) }

// minRemainingFor is the margin for credentials that live lifetime: at most a quarter of it,
// so that credentials granted for less than the configured margin are still used.
func (c *Credentials) minRemainingFor(lifetime time.Duration) time.Duration {
	if c.o.MinRemaining > 0 {
		return min(c.o.MinRemaining, lifetime/4)
	}
	return min(lifetime/10, time.Minute)
}

// backoff is the delay after the n-th consecutive transient failure, before jitter.
func (c *Credentials) backoff(n int) time.Duration {
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

// expiredOnArrival means STS granted credentials whose expiry had passed by the clock of this
// process when they arrived: the clock is wrong, and asking again does not help.
type expiredOnArrival struct{ expires, now time.Time }

func (e *expiredOnArrival) Error() string {
	return fmt.Sprintf("STS returned credentials that expire at %s, which is already past by this machine's clock (%s): check the clock",
		e.expires.UTC().Format(time.RFC3339), e.now.UTC().Format(time.RFC3339))
}

// nonRecoverable reports STS failures that retrying cannot fix.
func nonRecoverable(err error) bool {
	var expired *expiredOnArrival
	if errors.As(err, &expired) {
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

// sanitize replaces values that cannot work, with a warning for each (see CredentialsOptions).
func (o *CredentialsOptions) sanitize() {
	warn := func(option string, value, using any) {
		o.Logger.Warn("dynamostore: credentials option out of range, replaced", "option", option, "value", value, "using", using)
	}
	duration := func(name string, d *time.Duration, def, floor time.Duration) {
		switch {
		case *d < 0:
			warn(name, *d, def)
			*d = def
		case *d == 0:
			*d = def
		case *d < floor:
			warn(name, *d, floor)
			*d = floor
		}
	}
	duration("Duration", &o.Duration, DefaultRoleDuration, 15*time.Minute)
	if o.Duration > 12*time.Hour {
		warn("Duration", o.Duration, 12*time.Hour)
		o.Duration = 12 * time.Hour
	}
	duration("Timeout", &o.Timeout, 10*time.Second, 100*time.Millisecond)
	duration("NonRecoverableDelay", &o.NonRecoverableDelay, 5*time.Second, 100*time.Millisecond)
	// Zero keeps the lifetime-based defaults of these three.
	duration("RenewBefore", &o.RenewBefore, 0, 0)
	duration("MinRemaining", &o.MinRemaining, 0, 0)
	duration("RetryBaseDelay", &o.RetryBaseDelay, 0, 10*time.Millisecond)
	duration("RetryMaxDelay", &o.RetryMaxDelay, 0, 10*time.Millisecond)
	if o.RetryBaseDelay > 0 && o.RetryMaxDelay > 0 && o.RetryMaxDelay < o.RetryBaseDelay {
		warn("RetryMaxDelay", o.RetryMaxDelay, o.RetryBaseDelay)
		o.RetryMaxDelay = o.RetryBaseDelay
	}
	switch {
	case o.Jitter == 0:
		o.Jitter = 0.25
	case math.IsNaN(o.Jitter) || o.Jitter < 0:
		warn("Jitter", o.Jitter, 0.25)
		o.Jitter = 0.25
	case o.Jitter > 1:
		warn("Jitter", o.Jitter, 1.0)
		o.Jitter = 1
	}
}

var sessionNameInvalid = regexp.MustCompile(`[^\w+=,.@-]+`)

// defaultSessionName is stable for a host, so CloudTrail shows which machine assumed the role.
func defaultSessionName() string {
	host, _ := os.Hostname()
	name := "dynamostore-" + sessionNameInvalid.ReplaceAllString(host, "-")
	if len(name) > 64 {
		name = name[:64]
	}
	return name
}
