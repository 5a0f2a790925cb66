package fiberstore_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v3"
	"github.com/gofiber/fiber/v3/middleware/session"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/dynamostoretest"
	"github.com/dynamostore/dynamostore/fiberstore"
)

// These tests show what README.md's "How long a session lives" says: under Fiber's session
// middleware the item's expiry is the IdleTimeout that the middleware passes on every save, so
// only Fiber's AbsoluteTimeout ends a session that stays active; the dynamostore.Store's own
// timeouts do not apply through the Storage.

// sessionApp is a Fiber app with the session middleware on storage and the routes the tests
// use: /set?v= stores a name, /get answers it, /regenerate gives the session a new ID, and
// /reset-set?v= resets the session (Reset) and stores a name in the new one.
func sessionApp(storage fiber.Storage, cfg session.Config) *fiber.App {
	cfg.Storage = storage
	app := fiber.New()
	app.Use(session.New(cfg))
	app.Get("/set", func(c fiber.Ctx) error {
		session.FromContext(c).Set("name", c.Query("v"))
		return nil
	})
	app.Get("/get", func(c fiber.Ctx) error {
		name, _ := session.FromContext(c).Get("name").(string)
		return c.SendString(name)
	})
	app.Get("/regenerate", func(c fiber.Ctx) error { return session.FromContext(c).Regenerate() })
	app.Get("/reset-set", func(c fiber.Ctx) error {
		s := session.FromContext(c)
		if err := s.Reset(); err != nil {
			return err
		}
		s.Set("name", c.Query("v"))
		return nil
	})
	return app
}

// sessionID is the session ID in a "session_id=..." cookie.
func sessionID(cookie string) string { return strings.TrimPrefix(cookie, "session_id=") }

// Without AbsoluteTimeout (Fiber's default), a session that is used within its IdleTimeout
// never ends: every request saves it with a new expiry. Nor do the dynamostore.Store's own
// timeouts end it, here set to their shortest (a minute), far below the two hours the session
// lives: through the Storage, the expiry is only what the middleware passes. No real wait: the
// idle timeout runs on the test's clock.
func TestUnderFibersSessionMiddlewareWithoutAbsoluteTimeoutAnActiveSessionNeverEnds(t *testing.T) {
	clk := newClock()
	client := dynamostoretest.Client(t)
	store, err := dynamostore.New(client, dynamostore.WithTableName(dynamostoretest.NewTable(t, client)),
		dynamostore.WithKeyPairs(hashKey), dynamostore.WithClock(clk.Now),
		dynamostore.WithAbsoluteTimeout(time.Minute), dynamostore.WithCookieMaxAge(60), dynamostore.WithLifetime(time.Minute))
	require.NoError(t, err)
	app := sessionApp(onClock(fiberstore.NewSessionStorage(store), clk), session.Config{IdleTimeout: 30 * time.Minute})

	b := &browser{t: t, app: app}
	b.get("/set?v=ada")
	started := b.cookie
	for elapsed := 20 * time.Minute; elapsed <= 2*time.Hour; elapsed += 20 * time.Minute {
		clk.Advance(20 * time.Minute)
		require.Equal(t, "ada", b.get("/get"), "active for %v: the session lives on", elapsed)
	}
	assert.Equal(t, started, b.cookie, "the same session all along")

	clk.Advance(31 * time.Minute)
	assert.Equal(t, "", b.get("/get"), "unused for longer than IdleTimeout: it ended")
}

// With AbsoluteTimeout set in session.Config, a session kept active by requests ends once
// AbsoluteTimeout has passed since it started: on the first request after that, Fiber deletes
// its item, gives a new session ID and starts with no values. Without it, the same requests
// keep the same session past that point. Regenerate keeps the deadline (it does not restart at
// login). Fiber v3.4.0 sets the deadline only when it starts a session, in its values: a
// session that a handler Reset (which clears the values) or that was started while
// AbsoluteTimeout was unset has none, and lives on.
//
// Fiber computes and checks the deadline with time.Now, which no seam reaches, so this test
// waits for real: absolute (three seconds), the variants in parallel. Each assertion is timed
// from the request that started the session, so that a slow machine only makes fewer
// requests, never a wrong answer. The idle timeout, on the other hand, runs on the store's
// clock, which each request moves ahead by a quarter of it, so that the session is kept alive
// by renewals (over twice its length), not by a clock that stands still. That clock starts an
// hour ahead of the real time, so that DynamoDB Local's TTL, which goes by the real time,
// never removes a live item.
func TestUnderFibersSessionMiddlewareAbsoluteTimeoutEndsAnActiveSession(t *testing.T) {
	const (
		absolute = 3 * time.Second
		idle     = absolute // Fiber requires AbsoluteTimeout >= IdleTimeout
	)
	for _, tc := range []struct {
		name     string
		absolute time.Duration
		start    []string // the requests that start the session: the first one sets the deadline
		without  bool     // the start requests go to an app without AbsoluteTimeout
		ends     bool
	}{
		{name: "AbsoluteTimeout set: the session ends", absolute: absolute, start: []string{"/set?v=ada"}, ends: true},
		{name: "AbsoluteTimeout unset: the session lives on", start: []string{"/set?v=ada"}},
		{name: "Regenerate keeps the deadline", absolute: absolute, start: []string{"/set?v=ada", "/regenerate"}, ends: true},
		{name: "Reset in a handler drops the deadline", absolute: absolute, start: []string{"/set?v=x", "/reset-set?v=ada"}},
		{name: "a session started before AbsoluteTimeout was set has none", absolute: absolute, start: []string{"/set?v=ada"}, without: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store, clk := newStore(t)
			clk.Advance(time.Hour)
			storage := onClock(fiberstore.NewSessionStorage(store), clk)
			app := sessionApp(storage, session.Config{IdleTimeout: idle, AbsoluteTimeout: tc.absolute})

			b := &browser{t: t, app: app}
			if tc.without {
				b.app = sessionApp(storage, session.Config{IdleTimeout: idle})
			}
			before := time.Now()
			b.get(tc.start[0]) // Fiber's deadline: between before+absolute and after+absolute
			after := time.Now()
			for _, path := range tc.start[1:] {
				b.get(path)
			}
			b.app = app
			require.Equal(t, "ada", b.get("/get"))
			cookie := b.cookie

			// Keep the session active until a request is sent after the deadline, with enough
			// requests that the store's clock passes the idle timeout more than once.
			active := 0
			for i := 1; ; i++ {
				time.Sleep(absolute / 8)
				clk.Advance(idle / 4)
				sent := time.Now()
				got := b.get("/get")
				if sent.After(after.Add(absolute)) && i > 8 {
					if tc.ends {
						assert.Equal(t, "", got, "past AbsoluteTimeout: the session's values are gone")
						assert.NotEqual(t, cookie, b.cookie, "and it has a new ID")
						v, err := storage.Get(sessionID(cookie))
						require.NoError(t, err)
						assert.Nil(t, v, "the ended session's item is deleted")
					} else {
						assert.Equal(t, "ada", got, "past the point where AbsoluteTimeout would end it: the session lives on")
						assert.Equal(t, cookie, b.cookie, "the same session")
					}
					break
				}
				if time.Now().Before(before.Add(absolute)) { // answered before the deadline
					require.Equal(t, "ada", got, "kept active before the deadline")
					require.Equal(t, cookie, b.cookie)
					active++
				}
			}
			require.Positive(t, active, "no request was answered before the deadline: the test shows nothing")
		})
	}
}
