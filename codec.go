package dynamostore

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
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

// GobCodec encodes values with encoding/gob, like gorilla's stores. Keys and values keep
// their Go types; types other than the basic ones must be registered with gob.Register
// (Save returns the codec error otherwise). Map entries are written in a sorted order so
// that unchanged values always give the same bytes.
type GobCodec struct{}

type gobEntry struct {
	Key   any
	Value any
}

// Encode implements Codec.
func (GobCodec) Encode(values map[any]any) ([]byte, error) {
	entries := make([]gobEntry, 0, len(values))
	for k, v := range values {
		entries = append(entries, gobEntry{k, v})
	}
	sortEntries(entries)
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(entries); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Decode implements Codec.
func (GobCodec) Decode(data []byte) (map[any]any, error) {
	var entries []gobEntry
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&entries); err != nil {
		return nil, err
	}
	values := make(map[any]any, len(entries))
	for _, e := range entries {
		if e.Key == nil || !reflect.TypeOf(e.Key).Comparable() {
			return nil, fmt.Errorf("gob: session key of type %T is not comparable", e.Key)
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

// JSONCodec encodes values as a JSON object, readable in the DynamoDB console and by other
// languages. Keys must be strings (Save returns the codec error otherwise). Decoding follows
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
