package fiberstore_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"

	"github.com/gofiber/fiber/v3"
	"github.com/gofiber/fiber/v3/middleware/session"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/dynamostoretest"
	"github.com/dynamostore/dynamostore/fiberstore"
)

// Fiber's session middleware with its storage in DynamoDB. In production the store comes
// from dynamostore.NewCrossAccount(cfg, tableARN, roleARN) and its NewStore method.
func Example() {
	endpoint := os.Getenv("DYNAMODB_ENDPOINT")
	if endpoint == "" {
		local, err := dynamostoretest.StartLocal(context.Background(), dynamostoretest.LocalOptions{})
		if err != nil {
			log.Fatal(err)
		}
		defer local.Close()
		endpoint = local.Endpoint
	}
	client := dynamostoretest.NewClient(endpoint)
	if err := dynamostore.CreateTable(context.Background(), client, "fiber-example"); err != nil {
		log.Fatal(err)
	}
	store, err := dynamostore.New(client, dynamostore.WithTableName("fiber-example"),
		dynamostore.WithKeyPairs([]byte("a-32-byte-hash-key-from-a-secret")))
	if err != nil {
		log.Fatal(err)
	}

	app := fiber.New()
	app.Use(session.New(session.Config{Storage: fiberstore.New(store)}))
	app.Get("/", func(c fiber.Ctx) error {
		s := session.FromContext(c)
		n, _ := s.Get("n").(int)
		s.Set("n", n+1)
		return c.SendString(fmt.Sprintf("visit %d", n+1))
	})

	cookie := ""
	for range 3 {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Cookie", cookie)
		resp, err := app.Test(req)
		if err != nil {
			log.Fatal(err)
		}
		if c := resp.Cookies(); len(c) > 0 {
			cookie = c[0].Name + "=" + c[0].Value
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(string(body))
	}
	// Output:
	// visit 1
	// visit 2
	// visit 3
}
