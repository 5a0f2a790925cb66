package dynamostore_test

import (
	"strings"
	"testing"

	"github.com/dynamostore/dynamostore/internal/snippets"
)

// TestDocSnippetsCompile compiles every Go snippet of README.md, CROSS-ACCOUNT.md and the
// package docs of dynamostore and dynamostoretest, so that what a reader copies builds (the adapters check their own READMEs).
func TestDocSnippetsCompile(t *testing.T) {
	env := snippets.Env{
		Imports: map[string]string{
			"dynamostore":     "github.com/dynamostore/dynamostore",
			"dynamostoretest": "github.com/dynamostore/dynamostore/dynamostoretest",
			"credcache":       "github.com/dynamostore/dynamostore/credcache",
			"aws":             "github.com/aws/aws-sdk-go-v2/aws",
			"sts":             "github.com/aws/aws-sdk-go-v2/service/sts",
			"config":          "github.com/aws/aws-sdk-go-v2/config",
			"dynamodb":        "github.com/aws/aws-sdk-go-v2/service/dynamodb",
			"sessions":        "github.com/gorilla/sessions",
			"context":         "context",
			"errors":          "errors",
			"http":            "net/http",
			"log":             "log",
			"slog":            "log/slog",
			"os":              "os",
			"testing":         "testing",
			"time":            "time",
		},
		Decls: `var (
	ctx     context.Context
	r       *http.Request
	w       http.ResponseWriter
	store   *dynamostore.Store
	sess    *sessions.Session
	user    struct{ ID string }
	hashKey []byte
	key     []byte
	base    aws.Config
	externalID string
	ddb        *dynamodb.Client
	t          *testing.T
)
`,
		Skip: []string{"id       S", "docker run", "npm install", "point                          |"},
	}
	var all []snippets.Snippet
	for _, doc := range []string{"README.md", "CROSS-ACCOUNT.md"} {
		s, err := snippets.FromMarkdown(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, snippet := range s {
			// The OpenTelemetry bridge is not a requirement of this module: examples/otel
			// compiles those snippets (TestReadmeMetricsSnippetCompiles).
			if !strings.Contains(snippet.Code, "smithyotelmetrics.") {
				all = append(all, snippet)
			}
		}
	}
	for _, doc := range []string{"doc.go", "dynamostoretest/doc.go", "credcache/doc.go"} {
		s, err := snippets.FromDocComment(doc, env)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, s...)
	}
	snippets.Check(t, ".", env, all)
}
