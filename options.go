package dynamostore

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"time"

	"github.com/aws/smithy-go/metrics"
	"github.com/gorilla/sessions"
)

// Defaults used by New for every option that is not given (each field comment of Options says
// its default). An option that is given is taken as given and validated: an invalid value, such as WithTableName("") or WithLifetime(0), is
// reported by New as a *ConfigError, never replaced by the default in silence.
const (
	// defaultTableName is the table used when no WithTableName option is given.
	defaultTableName = "sessions"
	// defaultKeyPrefix is prepended to the hashed session ID to form the item key.
	defaultKeyPrefix = "session#"
	// defaultPartitionKey is the name of the table's hash key attribute (type S).
	defaultPartitionKey = "id"
	// defaultMaxAge is the cookie and server-side lifetime of a session, in seconds:
	// one day, renewed by every write (so it is an idle timeout).
	defaultMaxAge = 86400
	// defaultLifetime is how long the server keeps a session whose cookie has MaxAge 0
	// (a browser-session cookie) after its last write.
	defaultLifetime = 24 * time.Hour
	// defaultTouchInterval is the longest time an unchanged session goes without a write
	// that renews its expiry. The effective interval is at most a tenth of the lifetime.
	defaultTouchInterval = time.Hour
	// defaultMaxLength is the largest stored session (the authenticated data attribute), in bytes.
	defaultMaxLength = 64 << 10
	// defaultAbsoluteTimeout is how long a session lives after its Login (or its creation,
	// for an anonymous session), however active it is: seven days.
	defaultAbsoluteTimeout = 7 * 24 * time.Hour
	// defaultMaxSessionsPerUser is how many sessions one user may have at once: a Login
	// beyond it ends the user's oldest session.
	defaultMaxSessionsPerUser = 20
	// MaxSessionsPerUserLimit is the largest value WithMaxSessionsPerUser accepts; a user's
	// item then stays well under DynamoDB's 400 KB item limit (see users.go).
	MaxSessionsPerUserLimit = 500
	// MaxItemLength is the largest value WithMaxLength accepts: DynamoDB's 400 KB item limit
	// less room for the key and the other attributes.
	MaxItemLength = 390_000
)

// Options configures a Store. Build it with the With functions, or write a func(*Options)
// of your own; New validates the result.
type Options struct {
	// TableName is a table name or a full table ARN (arn:aws:dynamodb:region:account:table/name).
	// An ARN lets the table live in another account. Default: "sessions".
	TableName string

	// KeyPairs are securecookie hash and block key pairs: hash1, block1, hash2, block2, ...
	// The first pair signs (and, with a block key, encrypts) new cookies and stored items;
	// the others still verify, so keys can be rotated. Hash keys must have at least 32 bytes;
	// block keys are nil or 16, 24 or 32 bytes (AES-128/192/256). Required.
	KeyPairs [][]byte

	// Cookie holds the cookie attributes for new sessions. Default: Path "/", MaxAge
	// 86400 (a day), HttpOnly, Secure, SameSite Lax. WithCookie edits them in place. They
	// also choose the cookie name's prefix (Store.CookieName): __Host- by default.
	Cookie sessions.Options

	// KeyPrefix is prepended to the SHA-256 hash of the session ID to form the item key.
	// Default: "session#".
	KeyPrefix string

	// PartitionKey is the name of the table's hash key attribute. Default: "id".
	PartitionKey string

	// Codec serializes session values. Default: GobCodec.
	Codec Codec

	// TouchInterval is how long an unchanged session may go without a write. Save skips the
	// write while the values are unchanged and the last write is younger than this, capped at a
	// tenth of the session's lifetime so an active session never expires. Zero writes on every
	// Save. Default: an hour.
	TouchInterval *time.Duration

	// Lifetime is how long the server keeps a session whose cookie has MaxAge 0 (a browser-session
	// cookie) after its last write. Default: 24 hours.
	Lifetime time.Duration

	// ConsistentRead makes GetItem strongly consistent, so a login followed by a redirect
	// always sees its session. Default: true.
	ConsistentRead *bool

	// MaxLength is the largest stored session, in bytes of the data attribute. Save returns an
	// error matching ErrTooLarge for a larger one and writes nothing. Default: 64 KiB;
	// at most MaxItemLength.
	MaxLength int

	// Compression deflates the codec's bytes of sessions of CompressionThreshold bytes or more
	// before sealing them (see WithCompression for when to turn it on). Default: false.
	Compression bool
	// CompressionThreshold is the smallest codec output that is compressed, 0 to
	// MaxUncompressedLength. Default: DefaultCompressionThreshold.
	CompressionThreshold int

	// OptimisticLocking adds a version attribute to each item. Save then writes only if the
	// item still has the version it was loaded with, and returns an error matching ErrConflict
	// otherwise. Default: false (the last writer wins).
	OptimisticLocking bool

	// AbsoluteTimeout ends a session this long after its Login (or its creation, for an
	// anonymous session), however active it is (OWASP ASVS 7.3.2); the idle timeout (the
	// cookie's MaxAge, or Lifetime) ends it earlier when it is unused. The item's TTL
	// attribute is the earlier of the two. Default: seven days.
	AbsoluteTimeout time.Duration

	// MaxSessionsPerUser caps the sessions of one user (ASVS 7.1.2): a Login beyond it ends
	// the user's oldest sessions, by creation time. 1 to MaxSessionsPerUserLimit. Default:
	// 20.
	MaxSessionsPerUser int

	// SessionLabel names a session in UserSessions' listing, for example a short form of the
	// User-Agent ("Firefox on Linux"). Login calls it; at most 100 bytes of the result are
	// kept. Default: nil, no label.
	SessionLabel func(*http.Request) string

	// MeterProvider receives the Store's metrics (see MetricLoads and the other Metric
	// constants): smithy-go's interface, which the AWS SDK clients take too. Default: nil, no
	// metrics.
	MeterProvider metrics.MeterProvider

	// Logger receives warnings about rejected cookies and items and failed calls. It never
	// receives session IDs, cookie values or session values. Default: discard.
	Logger *slog.Logger

	// Clock returns the current time; tests set it to move time. Default: time.Now.
	Clock func() time.Time

	problems           []string // found by the With functions, reported by New
	insecureCookie     bool     // WithInsecureCookie was called: Secure may be off
	cookieScriptAccess bool     // WithCookieScriptAccess was called: HttpOnly may be off
}

// Option changes Options. The With functions return Options; any func(*Options) works too.
type Option func(*Options)

// WithTableName sets the table name or table ARN.
func WithTableName(nameOrARN string) Option { return func(o *Options) { o.TableName = nameOrARN } }

// WithKeyPairs sets the securecookie hash and block key pairs, newest first.
func WithKeyPairs(keyPairs ...[]byte) Option { return func(o *Options) { o.KeyPairs = keyPairs } }

// WithCookie edits the cookie attributes of new sessions in place, starting from the secure
// defaults (Path "/", MaxAge 86400, HttpOnly, Secure, SameSite Lax), as the AWS SDK's
// func(*Options) arguments do: set the fields you mean and leave the others.
//
//	dynamostore.WithCookie(func(c *sessions.Options) {
//		c.MaxAge = 0 // a browser-session cookie
//		c.SameSite = http.SameSiteStrictMode
//	})
//
// No protection is lost by accident: New reports a *ConfigError when the result drops Secure
// without WithInsecureCookie, HttpOnly without WithCookieScriptAccess, or SameSite, and each
// error names the call that fixes it. The attributes also choose the cookie's name prefix
// (see [Store.CookieName]): a Domain or a Path other than "/" gives __Secure- instead of
// __Host-.
func WithCookie(edit func(*sessions.Options)) Option {
	return func(o *Options) {
		if edit == nil {
			o.problems = append(o.problems, "WithCookie got a nil function")
			return
		}
		edit(&o.Cookie)
	}
}

// WithCookieMaxAge sets the cookie's MaxAge in seconds, which is also the session's idle
// timeout on the server. 0 makes a browser-session cookie, whose item the server keeps for
// WithLifetime after its last write. A negative value is a *ConfigError (it would delete every
// session on Save).
func WithCookieMaxAge(seconds int) Option { return func(o *Options) { o.Cookie.MaxAge = seconds } }

// WithInsecureCookie drops the cookie's Secure attribute, so that browsers send it over plain
// HTTP. Use it only for development on http://localhost: without Secure, anyone on the network
// path of a plain-HTTP request can read the session cookie.
func WithInsecureCookie() Option {
	return func(o *Options) { o.Cookie.Secure, o.insecureCookie = false, true }
}

// WithCookieScriptAccess drops the cookie's HttpOnly attribute, so that JavaScript on the page
// can read it. Avoid it: a cross-site scripting flaw then hands the session to the attacker.
func WithCookieScriptAccess() Option {
	return func(o *Options) { o.Cookie.HttpOnly, o.cookieScriptAccess = false, true }
}

// WithKeyPrefix sets the prefix of item keys.
func WithKeyPrefix(prefix string) Option { return func(o *Options) { o.KeyPrefix = prefix } }

// WithPartitionKey sets the name of the table's hash key attribute.
func WithPartitionKey(name string) Option { return func(o *Options) { o.PartitionKey = name } }

// WithCodec sets the codec that serializes session values.
func WithCodec(c Codec) Option { return func(o *Options) { o.Codec = c } }

// WithTouchInterval sets how long an unchanged session may go without a write.
func WithTouchInterval(d time.Duration) Option {
	return func(o *Options) { o.TouchInterval = &d }
}

// WithLifetime sets the server-side lifetime of sessions with browser-session cookies (MaxAge 0).
func WithLifetime(d time.Duration) Option { return func(o *Options) { o.Lifetime = d } }

// WithConsistentRead sets whether GetItem is strongly consistent.
func WithConsistentRead(consistent bool) Option {
	return func(o *Options) { o.ConsistentRead = &consistent }
}

// WithMaxLength sets the largest stored session in bytes.
func WithMaxLength(n int) Option { return func(o *Options) { o.MaxLength = n } }

// WithOptimisticLocking turns versioned, conflict-checked writes on or off.
func WithOptimisticLocking(on bool) Option { return func(o *Options) { o.OptimisticLocking = on } }

// WithAbsoluteTimeout sets how long a session lives after its Login (or creation), however
// active it is.
func WithAbsoluteTimeout(d time.Duration) Option { return func(o *Options) { o.AbsoluteTimeout = d } }

// WithMaxSessionsPerUser sets how many sessions one user may have; a Login beyond it ends the
// user's oldest session.
func WithMaxSessionsPerUser(n int) Option { return func(o *Options) { o.MaxSessionsPerUser = n } }

// WithSessionLabel sets how Login labels a session for UserSessions' listing.
func WithSessionLabel(label func(*http.Request) string) Option {
	return func(o *Options) { o.SessionLabel = label }
}

// WithLogger sets the logger for warnings. Secrets are never logged.
func WithLogger(l *slog.Logger) Option { return func(o *Options) { o.Logger = l } }

// WithClock sets the clock; tests use it to expire sessions without sleeping.
func WithClock(now func() time.Time) Option { return func(o *Options) { o.Clock = now } }

func defaultOptions() Options {
	consistent := true
	touch := defaultTouchInterval
	return Options{
		TableName: defaultTableName,
		Cookie: sessions.Options{
			Path:     "/",
			MaxAge:   defaultMaxAge,
			HttpOnly: true,
			Secure:   true,
			SameSite: http.SameSiteLaxMode,
		},
		KeyPrefix:            defaultKeyPrefix,
		PartitionKey:         defaultPartitionKey,
		Codec:                GobCodec{},
		TouchInterval:        &touch,
		Lifetime:             defaultLifetime,
		ConsistentRead:       &consistent,
		MaxLength:            defaultMaxLength,
		CompressionThreshold: DefaultCompressionThreshold,
		AbsoluteTimeout:      defaultAbsoluteTimeout,
		MaxSessionsPerUser:   defaultMaxSessionsPerUser,
		Logger:               slog.New(slog.DiscardHandler),
		Clock:                time.Now,
	}
}

var (
	tableNamePattern    = regexp.MustCompile(`^[a-zA-Z0-9_.-]{3,255}$`)
	attributeNameLength = 255
)

// validate reports every problem with o at once, so a misconfigured store fails at start-up
// with one complete message.
func (o *Options) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, p := range o.problems {
		bad("%s", p)
	}

	if tableNamePattern.MatchString(o.TableName) {
		// a plain table name
	} else if _, err := ParseTableARN(o.TableName); err != nil {
		bad("TableName %q is neither a table name (3-255 characters of a-z, A-Z, 0-9, _ . -) nor a table ARN: %v", o.TableName, err)
	}
	if len(o.KeyPairs) == 0 || len(o.KeyPairs[0]) == 0 {
		bad("KeyPairs is empty: pass at least one hash key of 32 or more random bytes (securecookie.GenerateRandomKey(32)) with WithKeyPairs")
	}
	for i, key := range o.KeyPairs {
		if i%2 == 0 && len(key) < 32 {
			bad("KeyPairs[%d] is a hash key of %d bytes; use at least 32 random bytes", i, len(key))
		}
		if i%2 == 1 && key != nil && len(key) != 16 && len(key) != 24 && len(key) != 32 {
			bad("KeyPairs[%d] is a block key of %d bytes; use nil (no encryption) or 16, 24 or 32 bytes", i, len(key))
		}
	}
	if o.PartitionKey == "" || len(o.PartitionKey) > attributeNameLength {
		bad("PartitionKey %q must have 1 to %d characters", o.PartitionKey, attributeNameLength)
	}
	switch o.PartitionKey {
	case attrData, attrExpires, attrWritten, attrVersion, attrMoved, attrSessions, attrDeleted:
		bad("PartitionKey %q collides with an attribute the store writes", o.PartitionKey)
	}
	if len(o.KeyPrefix) > 512 {
		bad("KeyPrefix has %d bytes; keep it under 512", len(o.KeyPrefix))
	}
	if o.Codec == nil {
		bad("Codec is nil")
	}
	if o.TouchInterval == nil || *o.TouchInterval < 0 {
		bad("TouchInterval must be zero or positive")
	}
	if o.Lifetime <= 0 {
		bad("Lifetime must be positive, got %v", o.Lifetime)
	}
	if o.ConsistentRead == nil {
		bad("ConsistentRead is nil")
	}
	if o.MaxLength <= 0 || o.MaxLength > MaxItemLength {
		bad("MaxLength %d is outside 1..%d (DynamoDB items are limited to 400 KB)", o.MaxLength, MaxItemLength)
	}
	if o.CompressionThreshold < 0 || o.CompressionThreshold > MaxUncompressedLength {
		bad("CompressionThreshold %d is outside 0..%d", o.CompressionThreshold, MaxUncompressedLength)
	}
	if o.AbsoluteTimeout < time.Minute {
		bad("AbsoluteTimeout must be at least a minute, got %v", o.AbsoluteTimeout)
	}
	if o.MaxSessionsPerUser < 1 || o.MaxSessionsPerUser > MaxSessionsPerUserLimit {
		bad("MaxSessionsPerUser %d is outside 1..%d", o.MaxSessionsPerUser, MaxSessionsPerUserLimit)
	}
	errs = append(errs, o.cookieProblems()...)
	if o.Logger == nil {
		bad("Logger is nil; pass slog.New(slog.DiscardHandler) to silence it")
	}
	if o.Clock == nil {
		bad("Clock is nil")
	}
	if len(errs) > 0 {
		return &ConfigError{Err: errors.Join(errs...)}
	}
	return nil
}
