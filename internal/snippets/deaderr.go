package snippets

import (
	"go/ast"
	"go/parser"
	"go/token"
)

// deadErrs returns the lines of src where a value of err is lost: assigned again before
// anything reads it, or never read before its block ends. It is the "an error nobody checks"
// rule that the compiler's unused-variable check catches only when err is never used at all.
// The analysis is by statement order within each block, which is all a snippet needs: a read
// anywhere in a statement (a branch included) counts.
func deadErrs(src string) []int {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "snippet.go", src, 0)
	if err != nil {
		return nil // the compiler reports it
	}
	var lines []int
	ast.Inspect(f, func(n ast.Node) bool {
		var body *ast.BlockStmt
		switch fn := n.(type) {
		case *ast.FuncDecl:
			body = fn.Body
		case *ast.FuncLit:
			body = fn.Body
		}
		if body != nil {
			for _, pos := range deadInBlock(body.List) {
				lines = append(lines, fset.Position(pos).Line)
			}
		}
		return true
	})
	return lines
}

// deadInBlock follows err through a block's statements: pending is the position of an
// assignment to err that nothing has read yet.
func deadInBlock(stmts []ast.Stmt) []token.Pos {
	var dead []token.Pos
	pending := token.NoPos
	write := func(pos token.Pos) {
		if pending.IsValid() {
			dead = append(dead, pending)
		}
		pending = pos
	}
	for _, st := range stmts {
		for _, e := range events(st) {
			if e.write {
				write(e.pos)
			} else {
				pending = token.NoPos
			}
		}
	}
	if pending.IsValid() {
		dead = append(dead, pending)
	}
	return dead
}

type event struct {
	pos   token.Pos
	write bool
}

// events lists a statement's reads and writes of err in the order they happen. Function
// literals are their own scopes (deadErrs visits them) and nested blocks count as reads.
func events(st ast.Stmt) []event {
	switch s := st.(type) {
	case *ast.AssignStmt:
		var ev []event
		for _, rhs := range s.Rhs {
			ev = append(ev, reads(rhs)...)
		}
		for _, lhs := range s.Lhs {
			if id, ok := lhs.(*ast.Ident); ok && id.Name == "err" {
				ev = append(ev, event{pos: id.Pos(), write: true})
			} else {
				ev = append(ev, reads(lhs)...)
			}
		}
		return ev
	case *ast.IfStmt:
		var ev []event
		if s.Init != nil {
			ev = events(s.Init)
		}
		ev = append(ev, reads(s.Cond)...)
		ev = append(ev, reads(s.Body)...)
		if s.Else != nil {
			ev = append(ev, reads(s.Else)...)
		}
		return ev
	}
	return reads(st)
}

// reads returns a read event for every use of err in nodes, outside function literals.
func reads(nodes ...ast.Node) []event {
	var ev []event
	for _, n := range nodes {
		if n == nil {
			continue
		}
		ast.Inspect(n, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.FuncLit:
				return false
			case *ast.Ident:
				if x.Name == "err" {
					ev = append(ev, event{pos: x.Pos()})
				}
			}
			return true
		})
	}
	return ev
}
