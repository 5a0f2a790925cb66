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
