package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore/dynamostoretest"
)

// The visit counter survives a restart of the server and of DynamoDB Local.
func TestCounterSurvivesRestart(t *testing.T) {
	if _, err := dynamostoretest.FindJar(""); err != nil {
		dynamostoretest.Endpoint(t) // skips with instructions, or fails under CI=true
	}
	dataDir := t.TempDir()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	client := &http.Client{Jar: jar}

	visits := func(url string) string {
		t.Helper()
		resp, err := client.Get(url)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
		m := regexp.MustCompile(`id="visits">(\d+)<`).FindSubmatch(body)
		require.NotNil(t, m, string(body))
		return string(m[1])
	}
	serve := func(check func(url string)) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		urls := make(chan string, 1)
		go func() {
			done <- run(ctx, config{addr: "127.0.0.1:0", dataDir: dataDir,
				logger: slog.New(slog.DiscardHandler), ready: func(url string) { urls <- url }})
		}()
		select {
		case url := <-urls:
			check(url)
		case err := <-done:
			t.Fatalf("server did not start: %v", err)
		}
		cancel()
		require.NoError(t, <-done)
	}
	serve(func(url string) {
		require.Equal(t, "1", visits(url))
		require.Equal(t, "2", visits(url))
	})
	serve(func(url string) {
		require.Equal(t, "3", visits(url), "the session survived the restart")
		require.Equal(t, "1", visits(url+"logout"), "logout redirects to a new session")
		require.Equal(t, "2", visits(url))
	})
}
