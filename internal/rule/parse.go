package rule

import (
	"strconv"
	"strings"
)

type mode uint8

const (
	modeHTTP mode = iota
	modeTCP
)

// article returns the mode's name with its indefinite article.
func (m mode) article() string {
	if m == modeTCP {
		return "a TCP"
	}
	return "an HTTP"
}

// maxDepth bounds the nesting of '(' and '!' so that a hostile rule cannot
// exhaust the stack; real rules nest a handful of levels.
const maxDepth = 100

type op uint8

const (
	opLeaf op = iota
	opAnd
	opOr
	opNot
)

// node is the parsed rule. opAnd and opOr have two or more kids, opNot one,
// opLeaf none and a matcher.
type node struct {
	op   op
	kids []*node
	m    matcher
}

type parser struct {
	lex   lexer
	tok   token
	mode  mode
	depth int
}

// parse parses and checks expr; the error, if any, is a *SyntaxError.
func parse(expr string, md mode) (*node, error) {
	p := &parser{lex: lexer{src: expr}, mode: md}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind == tokEOF {
		return nil, errAt(0, "empty rule")
	}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokEOF {
		return nil, p.unexpected("'&&', '||' or end of rule")
	}
	return n, nil
}

// advance reads the next token into p.tok.
func (p *parser) advance() *SyntaxError {
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

// unexpected reports that p.tok is not what was expected. At the end of the
// rule the message has no "got" part: the column says it.
func (p *parser) unexpected(expected string) *SyntaxError {
	if p.tok.kind == tokEOF {
		return errAt(p.tok.pos, "expected "+expected)
	}
	return errAt(p.tok.pos, "expected "+expected+", got "+p.tok.describe())
}

// The methods below return error (not *SyntaxError) so that a nil result is a
// nil interface; every non-nil error is a *SyntaxError.

// or := and { '||' and }
func (p *parser) or() (*node, error) {
	return p.binary(opOr, tokOr, p.and)
}

// and := unary { '&&' unary }
func (p *parser) and() (*node, error) {
	return p.binary(opAnd, tokAnd, p.unary)
}

func (p *parser) binary(o op, k tokKind, operand func() (*node, error)) (*node, error) {
	n, err := operand()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != k {
		return n, nil
	}
	kids := []*node{n}
	for p.tok.kind == k {
		if err := p.advance(); err != nil {
			return nil, err
		}
		n, err := operand()
		if err != nil {
			return nil, err
		}
		kids = append(kids, n)
	}
	return &node{op: o, kids: kids}, nil
}

// unary := '!' unary | '(' or ')' | matcher
func (p *parser) unary() (*node, error) {
	switch p.tok.kind {
	case tokNot, tokLParen:
		if p.depth >= maxDepth {
			return nil, errAt(p.tok.pos, "rule nested too deeply (more than "+strconv.Itoa(maxDepth)+" levels of '(' and '!')")
		}
		p.depth++
		defer func() { p.depth-- }()
	}
	switch p.tok.kind {
	case tokNot:
		if err := p.advance(); err != nil {
			return nil, err
		}
		n, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &node{op: opNot, kids: []*node{n}}, nil
	case tokLParen:
		if err := p.advance(); err != nil {
			return nil, err
		}
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tokRParen {
			if p.tok.kind == tokEOF {
				return nil, p.unexpected("')'")
			}
			return nil, p.unexpected("'&&', '||' or ')'")
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		return n, nil
	case tokIdent:
		return p.matcher()
	}
	return nil, p.unexpected("matcher, '!' or '('")
}

// arg is an argument and the byte offset of its opening quote (or first
// digit); num tells a bare number from a quoted string.
type arg struct {
	val string
	pos int
	num bool
}

// matcher := name '(' [ string { ',' string } ] ')'
func (p *parser) matcher() (*node, error) {
	name := p.tok
	sp, err := lookup(name, p.mode)
	if err != nil {
		return nil, err
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind != tokLParen {
		return nil, p.unexpected("'(' after " + name.text)
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	var args []arg
	if p.tok.kind != tokRParen {
		for {
			if p.tok.kind == tokNumber && sp.modes&numArgs == 0 {
				return nil, errAt(p.tok.pos, sp.name+" takes strings; quote it: `"+p.tok.text+"`")
			}
			if p.tok.kind != tokString && p.tok.kind != tokNumber {
				return nil, p.unexpected("string argument")
			}
			args = append(args, arg{val: p.tok.text, pos: p.tok.pos, num: p.tok.kind == tokNumber})
			if err := p.advance(); err != nil {
				return nil, err
			}
			if p.tok.kind == tokRParen {
				break
			}
			if p.tok.kind != tokComma {
				return nil, p.unexpected("',' or ')'")
			}
			if err := p.advance(); err != nil {
				return nil, err
			}
		}
	}
	if err := p.advance(); err != nil { // the ')'
		return nil, err
	}
	if len(args) < sp.min || len(args) > sp.max {
		return nil, errAt(name.pos, arityMsg(sp, len(args)))
	}
	n := &node{op: opLeaf}
	if err := sp.build(&n.m, args); err != nil {
		return nil, err
	}
	return n, nil
}

func arityMsg(sp *spec, got int) string {
	want := strconv.Itoa(sp.min)
	if sp.max != sp.min {
		want += " or " + strconv.Itoa(sp.max)
	}
	if sp.max == 1 {
		want += " argument"
	} else {
		want += " arguments"
	}
	return sp.name + " needs " + want + ", got " + strconv.Itoa(got)
}

// lookup finds the matcher named by t, or explains why there is none.
func lookup(t token, md mode) (*spec, *SyntaxError) {
	for i := range specs {
		sp := &specs[i]
		if sp.name != t.text {
			continue
		}
		if sp.modes&(1<<md) != 0 {
			return sp, nil
		}
		other := modeTCP
		if md == modeTCP {
			other = modeHTTP
		}
		return nil, errAt(t.pos, t.text+" is "+other.article()+" matcher, not allowed in "+md.article()+" rule")
	}
	msg := "unknown matcher " + strconv.Quote(t.text)
	if s := suggest(t.text, md); s != "" {
		return nil, errAt(t.pos, msg+"; did you mean "+strconv.Quote(s)+"?")
	}
	var names []string
	for _, sp := range specs {
		if sp.modes&(1<<md) != 0 {
			names = append(names, sp.name)
		}
	}
	return nil, errAt(t.pos, msg+" (known: "+strings.Join(names, ", ")+")")
}

// suggest returns the matcher name closest to name: equal but for case, or
// within two edits (insert, delete, substitute, swap adjacent), or "".
func suggest(name string, md mode) string {
	best, bestD := "", 3
	for _, sp := range specs {
		if sp.modes&(1<<md) == 0 {
			continue
		}
		if strings.EqualFold(sp.name, name) {
			return sp.name
		}
		if d := editDistance(strings.ToLower(name), strings.ToLower(sp.name)); d < bestD && d < len(name) {
			best, bestD = sp.name, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b.
func editDistance(a, b string) int {
	// Three rows: i-2, i-1, i.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
