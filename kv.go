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
//     request is never brought back by a slow write of another.
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
// under an older hash key is still found (one GetItem per key pair until it is).
func (kv *KV) Get(ctx context.Context, key string) (value []byte, found bool, err error) {
	for i := range kv.s.sealer.keys {
		itemKey := kv.itemKey(i, key)
		out, err := kv.s.client.GetItem(ctx, &dynamodb.GetItemInput{
			TableName:      &kv.s.opts.TableName,
			Key:            kv.s.keyAttr(itemKey),
			ConsistentRead: kv.s.opts.ConsistentRead,
		})
		if err != nil {
			return nil, false, kv.s.opError("GetItem", err)
		}
		if out.Item == nil {
			continue
		}
		if _, deleted := out.Item[attrDeleted]; deleted {
			return nil, false, nil
		}
		data, ok := out.Item[attrData].(*types.AttributeValueMemberB)
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
	return nil, false, nil
}

// Set stores value under key until expires; a zero expires never expires (no TTL). It
// returns ErrSessionGone, and writes nothing, if key was deleted; a *SizeError if the sealed
// value is over the Store's MaxLength; an *OpError if DynamoDB fails.
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
	itemKey := kv.itemKey(0, key)
	env, _, err := kv.s.sealer.seal(itemKey, exp, body.flags, body.data)
	if err != nil {
		return err
	}
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

// Delete deletes key, and keeps it deleted for the Store's Lifetime (see Set). Deleting a
// key that does not exist is not an error.
func (kv *KV) Delete(ctx context.Context, key string) error {
	until := kv.s.opts.Clock().Add(kv.s.opts.Lifetime).Unix()
	for i := range kv.s.sealer.keys {
		itemKey := kv.itemKey(i, key)
		op, err := "DeleteItem", error(nil)
		if i == 0 {
			op = "PutItem"
			_, err = kv.s.client.PutItem(ctx, &dynamodb.PutItemInput{
				TableName: &kv.s.opts.TableName,
				Item: map[string]types.AttributeValue{
					kv.s.opts.PartitionKey: &types.AttributeValueMemberS{Value: itemKey},
					attrDeleted:            &types.AttributeValueMemberBOOL{Value: true},
					attrExpires:            &types.AttributeValueMemberN{Value: strconv.FormatInt(until, 10)},
				},
			})
		} else { // an older key pair's item, if any
			_, err = kv.s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &kv.s.opts.TableName, Key: kv.s.keyAttr(itemKey)})
		}
		if err != nil {
			return kv.s.opError(op, err)
		}
	}
	return nil
}
