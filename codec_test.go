package dynamostore_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
)

// Save skips unchanged sessions by comparing bytes, so equal values must encode equally,
// whatever Go's random map order.
func TestCodecsAreDeterministic(t *testing.T) {
	values := map[any]any{}
	for i := 0; i < 50; i++ {
		values[string(rune('a'+i%26))+string(rune('A'+i/26))] = i
	}
	values[7] = "int key"
	values[2.5] = "float key"
	for name, codec := range map[string]dynamostore.Codec{"gob": dynamostore.GobCodec{}, "json": dynamostore.JSONCodec{}} {
		t.Run(name, func(t *testing.T) {
			if name == "json" {
				delete(values, 7)
				delete(values, 2.5)
			}
			first, err := codec.Encode(values)
			require.NoError(t, err)
			for i := 0; i < 20; i++ {
				again, err := codec.Encode(values)
				require.NoError(t, err)
				require.Equal(t, first, again)
			}
			back, err := codec.Decode(first)
			require.NoError(t, err)
			assert.Len(t, back, len(values))
		})
	}
}

func TestGobCodecRoundTripKeepsTypes(t *testing.T) {
	in := map[any]any{"s": "x", "i": 3, "b": true, 9: []string{"a"}, "f": 1.5}
	data, err := dynamostore.GobCodec{}.Encode(in)
	require.NoError(t, err)
	out, err := dynamostore.GobCodec{}.Decode(data)
	require.NoError(t, err)
	assert.Equal(t, in, out)

	_, err = dynamostore.GobCodec{}.Decode([]byte("garbage"))
	assert.Error(t, err)
	_, err = dynamostore.JSONCodec{}.Decode([]byte("[1,2]"))
	assert.Error(t, err)
}
