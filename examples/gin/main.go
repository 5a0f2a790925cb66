// Command gin is a gin server whose sessions live in DynamoDB (Local) through ginstore: a
// visit counter, a login that takes a new session ID (ginstore.Login) and a logout.
//
// Environment: PORT (default 3002), DYNAMODB_ENDPOINT (a DynamoDB Local you run yourself;
// otherwise one is started with its data in DATA_DIR, default .data/gin).
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

	"github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/dynamostoretest"
	"github.com/dynamostore/dynamostore/ginstore"
	"github.com/dynamostore/dynamostore/internal/exampleserver"
)

const sessionName = "session"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		slog.Error("gin example failed", "error", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	endpoint := os.Getenv("DYNAMODB_ENDPOINT")
	dataDir := exampleserver.EnvOr(os.Getenv, "DATA_DIR", filepath.Join(".data", "gin"))
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
	addr := "127.0.0.1:" + exampleserver.EnvOr(os.Getenv, "PORT", "3002")
	return exampleserver.Serve(ctx, addr, router(ginstore.New(store)), func(url string) { fmt.Printf("\n  gin example: open %s\n\n", url) })
}

// router serves the counter, the login and the logout.
func router(store ginstore.Store) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(gin.Recovery(), sessions.Sessions(sessionName, store))
	r.GET("/", func(c *gin.Context) {
		s := sessions.Default(c)
		visits, _ := s.Get("visits").(int)
		s.Set("visits", visits+1)
		if err := s.Save(); err != nil {
			c.String(http.StatusServiceUnavailable, "session unavailable, try again")
			return
		}
		user, _ := s.Get("user").(string)
		c.String(http.StatusOK, "visits: %d, user: %q\n", visits+1, user)
	})
	r.POST("/login", func(c *gin.Context) {
		name := c.PostForm("name")
		if name == "" {
			c.String(http.StatusBadRequest, "name, please")
			return
		}
		sessions.Default(c).Set("user", name)
		// A new session ID at login, bound to the user and listed under them.
		if err := ginstore.Login(c, store, sessionName, name); err != nil {
			c.String(http.StatusServiceUnavailable, "could not log in, try again")
			return
		}
		c.Redirect(http.StatusSeeOther, "/")
	})
	r.POST("/logout", func(c *gin.Context) {
		s := sessions.Default(c)
		s.Options(sessions.Options{MaxAge: -1}) // Save with MaxAge < 0 deletes the session
		if err := s.Save(); err != nil {
			c.String(http.StatusServiceUnavailable, "could not log out, try again")
			return
		}
		c.Redirect(http.StatusSeeOther, "/")
	})
	return r
}
