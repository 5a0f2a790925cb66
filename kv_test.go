package dynamostore_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/dynamostoretest"
)

// The key-value view that the scs and Fiber adapters use, on DynamoDB Local.
func TestKV(t *testing.T) {
	t.Parallel()
	f, ft := newNetFixture(t)
	ctx := context.Background()
	kv := f.store.KV("test")
	token := "a-token-that-scs-made"

	_, found, err := kv.Get(ctx, token)
	require.NoError(t, err)
	assert.False(t, found)
	ft.Inject("PutItem", dynamostoretest.FaultLostAnswer) // a retried Set is the same Set
	require.NoError(t, kv.Set(ctx, token, []byte("hello"), f.clock.Now().Add(time.Hour)))
	got, found, err := kv.Get(ctx, token)
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, "hello", string(got))

	// Nothing in clear: not the token, not the value (a block key is set).
	items := f.items()
	require.Len(t, items, 1)
	id := items[0]["id"].(*types.AttributeValueMemberS).Value
	assert.NotContains(t, id, token)
	assert.False(t, bytes.Contains(items[0]["data"].(*types.AttributeValueMemberB).Value, []byte("hello")))

	// Expiry is checked on read, whatever TTL has done.
	f.clock.Advance(time.Hour)
	_, found, err = kv.Get(ctx, token)
	require.NoError(t, err)
	assert.False(t, found, "expired")

	// A deleted key stays deleted.
	require.NoError(t, kv.Set(ctx, token, []byte("again"), time.Time{}))
	ft.Inject("PutItem", dynamostoretest.FaultLostAnswer)
	require.NoError(t, kv.Delete(ctx, token))
	require.ErrorIs(t, kv.Set(ctx, token, []byte("resurrected"), time.Time{}), dynamostore.ErrSessionGone)
	_, found, err = kv.Get(ctx, token)
	require.NoError(t, err)
	assert.False(t, found)
	require.NoError(t, kv.Delete(ctx, "never-set"))

	// Namespaces are apart, and a value moved to another key is rejected.
	require.NoError(t, kv.Set(ctx, "alice", []byte("alice's"), time.Time{}))
	require.NoError(t, f.store.KV("other").Set(ctx, "alice", []byte("other's"), time.Time{}))
	got, _, err = kv.Get(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, "alice's", string(got))
	require.NoError(t, kv.Set(ctx, "bob", []byte("bob's"), time.Time{}))
	moved, there := f.itemByKey(t, dynamostore.KVItemKey(kv, "alice"))
	require.True(t, there)
	moved["id"] = &types.AttributeValueMemberS{Value: dynamostore.KVItemKey(kv, "bob")}
	_, err = f.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: &f.table, Item: moved})
	require.NoError(t, err)
	_, _, err = kv.Get(ctx, "bob")
	require.ErrorIs(t, err, dynamostore.ErrInvalidItem, "alice's value under bob's key")

	// The size limit.
	var size *dynamostore.SizeError
	require.ErrorAs(t, kv.Set(ctx, "big", make([]byte, dynamostore.DefaultMaxLength), time.Time{}), &size)
}
