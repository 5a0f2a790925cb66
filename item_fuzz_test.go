package dynamostore

import (
	"context"
	"errors"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/gorilla/securecookie"
)

// oneItemClient serves one item, whatever the key, and accepts every write.
type oneItemClient struct {
	item map[string]types.AttributeValue
}

func (c *oneItemClient) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return &dynamodb.GetItemOutput{Item: c.item}, nil
}
func (c *oneItemClient) PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return &dynamodb.PutItemOutput{}, nil
}
func (c *oneItemClient) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return &dynamodb.UpdateItemOutput{}, nil
}
func (c *oneItemClient) DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return &dynamodb.DeleteItemOutput{}, nil
}

// FuzzItem feeds the item decode path: arbitrary envelopes (sealed=false), and arbitrary
// bodies correctly sealed with the store's key (sealed=true), which reach the codec; a body
// that starts with 'Z' is sealed as compressed, so its rest reaches the inflater. New must
// return a session and either decoded values or ErrInvalidItem or a *CodecError; Save of what
// it returns must not panic.
func FuzzItem(f *testing.F) {
	compact, _ := GobCodec{}.Encode(map[any]any{"user": "ada", "n": 3, "ok": true, "t": time.Unix(0, 0).UTC()})
	withGob, _ := GobCodec{}.Encode(map[any]any{1: []string{"a"}})
	asJSON, _ := JSONCodec{}.Encode(map[any]any{"user": "ada"})
	meta := (&sessionMeta{created: 1, written: 1}).appendTo(nil)
	s, _ := New(&oneItemClient{}, WithKeyPairs([]byte(strings.Repeat("k", 32))), WithCompression(0))
	deflated, _ := s.compress([]byte(strings.Repeat(string(compact), 4)))
	for _, seed := range [][]byte{compact, withGob, asJSON, {}, {1}, {0}, {1, 0xff, 0xff, 0xff, 0xff, 0x0f}, []byte(strings.Repeat("\x01", 64)),
		append(append([]byte("Z"), meta...), deflated.data...), append(append([]byte("Z"), meta...), 0xff, 0, 0xff)} {
		f.Add(true, false, seed)
		f.Add(false, true, seed)
	}
	f.Fuzz(func(t *testing.T, sealed, useJSON bool, data []byte) {
		client := &oneItemClient{}
		var codec Codec = GobCodec{}
		if useJSON {
			codec = JSONCodec{}
		}
		store, err := New(client, WithKeyPairs([]byte(strings.Repeat("k", 32)), []byte(strings.Repeat("b", 32))), WithCodec(codec))
		if err != nil {
			t.Fatal(err)
		}
		id := strings.Repeat("A", idLength)
		key := itemKey(defaultKeyPrefix, id)
		expires := time.Now().Add(time.Hour).Unix()
		env := data
		if sealed {
			var flags byte
			if len(data) > 0 && data[0] == 'Z' {
				flags, data = flagCompressed, data[1:]
			}
			env = store.sealer.seal(key, expires, flags, data)
		}
		client.item = map[string]types.AttributeValue{
			defaultPartitionKey: &types.AttributeValueMemberS{Value: key},
			attrData:            &types.AttributeValueMemberB{Value: env},
			attrExpires:         &types.AttributeValueMemberN{Value: strconv.FormatInt(expires, 10)},
			attrWritten:         &types.AttributeValueMemberN{Value: "1"},
		}
		cookie, err := securecookie.EncodeMulti("__Host-sid", []byte(id), store.codecs...)
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Cookie", "__Host-sid="+cookie)
		s, err := store.New(r, "sid")
		if s == nil {
			t.Fatal("nil session")
		}
		var codecErr *CodecError
		switch {
		case err == nil:
		case errors.Is(err, ErrInvalidItem), errors.As(err, &codecErr):
			if !s.IsNew || len(s.Values) != 0 {
				t.Fatalf("a rejected item gave values %v", s.Values)
			}
		default:
			t.Fatalf("unexpected error %v", err)
		}
		_ = store.Save(r, httptest.NewRecorder(), s)
	})
}
