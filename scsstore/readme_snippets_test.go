package scsstore_test

import (
	"testing"

	"github.com/dynamostore/dynamostore/internal/snippets"
)

// TestReadmeSnippetsCompile compiles the Go snippets of this adapter's README.
func TestReadmeSnippetsCompile(t *testing.T) {
	env := snippets.Env{
		Imports: map[string]string{
			"dynamostore": "github.com/dynamostore/dynamostore",
			"scsstore":    "github.com/dynamostore/dynamostore/scsstore",
			"config":      "github.com/aws/aws-sdk-go-v2/config",
			"dynamodb":    "github.com/aws/aws-sdk-go-v2/service/dynamodb",
			"context":     "context",
			"fmt":         "fmt",
			"http":        "net/http",
			"log":         "log",
			"time":        "time",
			"scs":         "github.com/alexedwards/scs/v2",
		},
		Decls: `var (
	ctx              context.Context
	tableARN, roleARN string
	hashKey, blockKey []byte
handler http.HandlerFunc
	store             *dynamostore.Store
)
`,
	}
	s, err := snippets.FromMarkdown("README.md")
	if err != nil {
		t.Fatal(err)
	}
	snippets.Check(t, ".", env, s)
}
