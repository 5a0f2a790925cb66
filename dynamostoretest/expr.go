package dynamostoretest

import (
	"errors"
	"fmt"
	"strings"
)

// This file reads DynamoDB expressions (projection, condition and update expressions) far
// enough to list the top-level attribute names they use, for dynamodb:Attributes. The grammar
// is the one of the DynamoDB Developer Guide (Expressions.OperatorsAndFunctions,
// Expressions.UpdateExpressions, Expressions.ProjectionExpressions): paths such as
// a.#b[2].c, values :v, comparisons, BETWEEN, IN, AND, OR, NOT, the functions
// attribute_exists, attribute_not_exists, attribute_type, begins_with, contains and size,
// and the SET (with + and -, if_not_exists, list_append), REMOVE, ADD and DELETE clauses. An
// expression it cannot read is an error, and the key is then unknown: the request is refused
// rather than judged on a partial list.

type tokenKind int

const (
	tokName   tokenKind = iota // #name
	tokValue                   // :value
	tokIdent                   // a bare word: an attribute name, keyword or function
	tokNumber                  // a list index
	tokPunct                   // = <> < <= > >= ( ) , . [ ] + -
)

type exprToken struct {
	kind tokenKind
	text string
}

func isWordChar(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func tokenize(s string) ([]exprToken, error) {
	var toks []exprToken
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#' || c == ':':
			j := i + 1
			for j < len(s) && isWordChar(s[j]) {
				j++
			}
			if j == i+1 {
				return nil, fmt.Errorf("%q at offset %d is not followed by a name", c, i)
			}
			kind := tokName
			if c == ':' {
				kind = tokValue
			}
			toks = append(toks, exprToken{kind, s[i:j]})
			i = j
		case c >= '0' && c <= '9':
			j := i
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			toks = append(toks, exprToken{tokNumber, s[i:j]})
			i = j
		case isWordChar(c):
			j := i
			for j < len(s) && isWordChar(s[j]) {
				j++
			}
			toks = append(toks, exprToken{tokIdent, s[i:j]})
			i = j
		case c == '<' && i+1 < len(s) && (s[i+1] == '>' || s[i+1] == '='), c == '>' && i+1 < len(s) && s[i+1] == '=':
			toks = append(toks, exprToken{tokPunct, s[i : i+2]})
			i += 2
		case strings.IndexByte("=<>(),.[]+-", c) >= 0:
			toks = append(toks, exprToken{tokPunct, s[i : i+1]})
			i++
		default:
			return nil, fmt.Errorf("unexpected character %q at offset %d", c, i)
		}
	}
	return toks, nil
}

// keywords cannot be bare attribute names (DynamoDB reserves them).
var keywords = map[string]bool{"and": true, "or": true, "not": true, "between": true, "in": true,
	"set": true, "remove": true, "add": true, "delete": true}

type exprParser struct {
	toks  []exprToken
	pos   int
	names map[string]string // ExpressionAttributeNames
	out   map[string]bool   // top-level attribute names found
}

// exprAttributes adds to out the top-level attribute names of expr, an expression of the kind
// "projection", "condition" or "update", resolving #names through names.
func exprAttributes(kind, expr string, names map[string]string, out map[string]bool) error {
	toks, err := tokenize(expr)
	if err != nil {
		return err
	}
	if len(toks) == 0 {
		return errors.New("empty expression")
	}
	p := &exprParser{toks: toks, names: names, out: out}
	switch kind {
	case "projection":
		err = p.list(p.path)
	case "condition":
		err = p.condition()
	case "update":
		err = p.update()
	}
	if err == nil && p.pos < len(p.toks) {
		err = fmt.Errorf("unexpected %q", p.toks[p.pos].text)
	}
	return err
}

func (p *exprParser) peek(offset int) (exprToken, bool) {
	if p.pos+offset < len(p.toks) {
		return p.toks[p.pos+offset], true
	}
	return exprToken{}, false
}

func (p *exprParser) punct(text string) bool {
	if t, ok := p.peek(0); ok && t.kind == tokPunct && t.text == text {
		p.pos++
		return true
	}
	return false
}

func (p *exprParser) expect(text string) error {
	if !p.punct(text) {
		if t, ok := p.peek(0); ok {
			return fmt.Errorf("expected %q, found %q", text, t.text)
		}
		return fmt.Errorf("expected %q at the end", text)
	}
	return nil
}

func (p *exprParser) keyword(word string) bool {
	if t, ok := p.peek(0); ok && t.kind == tokIdent && strings.EqualFold(t.text, word) {
		p.pos++
		return true
	}
	return false
}

// function reports whether the next tokens are name( and consumes them.
func (p *exprParser) function(name string) bool {
	t, ok := p.peek(0)
	n, ok2 := p.peek(1)
	if ok && ok2 && t.kind == tokIdent && t.text == name && n.kind == tokPunct && n.text == "(" {
		p.pos += 2
		return true
	}
	return false
}

func (p *exprParser) list(item func() error) error {
	for {
		if err := item(); err != nil {
			return err
		}
		if !p.punct(",") {
			return nil
		}
	}
}

// element reads one name of a path: #name (which must be defined) or a bare word.
func (p *exprParser) element() (string, error) {
	t, ok := p.peek(0)
	switch {
	case !ok:
		return "", errors.New("expected an attribute name at the end")
	case t.kind == tokName:
		name, defined := p.names[t.text]
		if !defined {
			return "", fmt.Errorf("%s is not defined in ExpressionAttributeNames", t.text)
		}
		p.pos++
		return name, nil
	case t.kind == tokIdent && !keywords[strings.ToLower(t.text)]:
		if n, ok := p.peek(1); ok && n.kind == tokPunct && n.text == "(" {
			return "", fmt.Errorf("unexpected function %s", t.text)
		}
		p.pos++
		return t.text, nil
	}
	return "", fmt.Errorf("expected an attribute name, found %q", t.text)
}

// path reads a document path and records its first name.
func (p *exprParser) path() error {
	first, err := p.element()
	if err != nil {
		return err
	}
	p.out[first] = true
	for {
		switch {
		case p.punct("."):
			if _, err := p.element(); err != nil {
				return err
			}
		case p.punct("["):
			if t, ok := p.peek(0); !ok || t.kind != tokNumber {
				return errors.New("expected a list index")
			}
			p.pos++
			if err := p.expect("]"); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

func (p *exprParser) value() bool {
	if t, ok := p.peek(0); ok && t.kind == tokValue {
		p.pos++
		return true
	}
	return false
}

// operand reads a path, a :value or size(path).
func (p *exprParser) operand() error {
	if p.value() {
		return nil
	}
	if p.function("size") {
		if err := p.path(); err != nil {
			return err
		}
		return p.expect(")")
	}
	return p.path()
}

func (p *exprParser) condition() error {
	return p.binary("or", func() error { return p.binary("and", p.not) })
}

func (p *exprParser) binary(word string, operand func() error) error {
	for {
		if err := operand(); err != nil {
			return err
		}
		if !p.keyword(word) {
			return nil
		}
	}
}

func (p *exprParser) not() error {
	if p.keyword("not") {
		return p.not()
	}
	return p.primary()
}

func (p *exprParser) primary() error {
	if p.punct("(") {
		if err := p.condition(); err != nil {
			return err
		}
		return p.expect(")")
	}
	for _, fn := range []string{"attribute_exists", "attribute_not_exists", "attribute_type", "begins_with", "contains"} {
		if !p.function(fn) {
			continue
		}
		var err error
		switch fn {
		case "attribute_exists", "attribute_not_exists":
			err = p.path()
		case "attribute_type":
			if err = p.path(); err == nil {
				if err = p.expect(","); err == nil && !p.value() {
					err = errors.New("attribute_type needs a :value")
				}
			}
		default:
			if err = p.operand(); err == nil {
				if err = p.expect(","); err == nil {
					err = p.operand()
				}
			}
		}
		if err != nil {
			return err
		}
		return p.expect(")")
	}
	if err := p.operand(); err != nil {
		return err
	}
	switch {
	case p.keyword("between"):
		if err := p.operand(); err != nil {
			return err
		}
		if !p.keyword("and") {
			return errors.New("a BETWEEN needs AND")
		}
		return p.operand()
	case p.keyword("in"):
		if err := p.expect("("); err != nil {
			return err
		}
		if err := p.list(p.operand); err != nil {
			return err
		}
		return p.expect(")")
	}
	for _, cmp := range []string{"=", "<>", "<", "<=", ">", ">="} {
		if p.punct(cmp) {
			return p.operand()
		}
	}
	return errors.New("expected a comparison, BETWEEN or IN")
}

func (p *exprParser) update() error {
	clauses := 0
	for p.pos < len(p.toks) {
		var err error
		switch {
		case p.keyword("set"):
			err = p.list(func() error {
				if err := p.path(); err != nil {
					return err
				}
				if err := p.expect("="); err != nil {
					return err
				}
				if err := p.setOperand(); err != nil {
					return err
				}
				if p.punct("+") || p.punct("-") {
					return p.setOperand()
				}
				return nil
			})
		case p.keyword("remove"):
			err = p.list(p.path)
		case p.keyword("add"), p.keyword("delete"):
			err = p.list(func() error {
				if err := p.path(); err != nil {
					return err
				}
				if !p.value() {
					return errors.New("an ADD or DELETE needs a :value")
				}
				return nil
			})
		default:
			return fmt.Errorf("expected SET, REMOVE, ADD or DELETE, found %q", p.toks[p.pos].text)
		}
		if err != nil {
			return err
		}
		clauses++
	}
	if clauses == 0 {
		return errors.New("empty update expression")
	}
	return nil
}

// setOperand reads what SET assigns: a path, a :value, if_not_exists(path, operand) or
// list_append(operand, operand).
func (p *exprParser) setOperand() error {
	if p.value() {
		return nil
	}
	for _, fn := range []string{"if_not_exists", "list_append"} {
		if !p.function(fn) {
			continue
		}
		first := p.setOperand
		if fn == "if_not_exists" {
			first = p.path
		}
		if err := first(); err != nil {
			return err
		}
		if err := p.expect(","); err != nil {
			return err
		}
		if err := p.setOperand(); err != nil {
			return err
		}
		return p.expect(")")
	}
	return p.path()
}
