// Command basic is the smallest useful dynamostore server: a visit counter kept in a session
// in DynamoDB Local. `make run` starts it; stop it with Ctrl-C and start it again, and the
// counter carries on, because DynamoDB Local's data and the session keys live in .data/.
//
// Environment: PORT (default 3000), DYNAMODB_ENDPOINT (use a DynamoDB Local you run yourself
// instead of starting one), DATA_DIR (default .data/basic).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/gorilla/sessions"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/dynamostoretest"
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
		addr:     "127.0.0.1:" + envOr("PORT", "3000"),
		dataDir:  envOr("DATA_DIR", filepath.Join(".data", "basic")),
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
	hashKey, err := loadOrCreateKey(filepath.Join(cfg.dataDir, "session-hash.key"))
	if err != nil {
		return err
	}
	store, err := dynamostore.New(client,
		dynamostore.WithTableName(tableName),
		dynamostore.WithKeyPairs(hashKey),
		dynamostore.WithLogger(cfg.logger),
		dynamostore.WithCookieOptions(sessions.Options{
			Path:     "/",
			MaxAge:   7 * 24 * 3600,
			HttpOnly: true,
			Secure:   false, // plain HTTP on localhost; keep the default (true) in production
			SameSite: http.SameSiteLaxMode,
		}),
	)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: routes(store, client), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if cfg.ready != nil {
		cfg.ready("http://" + ln.Addr().String() + "/")
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
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

// loadOrCreateKey keeps the hash key next to the data, so cookies stay valid across restarts.
// A real deployment takes its keys from a secret store instead.
func loadOrCreateKey(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil {
		key, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(key) < 32 {
			return nil, fmt.Errorf("%s does not hold a hex key of 32 or more bytes; delete it to make a new one", path)
		}
		return key, nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	return key, os.WriteFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func aws(s string) *string { return &s }
