package ginstore_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/dynamostoretest"
	"github.com/dynamostore/dynamostore/ginstore"
)

// A gin server whose sessions live in DynamoDB. In production the store comes from
// dynamostore.NewCrossAccount(cfg, tableARN, roleARN) and its NewStore method.
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
	if err := dynamostore.CreateTable(context.Background(), client, "gin-example"); err != nil {
		log.Fatal(err)
	}
	store, err := dynamostore.New(client, dynamostore.WithTableName("gin-example"),
		dynamostore.WithKeyPairs([]byte("a-32-byte-hash-key-from-a-secret")))
	if err != nil {
		log.Fatal(err)
	}

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(sessions.Sessions("session", ginstore.New(store)))
	r.GET("/", func(c *gin.Context) {
		s := sessions.Default(c)
		n, _ := s.Get("n").(int)
		s.Set("n", n+1)
		_ = s.Save()
		c.String(http.StatusOK, "visit %d", n+1)
	})

	cookie := ""
	for range 3 {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Cookie", cookie)
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		if c := rec.Result().Cookies(); len(c) > 0 {
			cookie = c[0].Name + "=" + c[0].Value
		}
		fmt.Println(rec.Body.String())
	}
	// Output:
	// visit 1
	// visit 2
	// visit 3
}
