// Package fiberstore is a fiber.Storage for Fiber v3 on DynamoDB, built on dynamostore. Keys
// are stored as keyed hashes and values sealed as dynamostore seals session data; exp is
// honoured as the TTL attribute and checked on every read; the table may be in another
// account (dynamostore.NewCrossAccount).
//
// It comes in two kinds, with one type:
//
//   - New returns a plain fiber.Storage, for any middleware (cache, limiter, idempotency,
//     CSRF, ...): Delete deletes, and a Set stores its value, also after a Delete of the key.
//   - NewSessionStorage returns one for Fiber's session middleware: a deleted key stays
//     deleted, so that a slow request never brings back a session that another request
//     destroyed (Destroy, Regenerate, Reset). Its Set of a deleted key writes nothing and
//     returns ErrDeleted, which the session middleware hands to its ErrorHandler.
//
// Both may share one dynamostore.Store:
//
//	store, _ := dynamostore.New(client, dynamostore.WithTableName(tableARN), dynamostore.WithKeyPairs(key))
//	app.Use(session.New(session.Config{Storage: fiberstore.NewSessionStorage(store)}))
//	app.Use(cache.New(cache.Config{Storage: fiberstore.New(store)}))
//
// Set returns nil only when it stored the value, or for an empty key or value, which
// fiber.Storage asks to ignore. Reset cannot be done with the four item calls (it would need a
// Scan, and the table may hold other data): it returns ErrResetUnsupported and deletes nothing.
package fiberstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v3"

	"github.com/dynamostore/dynamostore"
)

// Namespace separates Fiber's items from other users of the table. Both kinds of Storage
// keep their keys in it, so that sessions stored through one kind are found through the
// other; middlewares that share it keep their keys apart as on any shared fiber.Storage.
const Namespace = "fiber"

// ErrResetUnsupported is returned by Reset.
var ErrResetUnsupported = errors.New("fiberstore: Reset is not supported: deleting every key needs a Scan, " +
	"which the store's role does not allow, and the table may hold other data; keys expire by themselves (exp)")

// ErrDeleted is returned by Set, and nothing is written, when the key was deleted by a
// Storage from NewSessionStorage: a session that was destroyed, regenerated or reset (usually
// by another request) stays ended, for the dynamostore.Store's Lifetime at least. It wraps
// dynamostore.ErrSessionGone. Under Fiber's session middleware it reaches
// session.Config.ErrorHandler (default: a 500) after the handler ran: the request's changes
// to the session are discarded, and the client's next request starts a new session. Handle it
// there, for example by asking the user to sign in again; retrying the Set cannot succeed.
var ErrDeleted = fmt.Errorf("fiberstore: not stored: the session was ended (Destroy, Regenerate or Reset, "+
	"usually by another request) and stays ended; these changes to it are discarded: %w", dynamostore.ErrSessionGone)

// Storage is a fiber.Storage on a dynamostore.Store's table. Obtain one with New, for any
// middleware, or with NewSessionStorage, for Fiber's session middleware; they differ only in
// Delete and in a Set after it. It is safe for concurrent use.
type Storage struct {
	kv       *dynamostore.KV
	sessions bool // Delete leaves a marker, and a Set of a deleted key returns ErrDeleted
	clock    func() time.Time
}

var _ fiber.Storage = (*Storage)(nil)

// New returns a fiber.Storage that keeps its keys in s's table, with s's keys, and keeps
// fiber.Storage's contract for any middleware: Delete deletes the key, and a later Set stores
// its value again (Fiber's cache middleware deletes and re-sets keys). For Fiber's session
// middleware, use NewSessionStorage.
func New(s *dynamostore.Store) *Storage {
	return &Storage{kv: s.KV(Namespace), clock: time.Now}
}

// NewSessionStorage returns a fiber.Storage for Fiber's session middleware, in s's table with
// s's keys: Delete (the middleware's Destroy, Regenerate and Reset) ends the key for good, so
// that a Set of it, by a slow request that loaded the session before, writes nothing and
// returns ErrDeleted (see dynamostore.KV.Delete: the key stays deleted for s's Lifetime at
// least, even while key pairs rotate). Use it for sessions only: under a middleware that sets a key
// again after deleting it, such as the cache, every such Set fails.
func NewSessionStorage(s *dynamostore.Store) *Storage {
	return &Storage{kv: s.KV(Namespace), sessions: true, clock: time.Now}
}

// GetWithContext returns the value of key; nil, nil when there is none (never set, deleted,
// expired, or failing authentication, which the dynamostore.Store logs). A DynamoDB failure is
// an error (a *dynamostore.OpError).
func (s *Storage) GetWithContext(ctx context.Context, key string) ([]byte, error) {
	if key == "" {
		return nil, nil
	}
	b, found, err := s.kv.Get(ctx, key)
	switch {
	case errors.Is(err, dynamostore.ErrInvalidItem):
		return nil, nil
	case err != nil || !found:
		return nil, err
	}
	return b, nil
}

// SetWithContext stores val under key for exp (0: no expiry). An empty key or value is
// ignored, as fiber.Storage asks. It returns nil only when the value is stored. A key that a
// Storage from NewSessionStorage deleted is not written: the error is ErrDeleted. A value over
// the Store's MaxLength gives a *dynamostore.SizeError, a DynamoDB failure a
// *dynamostore.OpError.
func (s *Storage) SetWithContext(ctx context.Context, key string, val []byte, exp time.Duration) error {
	if key == "" || len(val) == 0 {
		return nil
	}
	var expires time.Time
	if exp > 0 {
		expires = s.clock().Add(exp)
	}
	err := s.kv.Set(ctx, key, val, expires)
	if errors.Is(err, dynamostore.ErrSessionGone) {
		return ErrDeleted
	}
	return err
}

// DeleteWithContext deletes key; a missing key is not an error. From New, a later Set stores
// the key again; from NewSessionStorage, it stays deleted (see NewSessionStorage).
func (s *Storage) DeleteWithContext(ctx context.Context, key string) error {
	if key == "" {
		return nil
	}
	if s.sessions {
		return s.kv.Delete(ctx, key)
	}
	return s.kv.Remove(ctx, key)
}

// ResetWithContext returns ErrResetUnsupported and deletes nothing.
func (s *Storage) ResetWithContext(context.Context) error { return ErrResetUnsupported }

// Get is GetWithContext without a context.
func (s *Storage) Get(key string) ([]byte, error) { return s.GetWithContext(context.Background(), key) }

// Set is SetWithContext without a context.
func (s *Storage) Set(key string, val []byte, exp time.Duration) error {
	return s.SetWithContext(context.Background(), key, val, exp)
}

// Delete is DeleteWithContext without a context.
func (s *Storage) Delete(key string) error { return s.DeleteWithContext(context.Background(), key) }

// Reset returns ErrResetUnsupported and deletes nothing.
func (s *Storage) Reset() error { return ErrResetUnsupported }

// Close does nothing: the DynamoDB client belongs to the caller.
func (s *Storage) Close() error { return nil }
