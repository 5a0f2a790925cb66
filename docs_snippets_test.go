package dynamostore_test

import (
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
			"metrics":         "github.com/aws/smithy-go/metrics",
			"config":          "github.com/aws/aws-sdk-go-v2/config",
			"aws":             "github.com/aws/aws-sdk-go-v2/aws",
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

	base              aws.Config
	tableARN, roleARN string
	otelMeterProvider any
)

// smithyotelmetrics stands for github.com/aws/smithy-go/metrics/smithyotelmetrics, which the
// core module does not require (examples/otel does).
var smithyotelmetrics struct{ Adapt func(any) metrics.MeterProvider }
`,
		Skip: []string{"id       S"},
	}
	var all []snippets.Snippet
	for _, doc := range []string{"README.md", "CROSS-ACCOUNT.md"} {
		s, err := snippets.FromMarkdown(doc)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, s...)
	}
	for _, doc := range []string{"doc.go", "dynamostoretest/doc.go"} {
		s, err := snippets.FromDocComment(doc, env)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, s...)
	}
	snippets.Check(t, ".", env, all)
}
