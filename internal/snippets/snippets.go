// Package snippets compiles the Go snippets of the project's documents, so that what a reader
// copies from the README, CROSS-ACCOUNT.md, an adapter's README or the package doc builds.
//
// A snippet is a ```go block of a Markdown file, or a tab-indented block of a Go file's package
// doc comment. It may be a fragment: statements (compiled as the body of a function) or
// declarations, with "..." standing for code the reader writes ("{ ... }" and lines that hold
// only "..." are dropped). The free names a snippet uses (ctx, store, r, w, hashKey...) are
// declared by the Env, and the packages it names are imported from the Env's list. Locals
// that a fragment declares but does not use are allowed; every other compiler error fails the
// test, reported at the document's own line; so does an err that is never checked: never
// used, assigned again before it is read, or left unread at the end of its block.
//
// A block that is not Go (a data layout in a doc comment, say) or a snippet that must not be
// compiled is marked by a line <!-- not compiled: why --> right before its fence, in Markdown,
// or listed in Env.Skip by its first line.
package snippets

import (
	"bufio"
	"fmt"
	"go/scanner"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// Snippet is one block of Go code and where it was found.
type Snippet struct {
	File string // the document
	Line int    // the document line of the snippet's first line
	Code string
}

// Env is what the snippets of one module may take for granted.
type Env struct {
	// Imports maps a package name used in snippets to its import path.
	Imports map[string]string
	// Decls declares the free names of the snippets at package level, for example
	// "var ctx context.Context".
	Decls string
	// Skip lists the first lines of doc-comment blocks that are not Go.
	Skip []string
}

var notCompiled = regexp.MustCompile(`^<!--\s*not compiled:`)

// goFence tells whether a line opens a fenced block of Go, as GitHub reads the info string:
// its first word, in any case, is go or golang ("```go", "``` golang", "```Go title=x").
func goFence(line string) bool {
	info, ok := strings.CutPrefix(strings.TrimSpace(line), "```")
	if !ok {
		return false
	}
	lang, _, _ := strings.Cut(strings.TrimSpace(info), " ")
	lang = strings.ToLower(strings.TrimRight(lang, "{"))
	return lang == "go" || lang == "golang"
}

// FromMarkdown returns the ```go blocks of a Markdown file, but those marked as not compiled.
func FromMarkdown(path string) ([]Snippet, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Snippet
	var cur *Snippet
	skip := false
	prev := ""
	for i, line := range strings.Split(string(b), "\n") {
		switch {
		case cur == nil && goFence(line):
			skip = notCompiled.MatchString(strings.TrimSpace(prev))
			cur = &Snippet{File: path, Line: i + 2}
		case cur != nil && strings.TrimSpace(line) == "```":
			if !skip {
				out = append(out, *cur)
			}
			cur = nil
		case cur != nil:
			cur.Code += line + "\n"
		}
		prev = line
	}
	return out, nil
}

// FromDocComment returns the code blocks (lines indented by a tab) of the package doc comment
// of a Go file written as a /* */ comment or as // lines.
func FromDocComment(path string, env Env) ([]Snippet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Snippet
	var cur *Snippet
	flush := func() {
		if cur != nil && !skipped(cur.Code, env.Skip) {
			out = append(out, *cur)
		}
		cur = nil
	}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimPrefix(strings.TrimPrefix(sc.Text(), "//"), " ")
		if strings.HasPrefix(sc.Text(), "package ") {
			break
		}
		switch {
		case strings.HasPrefix(line, "\t"):
			if cur == nil {
				cur = &Snippet{File: path, Line: n}
			}
			cur.Code += strings.TrimPrefix(line, "\t") + "\n"
		case strings.TrimSpace(line) == "" && cur != nil:
			cur.Code += "\n"
		default:
			flush()
		}
	}
	flush()
	return out, sc.Err()
}

func skipped(code string, firstLines []string) bool {
	first, _, _ := strings.Cut(strings.TrimSpace(code), "\n")
	for _, s := range firstLines {
		if strings.HasPrefix(first, s) {
			return true
		}
	}
	return false
}

var (
	elided       = regexp.MustCompile(`\{\s*\.\.\.\s*\}`)
	elidedLine   = regexp.MustCompile(`(?m)^\s*\.\.\.\s*$`)
	topLevelDecl = regexp.MustCompile(`(?m)^(func|type) `)
	compileError = regexp.MustCompile(`^(?:\./)?(?:.*/)?(s\d+)/snippet\.go:(\d+):(?:\d+:)? (.*)$`)
)

// Check compiles every snippet in moduleDir's module (so that its requirements resolve) and
// reports each compiler error at the snippet's line in its document.
func Check(t *testing.T, moduleDir string, env Env, snippets []Snippet) {
	t.Helper()
	if len(snippets) == 0 {
		t.Fatal("snippets: no snippets found; the documents moved or their fences changed")
	}
	testdata := filepath.Join(moduleDir, "testdata")
	if err := os.MkdirAll(testdata, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(testdata, "snippets-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })

	starts := make([]int, len(snippets)) // generated line of each snippet's first line
	var pkgs []string
	for i, s := range snippets {
		src, start := render(s.Code, env)
		starts[i] = start
		for _, line := range deadErrs(src) {
			t.Errorf("%s:%d: the error assigned to err here is never checked", s.File, s.Line+line-start)
		}
		pkg := filepath.Join(dir, "s"+strconv.Itoa(i))
		if err := os.Mkdir(pkg, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pkg, "snippet.go"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(moduleDir, pkg)
		pkgs = append(pkgs, "./"+filepath.ToSlash(rel))
	}

	cmd := exec.Command("go", append([]string{"build", "-gcflags=-e"}, pkgs...)...)
	cmd.Dir = moduleDir
	out, err := cmd.CombinedOutput()
	if err == nil {
		return
	}
	reported := 0
	for _, line := range strings.Split(string(out), "\n") {
		m := compileError.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if unusedLocal(m[3]) {
			continue
		}
		i, _ := strconv.Atoi(strings.TrimPrefix(m[1], "s"))
		n, _ := strconv.Atoi(m[2])
		s := snippets[i]
		t.Errorf("%s:%d: %s", s.File, s.Line+n-starts[i], m[3])
		reported++
	}
	if reported == 0 && !strings.Contains(string(out), "snippet.go:") {
		t.Errorf("snippets: go build failed:\n%s", out)
	}
}

// unusedLocal tells whether a compiler error is only a local that a fragment leaves for the
// reader to use. An unused err is not: it is an error nobody checks.
func unusedLocal(msg string) bool {
	return strings.Contains(msg, "declared and not used") && !strings.HasSuffix(msg, ": err")
}

// qualifiers returns the names that code uses before a dot (outside comments and strings):
// the packages it may need.
func qualifiers(code string) map[string]bool {
	var sc scanner.Scanner
	fset := token.NewFileSet()
	src := []byte(code)
	sc.Init(fset.AddFile("", -1, len(src)), src, nil, 0)
	used := map[string]bool{}
	prev := ""
	for {
		_, tok, lit := sc.Scan()
		if tok == token.EOF {
			return used
		}
		if tok == token.PERIOD && prev != "" {
			used[prev] = true
		}
		prev = ""
		if tok == token.IDENT {
			prev = lit
		}
	}
}

// render returns the snippet as a Go file and the file line of the snippet's first line.
func render(code string, env Env) (string, int) {
	code = elided.ReplaceAllString(code, "{}")
	code = elidedLine.ReplaceAllString(code, "")
	used := qualifiers(code + "\n" + env.Decls)
	var imports []string
	for name, path := range env.Imports {
		if used[name] {
			imports = append(imports, fmt.Sprintf("\t%s %q\n", name, path))
		}
	}
	sort.Strings(imports)
	var b strings.Builder
	b.WriteString("package snippet\n\nimport (\n" + strings.Join(imports, "") + ")\n\n" + env.Decls + "\n")
	if topLevelDecl.MatchString(code) {
		b.WriteString("\n")
	} else {
		b.WriteString("func snippet() {\n")
	}
	start := strings.Count(b.String(), "\n") + 1
	b.WriteString(code)
	if !topLevelDecl.MatchString(code) {
		b.WriteString("}\n")
	}
	return b.String(), start
}
