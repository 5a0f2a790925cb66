package fiberstore_test

import (
	"testing"

	"github.com/dynamostore/dynamostore/internal/snippets"
)

// TestReadmeSnippetsCompile compiles the Go snippets of this adapter's README.
func TestReadmeSnippetsCompile(t *testing.T) {
	env := snippets.Env{
		Imports: map[string]string{
			"dynamostore": "github.com/dynamostore/dynamostore",
			"fiberstore":  "github.com/dynamostore/dynamostore/fiberstore",
			"config":      "github.com/aws/aws-sdk-go-v2/config",
			"dynamodb":    "github.com/aws/aws-sdk-go-v2/service/dynamodb",
			"context":     "context",
			"fmt":         "fmt",
			"http":        "net/http",
			"log":         "log",
			"time":        "time",
			"fiber":       "github.com/gofiber/fiber/v3", "session": "github.com/gofiber/fiber/v3/middleware/session",
		},
		Decls: `var (
	ctx              context.Context
	tableARN, roleARN string
	hashKey, blockKey []byte

)
`,
	}
	s, err := snippets.FromMarkdown("README.md")
	if err != nil {
		t.Fatal(err)
	}
	snippets.Check(t, ".", env, s)
}
