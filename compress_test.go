package dynamostore_test

import (
	"bytes"
	"compress/flate"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/internal/sessiondata"
)

var codecs = []struct {
	name  string
	codec dynamostore.Codec
}{{"gob", dynamostore.GobCodec{}}, {"json", dynamostore.JSONCodec{}}}

// dataOf returns the data attribute of the browser's item.
func (f *fixture) dataOf(t *testing.T, b *browser) []byte {
	t.Helper()
	_, item := f.itemOf(t, b)
	return item["data"].(*types.AttributeValueMemberB).Value
}

// fill sets every value of values in the session.
func fill(values map[any]any) func(*sessions.Session) bool {
	return func(s *sessions.Session) bool {
		for k, v := range values {
			s.Values[k] = v
		}
		return true
	}
}

// A realistic 16 KiB session, with either codec, is stored compressed, reads back equal, and
// costs a fraction of the bytes; a small one under the threshold is stored as it is; an
// unchanged compressed session is not written again.
func TestCompressionRoundTripAndThreshold(t *testing.T) {
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, dynamostore.WithCodec(c.codec), dynamostore.WithCompression(1024))
			plain := f.newStore(dynamostore.WithCodec(c.codec))
			values, raw, err := sessiondata.Sized(1, 16384, c.codec.Encode)
			require.NoError(t, err)
			encoded, err := c.codec.Encode(values)
			require.NoError(t, err)
			want, err := c.codec.Decode(encoded)
			require.NoError(t, err)

			big, bigPlain, small := newBrowser(), newBrowser(), newBrowser()
			_, err = big.visit(t, f.store, fill(values))
			require.NoError(t, err)
			_, err = bigPlain.visit(t, plain, fill(values))
			require.NoError(t, err)
			_, err = small.visit(t, f.store, func(s *sessions.Session) bool { s.Values["user"] = "ada"; return true })
			require.NoError(t, err)

			data, plainData := f.dataOf(t, big), f.dataOf(t, bigPlain)
			assert.True(t, dynamostore.Compressed(data), "over the threshold: compressed")
			assert.False(t, dynamostore.Compressed(plainData), "without the option: not compressed")
			assert.False(t, dynamostore.Compressed(f.dataOf(t, small)), "under the threshold: not compressed")
			t.Logf("%s: codec bytes %d, stored %d compressed against %d (%.2fx)", c.name, raw, len(data), len(plainData), float64(len(plainData))/float64(len(data)))
			assert.Less(t, len(data)*2, len(plainData), "at least halved")

			assert.Equal(t, want, f.stored(t, big), "read back equal")
			before := f.client.writes()
			_, err = big.visit(t, f.store, func(*sessions.Session) bool { return true })
			require.NoError(t, err)
			assert.Equal(t, before, f.client.writes(), "no write for equal values")
		})
	}
}

// Stores with and without compression read each other's items, and a change written by
// either is read by the other: turning compression on or off needs no migration.
func TestCompressedAndPlainItemsReadAlike(t *testing.T) {
	f := newFixture(t)
	compressing := f.newStore(dynamostore.WithCompression(0))
	values := sessiondata.Values(2, 10)
	b := newBrowser()
	_, err := b.visit(t, f.store, fill(values)) // written plain
	require.NoError(t, err)
	require.False(t, dynamostore.Compressed(f.dataOf(t, b)))

	_, err = b.visit(t, compressing, func(s *sessions.Session) bool { // read plain, write compressed
		assert.Equal(t, "EUR", s.Values["currency"])
		s.Values["currency"] = "GBP"
		return true
	})
	require.NoError(t, err)
	require.True(t, dynamostore.Compressed(f.dataOf(t, b)))

	_, err = b.visit(t, f.store, func(s *sessions.Session) bool { // read compressed, write plain
		assert.Equal(t, "GBP", s.Values["currency"])
		assert.Equal(t, values["cart"], s.Values["cart"])
		s.Values["currency"] = "USD"
		return true
	})
	require.NoError(t, err)
	assert.False(t, dynamostore.Compressed(f.dataOf(t, b)))
	assert.Equal(t, "USD", f.stored(t, b)["currency"])
}

// WithMaxLength limits what is stored: with compression, a session whose codec bytes are over
// the limit fits when it compresses under it; without, it gets ErrTooLarge. A session over
// MaxUncompressedLength is refused even when it would compress well.
func TestCompressionAndTheSizeLimit(t *testing.T) {
	f := newFixture(t, dynamostore.WithMaxLength(8000), dynamostore.WithCompression(0))
	plain := f.newStore(dynamostore.WithMaxLength(8000))
	values, raw, err := sessiondata.Sized(3, 12000, dynamostore.GobCodec{}.Encode)
	require.NoError(t, err)
	require.Greater(t, raw, 8000)

	_, err = newBrowser().visit(t, plain, fill(values))
	assert.ErrorIs(t, err, dynamostore.ErrTooLarge, "12 KB of codec bytes, stored plain")
	b := newBrowser()
	_, err = b.visit(t, f.store, fill(values))
	require.NoError(t, err, "12 KB of codec bytes, compressed under 8000")
	assert.LessOrEqual(t, len(f.dataOf(t, b)), 8000)

	huge := newBrowser()
	var size *dynamostore.SizeError
	_, err = huge.visit(t, f.store, func(s *sessions.Session) bool {
		s.Values["zeros"] = strings.Repeat("0", dynamostore.MaxUncompressedLength)
		return true
	})
	require.ErrorAs(t, err, &size)
	assert.Equal(t, dynamostore.MaxUncompressedLength, size.Limit)
	assert.Empty(t, huge.cookies, "no cookie")
	assert.Len(t, f.items(), 1, "nothing written but the session that fit")
}

// An item that inflates past MaxUncompressedLength is rejected before the codec sees it, even
// when it is sealed with the store's own keys (a decompression bomb written by the key holder):
// a fresh session, ErrInvalidItem, and the item left as it is.
func TestDecompressionIsBounded(t *testing.T) {
	for name, size := range map[string]int{"over the bound": dynamostore.MaxUncompressedLength + 1, "corrupt": -1} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t) // compression off: every store inflates what it reads
			var deflated bytes.Buffer
			if size > 0 {
				w, err := flate.NewWriter(&deflated, flate.BestCompression)
				require.NoError(t, err)
				_, err = w.Write(bytes.Repeat([]byte{'a'}, size))
				require.NoError(t, err)
				require.NoError(t, w.Close())
				require.Less(t, deflated.Len(), 4096, "a bomb: small in, large out")
			} else {
				deflated.WriteString("\xff\x00\xffnot deflate")
			}
			id := strings.Repeat("B", 43)
			expires := time.Now().Add(time.Hour).Unix()
			data := dynamostore.ForgeCompressedData(f.store, id, expires, deflated.Bytes())
			key := f.keyOf(id)
			_, err := f.ddb.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: &f.table, Item: map[string]types.AttributeValue{
				"id":      &types.AttributeValueMemberS{Value: key},
				"data":    &types.AttributeValueMemberB{Value: data},
				"expires": &types.AttributeValueMemberN{Value: strconv.FormatInt(expires, 10)},
			}})
			require.NoError(t, err)

			sc := securecookie.New(hashKey1, blockKey1)
			sc.SetSerializer(securecookie.NopEncoder{})
			cookie, err := sc.Encode(jarName, []byte(id))
			require.NoError(t, err)
			r := httptest.NewRequest("GET", "/", nil)
			r.AddCookie(&http.Cookie{Name: jarName, Value: cookie})
			s, err := f.store.New(r, cookieName)
			require.ErrorIs(t, err, dynamostore.ErrInvalidItem)
			assert.True(t, s.IsNew)
			assert.Empty(t, s.Values)
			item, ok := f.itemByKey(t, key)
			require.True(t, ok, "the bad item is left for inspection")
			assert.Equal(t, data, item["data"].(*types.AttributeValueMemberB).Value)
		})
	}
}

// The key-value view compresses too, and reads plain and compressed values alike.
func TestKVCompression(t *testing.T) {
	f := newFixture(t)
	kv := f.newStore(dynamostore.WithCompression(64)).KV("kvtest")
	plainKV := f.store.KV("kvtest")
	ctx := context.Background()
	value := bytes.Repeat([]byte("scs session data "), 100)
	require.NoError(t, kv.Set(ctx, "a", value, time.Now().Add(time.Hour)))
	item, ok := f.itemByKey(t, dynamostore.KVItemKey(kv, "a"))
	require.True(t, ok)
	data := item["data"].(*types.AttributeValueMemberB).Value
	assert.True(t, dynamostore.Compressed(data))
	assert.Less(t, len(data), len(value)/4)
	for _, reader := range []*dynamostore.KV{kv, plainKV} {
		got, found, err := reader.Get(ctx, "a")
		require.NoError(t, err)
		assert.True(t, found)
		assert.Equal(t, value, got)
	}
}

// Options that cannot work are reported by New.
func TestCompressionThresholdIsValidated(t *testing.T) {
	for _, threshold := range []int{-1, dynamostore.MaxUncompressedLength + 1} {
		_, err := dynamostore.New(&dynamodb.Client{}, dynamostore.WithKeyPairs(hashKey1), dynamostore.WithCompression(threshold))
		var cfg *dynamostore.ConfigError
		assert.ErrorAs(t, err, &cfg, "threshold %d", threshold)
	}
}
