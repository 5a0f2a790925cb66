// Command basic is the smallest useful dynamostore server: a visit counter kept in a session
// in DynamoDB Local. `make run-basic` starts it; stop it with Ctrl-C and start it again, and the
// counter carries on, because DynamoDB Local's data and the session keys live in .data/.
//
// Environment: PORT (default 3000), DYNAMODB_ENDPOINT (use a DynamoDB Local you run yourself
// instead of starting one), DATA_DIR (default .data/basic).
package main

import (
	"context"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/dynamostoretest"
	"github.com/dynamostore/dynamostore/internal/exampleserver"
)

const (
	tableName   = "sessions"
	sessionName = "visits"
)

type config struct {
	addr     string // listen address
	dataDir  string // DynamoDB Local's database and the session keys
	endpoint string // an existing DynamoDB Local, or "" to start one
	logger   *slog.Logger
	ready    func(url string) // called once the server listens
}

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg := config{
		addr:     "127.0.0.1:" + exampleserver.EnvOr(os.Getenv, "PORT", "3000"),
		dataDir:  exampleserver.EnvOr(os.Getenv, "DATA_DIR", filepath.Join(".data", "basic")),
		endpoint: os.Getenv("DYNAMODB_ENDPOINT"),
		logger:   logger,
		ready:    func(url string) { fmt.Printf("\n  dynamostore basic example: open %s\n\n", url) },
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		logger.Error("basic example failed", "error", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, then stops the server and the DynamoDB Local it started.
func run(ctx context.Context, cfg config) error {
	endpoint := cfg.endpoint
	if endpoint == "" {
		cfg.logger.Info("starting DynamoDB Local", "data", filepath.Join(cfg.dataDir, "dynamodb"))
		local, err := dynamostoretest.StartLocal(ctx, dynamostoretest.LocalOptions{DBPath: filepath.Join(cfg.dataDir, "dynamodb")})
		if err != nil {
			return err
		}
		defer local.Close()
		endpoint = local.Endpoint
	}
	client := dynamostoretest.NewClient(endpoint)
	if err := dynamostore.CreateTable(ctx, client, tableName); err != nil {
		return err
	}
	hashKey, err := exampleserver.HashKey("", filepath.Join(cfg.dataDir, "session-hash.key"))
	if err != nil {
		return err
	}
	store, err := dynamostore.New(client,
		dynamostore.WithTableName(tableName),
		dynamostore.WithKeyPairs(hashKey),
		dynamostore.WithLogger(cfg.logger),
		dynamostore.WithCookieMaxAge(7*24*3600),
		dynamostore.WithInsecureCookie(), // plain HTTP on localhost; keep Secure in production
	)
	if err != nil {
		return err
	}

	return exampleserver.Serve(ctx, cfg.addr, routes(store, client), cfg.ready)
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dynamostore: visits</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#222}
.n{font-size:3rem;font-weight:700}a{color:#0b5fff}</style></head>
<body><h1>dynamostore</h1>
<p>This session lives in DynamoDB Local. You have visited <span class="n" id="visits">{{.Visits}}</span> time{{if ne .Visits 1}}s{{end}}.</p>
<p>First visit: {{.Since}}. Restart the server: the count carries on.</p>
<p><a href="/">Reload</a> · <a href="/logout">Forget me</a></p></body></html>`))

func routes(store *dynamostore.Store, client *dynamodb.Client) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		session, err := store.Get(r, sessionName)
		if err != nil {
			http.Error(w, "session unavailable, try again", http.StatusServiceUnavailable)
			return
		}
		visits, _ := session.Values["visits"].(int)
		session.Values["visits"] = visits + 1
		if _, ok := session.Values["since"]; !ok {
			session.Values["since"] = time.Now().UTC().Format(time.RFC1123)
		}
		if err := session.Save(r, w); err != nil {
			http.Error(w, "could not save the session", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		_ = page.Execute(w, map[string]any{"Visits": visits + 1, "Since": session.Values["since"]})
	})
	mux.HandleFunc("GET /logout", func(w http.ResponseWriter, r *http.Request) {
		session, _ := store.Get(r, sessionName)
		if err := store.Delete(r, w, session); err != nil {
			http.Error(w, "could not end the session, try again", http.StatusServiceUnavailable)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if _, err := client.DescribeTable(r.Context(), &dynamodb.DescribeTableInput{TableName: aws(tableName)}); err != nil {
			http.Error(w, "table unavailable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

func aws(s string) *string { return &s }
