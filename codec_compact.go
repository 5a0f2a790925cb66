package dynamostore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// The compact form of GobCodec: formCompact, uvarint(count), then for each entry in key order
// uvarint(len(key)) key, a type tag and the value. It covers what sessions hold almost always,
// and decodes without reflection or gob's per-stream type compilation.
const (
	tagString  = 's'
	tagBool    = 'b'
	tagInt     = 'i'
	tagInt8    = '1'
	tagInt16   = '2'
	tagInt32   = '4'
	tagInt64   = '8'
	tagUint    = 'u'
	tagUint8   = '!'
	tagUint16  = '@'
	tagUint32  = '$'
	tagUint64  = '*'
	tagFloat32 = 'f'
	tagFloat64 = 'F'
	tagBytes   = 'y'
	tagTime    = 't'
)

// encodeCompact returns false when a key or value needs gob.
func encodeCompact(values map[any]any) ([]byte, bool) {
	keys := make([]string, 0, len(values))
	size := 1 + binary.MaxVarintLen64
	for k, v := range values {
		key, ok := k.(string)
		if !ok {
			return nil, false
		}
		keys = append(keys, key)
		size += len(key) + 2*binary.MaxVarintLen64 + 1
		switch v := v.(type) {
		case string:
			size += len(v)
		case []byte:
			size += len(v)
		case bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64, time.Time:
		default:
			return nil, false
		}
	}
	slices.Sort(keys)
	out := make([]byte, 0, size+16)
	out = append(out, formCompact)
	out = binary.AppendUvarint(out, uint64(len(keys)))
	for _, key := range keys {
		out = binary.AppendUvarint(out, uint64(len(key)))
		out = append(out, key...)
		switch v := values[key].(type) {
		case string:
			out = binary.AppendUvarint(append(out, tagString), uint64(len(v)))
			out = append(out, v...)
		case []byte:
			out = binary.AppendUvarint(append(out, tagBytes), uint64(len(v)))
			out = append(out, v...)
		case bool:
			b := byte(0)
			if v {
				b = 1
			}
			out = append(out, tagBool, b)
		case int:
			out = binary.AppendVarint(append(out, tagInt), int64(v))
		case int8:
			out = binary.AppendVarint(append(out, tagInt8), int64(v))
		case int16:
			out = binary.AppendVarint(append(out, tagInt16), int64(v))
		case int32:
			out = binary.AppendVarint(append(out, tagInt32), int64(v))
		case int64:
			out = binary.AppendVarint(append(out, tagInt64), v)
		case uint:
			out = binary.AppendUvarint(append(out, tagUint), uint64(v))
		case uint8:
			out = binary.AppendUvarint(append(out, tagUint8), uint64(v))
		case uint16:
			out = binary.AppendUvarint(append(out, tagUint16), uint64(v))
		case uint32:
			out = binary.AppendUvarint(append(out, tagUint32), uint64(v))
		case uint64:
			out = binary.AppendUvarint(append(out, tagUint64), v)
		case float32:
			out = binary.BigEndian.AppendUint32(append(out, tagFloat32), math.Float32bits(v))
		case float64:
			out = binary.BigEndian.AppendUint64(append(out, tagFloat64), math.Float64bits(v))
		case time.Time:
			b, err := v.MarshalBinary()
			if err != nil { // a zone offset that MarshalBinary cannot express
				return nil, false
			}
			out = binary.AppendUvarint(append(out, tagTime), uint64(len(b)))
			out = append(out, b...)
		}
	}
	return out, true
}

var errCompact = errors.New("gob: malformed compact session data")

// compactReader reads the compact form, failing on any short or oversized field.
type compactReader struct {
	b   []byte
	err error
}

func (r *compactReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *compactReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *compactReader) bytes(n uint64) []byte {
	if r.err != nil || n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *compactReader) fail() {
	if r.err == nil {
		r.err = errCompact
	}
	r.b = nil
}

func decodeCompact(data []byte) (map[any]any, error) {
	r := &compactReader{b: data}
	count := r.uvarint()
	if count > uint64(len(data)) { // every entry takes at least one byte
		return nil, errCompact
	}
	values := make(map[any]any, count)
	for i := uint64(0); i < count && r.err == nil; i++ {
		key := string(r.bytes(r.uvarint()))
		tag := r.bytes(1)
		if r.err != nil {
			break
		}
		var v any
		switch tag[0] {
		case tagString:
			v = string(r.bytes(r.uvarint()))
		case tagBytes:
			v = append([]byte{}, r.bytes(r.uvarint())...)
		case tagBool:
			b := r.bytes(1)
			if r.err == nil && b[0] > 1 {
				r.fail()
			}
			v = r.err == nil && b[0] == 1
		case tagInt:
			v = int(r.varint())
		case tagInt8:
			v = int8(r.varint())
		case tagInt16:
			v = int16(r.varint())
		case tagInt32:
			v = int32(r.varint())
		case tagInt64:
			v = r.varint()
		case tagUint:
			v = uint(r.uvarint())
		case tagUint8:
			v = uint8(r.uvarint())
		case tagUint16:
			v = uint16(r.uvarint())
		case tagUint32:
			v = uint32(r.uvarint())
		case tagUint64:
			v = r.uvarint()
		case tagFloat32:
			if b := r.bytes(4); r.err == nil {
				v = math.Float32frombits(binary.BigEndian.Uint32(b))
			}
		case tagFloat64:
			if b := r.bytes(8); r.err == nil {
				v = math.Float64frombits(binary.BigEndian.Uint64(b))
			}
		case tagTime:
			var t time.Time
			if b := r.bytes(r.uvarint()); r.err == nil {
				if err := t.UnmarshalBinary(b); err != nil {
					return nil, fmt.Errorf("gob: session value %q: %w", key, err)
				}
			}
			v = t
		default:
			return nil, fmt.Errorf("gob: unknown type tag %q in session data", tag[0])
		}
		values[key] = v
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, errCompact
	}
	return values, nil
}
