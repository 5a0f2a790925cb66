package dynamostore

import (
	"encoding/binary"
	"hash/maphash"
	"math"
	"reflect"
	"time"
)

// Change detection. Save skips the write of a session whose values are equal to those it
// loaded (inside the touch interval), so it needs a fingerprint that is equal for equal
// values. The codec's bytes are not one: encoding/gob writes maps in Go's random iteration
// order, so a session holding a map, or a struct with a map field, encodes differently from
// one call to the next. For the built-in codecs the store therefore fingerprints the values
// themselves, walking them in a canonical way: map entries are combined in an order-free way,
// interface values carry their dynamic type, and time.Time counts by instant and zone
// offset, which is what both codecs store. Values it cannot walk (funcs, channels, unsafe
// pointers, cycles or nesting deeper than maxDigestDepth) fall back to a digest of the
// codec's bytes, which can only cause an extra write, never a skipped one. A custom Codec is
// fingerprinted by its bytes, as its contract (deterministic Encode) allows.

// digestSeed is random per process, so no one can aim for a collision (which would only skip
// a write, the values being unchanged as far as the store could tell).
var digestSeed = maphash.MakeSeed()

// maxDigestDepth bounds the walk; deeper values (or pointer cycles) fall back to the bytes.
const maxDigestDepth = 32

// digestKind records how a digest was made: digests of different kinds never compare equal.
type digestKind uint8

const (
	digestNone   digestKind = iota // no digest: the session must be written
	digestWalked                   // canonical walk of the values
	digestBytes                    // the codec's bytes
)

// fingerprint is what Save compares to decide whether the values changed.
type fingerprint struct {
	kind digestKind
	sum  uint64
}

func (a fingerprint) equal(b fingerprint) bool { return a.kind != digestNone && a == b }

// valuesFingerprint walks values when the codec is a built-in one; ok is false when the
// caller must fingerprint the encoded bytes instead.
func (s *Store) valuesFingerprint(values map[any]any) (fingerprint, bool) {
	switch s.opts.Codec.(type) {
	case GobCodec, *GobCodec, JSONCodec, *JSONCodec:
	default:
		return fingerprint{}, false
	}
	sum, ok := digestValues(values)
	return fingerprint{kind: digestWalked, sum: sum}, ok
}

// bytesFingerprint is the fallback: a digest of the codec's bytes.
func bytesFingerprint(body []byte) fingerprint {
	return fingerprint{kind: digestBytes, sum: maphash.Bytes(digestSeed, body)}
}

// digestValues returns an order-free digest of a session's values.
func digestValues(values map[any]any) (uint64, bool) {
	sum := uint64(len(values))
	for k, v := range values {
		var h maphash.Hash
		h.SetSeed(digestSeed)
		if !writeAny(&h, k, 0) || !writeAny(&h, v, 0) {
			return 0, false
		}
		sum += h.Sum64() // addition is commutative: map order does not matter
	}
	return sum, true
}

// writeAny hashes v with its dynamic type; the common session types skip reflection.
func writeAny(h *maphash.Hash, v any, depth int) bool {
	switch v := v.(type) {
	case nil:
		h.WriteByte(0)
	case string:
		h.WriteByte(tagString)
		writeString(h, v)
	case []byte:
		h.WriteByte(tagBytes)
		writeBool(h, v == nil) // JSON stores nil as null and empty as ""
		writeUint(h, uint64(len(v)))
		h.Write(v)
	case bool:
		h.WriteByte(tagBool)
		writeBool(h, v)
	case int:
		writeTagged(h, tagInt, uint64(v))
	case int64:
		writeTagged(h, tagInt64, uint64(v))
	case int32:
		writeTagged(h, tagInt32, uint64(v))
	case uint64:
		writeTagged(h, tagUint64, v)
	case float64:
		writeTagged(h, tagFloat64, math.Float64bits(v))
	case float32: // its own bits: widening to float64 would quiet a signalling NaN
		writeTagged(h, tagFloat32, uint64(math.Float32bits(v)))
	case time.Time:
		h.WriteByte(tagTime)
		writeTime(h, v)
	default:
		rv := reflect.ValueOf(v)
		h.WriteByte('r')
		writeType(h, rv.Type())
		return writeValue(h, rv, depth+1)
	}
	return true
}

var timeType = reflect.TypeFor[time.Time]()

// writeValue hashes a value reached by reflection: every field, exported or not (reading
// unexported fields is allowed; only Interface is not).
func writeValue(h *maphash.Hash, v reflect.Value, depth int) bool {
	if depth > maxDigestDepth {
		return false
	}
	switch v.Kind() {
	case reflect.Bool:
		writeBool(h, v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		writeUint(h, uint64(v.Int()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		writeUint(h, v.Uint())
	case reflect.Float32:
		writeUint(h, uint64(float32Bits(v)))
	case reflect.Float64:
		writeUint(h, math.Float64bits(v.Float()))
	case reflect.Complex64, reflect.Complex128:
		c := v.Complex()
		writeUint(h, math.Float64bits(real(c)))
		writeUint(h, math.Float64bits(imag(c)))
	case reflect.String:
		writeString(h, v.String())
	case reflect.Slice:
		if v.IsNil() {
			h.WriteByte(0)
			return true
		}
		h.WriteByte(1)
		if v.Type().Elem().Kind() == reflect.Uint8 {
			b := v.Bytes()
			writeUint(h, uint64(len(b)))
			h.Write(b)
			return true
		}
		return writeElems(h, v, depth)
	case reflect.Array:
		return writeElems(h, v, depth)
	case reflect.Map:
		if v.IsNil() {
			h.WriteByte(0)
			return true
		}
		h.WriteByte(1)
		sum := uint64(v.Len())
		for it := v.MapRange(); it.Next(); {
			var e maphash.Hash
			e.SetSeed(digestSeed)
			if !writeValue(&e, it.Key(), depth+1) || !writeValue(&e, it.Value(), depth+1) {
				return false
			}
			sum += e.Sum64()
		}
		writeUint(h, sum)
	case reflect.Struct:
		if v.Type() == timeType && v.CanInterface() {
			writeTime(h, v.Interface().(time.Time))
			return true
		}
		for i := range v.NumField() {
			if !writeValue(h, v.Field(i), depth+1) {
				return false
			}
		}
	case reflect.Pointer:
		if v.IsNil() {
			h.WriteByte(0)
			return true
		}
		h.WriteByte(1)
		return writeValue(h, v.Elem(), depth+1)
	case reflect.Interface:
		if v.IsNil() {
			h.WriteByte(0)
			return true
		}
		e := v.Elem()
		h.WriteByte(1)
		writeType(h, e.Type())
		return writeValue(h, e, depth+1)
	default: // Func, Chan, UnsafePointer: nothing a codec stores faithfully
		return false
	}
	return true
}

func writeElems(h *maphash.Hash, v reflect.Value, depth int) bool {
	n := v.Len()
	writeUint(h, uint64(n))
	for i := range n {
		if !writeValue(h, v.Index(i), depth+1) {
			return false
		}
	}
	return true
}

// writeType names a dynamic type by package path and name, down through pointers, slices,
// arrays and maps, so that equal contents of two different types (an int and an int64, a
// *v1.User and a *v2.User) never look alike.
func writeType(h *maphash.Hash, t reflect.Type) {
	if t.Name() != "" {
		writeString(h, t.PkgPath())
		writeString(h, t.Name())
		return
	}
	h.WriteByte(byte(t.Kind()))
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice:
		writeType(h, t.Elem())
	case reflect.Array:
		writeUint(h, uint64(t.Len()))
		writeType(h, t.Elem())
	case reflect.Map:
		writeType(h, t.Key())
		writeType(h, t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			writeString(h, f.Name)
			writeType(h, f.Type)
		}
	default:
		writeString(h, t.String())
	}
}

// float32Bits returns a float32's own bits where reflection allows it: Value.Float widens to
// float64, which quiets a signalling NaN.
func float32Bits(v reflect.Value) uint32 {
	if v.CanInterface() {
		c := reflect.New(v.Type()).Elem()
		c.Set(v)
		return math.Float32bits(*(*float32)(c.Addr().UnsafePointer()))
	}
	return math.Float32bits(float32(v.Float())) // an unexported field, which neither codec stores
}

// writeTime hashes what both codecs keep of a time: the instant, the zone offset, and whether
// it is UTC (which MarshalBinary and JSON write apart from a zero offset elsewhere); not the
// monotonic reading, nor the Location's name.
func writeTime(h *maphash.Hash, t time.Time) {
	_, offset := t.Zone()
	writeUint(h, uint64(t.Unix()))
	writeUint(h, uint64(t.Nanosecond()))
	writeUint(h, uint64(offset))
	writeBool(h, t.Location() == time.UTC)
}

func writeTagged(h *maphash.Hash, tag byte, v uint64) {
	h.WriteByte(tag)
	writeUint(h, v)
}

func writeUint(h *maphash.Hash, v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	h.Write(b[:])
}

func writeBool(h *maphash.Hash, v bool) {
	if v {
		h.WriteByte(1)
	} else {
		h.WriteByte(0)
	}
}

func writeString(h *maphash.Hash, s string) {
	writeUint(h, uint64(len(s)))
	h.WriteString(s)
}
