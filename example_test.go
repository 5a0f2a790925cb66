package dynamostore_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"

	"github.com/gorilla/sessions"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/dynamostoretest"
)

// exampleEndpoint starts DynamoDB Local for an example (or uses $DYNAMODB_ENDPOINT).
func exampleEndpoint() (endpoint string, stop func()) {
	if ep := os.Getenv("DYNAMODB_ENDPOINT"); ep != "" {
		return ep, func() {}
	}
	local, err := dynamostoretest.StartLocal(context.Background(), dynamostoretest.LocalOptions{})
	if err != nil {
		log.Fatal(err)
	}
	return local.Endpoint, func() { local.Close() }
}

// A visit counter: Get loads the session, Save writes it back and sets the cookie.
func Example() {
	endpoint, stop := exampleEndpoint()
	defer stop()
	client := dynamostoretest.NewClient(endpoint) // in production: dynamodb.NewFromConfig(cfg)
	if err := dynamostore.CreateTable(context.Background(), client, "example-sessions"); err != nil {
		log.Fatal(err)
	}

	store, err := dynamostore.New(client,
		dynamostore.WithTableName("example-sessions"),
		dynamostore.WithKeyPairs([]byte("a-32-byte-hash-key-from-a-secret")), // securecookie.GenerateRandomKey(32)
	)
	if err != nil {
		log.Fatal(err)
	}

	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session, err := store.Get(r, "session")
		if err != nil {
			// DynamoDB failed: session is a fresh one that Save refuses to store.
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		visits, _ := session.Values["visits"].(int)
		session.Values["visits"] = visits + 1
		if err := session.Save(r, w); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "visit %d", visits+1)
	})

	server := httptest.NewTLSServer(handler) // the cookie is Secure by default
	defer server.Close()
	browser := server.Client()
	browser.Jar, _ = cookiejar.New(nil)
	for i := 0; i < 3; i++ {
		resp, err := browser.Get(server.URL)
		if err != nil {
			log.Fatal(err)
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

// At login, Regenerate gives the session a new ID and ends the old item, so an ID an
// attacker planted before the login is worthless. At logout, Delete removes the item.
func ExampleStore_Regenerate() {
	endpoint, stop := exampleEndpoint()
	defer stop()
	client := dynamostoretest.NewClient(endpoint)
	if err := dynamostore.CreateTable(context.Background(), client, "example-login"); err != nil {
		log.Fatal(err)
	}
	store, err := dynamostore.New(client,
		dynamostore.WithTableName("example-login"),
		dynamostore.WithKeyPairs([]byte("a-32-byte-hash-key-from-a-secret")),
	)
	if err != nil {
		log.Fatal(err)
	}

	login := func(w http.ResponseWriter, r *http.Request) {
		session, err := store.Get(r, "session")
		if err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		// ... check the password ...
		session.Values["user"] = "ada"
		if err := store.Regenerate(r, w, session); err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable)
		}
	}
	logout := func(w http.ResponseWriter, r *http.Request) {
		session, _ := store.Get(r, "session")
		if err := store.Delete(r, w, session); err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable)
		}
	}

	rec := httptest.NewRecorder()
	login(rec, httptest.NewRequest("POST", "/login", nil))
	cookie := rec.Result().Cookies()[0]

	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(cookie)
	session, _ := store.New(r, "session")
	fmt.Println("logged in as", session.Values["user"])

	rec = httptest.NewRecorder()
	logout(rec, r)
	fmt.Println("cookie expired:", rec.Result().Cookies()[0].MaxAge < 0)

	session, _ = store.New(r, "session")
	fmt.Println("old cookie gives a new session:", session.IsNew)
	// Output:
	// logged in as ada
	// cookie expired: true
	// old cookie gives a new session: true
}

// Options are validated when the store is built; a bad configuration is an error, never a panic.
func ExampleNew_options() {
	_, err := dynamostore.New(dynamostoretest.NewClient("http://127.0.0.1:1"),
		dynamostore.WithTableName("arn:aws:dynamodb:us-east-1:111122223333:table/sessions"),
		dynamostore.WithCookie(func(c *sessions.Options) {
			c.MaxAge = 3600
			c.SameSite = http.SameSiteStrictMode
		}),
		dynamostore.WithMaxLength(16<<10),
	)
	fmt.Println(err)
	// Output:
	// dynamostore: invalid options: KeyPairs is empty: pass at least one hash key of 32 or more random bytes (securecookie.GenerateRandomKey(32)) with WithKeyPairs
}

// Users and their sessions: Login at authentication, a "your sessions" listing with this
// device marked, and logging out every other session.
func ExampleStore_Login() {
	endpoint, stop := exampleEndpoint()
	defer stop()
	client := dynamostoretest.NewClient(endpoint)
	if err := dynamostore.CreateTable(context.Background(), client, "example-users"); err != nil {
		log.Fatal(err)
	}
	store, err := dynamostore.New(client,
		dynamostore.WithTableName("example-users"),
		dynamostore.WithKeyPairs([]byte("a-32-byte-hash-key-from-a-secret")),
		dynamostore.WithSessionLabel(func(r *http.Request) string { return r.UserAgent() }),
	)
	if err != nil {
		log.Fatal(err)
	}
	login := func(device string) (*sessions.Session, string) {
		r := httptest.NewRequest(http.MethodPost, "/login", nil)
		r.Header.Set("User-Agent", device)
		sess, _ := store.Get(r, "session")
		// ... after checking the user's password:
		if err := store.Login(r, httptest.NewRecorder(), sess, "user-42"); err != nil {
			log.Fatal(err)
		}
		return sess, store.Handle(sess)
	}
	laptop, _ := login("laptop")
	login("phone")

	list, err := store.UserSessions(context.Background(), "user-42")
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range list {
		fmt.Println(s.Label, s.Handle == store.Handle(laptop))
	}
	// After a password change on the laptop: log out everywhere else.
	n, err := store.RevokeUserSessions(context.Background(), "user-42", store.Handle(laptop))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("ended", n)
	_, recent := store.AuthTime(laptop)
	fmt.Println("authenticated:", recent)
	// Unordered output:
	// laptop true
	// phone false
	// ended 1
	// authenticated: true
}
