package dynamostore

import (
	"context"
	"errors"
	"fmt"

	"github.com/dynamostore/dynamostore/credcache"
)

// Sentinel errors. Every error the Store returns is wrapped with context; test for these
// with errors.Is, and for the typed errors below with errors.As.
var (
	// ErrTooLarge means the encoded session is larger than Options.MaxLength.
	// Nothing was written; the stored session is unchanged.
	ErrTooLarge = errors.New("dynamostore: session too large")

	// ErrConflict means optimistic locking is on and another request wrote the session after
	// this copy was loaded. This write was not applied (a write of this very call that the SDK
	// retried is recognised and reported as success, never as a conflict), so reloading the
	// session and applying the change again applies it once.
	ErrConflict = errors.New("dynamostore: session changed since it was loaded")

	// ErrSessionGone means the session was deleted (a logout in another request) or expired
	// after it was loaded. Nothing was written, so the session is not brought back.
	ErrSessionGone = errors.New("dynamostore: session was deleted or expired since it was loaded")

	// ErrOutcomeUnknown is matched by an *OpError of a write that failed in a way that does
	// not tell whether DynamoDB applied it (a lost answer, then a failed retry), when the read
	// that the store makes to find out failed too. The stored session holds either the state
	// before the call or the state the call wrote, nothing else. Reload the session to see
	// which before applying a change that must not happen twice.
	ErrOutcomeUnknown = errors.New("dynamostore: the write may or may not have been applied")

	// ErrLoadFailed is returned by Save for a session whose load from DynamoDB failed.
	// Saving it would replace the user's cookie and lose the stored session, so neither the
	// item nor the cookie is written. The error New returned says why the load failed.
	ErrLoadFailed = errors.New("dynamostore: session was not loaded, refusing to save it")

	// ErrInvalidItem means a stored item failed authentication or could not be parsed:
	// it was written by someone without the store's keys, or it is corrupt. It was not decoded.
	ErrInvalidItem = errors.New("dynamostore: stored session failed authentication")

	// ErrCookiePolicy means Save, Regenerate or Login refused to send a cookie that a browser
	// would drop or that breaks its name's prefix: a __Host- cookie that is not Secure, has a
	// Domain or a Path other than "/", a __Secure- cookie that is not Secure, SameSite=None or
	// Partitioned without Secure, an invalid name, or a name and value over 4096 bytes.
	// Nothing was written and no cookie was set.
	ErrCookiePolicy = errors.New("dynamostore: cookie refused")
)

// ConfigError reports invalid options passed to New.
type ConfigError struct {
	Err error // every problem found, joined
}

// Error implements error.
func (e *ConfigError) Error() string { return "dynamostore: invalid options: " + e.Err.Error() }

// Unwrap returns the underlying error, for errors.Is and errors.As.
func (e *ConfigError) Unwrap() error { return e.Err }

// SizeError reports a session larger than the configured limit. It matches ErrTooLarge.
type SizeError struct {
	Size  int // bytes the session would take
	Limit int // Options.MaxLength, or MaxUncompressedLength for the codec's bytes with compression
}

// Error implements error.
func (e *SizeError) Error() string {
	if e.Limit == MaxUncompressedLength {
		return fmt.Sprintf("dynamostore: session too large: %d bytes of codec output exceed MaxUncompressedLength (%d), the most a compressed session may hold; store less in the session", e.Size, e.Limit)
	}
	return fmt.Sprintf("dynamostore: session too large: %d bytes exceeds the limit of %d (store less in the session, or raise WithMaxLength)", e.Size, e.Limit)
}

// Is makes errors.Is(err, ErrTooLarge) true.
func (e *SizeError) Is(target error) bool { return target == ErrTooLarge }

// OpError reports a failed DynamoDB call. Unwrap it with errors.As to reach the SDK's typed
// error, for example *types.ProvisionedThroughputExceededException or smithy.APIError.
//
// A failed write has not been applied unless OutcomeUnknown is set: when the error does not
// prove that DynamoDB refused the write, the store reads the item back once to find out,
// reports a write that did land as success, and sets OutcomeUnknown only when that read fails
// too.
type OpError struct {
	Op    string // GetItem, PutItem, UpdateItem or DeleteItem
	Table string // table name or ARN
	Err   error
	// OutcomeUnknown means the write may or may not have been applied (see ErrOutcomeUnknown).
	OutcomeUnknown bool
}

// Error implements error.
func (e *OpError) Error() string {
	if e.OutcomeUnknown {
		return fmt.Sprintf("dynamostore: %s on table %s failed and may or may not have been applied: %v", e.Op, e.Table, e.Err)
	}
	return fmt.Sprintf("dynamostore: %s on table %s: %v", e.Op, e.Table, e.Err)
}

// Unwrap returns the underlying error, for errors.Is and errors.As.
func (e *OpError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrOutcomeUnknown) true when OutcomeUnknown is set.
func (e *OpError) Is(target error) bool { return target == ErrOutcomeUnknown && e.OutcomeUnknown }

// Retryable reports whether the same request may succeed later: DynamoDB throttled it, failed
// with a 5xx answer, could not be reached, timed out, or the credentials could not be renewed
// for a reason that can pass (an STS outage). It is false for access denied, a missing table,
// validation errors, a cancelled request and an unknown outcome (reload first, see
// ErrOutcomeUnknown). The SDK has already retried transient errors by the time the store
// returns one, so retry later (for example on the user's next request), not in a tight loop.
func (e *OpError) Retryable() bool {
	var renewal *credcache.Error
	switch {
	case e.OutcomeUnknown, errors.Is(e.Err, context.Canceled):
		return false
	case errors.As(e.Err, &renewal):
		return !renewal.NonRecoverable
	}
	return transient(e.Err) || errors.Is(e.Err, context.DeadlineExceeded)
}

// CodecError reports values the codec could not encode, or stored bytes it could not decode.
type CodecError struct {
	Op  string // "encode" or "decode"
	Err error
}

// Error implements error.
func (e *CodecError) Error() string {
	return fmt.Sprintf("dynamostore: cannot %s session values: %v", e.Op, e.Err)
}

// Unwrap returns the underlying error, for errors.Is and errors.As.
func (e *CodecError) Unwrap() error { return e.Err }
