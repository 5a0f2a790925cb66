package ginstore_test

import (
	"testing"

	"github.com/dynamostore/dynamostore/internal/snippets"
)

// TestReadmeSnippetsCompile compiles the Go snippets of this adapter's README.
func TestReadmeSnippetsCompile(t *testing.T) {
	env := snippets.Env{
		Imports: map[string]string{
			"dynamostore": "github.com/dynamostore/dynamostore",
			"ginstore":    "github.com/dynamostore/dynamostore/ginstore",
			"config":      "github.com/aws/aws-sdk-go-v2/config",
			"dynamodb":    "github.com/aws/aws-sdk-go-v2/service/dynamodb",
			"context":     "context",
			"fmt":         "fmt",
			"http":        "net/http",
			"log":         "log",
			"time":        "time",
			"gin":         "github.com/gin-gonic/gin", "sessions": "github.com/gin-contrib/sessions",
		},
		Decls: `var (
	ctx              context.Context
	tableARN, roleARN string
	hashKey, blockKey []byte
userID string
	client            *dynamodb.Client
)
`,
	}
	s, err := snippets.FromMarkdown("README.md")
	if err != nil {
		t.Fatal(err)
	}
	snippets.Check(t, ".", env, s)
}
