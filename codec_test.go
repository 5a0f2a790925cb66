package dynamostore_test

import (
	"bytes"
	"encoding/gob"
	"encoding/hex"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"os"
	"os/exec"
	"reflect"
	"strings"
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

// compactRoundTrip is what the compact form gives back for v: the oracle for the gob form,
// which must give back the same value of the same type.
func compactRoundTrip[T any](t testing.TB, v T) T {
	t.Helper()
	data, err := dynamostore.GobCodec{}.Encode(map[any]any{"v": v})
	require.NoError(t, err)
	require.Equal(t, byte(1), data[0], "%T takes the compact form", v)
	back, err := dynamostore.GobCodec{}.Decode(data)
	require.NoError(t, err)
	return back["v"].(T)
}

// codecKind is a type of key or value that GobCodec's doc comment says it takes; sample(i) is
// its i-th distinct value (nil when it has no more).
type codecKind struct {
	name    string
	sample  func(i int) any
	compact bool // as a value, the compact form takes it
}

func codecSamples(vs ...any) func(int) any {
	return func(i int) any { return vs[i%len(vs)] }
}

var (
	codecCET = time.FixedZone("CET", 3600)
	// The documented keys: strings, bools, integers, floats.
	codecKeyKinds = []codecKind{
		{"string", func(i int) any { return fmt.Sprintf("k%d", i) }, true},
		{"bool", func(i int) any {
			if i > 1 {
				return nil
			}
			return i == 1
		}, false},
		{"int", func(i int) any { return -i - 1 }, false},
		{"int8", func(i int) any { return int8(-i) }, false},
		{"int16", func(i int) any { return int16(i * 300) }, false},
		{"int32", func(i int) any { return int32(i) }, false},
		{"int64", func(i int) any { return int64(i) << 40 }, false},
		{"uint", func(i int) any { return uint(i) }, false},
		{"uint8", func(i int) any { return uint8(255 - i) }, false},
		{"uint16", func(i int) any { return uint16(i) }, false},
		{"uint32", func(i int) any { return uint32(i) }, false},
		{"uint64", func(i int) any { return uint64(1<<63) + uint64(i) }, false},
		{"float32", func(i int) any { return float32(i) + 0.5 }, false},
		{"float64", func(i int) any { return float64(i) - 0.25 }, false},
	}
	// The documented values: strings, bools, integers, floats, byte slices, times; and one value
	// outside the compact form (gob knows []string by itself), which sends a session to gob.
	codecValueKinds = []codecKind{
		{"string", codecSamples("tea", "", "héllo ✓", strings.Repeat("x", 300)), true},
		{"bool", codecSamples(true, false), true},
		{"int", codecSamples(3, 0, math.MinInt, math.MaxInt), true},
		{"int8", codecSamples(int8(-8), int8(math.MinInt8), int8(math.MaxInt8)), true},
		{"int16", codecSamples(int16(1600), int16(math.MinInt16), int16(math.MaxInt16)), true},
		{"int32", codecSamples(int32(-32), int32(math.MinInt32), int32(math.MaxInt32)), true},
		{"int64", codecSamples(int64(1<<60), int64(math.MinInt64), int64(math.MaxInt64)), true},
		{"uint", codecSamples(uint(7), uint(0), uint(math.MaxUint)), true},
		{"uint8", codecSamples(uint8(255), uint8(0)), true},
		{"uint16", codecSamples(uint16(65535), uint16(1)), true},
		{"uint32", codecSamples(uint32(1<<31), uint32(math.MaxUint32)), true},
		{"uint64", codecSamples(uint64(1<<63), uint64(math.MaxUint64), uint64(0)), true},
		{"float32", codecSamples(float32(1.5), float32(0), float32(math.SmallestNonzeroFloat32), float32(math.Inf(-1))), true},
		{"float64", codecSamples(2.25, 0.0, math.MaxFloat64, math.Inf(1)), true},
		{"[]byte", codecSamples([]byte{0, 1, 2}, []byte{}, []byte(nil), bytes.Repeat([]byte{0xff}, 300)), true},
		{"time.Time", codecSamples(
			time.Date(2026, 11, 21, 12, 30, 0, 123456789, codecCET),
			time.Now(), // with a monotonic clock reading, in time.Local
			time.Date(2026, 3, 29, 1, 59, 59, 999999999, time.UTC),
			time.Time{},
			time.Date(1969, 7, 20, 20, 17, 40, 0, time.FixedZone("", -5*3600-30*60)),
		), true},
		{"[]string", codecSamples([]string{"tea"}, []string{"tea", "milk"}), false},
	}
)

type codecEntry struct{ key, value int } // indexes in codecKeyKinds and codecValueKinds

// compactWant holds what the compact form gives back for a value kind's i-th sample.
var compactWant = map[[2]int]any{}

// checkCodecRoundTrip encodes the session made of entries with GobCodec, checks that it takes
// the compact form exactly when the compact form takes every entry, and that it decodes to the
// same keys and values of the same types. It returns the session's bytes.
func checkCodecRoundTrip(t *testing.T, entries []codecEntry) []byte {
	t.Helper()
	values, want := map[any]any{}, map[any]any{}
	keysUsed := make([]int, len(codecKeyKinds))
	valuesUsed := make([]int, len(codecValueKinds))
	compact := true
	var names []string
	for _, e := range entries {
		key := codecKeyKinds[e.key].sample(keysUsed[e.key])
		if key == nil { // no distinct key left (bool)
			continue
		}
		keysUsed[e.key]++
		sample := [2]int{e.value, valuesUsed[e.value]}
		valuesUsed[e.value]++
		value := codecValueKinds[e.value].sample(sample[1])
		values[key] = value
		want[key] = value
		if codecValueKinds[e.value].compact {
			if _, ok := compactWant[sample]; !ok {
				compactWant[sample] = compactRoundTrip(t, value)
			}
			want[key] = compactWant[sample]
		}
		compact = compact && codecKeyKinds[e.key].compact && codecValueKinds[e.value].compact
		names = append(names, codecKeyKinds[e.key].name+":"+codecValueKinds[e.value].name)
	}
	if len(names) > 6 {
		names = append(names[:6:6], fmt.Sprintf("and %d more", len(names)-6))
	}
	codec := dynamostore.GobCodec{}
	data, err := codec.Encode(values)
	if err != nil {
		t.Fatalf("%v: Encode: %v", names, err)
	}
	if isCompact := data[0] == 1; isCompact != compact {
		t.Fatalf("%v: compact form %v, want %v", names, isCompact, compact)
	}
	back, err := codec.Decode(data)
	if err != nil {
		t.Fatalf("%v: Decode: %v", names, err)
	}
	if len(back) != len(values) {
		t.Fatalf("%v: %d values decoded, want %d", names, len(back), len(values))
	}
	for k, want := range want {
		got, ok := back[k] // finds only a key of the same type and value
		if !ok {
			t.Fatalf("%v: key %#v (%T) lost: %#v", names, k, k, back)
		}
		// A time as the compact form gives it back: its instant and zone offset, with no
		// monotonic clock reading. Every other value: the same type and value.
		if want, ok := want.(time.Time); ok {
			if got, ok := got.(time.Time); !ok || !got.Equal(want) || got.String() != want.String() {
				t.Fatalf("%v: key %#v: got %#v, want the time %v", names, k, back[k], want)
			}
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%v: key %#v: got %#v (%T), want %#v (%T)", names, k, got, got, want, want)
		}
	}
	return data
}

// Every type that GobCodec's doc comment says it takes is taken next to every other, as keys
// and as values, with or without a value outside the compact form: each pair of entries (key
// type, value type), and random larger sessions up to all of them at once. A time next to a
// []string or an int key was once refused by the gob form.
func TestGobCodecTakesEveryCombinationOfTheDocumentedTypes(t *testing.T) {
	var all []codecEntry
	for k := range codecKeyKinds {
		for v := range codecValueKinds {
			all = append(all, codecEntry{k, v})
		}
	}
	t.Run("pairs", func(t *testing.T) {
		for i, a := range all {
			checkCodecRoundTrip(t, []codecEntry{a})
			for _, b := range all[i:] {
				checkCodecRoundTrip(t, []codecEntry{a, b})
			}
		}
	})
	t.Run("larger", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(19, 10))
		for range 100 {
			n := 3 + rng.IntN(len(all)-2)
			set := make([]codecEntry, 0, n)
			for _, i := range rng.Perm(len(all))[:n] {
				set = append(set, all[i])
			}
			first := checkCodecRoundTrip(t, set)
			// Equal values give equal bytes, in either form.
			require.Equal(t, first, checkCodecRoundTrip(t, set))
		}
		checkCodecRoundTrip(t, all)
	})
	t.Run("subsets of the value types", func(t *testing.T) {
		// Under string keys, next to a []string or not: every set of at most three of the
		// compact form's value types, and every set of all of them but at most three.
		compactKinds := len(codecValueKinds) - 1
		for mask := 0; mask < 1<<compactKinds; mask++ {
			if n := bits.OnesCount(uint(mask)); n > 3 && n < compactKinds-3 {
				continue
			}
			var set []codecEntry
			for v := range compactKinds {
				if mask&(1<<v) != 0 {
					set = append(set, codecEntry{0, v})
				}
			}
			checkCodecRoundTrip(t, set)
			checkCodecRoundTrip(t, append(set, codecEntry{0, compactKinds}))
		}
	})
}

// codecMixedSession needs the gob form and holds a time.
func codecMixedSession() map[any]any {
	return map[any]any{
		"since": time.Date(2026, 11, 21, 12, 30, 0, 0, codecCET), "cart": []string{"tea"}, 7: int8(7),
	}
}

func requireCodecMixedSession(t *testing.T, data []byte) {
	t.Helper()
	back, err := dynamostore.GobCodec{}.Decode(data)
	require.NoError(t, err)
	want := codecMixedSession()
	require.Len(t, back, len(want))
	require.Equal(t, want["cart"], back["cart"])
	require.Equal(t, want[7], back[7])
	require.True(t, want["since"].(time.Time).Equal(back["since"].(time.Time)))
}

// GobCodec registers time.Time with gob as gob.Register does, when it first needs gob, in
// encoding or in decoding. An application that registered time.Time itself, before or after,
// does not panic, and its servers and the others read each other's sessions (gob names the
// type "time.Time" in both); one that registered it under a name of its own
// (gob.RegisterName) in its init keeps that name. Each case runs in a process of its own: gob's
// registry is global.
func TestGobCodecAgreesWithTheApplicationsRegistrationOfTime(t *testing.T) {
	const env = "DYNAMOSTORE_GOB_REGISTRATION"
	codec := dynamostore.GobCodec{}
	if scenario := os.Getenv(env); scenario != "" {
		switch scenario {
		case "register before":
			gob.Register(time.Time{})
		case "register under another name":
			gob.RegisterName("app.Time", time.Time{})
		}
		if scenario != "register under another name" {
			// First a session stored by another server (it registered nothing).
			stored, err := hex.DecodeString(os.Getenv(env + "_SESSION"))
			require.NoError(t, err)
			requireCodecMixedSession(t, stored)
		}
		data, err := codec.Encode(codecMixedSession())
		require.NoError(t, err)
		requireCodecMixedSession(t, data)
		if scenario == "register after" {
			gob.Register(time.Time{})
		}
		fmt.Printf("session=%x\n", data)
		return
	}
	stored, err := codec.Encode(codecMixedSession())
	require.NoError(t, err)
	for _, scenario := range []string{"register nothing", "register before", "register after", "register under another name"} {
		t.Run(scenario, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()[:strings.IndexByte(t.Name(), '/')]+"$", "-test.count=1")
			cmd.Env = append(os.Environ(), env+"="+scenario, env+"_SESSION="+hex.EncodeToString(stored))
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
			_, hexData, ok := strings.Cut(string(out), "session=")
			require.True(t, ok, "%s", out)
			data, err := hex.DecodeString(strings.Fields(hexData)[0])
			require.NoError(t, err)
			if scenario == "register under another name" {
				assert.True(t, bytes.Contains(data, []byte("app.Time")), "gob names time.Time as the application did")
				return
			}
			assert.True(t, bytes.Contains(data, []byte("time.Time")), "gob names time.Time by its default name")
			requireCodecMixedSession(t, data)
		})
	}
}
