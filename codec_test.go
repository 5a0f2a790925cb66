package dynamostore_test

import (
	"testing"
	"time"

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

func TestGobCodecCompactFormKeepsTypes(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 30, 0, 123456789, time.FixedZone("CET", 3600))
	in := map[any]any{
		"s": "x", "empty": "", "b": true, "f": false, "i": -3, "i8": int8(-8), "i16": int16(1600), "i32": int32(-32),
		"i64": int64(1 << 60), "u": uint(7), "u8": uint8(255), "u16": uint16(65535), "u32": uint32(1 << 31), "u64": uint64(1 << 63),
		"f32": float32(1.5), "f64": 2.25, "bytes": []byte{0, 1, 2}, "time": now, "unicode": "héllo ✓",
	}
	data, err := dynamostore.GobCodec{}.Encode(in)
	require.NoError(t, err)
	assert.Equal(t, byte(1), data[0], "the compact form")
	out, err := dynamostore.GobCodec{}.Decode(data)
	require.NoError(t, err)
	assert.True(t, now.Equal(out["time"].(time.Time)))
	delete(out, "time")
	delete(in, "time")
	assert.Equal(t, in, out)

	// Truncations and corruptions are errors, never panics.
	for i := 1; i < len(data); i++ {
		_, _ = dynamostore.GobCodec{}.Decode(data[:i])
	}
	_, err = dynamostore.GobCodec{}.Decode(data[:len(data)-1])
	assert.Error(t, err)
	_, err = dynamostore.GobCodec{}.Decode(append(append([]byte{}, data...), 0))
	assert.Error(t, err, "trailing bytes")
	_, err = dynamostore.GobCodec{}.Decode([]byte{9})
	assert.Error(t, err)
	_, err = dynamostore.GobCodec{}.Decode(nil)
	assert.Error(t, err)

	// Other types take the gob form.
	mixed := map[any]any{"s": "x", 7: "int key", "list": []string{"a"}}
	data, err = dynamostore.GobCodec{}.Encode(mixed)
	require.NoError(t, err)
	assert.Equal(t, byte(0), data[0], "the gob form")
	out, err = dynamostore.GobCodec{}.Decode(data)
	require.NoError(t, err)
	assert.Equal(t, mixed, out)
}
