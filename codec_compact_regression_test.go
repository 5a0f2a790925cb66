package dynamostore_test

import (
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/sessions"

	"github.com/dynamostore/dynamostore"
)

// liveHeap is the heap in use after the garbage collector has run.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// A short value the application keeps (a user ID in a cache) must not keep the whole decoded
// session alive, as it did while the compact decoder made every string a substring of one copy
// of the session. 32 loads of a session with a 256 KiB page and a 3-byte user name: keeping the
// 32 user names must not keep 8 MiB.
func TestCompactStringDoesNotPinTheSession(t *testing.T) {
	codec := dynamostore.GobCodec{}
	data, err := codec.Encode(map[any]any{"user": "ada", "page": strings.Repeat("p", 256<<10)})
	if err != nil {
		t.Fatal(err)
	}
	before := liveHeap()
	users := make([]string, 0, 32)
	for range 32 {
		values, err := codec.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, values["user"].(string))
	}
	kept := int64(liveHeap()) - int64(before)
	runtime.KeepAlive(users)
	if kept > 1<<20 {
		t.Errorf("32 three-byte strings from decoded sessions keep %d KiB alive (the whole session each)", kept>>10)
	}
}

// A loaded session holding a 4 MiB []byte costs 4 MiB, not 8 (as it did while its bytes also
// sat in the one string that every key was a substring of).
func TestCompactBytesAreNotHeldTwice(t *testing.T) {
	codec := dynamostore.GobCodec{}
	data, err := codec.Encode(map[any]any{"file": make([]byte, 4<<20)})
	if err != nil {
		t.Fatal(err)
	}
	before := liveHeap()
	values, err := codec.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	held := int64(liveHeap()) - int64(before)
	runtime.KeepAlive(data)
	runtime.KeepAlive(values)
	if held > 5<<20 {
		t.Errorf("a decoded session with a 4 MiB []byte holds %d KiB", held>>10)
	}
}

// A session that saved yesterday must not fail today because an unrelated value was added. The
// compact form takes times, so {"since": time} encoded; adding a []string (or an int key) sent
// the whole session through gob, which refused the time.Time ("gob: type not registered for
// interface: time.Time"), and Save returned a *CodecError.
func TestGobCodecTakesATimeNextToAValueOutsideTheCompactForm(t *testing.T) {
	since := time.Date(2026, 11, 21, 12, 30, 0, 123456789, time.FixedZone("CET", 3600))
	codec := dynamostore.GobCodec{}
	for name, values := range map[string]map[any]any{
		"a slice value": {"since": since, "cart": []string{"tea"}},
		"an int key":    {"since": since, 7: "seven"},
		"time.Now":      {"since": time.Now(), "cart": []string{"tea"}},
	} {
		t.Run(name, func(t *testing.T) {
			data, err := codec.Encode(values)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			back, err := codec.Decode(data)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if len(back) != len(values) {
				t.Fatalf("decoded %d values, want %d", len(back), len(values))
			}
			for k, v := range values {
				got, ok := back[k]
				if !ok {
					t.Fatalf("key %#v (%T) is lost", k, k)
				}
				if want, ok := v.(time.Time); ok {
					// What the compact form gives back: the instant and zone offset, with no
					// monotonic clock reading.
					want = compactRoundTrip(t, want)
					got, ok := got.(time.Time)
					if !ok || !got.Equal(want) || got.String() != want.String() {
						t.Errorf("%v: got %#v, want the time %v", k, back[k], want)
					}
					continue
				}
				if !reflect.DeepEqual(got, v) {
					t.Errorf("%v: got %#v (%T), want %#v (%T)", k, got, got, v, v)
				}
			}
		})
	}
}

// The same through the Store, as the user met it: Save returned a *CodecError the day a cart
// joined the time saved the day before, and the stored session could no longer change.
func TestSaveTakesATimeNextToAValueOutsideTheCompactForm(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := newBrowser()
	since := time.Now()
	_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["since"] = since; return true })
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["cart"] = []string{"tea"}; return true })
	if err != nil {
		t.Fatalf("Save with a cart next to the time: %v", err)
	}
	s, err := b.load(t, f.store)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := s.Values["since"].(time.Time); !ok || !got.Equal(since) {
		t.Errorf("since = %#v, want %v", s.Values["since"], since)
	}
	if got := s.Values["cart"]; !reflect.DeepEqual(got, []string{"tea"}) {
		t.Errorf("cart = %#v", got)
	}
}
