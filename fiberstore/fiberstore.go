// Package fiberstore is a fiber.Storage for Fiber v3 on DynamoDB, built on dynamostore, for
// Fiber's session middleware (or anything else that takes a fiber.Storage). Keys are stored as
// keyed hashes and values sealed as dynamostore seals session data; exp is honoured as the TTL
// attribute and checked on every read; a deleted key is never brought back by a slow Set;
// the table may be in another account (dynamostore.NewCrossAccount).
//
//	store, _ := dynamostore.New(client, dynamostore.WithTableName(tableARN), dynamostore.WithKeyPairs(key))
//	app.Use(session.New(session.Config{Storage: fiberstore.New(store)}))
//
// Reset cannot be done with the four item calls (it would need a Scan, and the table may hold
// other data): it returns ErrResetUnsupported and deletes nothing.
package fiberstore

import (
	"context"
	"errors"
	"time"

	"github.com/gofiber/fiber/v3"

	"github.com/dynamostore/dynamostore"
)

// Namespace separates Fiber's items from other users of the table.
const Namespace = "fiber"

// ErrResetUnsupported is returned by Reset.
var ErrResetUnsupported = errors.New("fiberstore: Reset is not supported: deleting every key needs a Scan, " +
	"which the store's role does not allow, and the table may hold other data; keys expire by themselves (exp)")

// Storage is a fiber.Storage on a dynamostore.Store's table.
type Storage struct {
	kv    *dynamostore.KV
	clock func() time.Time
}

var _ fiber.Storage = (*Storage)(nil)

// New returns a fiber.Storage that keeps its keys in s's table, with s's keys.
func New(s *dynamostore.Store) *Storage {
	return &Storage{kv: s.KV(Namespace), clock: time.Now}
}

// GetWithContext returns the value of key; nil, nil when there is none (never set, deleted,
// expired, or failing authentication, which the dynamostore.Store logs).
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
// ignored, as fiber.Storage asks. A Set of a key deleted meanwhile writes nothing and returns
// nil: the deletion stands.
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
		return nil
	}
	return err
}

// DeleteWithContext deletes key; a missing key is not an error.
func (s *Storage) DeleteWithContext(ctx context.Context, key string) error {
	if key == "" {
		return nil
	}
	return s.kv.Delete(ctx, key)
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
