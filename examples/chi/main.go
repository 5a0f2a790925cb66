// Command chi is a chi server with the plain gorilla store: chi takes any net/http handler,
// so *dynamostore.Store is used as it is. A visit counter, a login (Store.Login) and a logout.
//
// Environment: PORT (default 3003), DYNAMODB_ENDPOINT (a DynamoDB Local you run yourself;
// otherwise one is started with its data in DATA_DIR, default .data/chi).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/dynamostoretest"
	"github.com/dynamostore/dynamostore/internal/exampleserver"
)

const sessionName = "session"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		slog.Error("chi example failed", "error", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	endpoint := os.Getenv("DYNAMODB_ENDPOINT")
	dataDir := exampleserver.EnvOr(os.Getenv, "DATA_DIR", filepath.Join(".data", "chi"))
	if endpoint == "" {
		local, err := dynamostoretest.StartLocal(ctx, dynamostoretest.LocalOptions{DBPath: filepath.Join(dataDir, "dynamodb")})
		if err != nil {
			return err
		}
		defer local.Close()
		endpoint = local.Endpoint
	}
	client := dynamostoretest.NewClient(endpoint) // in production: dynamodb.NewFromConfig, or NewCrossAccount
	if err := dynamostore.CreateTable(ctx, client, "sessions"); err != nil {
		return err
	}
	key, err := exampleserver.HashKey(os.Getenv("SESSION_HASH_KEY"), filepath.Join(dataDir, "session-hash.key"))
	if err != nil {
		return err
	}
	store, err := dynamostore.New(client, dynamostore.WithTableName("sessions"), dynamostore.WithKeyPairs(key),
		dynamostore.WithCookieMaxAge(3600),
		dynamostore.WithInsecureCookie()) // plain HTTP on localhost; never in production
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + exampleserver.EnvOr(os.Getenv, "PORT", "3003")
	return exampleserver.Serve(ctx, addr, router(store), func(url string) { fmt.Printf("\n  chi example: open %s\n\n", url) })
}

// router serves the counter, the login and the logout.
func router(store *dynamostore.Store) http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	r.Get("/", func(w http.ResponseWriter, r *http.Request) {
		s, err := store.Get(r, sessionName)
		if err != nil {
			http.Error(w, "session unavailable, try again", http.StatusServiceUnavailable)
			return
		}
		visits, _ := s.Values["visits"].(int)
		s.Values["visits"] = visits + 1
		if err := s.Save(r, w); err != nil {
			http.Error(w, "session unavailable, try again", http.StatusServiceUnavailable)
			return
		}
		user, _ := s.Values["user"].(string)
		fmt.Fprintf(w, "visits: %d, user: %q\n", visits+1, user)
	})
	r.Post("/login", func(w http.ResponseWriter, r *http.Request) {
		name := r.FormValue("name")
		s, err := store.Get(r, sessionName)
		if name == "" || err != nil {
			http.Error(w, "name, please", http.StatusBadRequest)
			return
		}
		s.Values["user"] = name
		if err := store.Login(r, w, s, name); err != nil { // a new session ID, bound to the user
			http.Error(w, "could not log in, try again", http.StatusServiceUnavailable)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	r.Post("/logout", func(w http.ResponseWriter, r *http.Request) {
		s, _ := store.Get(r, sessionName)
		if err := store.Delete(r, w, s); err != nil {
			http.Error(w, "could not log out, try again", http.StatusServiceUnavailable)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	return r
}
