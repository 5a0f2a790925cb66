package dynamostore_test

import (
	"runtime"
	"strings"
	"testing"

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
