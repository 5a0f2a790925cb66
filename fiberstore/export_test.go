package fiberstore

import "time"

// SetClock makes s compute the expiry of its Sets with now. Tests move time with it and with
// the Store's dynamostore.WithClock (which checks expiries on read) instead of sleeping.
func SetClock(s *Storage, now func() time.Time) { s.clock = now }
