package dynamostore

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// attrDeleted marks a KV item that Delete ended: Set never writes over it.
const attrDeleted = "deleted"

// KV is a key-value view of the Store's table for session managers that own their tokens,
// cookies and encoding (scs, Fiber's session middleware): the adapters in scsstore and
// fiberstore are built on it. It keeps the Store's guarantees:
//
//   - A key is stored only as a keyed hash (HMAC-SHA256 under a key derived from the hash key),
//     so whoever reads the table cannot use a token found there.
//   - A value is sealed as session data is (authenticated, and encrypted with a block key),
//     bound to its item: a value moved to another key, or written without the keys, is
//     rejected (ErrInvalidItem).
//   - Expiry is checked on every read and set as the TTL attribute.
//   - A deleted key stays deleted: Delete leaves a marker until the Store's Lifetime has
//     passed, and Set never writes over it (ErrSessionGone), so a session destroyed by one
//     request is never brought back by a slow write of another, even while key pairs rotate
//     and servers hold different ones. One limit: a value written under a key pair that the
//     deleting server does not have is hidden by the marker rather than removed; the next
//     Get on a server that has both pairs marks it too, but if none reads the key before
//     the marker expires, the value shows again until its own expiry. So finish a rotation
//     (every server on the new first pair) within the Store's Lifetime. Remove deletes
//     without a marker, for values that are not sessions.
//   - Every write is safe to retry: Set and Delete give the same item when applied twice.
//
// Obtain one with Store.KV. It is safe for concurrent use. Its values share the Store's
// MaxLength.
type KV struct {
	s         *Store
	namespace string
}

// KV returns the key-value view of the table for namespace (for example "scs"), which
// separates its keys from other users of the table.
func (s *Store) KV(namespace string) *KV { return &KV{s: s, namespace: namespace} }

// itemKey is the item key of key under key pair i.
func (kv *KV) itemKey(i int, key string) string {
	m := hmac.New(sha256.New, kv.s.sealer.keys[i].kv)
	m.Write([]byte(kv.namespace))
	m.Write([]byte{0})
	m.Write([]byte(key))
	return kv.s.opts.KeyPrefix + kv.namespace + "#" + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Get returns the value stored under key. found is false, with a nil error, when there is
// none: never set, deleted, or expired. A value that fails authentication gives
// ErrInvalidItem; a DynamoDB failure an *OpError. While key pairs rotate, a key written
// under an older hash key is still found, and a key deleted under any of them stays
// deleted: Get then reads the key's item under every key pair (one GetItem each).
func (kv *KV) Get(ctx context.Context, key string) (value []byte, found bool, err error) {
	var foundAt int
	var foundData types.AttributeValue
	for i := range kv.s.sealer.keys {
		itemKey := kv.itemKey(i, key)
		out, err := kv.s.client.GetItem(ctx, kv.s.getItemInput(itemKey, kv.s.opts.ConsistentRead))
		if err != nil {
			return nil, false, kv.s.opError("GetItem", err)
		}
		if out.Item == nil {
			continue
		}
		if _, deleted := out.Item[attrDeleted]; deleted {
			// A server whose first key pair is this one deleted the key: it stays deleted,
			// whatever a server with other key pairs wrote under its own. A value under
			// this server's first key pair gets the marker too, so that it does not come
			// back when this marker expires.
			if found && i > foundAt {
				kv.mark(ctx, kv.itemKey(foundAt, key), foundData, out.Item[attrExpires])
			}
			return nil, false, nil
		}
		if found {
			continue // only looking for a deletion marker now
		}
		if value, found, err = kv.open(itemKey, out.Item); err != nil {
			return nil, false, err
		}
		foundAt, foundData = i, out.Item[attrData]
	}
	return value, found, nil
}

// mark replaces the value under itemKey with a deletion marker that expires at expires. It
// is tidying: a failure is logged, and Get keeps finding the older marker until it expires.
func (kv *KV) mark(ctx context.Context, itemKey string, data, expires types.AttributeValue) {
	item := map[string]types.AttributeValue{
		kv.s.opts.PartitionKey: &types.AttributeValueMemberS{Value: itemKey},
		attrDeleted:            &types.AttributeValueMemberBOOL{Value: true},
	}
	if expires != nil {
		item[attrExpires] = expires
	}
	_, err := kv.s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &kv.s.opts.TableName, Item: item,
		// Only over the value read: a Remove and a new Set since then win.
		ConditionExpression:       aws.String("#d = :d"),
		ExpressionAttributeNames:  map[string]string{"#d": attrData},
		ExpressionAttributeValues: map[string]types.AttributeValue{":d": data},
	})
	var failed *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &failed) {
		kv.s.opts.Logger.Warn("dynamostore: could not mark a deleted value", "table", kv.s.opts.TableName, "error", err)
	}
}

// open authenticates a stored value and checks its expiry.
func (kv *KV) open(itemKey string, item map[string]types.AttributeValue) ([]byte, bool, error) {
	data, ok := item[attrData].(*types.AttributeValueMemberB)
	if !ok {
		return nil, false, fmt.Errorf("%w: attribute %q is missing or not binary", ErrInvalidItem, attrData)
	}
	env, err := kv.s.sealer.open(itemKey, data.Value)
	if err != nil {
		kv.s.opts.Logger.Warn("dynamostore: rejected stored value", "table", kv.s.opts.TableName, "reason", err)
		return nil, false, fmt.Errorf("%w: %v", ErrInvalidItem, err)
	}
	if env.expires != 0 && env.expires <= kv.s.opts.Clock().Unix() {
		return nil, false, nil
	}
	value, err := inflate(env.flags, env.payload)
	if err != nil {
		kv.s.opts.Logger.Warn("dynamostore: rejected stored value", "table", kv.s.opts.TableName, "reason", err)
		return nil, false, fmt.Errorf("%w: %v", ErrInvalidItem, err)
	}
	return value, true, nil
}

// Set stores value under key until expires; a zero expires never expires (no TTL). It
// returns ErrSessionGone, and writes nothing, if key was deleted (under any of the Store's
// key pairs, while they rotate: then Set first reads the key's item under each older key
// pair); a *SizeError if the sealed value is over the Store's MaxLength; an *OpError if
// DynamoDB fails. Applying it twice (an SDK retry) gives the same item.
func (kv *KV) Set(ctx context.Context, key string, value []byte, expires time.Time) error {
	var exp int64
	if !expires.IsZero() {
		exp = expires.Unix()
		if exp <= 0 {
			exp = 1 // a time before 1970 is as expired as can be, never "no expiry"
		}
	}
	body, err := kv.s.compress(value)
	if err != nil {
		return err
	}
	if size := kv.s.sealer.sealedLength(len(body.data)); size > kv.s.opts.MaxLength {
		return &SizeError{Size: size, Limit: kv.s.opts.MaxLength}
	}
	// A server whose first key pair is an older one of ours marks a deletion only there: the
	// write below cannot be conditioned on another item, so look first. A deletion marked
	// after this look and before the write leaves a value that Get never returns (Get reads
	// the markers under every key pair).
	for i := 1; i < len(kv.s.sealer.keys); i++ {
		out, err := kv.s.client.GetItem(ctx, kv.s.getItemInput(kv.itemKey(i, key), aws.Bool(true)))
		if err != nil {
			return kv.s.opError("GetItem", err)
		}
		if _, deleted := out.Item[attrDeleted]; deleted {
			return ErrSessionGone
		}
	}
	itemKey := kv.itemKey(0, key)
	env := kv.s.sealer.seal(itemKey, exp, body.flags, body.data)
	item := map[string]types.AttributeValue{
		kv.s.opts.PartitionKey: &types.AttributeValueMemberS{Value: itemKey},
		attrData:               &types.AttributeValueMemberB{Value: env},
	}
	if exp != 0 {
		item[attrExpires] = &types.AttributeValueMemberN{Value: strconv.FormatInt(exp, 10)}
	}
	_, err = kv.s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                &kv.s.opts.TableName,
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#x)"),
		ExpressionAttributeNames: map[string]string{"#x": attrDeleted},
	})
	var failed *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		return nil
	case errors.As(err, &failed):
		return ErrSessionGone
	}
	return kv.s.opError("PutItem", err)
}

// Delete deletes key, and keeps it deleted for the Store's Lifetime (see Set): it leaves a
// marker under every key pair of the Store, so that a server whose key pairs overlap with
// these, during a rotation, neither stores nor finds the key again. Deleting a key that does
// not exist is not an error. The markers are written one call each, first key pair first: a
// Delete that returns an error while the Store has several key pairs may have marked some, so
// that servers reading those find the key deleted and servers with only the others still find
// it. Retry it (it is safe to apply twice), as a failed logout is retried.
func (kv *KV) Delete(ctx context.Context, key string) error {
	until := kv.s.opts.Clock().Add(kv.s.opts.Lifetime).Unix()
	for i := range kv.s.sealer.keys {
		_, err := kv.s.client.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: &kv.s.opts.TableName,
			Item: map[string]types.AttributeValue{
				kv.s.opts.PartitionKey: &types.AttributeValueMemberS{Value: kv.itemKey(i, key)},
				attrDeleted:            &types.AttributeValueMemberBOOL{Value: true},
				attrExpires:            &types.AttributeValueMemberN{Value: strconv.FormatInt(until, 10)},
			},
		})
		if err != nil {
			return kv.s.opError("PutItem", err)
		}
	}
	return nil
}

// Remove deletes key and leaves no marker: a later Set stores it again. It is for keys that
// are not sessions, such as a cache's, where a Set after a Remove must store the value.
// Removing a key that does not exist is not an error; a marker that Delete left is removed
// too.
func (kv *KV) Remove(ctx context.Context, key string) error {
	for i := range kv.s.sealer.keys {
		_, err := kv.s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName: &kv.s.opts.TableName,
			Key:       kv.s.keyAttr(kv.itemKey(i, key)),
		})
		if err != nil {
			return kv.s.opError("DeleteItem", err)
		}
	}
	return nil
}
