package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore/dynamostoretest"
)

// The local mode end to end: log in, use the session across two credential renewals, log out.
// The credentials live 4 s: a renewal has close to a second between its start and the margin
// where requests would wait for it, which a busy machine meets.
func TestLocalModeEndToEnd(t *testing.T) {
	endpoint := dynamostoretest.Endpoint(t)
	admin := dynamostoretest.NewClient(endpoint)
	ctx, cancel := context.WithCancel(context.Background())
	urls, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- run(ctx, settings{
			addr: "127.0.0.1:0", dataDir: t.TempDir(), credentialLifetime: 4 * time.Second,
			logger: slog.New(slog.DiscardHandler), ready: func(u string) { urls <- u },
			env: func(k string) string {
				if k == "DYNAMODB_ENDPOINT" {
					return endpoint
				}
				return ""
			},
		})
	}()
	var base string
	select {
	case base = <-urls:
	case err := <-done:
		t.Fatalf("server did not start: %v", err)
	}
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	get := func(path string, form url.Values) string {
		t.Helper()
		var resp *http.Response
		var err error
		if form != nil {
			resp, err = client.PostForm(base+strings.TrimPrefix(path, "/"), form)
		} else {
			resp, err = client.Get(base + strings.TrimPrefix(path, "/"))
		}
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", path, body)
		return string(body)
	}
	field := func(page, id string) string {
		m := regexp.MustCompile(`id="` + id + `">([^<]*)<`).FindStringSubmatch(page)
		require.NotNil(t, m, "no %s in %s", id, page)
		return m[1]
	}
	// The table outlives the test (a shared DynamoDB Local, -count): only this run's keys count.
	earlier := map[string]bool{}
	keys := func() []string {
		out, err := admin.Scan(context.Background(), &dynamodb.ScanInput{TableName: ptr(localTable), ConsistentRead: ptr(true)})
		require.NoError(t, err)
		require.Nil(t, out.LastEvaluatedKey, "one page holds the table")
		var ks []string
		for _, item := range out.Items {
			_, user := item["sessions"]
			_, data := item["data"]
			if !user && data { // live session items only: not the user's, nor a moved session's tombstone
				if k := item["id"].(*types.AttributeValueMemberS).Value; !earlier[k] {
					ks = append(ks, k)
				}
			}
		}
		return ks
	}
	for _, k := range keys() {
		earlier[k] = true
	}
	cookie := func() string {
		u, _ := url.Parse(base)
		for _, c := range jar.Cookies(u) {
			if c.Name == sessionName {
				return c.Value
			}
		}
		return ""
	}
	stats := func() map[string]any {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(get("/stats", nil)), &m))
		return m
	}

	page := get("/", nil)
	assert.Equal(t, "not logged in", field(page, "user"))
	before := keys()
	require.Len(t, before, 1)
	cookieBefore := cookie()

	assert.Contains(t, get("/login", nil), `name="name"`)
	page = get("/login", url.Values{"name": {"ada"}})
	assert.Equal(t, "ada", field(page, "user"))
	after := keys()
	require.Len(t, after, 1, "the pre-login item has ended")
	assert.NotEqual(t, before[0], after[0], "a new session ID at login")
	assert.NotEqual(t, cookieBefore, cookie())

	start := stats()["renewals"].(float64)
	visits := 0
	deadline := time.Now().Add(2 * time.Minute) // only bounds a failure
	for stats()["renewals"].(float64) < start+2 {
		require.True(t, time.Now().Before(deadline), "no renewals")
		page = get("/", nil)
		assert.Equal(t, "ada", field(page, "user"))
		visits++
		time.Sleep(100 * time.Millisecond)
	}
	st := stats()
	assert.EqualValues(t, 0, st["waits"], "no request waited for STS")
	assert.EqualValues(t, 0, st["failures"])
	assert.Equal(t, "", st["last_error"])
	assert.Contains(t, get("/healthz", nil), "ok")
	t.Logf("%d page loads across renewals; stats %v", visits, st)

	assert.Contains(t, page, `class="this">this device`, "the session is listed as this device")
	page = get("/logout", url.Values{}) // a POST; follows the redirect to a new session
	assert.Equal(t, "not logged in", field(page, "user"))
	assert.Equal(t, "1", field(page, "visits"))
	assert.NotContains(t, keys(), after[0], "the logged-in session is gone from the table")
}

func ptr[T any](v T) *T { return &v }
