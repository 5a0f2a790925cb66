package credcache

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/aws/smithy-go/metrics"
)

// Options configures a Cache. Zero values take the defaults in the comments. Windows and delays
// that depend on the credentials' lifetime are computed from the lifetime of the credentials
// the provider actually returned, so the same defaults suit 15-minute and 12-hour ones.
//
// A value outside the range in its comment is rejected by New (a *ConfigError), as the
// session store's New rejects its options: no value can make the cache panic, ask the
// provider in a loop or stop renewing. Margins larger than a lifetime allows are shrunk for
// that lifetime, since it is known only when credentials arrive: MinRemaining to at most a
// quarter of it and RenewBefore to at most half, so that credentials granted for less than
// the margins ask are still used, and renewed at a sane pace.
type Options struct {
	// RenewBefore is how long before expiry the background renewal starts, plus up to Jitter
	// of it at random so that many processes do not renew at once; not negative. Default: a
	// third of the lifetime, at most 15 minutes (5 minutes before a 15-minute credential
	// expires, 15 before an hour's or a 12-hour one's).
	RenewBefore time.Duration
	// Jitter is the random fraction of RenewBefore added to it, above 0 and at most 1.
	// Default: 0.25.
	Jitter float64
	// MinRemaining is the margin below which credentials count as expiring: Retrieve then waits
	// for a renewal instead of returning them; not negative. Default: a tenth of the lifetime,
	// at most 1 minute.
	MinRemaining time.Duration
	// Timeout bounds each call of the provider, at least 100 ms. Default: 10 seconds.
	Timeout time.Duration
	// RetryBaseDelay and RetryMaxDelay bound the jittered exponential backoff after a transient
	// failure (throttling, 5xx, network, timeout): each at least 10 ms, the maximum at least
	// the base; both are capped at a sixth of the lifetime. Defaults: a sixtieth of the
	// lifetime between 50 ms and 1 s, and a twelfth of it between 250 ms and 30 s.
	RetryBaseDelay, RetryMaxDelay time.Duration
	// NonRecoverableDelay is how long a non-recoverable failure (AccessDenied, ValidationError,
	// ...) is answered from memory before the provider is asked again, at least 100 ms.
	// Default: 5 seconds.
	NonRecoverableDelay time.Duration

	// MeterProvider receives the cache's metrics (MetricRenewals, MetricFailures, MetricWaits,
	// MetricExpiry): smithy-go's interface, which the AWS SDK clients take too. Default: nil,
	// no metrics. Close stops the expiry gauge.
	MeterProvider metrics.MeterProvider
	// Logger gets one line per renewal and per failure; never a key or token. Default: discard.
	Logger *slog.Logger
	// OnRenew is called after every call of the provider, in the renewing goroutine.
	OnRenew func(Event)
	// Clock is for tests. Default: time.Now.
	Clock func() time.Time
}

// ConfigError reports options that New or AssumeRole cannot use.
type ConfigError struct {
	Err error // every problem found, joined
}

// Error implements error.
func (e *ConfigError) Error() string { return "credcache: invalid options: " + e.Err.Error() }

// Unwrap returns the underlying error, for errors.Is and errors.As.
func (e *ConfigError) Unwrap() error { return e.Err }

// Defaults of the options that do not depend on the lifetime.
const (
	defaultTimeout             = 10 * time.Second
	defaultNonRecoverableDelay = 5 * time.Second
	defaultJitter              = 0.25
)

// validate checks o and fills in the defaults that do not depend on the lifetime.
func (o *Options) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	atLeast := func(name string, d *time.Duration, def, floor time.Duration) {
		switch {
		case *d == 0:
			*d = def
		case *d < floor:
			bad("%s is %v; want at least %v, or 0 for the default", name, *d, floor)
		}
	}
	atLeast("Timeout", &o.Timeout, defaultTimeout, 100*time.Millisecond)
	atLeast("NonRecoverableDelay", &o.NonRecoverableDelay, defaultNonRecoverableDelay, 100*time.Millisecond)
	atLeast("RenewBefore", &o.RenewBefore, 0, 0)
	atLeast("MinRemaining", &o.MinRemaining, 0, 0)
	atLeast("RetryBaseDelay", &o.RetryBaseDelay, 0, 10*time.Millisecond)
	atLeast("RetryMaxDelay", &o.RetryMaxDelay, 0, 10*time.Millisecond)
	if o.RetryBaseDelay > 0 && o.RetryMaxDelay > 0 && o.RetryMaxDelay < o.RetryBaseDelay {
		bad("RetryMaxDelay (%v) is below RetryBaseDelay (%v)", o.RetryMaxDelay, o.RetryBaseDelay)
	}
	switch {
	case o.Jitter == 0:
		o.Jitter = defaultJitter
	case math.IsNaN(o.Jitter) || o.Jitter < 0 || o.Jitter > 1:
		bad("Jitter is %v; want above 0 and at most 1, or 0 for the default (%v)", o.Jitter, defaultJitter)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if len(errs) > 0 {
		return &ConfigError{Err: errors.Join(errs...)}
	}
	return nil
}
