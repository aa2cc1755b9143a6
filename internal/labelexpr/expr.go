// Package labelexpr is the language of the Docker provider's constraints: an
// expression on a container's name and labels, such as
//
//	Label(`usher.zone`, `public`) && !LabelRegex(`com.docker.compose.project`, `^test-`)
//
// Functions: Label(key, value) (the label is set to exactly value),
// LabelRegex(key, re) (the label is set and re, Go syntax, matches somewhere
// in its value), Name(name) (the container's name); combined with &&, || and
// !, grouped with parentheses; strings in backticks or double quotes, as in
// routing rules. && binds tighter than ||.
package labelexpr

import (
	"fmt"
	"regexp"
	"strings"
)

// Expr is a compiled constraint, safe for concurrent use.
type Expr struct{ root node }

// Match reports whether a container of that name and labels matches.
func (e *Expr) Match(name string, labels map[string]string) bool {
	if e == nil || e.root == nil {
		return true
	}
	return e.root.eval(name, labels)
}

type node interface {
	eval(name string, labels map[string]string) bool
}

type and struct{ a, b node }
type or struct{ a, b node }
type not struct{ a node }
type label struct{ key, value string }
type labelRegex struct {
	key string
	re  *regexp.Regexp
}
type nameIs struct{ name string }

func (n and) eval(name string, l map[string]string) bool {
	return n.a.eval(name, l) && n.b.eval(name, l)
}
func (n or) eval(name string, l map[string]string) bool {
	return n.a.eval(name, l) || n.b.eval(name, l)
}
func (n not) eval(name string, l map[string]string) bool { return !n.a.eval(name, l) }
func (n label) eval(_ string, l map[string]string) bool {
	v, ok := l[n.key]
	return ok && v == n.value
}
func (n labelRegex) eval(_ string, l map[string]string) bool {
	v, ok := l[n.key]
	return ok && n.re.MatchString(v)
}
func (n nameIs) eval(name string, _ map[string]string) bool { return name == n.name }

// Parse compiles an expression; "" matches every container. An error names
// the column (1-based) and what was expected there.
func Parse(s string) (*Expr, error) {
	if strings.TrimSpace(s) == "" {
		return &Expr{}, nil
	}
	p := &parser{s: s}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i < len(p.s) {
		return nil, p.fail("expected && or || or the end")
	}
	return &Expr{root: n}, nil
}

type parser struct {
	s     string
	i     int
	depth int
}

func (p *parser) fail(format string, args ...any) error {
	return fmt.Errorf("at column %d: %s", p.i+1, fmt.Sprintf(format, args...))
}

func (p *parser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *parser) eat(tok string) bool {
	p.space()
	if strings.HasPrefix(p.s[p.i:], tok) {
		p.i += len(tok)
		return true
	}
	return false
}

func (p *parser) or() (node, error) {
	a, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.eat("||") {
		b, err := p.and()
		if err != nil {
			return nil, err
		}
		a = or{a, b}
	}
	return a, nil
}

func (p *parser) and() (node, error) {
	a, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.eat("&&") {
		b, err := p.unary()
		if err != nil {
			return nil, err
		}
		a = and{a, b}
	}
	return a, nil
}

// maxDepth keeps a hostile expression from exhausting the stack.
const maxDepth = 100

func (p *parser) unary() (node, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, p.fail("the expression is nested too deep")
	}
	if p.eat("!") {
		a, err := p.unary()
		if err != nil {
			return nil, err
		}
		return not{a}, nil
	}
	if p.eat("(") {
		a, err := p.or()
		if err != nil {
			return nil, err
		}
		if !p.eat(")") {
			return nil, p.fail("expected )")
		}
		return a, nil
	}
	return p.call()
}

func (p *parser) call() (node, error) {
	p.space()
	start := p.i
	for p.i < len(p.s) && (p.s[p.i] >= 'A' && p.s[p.i] <= 'Z' || p.s[p.i] >= 'a' && p.s[p.i] <= 'z') {
		p.i++
	}
	fn := p.s[start:p.i]
	var want int
	switch fn {
	case "Label", "LabelRegex":
		want = 2
	case "Name":
		want = 1
	case "":
		return nil, p.fail("expected Label, LabelRegex, Name, ! or (")
	default:
		p.i = start
		return nil, p.fail("unknown function %q (known: Label, LabelRegex, Name)", fn)
	}
	if !p.eat("(") {
		return nil, p.fail("expected ( after %s", fn)
	}
	var args []string
	for len(args) < want {
		if len(args) > 0 && !p.eat(",") {
			return nil, p.fail("%s takes %d arguments: expected ,", fn, want)
		}
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		args = append(args, s)
	}
	if !p.eat(")") {
		return nil, p.fail("%s takes %d arguments: expected )", fn, want)
	}
	switch fn {
	case "Label":
		return label{args[0], args[1]}, nil
	case "LabelRegex":
		re, err := regexp.Compile(args[1])
		if err != nil {
			return nil, fmt.Errorf("LabelRegex(%q): %w", args[0], err)
		}
		return labelRegex{args[0], re}, nil
	default:
		return nameIs{args[0]}, nil
	}
}

func (p *parser) str() (string, error) {
	p.space()
	if p.i >= len(p.s) || (p.s[p.i] != '`' && p.s[p.i] != '"') {
		return "", p.fail("expected a string in backticks or double quotes")
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", p.fail("the string is not closed")
	}
	v := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	return v, nil
}
