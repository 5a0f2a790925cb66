package dynamostore

// TrackedSessions returns how many sessions the store keeps state for, for the soak's check
// that its per-session tracking does not grow.
func TrackedSessions(s *Store) int {
	s.tracked.mu.Lock()
	defer s.tracked.mu.Unlock()
	return len(s.tracked.m)
}

// KVItemKey returns the item key of a KV key under the first key pair.
func KVItemKey(kv *KV, key string) string { return kv.itemKey(0, key) }

// ForgeCompressedData returns a data attribute for the session ID's item, sealed with the
// store's first key pair and flagged compressed, whose compressed codec bytes are deflated:
// what only the key holder can write, for the bounded-decompression test.
func ForgeCompressedData(s *Store, id string, expires int64, deflated []byte) []byte {
	meta := (&sessionMeta{created: expires - 60, written: expires - 60}).appendTo(nil)
	env := s.sealer.seal(itemKey(s.opts.KeyPrefix, id), expires, flagCompressed, meta, deflated)
	return env
}

// Compressed reports whether an item's data attribute is flagged compressed.
func Compressed(data []byte) bool { return len(data) > 1 && data[1]&flagCompressed != 0 }

// Defaults that tests compare with; the package keeps them unexported (the Options field
// comments state them).
const (
	DefaultMaxAge    = defaultMaxAge
	DefaultMaxLength = defaultMaxLength
	DefaultKeyPrefix = defaultKeyPrefix
)
