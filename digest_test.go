package dynamostore_test

import (
	"encoding/gob"
	"math"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gorilla/sessions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
	v1 "github.com/dynamostore/dynamostore/internal/digesttest/v1/model"
	v2 "github.com/dynamostore/dynamostore/internal/digesttest/v2/model"
)

// cart is a struct with a map field, the case gob encodes in random order.
type cart struct {
	Items   map[string]int
	Updated time.Time
	Notes   []any
}

func init() {
	gob.Register(cart{})
	gob.Register(map[string]int{})
	gob.Register(map[string]any{})
	gob.Register([]any{})
}

// mapValues fills a session with maps, nested maps, a struct with a map, []any and a flash.
func mapValues(s *sessions.Session) {
	items := map[string]int{}
	for i, sku := range []string{"apple", "pear", "plum", "fig", "kiwi", "lime", "date", "yuzu"} {
		items[sku] = i + 1
	}
	s.Values["counts"] = items
	s.Values["prefs"] = map[string]any{"theme": "dark", "nested": map[string]any{"a": 1.5, "b": []any{"x", 2.0, true}}}
	s.Values["cart"] = cart{Items: items, Updated: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), Notes: []any{"gift", 3}}
	s.Values[42] = "non-string key"
	s.AddFlash("saved")
}

// encoding/gob writes maps in Go's random order. Before change detection walked the values,
// 10 unchanged saves of such a session made 10 writes; now they make none, for both codecs.
func TestUnchangedMapsAreNotWritten(t *testing.T) {
	t.Parallel()
	for name, codec := range map[string]dynamostore.Codec{"gob": dynamostore.GobCodec{}, "json": dynamostore.JSONCodec{}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, dynamostore.WithCodec(codec), dynamostore.WithTouchInterval(time.Hour))
			b := newBrowser()
			_, err := b.visit(t, f.store, func(s *sessions.Session) bool {
				mapValues(s)
				if name == "json" {
					delete(s.Values, 42) // JSON keys are strings
				}
				return true
			})
			require.NoError(t, err)
			writes := f.client.writes()
			for range 10 {
				_, err := b.visit(t, f.store, nil)
				require.NoError(t, err)
			}
			assert.Equal(t, writes, f.client.writes(), "equal values never cause a write")

			// A change deep inside is still seen.
			_, err = b.visit(t, f.store, func(s *sessions.Session) bool {
				nested := s.Values["prefs"].(map[string]any)["nested"].(map[string]any)
				nested["b"].([]any)[1] = 3.0
				return true
			})
			require.NoError(t, err)
			assert.Equal(t, writes+1, f.client.writes(), "a change in a nested value is written")
			s, err := b.load(t, f.store)
			require.NoError(t, err)
			assert.Equal(t, 3.0, s.Values["prefs"].(map[string]any)["nested"].(map[string]any)["b"].([]any)[1])
		})
	}
}

// With optimistic locking, two read-only requests on one session used to give ErrConflict:
// the first rewrote the map-holding session, the second's copy was then stale.
func TestReadOnlyRequestsNeverConflict(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dynamostore.WithOptimisticLocking(true))
	b := newBrowser()
	_, err := b.visit(t, f.store, func(s *sessions.Session) bool { mapValues(s); s.Flashes(); return true })
	require.NoError(t, err)
	first, err := b.load(t, f.store)
	require.NoError(t, err)
	second, err := b.load(t, f.store)
	require.NoError(t, err)
	r := b.request(t.Context())
	require.NoError(t, f.store.Save(r, httptest.NewRecorder(), first))
	require.NoError(t, f.store.Save(r, httptest.NewRecorder(), second), "nothing changed, so nothing conflicts")
}

// A struct's changed map entry and a changed struct field are both written.
func TestChangesInsideStructsAreWritten(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := newBrowser()
	_, err := b.visit(t, f.store, func(s *sessions.Session) bool { mapValues(s); return true })
	require.NoError(t, err)
	for i, change := range []func(c *cart){
		func(c *cart) { c.Items["apple"]++ },
		func(c *cart) { c.Updated = c.Updated.Add(time.Second) },
		func(c *cart) { c.Notes = append(c.Notes, "more") },
		func(c *cart) { delete(c.Items, "fig"); c.Items["gif"] = 4 },
	} {
		before := f.client.writes()
		var want cart
		_, err := b.visit(t, f.store, func(s *sessions.Session) bool {
			c := s.Values["cart"].(cart)
			change(&c)
			s.Values["cart"] = c
			want = c
			return true
		})
		require.NoError(t, err)
		assert.Equal(t, before+1, f.client.writes(), "change %d is written", i)
		s, err := b.load(t, f.store)
		require.NoError(t, err)
		assert.Equal(t, want.Items, s.Values["cart"].(cart).Items)
	}
}

func init() {
	// gob.Register names both "*model.User" (and panics); RegisterName is gob's way out.
	gob.RegisterName("v1.User", &v1.User{})
	gob.RegisterName("v2.User", &v2.User{})
}

// An app moves its session type from .../v1/model to .../v2/model (same package name, same
// shape). gob stores the full type name, so the change must be written: the digest names
// pointer (and slice, map) types by package path, not by reflect's String(), "*model.User"
// for both.
func TestTypesFromAnotherPackageAreWritten(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := newBrowser()
	_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["user"] = &v1.User{Name: "ada"}; return true })
	require.NoError(t, err)
	writes := f.client.writes()
	_, err = b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["user"] = &v2.User{Name: "ada"}; return true })
	require.NoError(t, err)
	assert.Equal(t, writes+1, f.client.writes(), "a value of another type must be written")
	s, err := b.load(t, f.store)
	require.NoError(t, err)
	_, ok := s.Values["user"].(*v2.User)
	assert.True(t, ok, "stored value has type %T, want *v2.User", s.Values["user"])
}

// GobCodec (compact form, via time.MarshalBinary) and JSONCodec both store whether a time
// is in UTC ("Z") or in a zone whose offset happens to be 0 ("+00:00"). The digest keeps only
// the offset would never write the normalisation of a London winter time to UTC.
func TestUTCVersusAZeroOffsetZoneIsWritten(t *testing.T) {
	t.Parallel()
	london, err := time.LoadLocation("Europe/London")
	require.NoError(t, err)
	login := time.Date(2026, 1, 15, 9, 30, 0, 0, london)
	f := newFixture(t)
	b := newBrowser()
	_, err = b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["login"] = login; return true })
	require.NoError(t, err)
	writes := f.client.writes()
	_, err = b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["login"] = login.UTC(); return true })
	require.NoError(t, err)
	assert.Equal(t, writes+1, f.client.writes(), "UTC is stored differently from +00:00")
	s, err := b.load(t, f.store)
	require.NoError(t, err)
	assert.True(t, s.Values["login"].(time.Time).Location() == time.UTC, "stored in %q, not UTC", s.Values["login"].(time.Time).Location())
}

// The compact form stores a float32's bits; widening it to float64 would quiet a signalling
// NaN, so that two different stored bit patterns digest alike.
func TestFloat32NaNPayloadIsWritten(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := newBrowser()
	_, err := b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["f"] = math.Float32frombits(0x7fc00001); return true })
	require.NoError(t, err)
	writes := f.client.writes()
	_, err = b.visit(t, f.store, func(s *sessions.Session) bool { s.Values["f"] = math.Float32frombits(0x7f800001); return true })
	require.NoError(t, err)
	assert.Equal(t, writes+1, f.client.writes())
	s, err := b.load(t, f.store)
	require.NoError(t, err)
	assert.Equal(t, uint32(0x7f800001), math.Float32bits(s.Values["f"].(float32)))
}

// JSONCodec stores []byte(nil) as null and []byte{} as "": hashing both as an empty byte
// string would skip the second Save of a request.
func TestJSONNilVersusEmptyBytesIsWritten(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dynamostore.WithCodec(dynamostore.JSONCodec{}))
	b := newBrowser()
	r := b.request(t.Context())
	s, err := f.store.Get(r, cookieName)
	require.NoError(t, err)
	s.Values["b"] = []byte{}
	require.NoError(t, f.store.Save(r, httptest.NewRecorder(), s))
	writes := f.client.writes()
	s.Values["b"] = []byte(nil)
	rec := httptest.NewRecorder()
	require.NoError(t, f.store.Save(r, rec, s))
	b.receive(rec)
	assert.Equal(t, writes+1, f.client.writes(), `null and "" are different JSON`)
	got, err := b.load(t, f.store)
	require.NoError(t, err)
	assert.Nil(t, got.Values["b"], "stored: %#v", got.Values["b"])
}
