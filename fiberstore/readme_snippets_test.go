package fiberstore_test

import (
	"testing"

	"github.com/dynamostore/dynamostore/internal/snippets"
)

var snippetEnv = snippets.Env{
	Imports: map[string]string{
		"dynamostore": "github.com/dynamostore/dynamostore",
		"fiberstore":  "github.com/dynamostore/dynamostore/fiberstore",
		"config":      "github.com/aws/aws-sdk-go-v2/config",
		"dynamodb":    "github.com/aws/aws-sdk-go-v2/service/dynamodb",
		"context":     "context",
		"errors":      "errors",
		"fmt":         "fmt",
		"http":        "net/http",
		"log":         "log",
		"time":        "time",
		"fiber":       "github.com/gofiber/fiber/v3",
		"session":     "github.com/gofiber/fiber/v3/middleware/session",
		"cache":       "github.com/gofiber/fiber/v3/middleware/cache",
	},
	Decls: `var (
	ctx              context.Context
	tableARN, roleARN string
	hashKey, blockKey []byte
	client           *dynamodb.Client
	key              []byte
	app              *fiber.App
	store            *dynamostore.Store
)
`,
}

// TestReadmeSnippetsCompile compiles the Go snippets of this adapter's README.
func TestReadmeSnippetsCompile(t *testing.T) {
	s, err := snippets.FromMarkdown("README.md")
	if err != nil {
		t.Fatal(err)
	}
	snippets.Check(t, ".", snippetEnv, s)
}

// TestPackageDocSnippetsCompile compiles the code of the package doc.
func TestPackageDocSnippetsCompile(t *testing.T) {
	s, err := snippets.FromDocComment("fiberstore.go", snippetEnv)
	if err != nil {
		t.Fatal(err)
	}
	snippets.Check(t, ".", snippetEnv, s)
}
