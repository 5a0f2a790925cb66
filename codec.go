package dynamostore

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"time"
)

// Codec serializes session values to bytes and back. The Store authenticates (and, with a
// block key, encrypts) the bytes before they reach DynamoDB, so Decode only ever sees bytes
// this store wrote.
//
// Encode must be deterministic: equal values must give equal bytes, because Save compares
// the bytes with those it loaded to skip writing an unchanged session.
type Codec interface {
	Encode(values map[any]any) ([]byte, error)
	Decode(data []byte) (map[any]any, error)
}

// GobCodec keeps the Go types of keys and values, like gorilla's stores. It takes, in any
// combination and next to values of any other type that gob encodes, keys that are strings,
// bools, integers or floats, and values that are strings, bools, integers, floats, byte slices
// or time.Time values. Each comes back with its type and value: a time with its instant and
// zone offset but no monotonic clock reading (as time.Time.MarshalBinary keeps it), a nil byte
// slice as an empty one.
//
// Sessions whose keys are strings and whose values are all of those types (almost all of them)
// use a compact binary form that is several times faster to decode than gob; any other session
// is encoded with encoding/gob, so the types of its other values must be registered with
// gob.Register (Save returns the codec error otherwise). Entries are written in a sorted order
// so that unchanged values always give the same bytes.
//
// gob knows all of those types by itself but time.Time, which GobCodec registers with gob
// under gob's own name for it, as gob.Register(time.Time{}) does: an application that
// registers it too, before or after, gets no panic and the same bytes. GobCodec does so when it
// first uses gob, after every package's init, so that an application that registered time.Time
// under a name of its own (gob.RegisterName) keeps that name.
type GobCodec struct{}

// The first byte of GobCodec's output says which form follows.
const (
	formGob     = 0
	formCompact = 1
)

type gobEntry struct {
	Key   any
	Value any
}

// registerGobTypes registers with gob the one type that the compact form takes and gob does
// not know by itself (gob registers its basic types: bools, integers, floats, strings, byte
// slices), so that a session mixing a time with a value or key outside the compact form is
// encoded and decoded; before it, gob refused such a session ("type not registered for
// interface: time.Time"). The name is gob's default, so the application's own
// gob.Register(time.Time{}) is a no-op. It runs on first use, not in init, which would come
// before the application's init: if the application registered time.Time under a name of its
// own, gob.Register panics at the second name (having undone it), and gob goes on using the
// application's name.
var registerGobTypes = sync.OnceFunc(func() {
	defer func() { _ = recover() }()
	gob.Register(time.Time{})
})

// Encode implements Codec.
func (GobCodec) Encode(values map[any]any) ([]byte, error) {
	if out, ok := encodeCompact(values); ok {
		return out, nil
	}
	registerGobTypes()
	entries := make([]gobEntry, 0, len(values))
	for k, v := range values {
		entries = append(entries, gobEntry{k, v})
	}
	sortEntries(entries)
	buf := bytes.NewBuffer([]byte{formGob})
	if err := gob.NewEncoder(buf).Encode(entries); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Decode implements Codec.
func (GobCodec) Decode(data []byte) (map[any]any, error) {
	if len(data) == 0 {
		return nil, errors.New("gob: empty session data")
	}
	switch data[0] {
	case formCompact:
		return decodeCompact(data[1:])
	case formGob:
	default:
		return nil, fmt.Errorf("gob: unknown session data form %d", data[0])
	}
	registerGobTypes()
	var entries []gobEntry
	if err := gob.NewDecoder(bytes.NewReader(data[1:])).Decode(&entries); err != nil {
		return nil, err
	}
	values := make(map[any]any, len(entries))
	for _, e := range entries {
		if e.Key == nil || !reflect.TypeOf(e.Key).Comparable() {
			return nil, fmt.Errorf("gob: session key of type %T is not comparable", e.Key)
		}
		if b, ok := e.Value.([]byte); ok && b == nil {
			e.Value = []byte{} // gob gives back nil for an empty []byte; the compact form does not
		}
		values[e.Key] = e.Value
	}
	return values, nil
}

// sortEntries orders entries by key: strings (the usual case) by value, others by type name
// and then their printed form, which is stable for the comparable types a map key can have.
func sortEntries(entries []gobEntry) {
	sort.Slice(entries, func(i, j int) bool {
		a, b := entries[i].Key, entries[j].Key
		as, aok := a.(string)
		bs, bok := b.(string)
		switch {
		case aok && bok:
			return as < bs
		case aok != bok:
			return aok
		}
		at, bt := fmt.Sprintf("%T", a), fmt.Sprintf("%T", b)
		if at != bt {
			return at < bt
		}
		return fmt.Sprintf("%#v", a) < fmt.Sprintf("%#v", b)
	})
}

// JSONCodec encodes values as a JSON object: portable types that another program holding the
// keys can decode after opening the sealed item. The stored data attribute is still binary (a
// header, the JSON, possibly encrypted, and a MAC), shown as base64 in the DynamoDB console,
// not as readable JSON. Keys must be strings (Save returns the codec error otherwise). Decoding follows
// encoding/json: numbers come back as float64, objects as map[string]any.
type JSONCodec struct{}

// Encode implements Codec.
func (JSONCodec) Encode(values map[any]any) ([]byte, error) {
	object := make(map[string]any, len(values))
	for k, v := range values {
		s, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("json: session key %v has type %T; JSONCodec needs string keys", k, k)
		}
		object[s] = v
	}
	return json.Marshal(object) // sorts keys, so equal values give equal bytes
}

// Decode implements Codec.
func (JSONCodec) Decode(data []byte) (map[any]any, error) {
	var object map[string]any
	if err := json.Unmarshal(data, &object); err != nil {
		return nil, err
	}
	values := make(map[any]any, len(object))
	for k, v := range object {
		values[k] = v
	}
	return values, nil
}
