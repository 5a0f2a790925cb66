package fiberstore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"time"

	"github.com/gofiber/fiber/v3"
	"github.com/gofiber/fiber/v3/middleware/cache"
	"github.com/gofiber/fiber/v3/middleware/session"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/dynamostoretest"
	"github.com/dynamostore/dynamostore/fiberstore"
)

// exampleStore returns a store on table in DynamoDB Local, started for the example (or at
// $DYNAMODB_ENDPOINT). In production the store comes from dynamostore.NewCrossAccount(cfg,
// tableARN, roleARN) and its NewStore method.
func exampleStore(table string) (store *dynamostore.Store, stop func()) {
	stop = func() {}
	endpoint := os.Getenv("DYNAMODB_ENDPOINT")
	if endpoint == "" {
		local, err := dynamostoretest.StartLocal(context.Background(), dynamostoretest.LocalOptions{})
		if err != nil {
			log.Fatal(err)
		}
		stop = func() { local.Close() }
		endpoint = local.Endpoint
	}
	client := dynamostoretest.NewClient(endpoint)
	if err := dynamostore.CreateTable(context.Background(), client, table); err != nil {
		log.Fatal(err)
	}
	store, err := dynamostore.New(client, dynamostore.WithTableName(table),
		dynamostore.WithKeyPairs([]byte("a-32-byte-hash-key-from-a-secret")))
	if err != nil {
		log.Fatal(err)
	}
	return store, stop
}

// exampleGet sends a GET to app, with cookie if it is not empty, and returns the body and
// the cookie the response set (or cookie).
func exampleGet(app *fiber.App, path, cookie string, header ...string) (body, setCookie string) {
	req := httptest.NewRequest("GET", path, nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	// No time limit: app.Test's default, one second, is too short for a busy machine.
	resp, err := app.Test(req, fiber.TestConfig{Timeout: 0})
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	setCookie = cookie
	if c := resp.Cookies(); len(c) > 0 {
		setCookie = c[0].Name + "=" + c[0].Value
	}
	b, _ := io.ReadAll(resp.Body)
	return string(b), setCookie
}

// Fiber's session middleware with its storage in DynamoDB: NewSessionStorage, so that a
// session destroyed by one request is never brought back by the save of a slower one (that
// save fails with ErrDeleted, which the middleware hands to its ErrorHandler).
func Example() {
	store, stop := exampleStore("fiber-example")
	defer stop()

	app := fiber.New()
	app.Use(session.New(session.Config{
		Storage: fiberstore.NewSessionStorage(store),
		ErrorHandler: func(c fiber.Ctx, err error) {
			if errors.Is(err, fiberstore.ErrDeleted) { // logged out by another request meanwhile
				_ = c.Status(fiber.StatusUnauthorized).SendString("your session has ended")
				return
			}
			session.DefaultErrorHandler(c, err)
		},
	}))
	app.Get("/", func(c fiber.Ctx) error {
		s := session.FromContext(c)
		n, _ := s.Get("n").(int)
		s.Set("n", n+1)
		return c.SendString(fmt.Sprintf("visit %d", n+1))
	})

	cookie := ""
	for range 3 {
		var body string
		body, cookie = exampleGet(app, "/", cookie)
		fmt.Println(body)
	}
	// Output:
	// visit 1
	// visit 2
	// visit 3
}

// Fiber's cache middleware with its storage in DynamoDB: New, a plain fiber.Storage. An
// invalidated entry is deleted, and the next response is cached again.
func ExampleNew() {
	store, stop := exampleStore("fiber-cache-example")
	defer stop()

	renders := 0
	app := fiber.New()
	app.Use(cache.New(cache.Config{
		Storage:          fiberstore.New(store),
		Expiration:       time.Minute,
		CacheInvalidator: func(c fiber.Ctx) bool { return c.Get("X-Invalidate") == "yes" },
	}))
	app.Get("/", func(c fiber.Ctx) error {
		renders++
		return c.SendString(fmt.Sprintf("render %d", renders))
	})

	for _, invalidate := range []string{"yes", "no", "yes", "no"} {
		body, _ := exampleGet(app, "/", "", "X-Invalidate", invalidate)
		fmt.Println(body)
	}
	// Output:
	// render 1
	// render 1
	// render 2
	// render 2
}
