package scsstore_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/alexedwards/scs/v2"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/dynamostoretest"
	"github.com/dynamostore/dynamostore/scsstore"
)

// scs with its sessions in DynamoDB. In production the store comes from
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
	if err := dynamostore.CreateTable(context.Background(), client, "scs-example"); err != nil {
		log.Fatal(err)
	}
	store, err := dynamostore.New(client, dynamostore.WithTableName("scs-example"),
		dynamostore.WithKeyPairs([]byte("a-32-byte-hash-key-from-a-secret")))
	if err != nil {
		log.Fatal(err)
	}

	sm := scs.New()
	sm.Store = scsstore.New(store)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		n := sm.GetInt(r.Context(), "n") + 1
		sm.Put(r.Context(), "n", n)
		fmt.Fprintf(w, "visit %d", n)
	})
	server := httptest.NewServer(sm.LoadAndSave(mux))
	defer server.Close()

	cookie := ""
	for range 3 {
		req, _ := http.NewRequest(http.MethodGet, server.URL, nil)
		req.Header.Set("Cookie", cookie)
		resp, err := http.DefaultClient.Do(req)
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
