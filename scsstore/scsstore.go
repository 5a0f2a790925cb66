// Package scsstore is a session store for github.com/alexedwards/scs/v2 on DynamoDB, built
// on dynamostore: scs keeps its token, cookie and codec; the table holds a keyed hash of the
// token and the data sealed as dynamostore seals session data, with the expiry checked on
// every read and set as the TTL attribute. A Destroy (or RenewToken) is never undone by a
// Commit of a slow request: the destroyed token stays deleted. The table may be in another
// account (dynamostore.NewCrossAccount).
//
//	store, _ := dynamostore.New(client, dynamostore.WithTableName(tableARN), dynamostore.WithKeyPairs(key))
//	sm := scs.New()
//	sm.Store = scsstore.New(store)
//	http.ListenAndServe(":8080", sm.LoadAndSave(mux))
//
// It implements scs.Store and scs.CtxStore, not scs.IterableStore: listing every session
// would need a Scan, which the store's role is not allowed (for a user's own sessions, use
// dynamostore's Login and UserSessions).
package scsstore

import (
	"context"
	"errors"
	"time"

	"github.com/dynamostore/dynamostore"
)

// Namespace separates scs's items from other users of the table.
const Namespace = "scs"

// Store is an scs.Store and scs.CtxStore on a dynamostore.Store's table.
type Store struct {
	kv *dynamostore.KV
}

// New returns a store that keeps scs sessions in s's table, with s's keys.
func New(s *dynamostore.Store) *Store { return &Store{kv: s.KV(Namespace)} }

// FindCtx returns the data of the session token: found is false for a missing, expired,
// destroyed or tampered session (tampering is logged by the dynamostore.Store). err is a
// DynamoDB failure only.
func (s *Store) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	b, found, err := s.kv.Get(ctx, token)
	if errors.Is(err, dynamostore.ErrInvalidItem) {
		return nil, false, nil
	}
	return b, found, err
}

// CommitCtx stores the session data until expiry. A Commit for a token that was destroyed
// meanwhile (by another request's Destroy or RenewToken) writes nothing and returns nil: the
// session stays ended, and the slow request's cookie leads to a new, empty session.
func (s *Store) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	err := s.kv.Set(ctx, token, b, expiry)
	if errors.Is(err, dynamostore.ErrSessionGone) {
		return nil
	}
	return err
}

// DeleteCtx destroys the session; a missing token is not an error.
func (s *Store) DeleteCtx(ctx context.Context, token string) error { return s.kv.Delete(ctx, token) }

// Find is FindCtx without a context.
func (s *Store) Find(token string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), token)
}

// Commit is CommitCtx without a context.
func (s *Store) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, b, expiry)
}

// Delete is DeleteCtx without a context.
func (s *Store) Delete(token string) error { return s.DeleteCtx(context.Background(), token) }
