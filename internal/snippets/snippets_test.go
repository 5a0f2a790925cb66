package snippets

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// testEnv is the part of the root module's Env these snippets need.
var testEnv = Env{
	Imports: map[string]string{
		"dynamostore": "github.com/dynamostore/dynamostore",
		"context":     "context",
	},
	Decls: "var (\n\tctx   context.Context\n\tstore *dynamostore.Store\n)\n",
}

// TestChildCheck is run by TestOverwrittenErrIsCaught in a child process, so that
// the parent can see whether Check failed.
func TestChildCheck(t *testing.T) {
	code := os.Getenv("SNIPPET_CODE")
	if code == "" {
		return // only TestOverwrittenErrIsCaught runs it, in a child process
	}
	Check(t, "../..", testEnv, []Snippet{{File: "README.md", Line: 1, Code: code}})
}

// The package doc promises that "an err that is never checked" fails. An err that is assigned
// again before anyone looks at it is never checked, yet compiles: README.md's users snippet
// (list, err := store.UserSessions...; err = store.RevokeSession...; n, err := ...) and
// doc.go's drop two errors this way and pass.
func TestOverwrittenErrIsCaught(t *testing.T) {
	code := "list, err := store.UserSessions(ctx, \"ada\")\n" +
		"err = store.RevokeSession(ctx, \"ada\", \"handle\")\n" +
		"if err != nil { ... }\n" +
		"_ = list\n"
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildCheck$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SNIPPET_CODE="+code)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Errorf("Check passed a snippet whose first err (from UserSessions) is never checked:\n%s\nchild output:\n%s", code, out)
	}
}

// GitHub renders ```golang and ``` go fences as Go; FromMarkdown skips them, so a broken
// snippet fenced that way is never compiled.
func TestOtherGoFencesAreFound(t *testing.T) {
	for _, fence := range []string{"```golang", "``` go", "```Go", "```go title=\"x\""} {
		path := filepath.Join(t.TempDir(), "doc.md")
		doc := "# Doc\n\n" + fence + "\nthis is not Go\n```\n"
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := FromMarkdown(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 {
			t.Errorf("fence %q: found %d snippets, want 1 (the block is rendered as Go but never compiled)", strings.TrimPrefix(fence, "```"), len(got))
		}
	}
}
