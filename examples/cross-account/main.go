// Command cross-account serves sessions from a DynamoDB table in another AWS account, with
// credentials from STS AssumeRole that renew in the background. `make run` starts it.
//
// Local mode (the default, when TABLE_ARN is unset) needs no AWS account: it starts DynamoDB
// Local, a local STS and a signature-checking gateway, with a role in a simulated table
// account like the one CROSS-ACCOUNT.md creates. Credentials live one minute (-credential-lifetime),
// so renewals show on the page and in the log within minutes. Data is kept in .data/cross-account.
//
// Real mode: set TABLE_ARN and TABLE_ROLE_ARN (and EXTERNAL_ID if the role requires one,
// AWS_REGION for STS); the application's own credentials come from the default AWS chain.
// Set SESSION_HASH_KEY (64 hex characters) so sessions survive a restart, and SESSION_BLOCK_KEY
// (64 hex characters) to encrypt cookies and stored sessions too; `dynamostore keygen` prints both.
//
// PORT (default 3001) sets the port; DATA_DIR (default .data/cross-account) the data folder;
// DYNAMODB_ENDPOINT, in local mode, uses a DynamoDB Local you run yourself (started with
// -sharedDb) instead of starting one. `make run PORT=8080 CREDENTIAL_LIFETIME=2m` sets the port
// and the lifetime of the local credentials.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/gorilla/sessions"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/credcache"
	"github.com/dynamostore/dynamostore/dynamostoretest"
	"github.com/dynamostore/dynamostore/internal/exampleserver"
)

const (
	sessionName = "session"
	localTable  = "dynamostore-sessions"
)

type settings struct {
	addr               string
	dataDir            string
	credentialLifetime time.Duration
	secureCookies      bool
	logger             *slog.Logger
	env                func(string) string
	ready              func(url string)
}

func main() {
	lifetime := flag.Duration("credential-lifetime", time.Minute, "local mode: how long issued credentials live")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg := settings{
		addr:               "127.0.0.1:" + exampleserver.EnvOr(os.Getenv, "PORT", "3001"),
		dataDir:            exampleserver.EnvOr(os.Getenv, "DATA_DIR", filepath.Join(".data", "cross-account")),
		credentialLifetime: *lifetime,
		secureCookies:      os.Getenv("HTTPS") == "1",
		logger:             logger,
		env:                os.Getenv,
		ready: func(url string) {
			fmt.Printf("\n  dynamostore cross-account example: open %s\n  log in, reload now and then, and watch the AssumeRole count grow.\n\n", url)
		},
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		logger.Error("cross-account example failed", "error", err)
		os.Exit(1)
	}
}

// app is what the handlers need.
type app struct {
	store  *dynamostore.Store
	creds  *credcache.Cache
	role   string
	client *dynamodb.Client
	table  string
	mode   string
}

// run serves until ctx ends, then stops everything it started.
func run(ctx context.Context, cfg settings) error {
	var (
		a   *app
		err error
	)
	if cfg.env("TABLE_ARN") != "" {
		a, err = realMode(ctx, cfg)
	} else {
		var cleanup func()
		a, cleanup, err = localMode(ctx, cfg)
		if cleanup != nil {
			defer cleanup()
		}
	}
	if err != nil {
		return err
	}
	defer a.creds.Close()
	a.creds.KeepWarm(ctx)

	cfg.logger.Info("serving", "mode", a.mode, "table", a.table)
	if cfg.secureCookies { // HTTPS=1: a self-signed certificate, and the __Host- cookie
		return exampleserver.ServeHTTPS(ctx, cfg.addr, a.routes(), cfg.ready)
	}
	return exampleserver.Serve(ctx, cfg.addr, a.routes(), cfg.ready)
}

// realMode uses AWS: the default credential chain, and our credentials for the table's role.
func realMode(ctx context.Context, cfg settings) (*app, error) {
	roleARN := cfg.env("TABLE_ROLE_ARN")
	if roleARN == "" {
		return nil, errors.New("TABLE_ARN is set but TABLE_ROLE_ARN is not: set both (see CROSS-ACCOUNT.md)")
	}
	base, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load the AWS configuration: %w", err)
	}
	ca, err := dynamostore.NewCrossAccount(base, cfg.env("TABLE_ARN"), roleARN, func(o *dynamostore.CrossAccountOptions) {
		o.ExternalID = cfg.env("EXTERNAL_ID")
		o.Logger = cfg.logger
	})
	if err != nil {
		return nil, err
	}
	key, err := hashKey(cfg, "")
	if err != nil {
		return nil, err
	}
	return newApp(cfg, ca, ca.DynamoDB(), key, "aws")
}

// localMode starts DynamoDB Local, the STS emulator and the gateway, with two simulated accounts.
func localMode(ctx context.Context, cfg settings) (*app, func(), error) {
	var stops []func()
	cleanup := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	endpoint := cfg.env("DYNAMODB_ENDPOINT")
	if endpoint == "" {
		cfg.logger.Info("starting DynamoDB Local", "data", filepath.Join(cfg.dataDir, "dynamodb"))
		local, err := dynamostoretest.StartLocal(ctx, dynamostoretest.LocalOptions{DBPath: filepath.Join(cfg.dataDir, "dynamodb")})
		if err != nil {
			return nil, cleanup, err
		}
		stops = append(stops, func() { local.Close() })
		endpoint = local.Endpoint
	}
	// The table account creates the table (with its own, administrator's, access).
	if err := dynamostore.CreateTable(ctx, dynamostoretest.NewClient(endpoint), localTable); err != nil {
		return nil, cleanup, err
	}
	x, err := dynamostoretest.StartCrossAccount(endpoint, localTable, dynamostoretest.CrossAccountOptions{})
	if err != nil {
		return nil, cleanup, err
	}
	stops = append(stops, x.Close)
	x.STS.SetLifetime(cfg.credentialLifetime)
	cfg.logger.Info("simulated accounts", "usage_account", dynamostoretest.UsageAccount, "table_account", dynamostoretest.TableAccount,
		"role", x.RoleARN, "credential_lifetime", cfg.credentialLifetime)

	ca, err := dynamostore.NewCrossAccount(x.BaseConfig(), x.TableARN, x.RoleARN, x.Options(func(o *dynamostore.CrossAccountOptions) {
		o.Logger = cfg.logger
	}))
	if err != nil {
		return nil, cleanup, err
	}
	key, err := hashKey(cfg, filepath.Join(cfg.dataDir, "session-hash.key"))
	if err != nil {
		return nil, cleanup, err
	}
	a, err := newApp(cfg, ca, ca.DynamoDB(x.ViaGateway), key, "local")
	return a, cleanup, err
}

func newApp(cfg settings, ca *dynamostore.CrossAccount, client *dynamodb.Client, key []byte, mode string) (*app, error) {
	block, err := exampleserver.BlockKey(cfg.env("SESSION_BLOCK_KEY"))
	if err != nil {
		return nil, err
	}
	opts := []dynamostore.Option{
		dynamostore.WithTableName(ca.Table.String()),
		dynamostore.WithKeyPairs(key, block),
		dynamostore.WithLogger(cfg.logger),
		dynamostore.WithTouchInterval(5 * time.Minute),
		dynamostore.WithSessionLabel(deviceLabel),
		dynamostore.WithCookieMaxAge(3600),
	}
	if !cfg.secureCookies {
		opts = append(opts, dynamostore.WithInsecureCookie()) // plain HTTP on localhost; Secure behind TLS
	}
	store, err := dynamostore.New(client, opts...)
	if err != nil {
		return nil, err
	}
	return &app{store: store, creds: ca.Credentials, client: client, table: ca.Table.String(), mode: mode}, nil
}

// hashKey returns SESSION_HASH_KEY, else (local mode) the key kept next to the data, else
// (real mode) a random key: sessions then end when the process does.
func hashKey(cfg settings, path string) ([]byte, error) {
	if path == "" && cfg.env("SESSION_HASH_KEY") == "" {
		cfg.logger.Warn("SESSION_HASH_KEY is not set: using a random key, so sessions end when the server stops")
		key := make([]byte, 32)
		_, err := rand.Read(key)
		return key, err
	}
	return exampleserver.HashKey(cfg.env("SESSION_HASH_KEY"), path)
}

// --- HTTP ---

var pages = template.Must(template.New("layout").Funcs(template.FuncMap{
	"ago": func(t time.Time) string { return time.Until(t).Round(time.Second).String() },
	// breakable lets an ARN wrap after its ':' and '/' separators only, never inside a word.
	"breakable": func(s string) template.HTML {
		s = template.HTMLEscapeString(s)
		s = strings.NewReplacer(":", ":<wbr>", "/", "/<wbr>").Replace(s)
		return template.HTML(s)
	},
}).Parse(`{{define "top"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>dynamostore: cross-account sessions</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:2.5rem auto;padding:0 1rem;color:#1d2330;background:#fafbfc}
h1{font-size:1.6rem;margin-bottom:.2rem}.sub{color:#5b6476;margin-top:0}
.card{background:#fff;border:1px solid #dde1e8;border-radius:10px;padding:1rem 1.25rem;margin:1rem 0}
.card h2{font-size:1rem;margin:.1rem 0 .6rem;color:#5b6476;text-transform:uppercase;letter-spacing:.04em}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem;margin:0}dt{color:#5b6476}dd{margin:0;font-weight:600}
a,button{color:#0b5fff}button{font:inherit;background:#0b5fff;color:#fff;border:0;border-radius:6px;padding:.45rem 1rem;cursor:pointer}
input{font:inherit;padding:.4rem .6rem;border:1px solid #c4cad6;border-radius:6px}
.nav a{margin-right:1rem}form.inline{display:inline;margin-right:1rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .4rem;border-bottom:1px solid #eef0f4}th{color:#5b6476;font-weight:400}
.this{background:#e6f6ea;color:#18794e;border-radius:4px;padding:0 .4rem;font-size:.85rem;white-space:nowrap}button.end{background:#fff;color:#c4321c;border:1px solid #c4321c;padding:.2rem .6rem}button,th{white-space:nowrap}.mode{display:inline-block;background:#e8f0ff;color:#0b5fff;border-radius:4px;padding:0 .4rem;font-size:.85rem}
</style></head><body>
<h1>dynamostore</h1><p class="sub">Sessions in a table owned by another account <span class="mode">{{.Mode}} mode</span></p>{{end}}
{{define "index"}}{{template "top" .}}
<div class="card"><h2>Your session</h2><dl>
<dt>User</dt><dd id="user">{{if .User}}{{.User}}{{else}}not logged in{{end}}</dd>
<dt>Visits</dt><dd id="visits">{{.Visits}}</dd>
<dt>Created</dt><dd>{{.Created}}</dd></dl></div>
<div class="card"><h2>Cross-account credentials</h2><dl>
<dt>Expire in</dt><dd id="expires">{{if .Stats.Expires.IsZero}}none yet{{else}}{{ago .Stats.Expires}} ({{.Stats.Expires.Format "15:04:05"}}){{end}}</dd>
<dt>Next renewal</dt><dd id="renew-at">{{if .Stats.RenewAt.IsZero}}none yet{{else}}in {{ago .Stats.RenewAt}} ({{.Stats.RenewAt.Format "15:04:05"}}), in the background{{end}}</dd>
<dt>AssumeRole calls</dt><dd id="assume-role-calls">{{.Stats.Calls}}</dd>
<dt>Renewals</dt><dd id="renewals">{{.Stats.Renewals}}</dd>
<dt>Requests that waited</dt><dd id="waits">{{.Stats.Waits}}</dd>
<dt>Table</dt><dd style="font-weight:400">{{breakable .Table}}</dd></dl></div>
{{if .User}}<div class="card"><h2>Your sessions</h2>
<table id="sessions"><tr><th>Device</th><th>Logged in</th><th>Last seen</th><th></th></tr>
{{range .Sessions}}<tr class="session" data-handle="{{.Handle}}"><td>{{if .Label}}{{.Label}}{{else}}unknown device{{end}}{{if eq .Handle $.Handle}} <span class="this">this device</span>{{end}}</td>
<td>{{.Created.Format "Jan 2 15:04:05"}}</td><td>{{.LastSeen.Format "15:04:05"}}</td>
<td>{{if ne .Handle $.Handle}}<form method="post" action="/sessions/end"><input type="hidden" name="handle" value="{{.Handle}}"><button class="end" type="submit">Log out</button></form>{{end}}</td></tr>
{{end}}</table>
{{if gt (len .Sessions) 1}}<form method="post" action="/sessions/end-others"><button id="end-others" type="submit">Log out all other sessions</button></form>{{end}}
</div>{{end}}
<div class="nav">{{if .User}}<form class="inline" method="post" action="/logout" onsubmit="return confirm('Log out?')"><button id="logout" type="submit">Log out</button></form>{{else}}<a id="login" href="/login">Log in</a>{{end}}<a href="/">Reload</a><a href="/stats">Stats (JSON)</a></div>
</body></html>{{end}}
{{define "login"}}{{template "top" .}}
<div class="card"><h2>Log in</h2><form method="post" action="/login">
<p><label>Name <input id="name" name="name" required maxlength="64" autofocus></label></p>
<button id="submit" type="submit">Log in</button></form></div>
<p class="nav"><a href="/">Back</a></p></body></html>{{end}}`))

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.index)
	mux.HandleFunc("GET /login", a.loginForm)
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("POST /logout", a.logout)
	mux.HandleFunc("POST /sessions/end", a.endSession)
	mux.HandleFunc("POST /sessions/end-others", a.endOtherSessions)
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.HandleFunc("GET /stats", a.stats)
	// Every form posts: logins, logouts and the ending of sessions. Go's cross-origin
	// protection refuses such requests when a browser says they come from another site.
	return http.NewCrossOriginProtection().Handler(mux)
}

func (a *app) render(w http.ResponseWriter, name string, data map[string]any) {
	data["Mode"] = a.mode
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = pages.ExecuteTemplate(w, name, data)
}

// session loads the session or answers 503: a DynamoDB failure must not replace the user's session.
func (a *app) session(w http.ResponseWriter, r *http.Request) (*sessions.Session, bool) {
	s, err := a.store.Get(r, sessionName)
	if err != nil && !errors.Is(err, dynamostore.ErrInvalidItem) {
		http.Error(w, "The session store is unavailable; please try again.", http.StatusServiceUnavailable)
		return nil, false
	}
	return s, true
}

func (a *app) index(w http.ResponseWriter, r *http.Request) {
	s, ok := a.session(w, r)
	if !ok {
		return
	}
	visits, _ := s.Values["visits"].(int)
	s.Values["visits"] = visits + 1
	if _, ok := s.Values["created"]; !ok {
		s.Values["created"] = time.Now().UTC().Format(time.RFC1123)
	}
	if err := s.Save(r, w); err != nil {
		http.Error(w, "Could not save the session; please try again.", http.StatusServiceUnavailable)
		return
	}
	data := map[string]any{
		"User": s.Values["user"], "Visits": visits + 1, "Created": s.Values["created"],
		"Stats": a.creds.Stats(), "Table": a.table, "Handle": a.store.Handle(s),
	}
	if user, ok := s.Values["user"].(string); ok {
		list, err := a.store.UserSessions(r.Context(), user)
		if err != nil {
			http.Error(w, "Could not list your sessions; please try again.", http.StatusServiceUnavailable)
			return
		}
		data["Sessions"] = list
	}
	a.render(w, "index", data)
}

func (a *app) loginForm(w http.ResponseWriter, r *http.Request) {
	a.render(w, "login", map[string]any{})
}

func (a *app) login(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSpace(r.FormValue("name"))
	if name == "" || len(name) > 64 {
		http.Error(w, "A name of 1 to 64 characters, please.", http.StatusBadRequest)
		return
	}
	s, ok := a.session(w, r)
	if !ok {
		return
	}
	s.Values["user"] = name
	// A new ID at login (an ID anyone saw before is worthless now), bound to the user, listed
	// under "Your sessions".
	if err := a.store.Login(r, w, s, name); err != nil {
		http.Error(w, "Could not log in; please try again.", http.StatusServiceUnavailable)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	s, ok := a.session(w, r)
	if !ok {
		return
	}
	if err := a.store.Delete(r, w, s); err != nil {
		http.Error(w, "Could not log out; please try again.", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Clear-Site-Data", `"cookies"`)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// endSession logs out one of the user's other sessions, named by its handle.
func (a *app) endSession(w http.ResponseWriter, r *http.Request) {
	s, ok := a.session(w, r)
	if !ok {
		return
	}
	user, _ := s.Values["user"].(string)
	if user == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	err := a.store.RevokeSession(r.Context(), user, r.FormValue("handle"))
	if err != nil && !errors.Is(err, dynamostore.ErrSessionNotFound) {
		http.Error(w, "Could not end that session; please try again.", http.StatusServiceUnavailable)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// endOtherSessions logs out every session of the user but this one.
func (a *app) endOtherSessions(w http.ResponseWriter, r *http.Request) {
	s, ok := a.session(w, r)
	if !ok {
		return
	}
	if user, _ := s.Values["user"].(string); user != "" {
		if _, err := a.store.RevokeUserSessions(r.Context(), user, a.store.Handle(s)); err != nil {
			http.Error(w, "Could not end your other sessions; please try again.", http.StatusServiceUnavailable)
			return
		}
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// deviceLabel is a short name of the browser and system from the User-Agent.
func deviceLabel(r *http.Request) string {
	ua := r.UserAgent()
	browser := "a browser"
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"HeadlessChrome", "Headless Chrome"}, {"Chrome/", "Chrome"}, {"Firefox/", "Firefox"},
		{"Safari/", "Safari"}, {"curl/", "curl"}, {"Go-http-client", "Go"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	for _, o := range []struct{ token, name string }{
		{"Android", "Android"}, {"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Mac OS X", "macOS"}, {"Windows", "Windows"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			return browser + " on " + o.name
		}
	}
	return browser
}

func (a *app) healthz(w http.ResponseWriter, r *http.Request) {
	_, err := a.client.DescribeTable(r.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(a.table)})
	if err != nil {
		http.Error(w, "table unavailable", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

func (a *app) stats(w http.ResponseWriter, r *http.Request) {
	st := a.creds.Stats()
	lastErr := ""
	if st.LastError != nil {
		lastErr = st.LastError.Error()
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(map[string]any{
		"mode": a.mode, "table": a.table, "role": a.role,
		"assume_role_calls": st.Calls, "renewals": st.Renewals, "failures": st.Failures,
		"waits": st.Waits, "initial_waits": st.InitialWaits, "max_in_flight": st.MaxInFlight,
		"expires": st.Expires, "renew_at": st.RenewAt, "last_error": lastErr,
	})
}
