package scsstore_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
)

// These tests show what README.md's "How long a session lives" says. scs computes a session's
// expiry (its Lifetime deadline, or earlier with IdleTimeout) with time.Now and passes it to
// every Commit; the store checks it on every read with its own clock, which the tests move
// instead of sleeping. That clock starts at the real time, when scs starts the session.

// testClock returns a clock for dynamostore.WithClock that starts now, and a function that
// moves it ahead.
func testClock() (now func() time.Time, advance func(time.Duration)) {
	var mu sync.Mutex
	t := time.Now()
	now = func() time.Time { mu.Lock(); defer mu.Unlock(); return t }
	advance = func(d time.Duration) { mu.Lock(); defer mu.Unlock(); t = t.Add(d) }
	return now, advance
}

// scs's Lifetime is absolute: a session that is used, and changed, all along still ends
// Lifetime after scs started it. The dynamostore.Store's own timeouts do not end it earlier,
// though they are set here to their shortest (a minute): through the KV view the expiry is
// the one scs passes.
func TestAnActiveSessionEndsAtLifetimeNotAtTheStoresTimeouts(t *testing.T) {
	now, advance := testClock()
	a := newApp(t, dynamostore.WithClock(now),
		dynamostore.WithAbsoluteTimeout(time.Minute), dynamostore.WithCookieMaxAge(60), dynamostore.WithLifetime(time.Minute))
	a.sm.Lifetime = time.Hour
	c := &client{t: t, a: a}
	c.get("/put?v=0")
	started := c.cookie
	prev := "0"
	for _, v := range []string{"10", "20", "30", "40", "50"} {
		advance(10 * time.Minute)
		require.Equal(t, prev, c.get("/get"), "active at minute %s: the session lives", v)
		c.get("/put?v=" + v) // changed: scs commits it, with the same deadline
		prev = v
	}
	advance(9 * time.Minute)
	assert.Equal(t, "50", c.get("/get"), "a minute before Lifetime: still there")
	assert.Equal(t, started, c.cookie, "the same session all along")
	advance(2 * time.Minute)
	assert.Equal(t, "", c.get("/get"), "a minute after Lifetime: ended, however active it was")
}

// scs's IdleTimeout is optional (off by default): set, it ends a session unused for that
// long, before its Lifetime.
func TestIdleTimeoutEndsAnUnusedSessionBeforeLifetime(t *testing.T) {
	for name, idle := range map[string]time.Duration{"IdleTimeout unset": 0, "IdleTimeout 20m": 20 * time.Minute} {
		t.Run(name, func(t *testing.T) {
			now, advance := testClock()
			a := newApp(t, dynamostore.WithClock(now))
			a.sm.Lifetime = time.Hour
			a.sm.IdleTimeout = idle
			c := &client{t: t, a: a}
			c.get("/put?v=hello")
			advance(21 * time.Minute)
			if idle == 0 {
				assert.Equal(t, "hello", c.get("/get"), "no IdleTimeout: an unused session lives until its Lifetime")
			} else {
				assert.Equal(t, "", c.get("/get"), "unused for longer than IdleTimeout: ended")
			}
		})
	}
}
