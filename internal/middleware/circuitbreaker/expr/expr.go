// Package expr is the expression language of the circuitBreaker middleware,
// Traefik's: metrics of the recent traffic compared with numbers, combined
// with &&, || and !, grouped with parentheses:
//
//	NetworkErrorRatio() > 0.5
//	ResponseCodeRatio(500, 600, 0, 600) > 0.25
//	LatencyAtQuantileMS(50.0) > 100
//	NetworkErrorRatio() > 0.3 || (LatencyAtQuantileMS(99) > 500 && ResponseCodeRatio(500, 600, 0, 600) > 0.1)
//
// NetworkErrorRatio is the share of requests that got no response from a
// server (connection refused or reset, timeout); ResponseCodeRatio(a, b, c,
// d) is the number of responses with a status in [a, b) over the number in
// [c, d) (0 when there are none); LatencyAtQuantileMS(q) is the q-th
// percentile (0 < q <= 100) of the response times, in milliseconds.
// Comparisons are <, <=, >, >=, == and !=; numbers are decimal, with an
// optional fraction and exponent.
//
// Parse is a hand-written recursive-descent parser: an error names the
// column (1-based, in bytes) where the expression stops making sense and what
// was expected there. It does not depend on any other usher package, so that
// the configuration's validation can use it.
package expr

import (
	"fmt"
	"strconv"
	"strings"
)

// Metrics are what an expression reads. The circuit breaker's window
// implements it; tests give their own.
type Metrics interface {
	NetworkErrorRatio() float64
	ResponseCodeRatio(from, to, dFrom, dTo int) float64
	LatencyAtQuantileMS(q float64) float64
}

// Expr is a parsed expression, safe for concurrent use.
type Expr struct {
	root node
	src  string
}

// Eval tells whether the expression holds for m.
func (e *Expr) Eval(m Metrics) bool { return e.root.eval(m) }

// String is the expression in a canonical form: the same for two
// expressions that differ only in spacing, number spelling or redundant
// parentheses.
func (e *Expr) String() string {
	var b strings.Builder
	e.root.format(&b, 0)
	return b.String()
}

// Error is a parse error at a column of the expression.
type Error struct {
	Column int // 1-based byte offset
	Msg    string
}

func (e *Error) Error() string { return fmt.Sprintf("column %d: %s", e.Column, e.Msg) }

// Parse parses src.
func Parse(src string) (*Expr, error) {
	p := &parser{src: src}
	p.next()
	if p.tok.kind == tEOF {
		return nil, p.errAt(p.tok, "empty expression: write a comparison such as NetworkErrorRatio() > 0.5")
	}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, p.errAt(p.tok, "expected && or || or the end, found %s", p.tok.describe())
	}
	return &Expr{root: n, src: src}, nil
}

// The tree.

type node interface {
	eval(Metrics) bool
	format(b *strings.Builder, prec int)
}

type orNode struct{ l, r node }
type andNode struct{ l, r node }
type notNode struct{ x node }

type cmpNode struct {
	op   string
	l, r operand
}

func (n *orNode) eval(m Metrics) bool  { return n.l.eval(m) || n.r.eval(m) }
func (n *andNode) eval(m Metrics) bool { return n.l.eval(m) && n.r.eval(m) }
func (n *notNode) eval(m Metrics) bool { return !n.x.eval(m) }

func (n *cmpNode) eval(m Metrics) bool {
	a, b := n.l.value(m), n.r.value(m)
	switch n.op {
	case "<":
		return a < b
	case "<=":
		return a <= b
	case ">":
		return a > b
	case ">=":
		return a >= b
	case "==":
		return a == b
	}
	return a != b
}

// Precedences for format: || 1, && 2, ! 3.
func (n *orNode) format(b *strings.Builder, prec int) {
	paren(b, prec > 1, func() { n.l.format(b, 1); b.WriteString(" || "); n.r.format(b, 1) })
}

func (n *andNode) format(b *strings.Builder, prec int) {
	paren(b, prec > 2, func() { n.l.format(b, 2); b.WriteString(" && "); n.r.format(b, 2) })
}

func (n *notNode) format(b *strings.Builder, _ int) { b.WriteString("!"); n.x.format(b, 3) }

func (n *cmpNode) format(b *strings.Builder, prec int) {
	// A comparison after ! keeps its parentheses: !(x > 1).
	paren(b, prec > 2, func() {
		n.l.format(b)
		b.WriteString(" " + n.op + " ")
		n.r.format(b)
	})
}

func paren(b *strings.Builder, on bool, f func()) {
	if on {
		b.WriteByte('(')
	}
	f()
	if on {
		b.WriteByte(')')
	}
}

type operand interface {
	value(Metrics) float64
	format(b *strings.Builder)
}

type number float64

func (n number) value(Metrics) float64 { return float64(n) }
func (n number) format(b *strings.Builder) {
	b.WriteString(strconv.FormatFloat(float64(n), 'g', -1, 64))
}

type netErrRatio struct{}

func (netErrRatio) value(m Metrics) float64   { return m.NetworkErrorRatio() }
func (netErrRatio) format(b *strings.Builder) { b.WriteString("NetworkErrorRatio()") }

type codeRatio struct{ from, to, dFrom, dTo int }

func (c codeRatio) value(m Metrics) float64 { return m.ResponseCodeRatio(c.from, c.to, c.dFrom, c.dTo) }
func (c codeRatio) format(b *strings.Builder) {
	fmt.Fprintf(b, "ResponseCodeRatio(%d, %d, %d, %d)", c.from, c.to, c.dFrom, c.dTo)
}

type latency struct{ q float64 }

func (l latency) value(m Metrics) float64 { return m.LatencyAtQuantileMS(l.q) }
func (l latency) format(b *strings.Builder) {
	b.WriteString("LatencyAtQuantileMS(" + strconv.FormatFloat(l.q, 'f', -1, 64) + ")")
}

// The lexer.

type kind int

const (
	tEOF kind = iota
	tIdent
	tNumber
	tLParen
	tRParen
	tComma
	tAnd
	tOr
	tNot
	tCmp
	tBad
)

type token struct {
	kind kind
	text string
	pos  int // byte offset
}

func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "the end of the expression"
	case tBad:
		return fmt.Sprintf("%q, which is not part of the language", t.text)
	}
	return strconv.Quote(t.text)
}

type parser struct {
	src string
	off int
	tok token
}

func (p *parser) errAt(t token, format string, args ...any) error {
	return &Error{Column: t.pos + 1, Msg: fmt.Sprintf(format, args...)}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isLetter(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

func (p *parser) next() {
	s := p.src
	for p.off < len(s) && (s[p.off] == ' ' || s[p.off] == '\t' || s[p.off] == '\n' || s[p.off] == '\r') {
		p.off++
	}
	start := p.off
	if start >= len(s) {
		p.tok = token{kind: tEOF, pos: len(s)}
		return
	}
	c := s[start]
	two := ""
	if start+1 < len(s) {
		two = s[start : start+2]
	}
	emit := func(k kind, n int) {
		p.off = start + n
		p.tok = token{kind: k, text: s[start:p.off], pos: start}
	}
	switch {
	case isLetter(c):
		n := 1
		for start+n < len(s) && (isLetter(s[start+n]) || isDigit(s[start+n])) {
			n++
		}
		emit(tIdent, n)
	case isDigit(c) || c == '.' && start+1 < len(s) && isDigit(s[start+1]):
		n := 0
		for start+n < len(s) && isDigit(s[start+n]) {
			n++
		}
		if start+n < len(s) && s[start+n] == '.' {
			n++
			for start+n < len(s) && isDigit(s[start+n]) {
				n++
			}
		}
		if start+n < len(s) && (s[start+n] == 'e' || s[start+n] == 'E') {
			m := n + 1
			if start+m < len(s) && (s[start+m] == '+' || s[start+m] == '-') {
				m++
			}
			if start+m < len(s) && isDigit(s[start+m]) {
				for start+m < len(s) && isDigit(s[start+m]) {
					m++
				}
				n = m
			}
		}
		emit(tNumber, n)
	case c == '(':
		emit(tLParen, 1)
	case c == ')':
		emit(tRParen, 1)
	case c == ',':
		emit(tComma, 1)
	case two == "&&":
		emit(tAnd, 2)
	case two == "||":
		emit(tOr, 2)
	case two == "<=", two == ">=", two == "==", two == "!=":
		emit(tCmp, 2)
	case c == '<', c == '>':
		emit(tCmp, 1)
	case c == '!':
		emit(tNot, 1)
	default:
		n := 1
		if c >= 0x80 { // the whole UTF-8 sequence, for the message
			for start+n < len(s) && s[start+n]&0xC0 == 0x80 {
				n++
			}
		}
		emit(tBad, n)
	}
}

// The grammar:
//
//	or      = and { "||" and }
//	and     = unary { "&&" unary }
//	unary   = "!" unary | "(" or ")" | compare
//	compare = operand cmp operand
//	operand = number | metric
//	metric  = NetworkErrorRatio "(" ")"
//	        | ResponseCodeRatio "(" int "," int "," int "," int ")"
//	        | LatencyAtQuantileMS "(" number ")"

func (p *parser) or() (node, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tOr {
		p.next()
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = &orNode{l, r}
	}
	return l, nil
}

func (p *parser) and() (node, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tAnd {
		p.next()
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = &andNode{l, r}
	}
	return l, nil
}

func (p *parser) unary() (node, error) {
	switch p.tok.kind {
	case tNot:
		p.next()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &notNode{x}, nil
	case tLParen:
		open := p.tok
		p.next()
		if p.tok.kind == tRParen {
			return nil, p.errAt(p.tok, "empty parentheses: expected a comparison")
		}
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tRParen {
			return nil, p.errAt(p.tok, "expected ) to close the ( at column %d, found %s", open.pos+1, p.tok.describe())
		}
		p.next()
		return x, nil
	}
	return p.compare()
}

func (p *parser) compare() (node, error) {
	start := p.tok
	l, err := p.operand()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tCmp {
		return nil, p.errAt(p.tok, "expected a comparison operator (<, <=, >, >=, ==, !=), found %s", p.tok.describe())
	}
	op := p.tok.text
	p.next()
	r, err := p.operand()
	if err != nil {
		return nil, err
	}
	_, ln := l.(number)
	_, rn := r.(number)
	if ln && rn {
		return nil, p.errAt(start, "this comparison is between two numbers: one side must be a metric (NetworkErrorRatio, ResponseCodeRatio, LatencyAtQuantileMS)")
	}
	return &cmpNode{op: op, l: l, r: r}, nil
}

var metricNames = []string{"NetworkErrorRatio", "ResponseCodeRatio", "LatencyAtQuantileMS"}

func (p *parser) operand() (operand, error) {
	t := p.tok
	switch t.kind {
	case tNumber:
		p.next()
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return nil, p.errAt(t, "%q is not a number", t.text)
		}
		return number(f), nil
	case tIdent:
	default:
		return nil, p.errAt(t, "expected a number or a metric (NetworkErrorRatio(), ResponseCodeRatio(…), LatencyAtQuantileMS(…)), found %s", t.describe())
	}
	var want int // arguments
	switch t.text {
	case "NetworkErrorRatio":
	case "ResponseCodeRatio":
		want = 4
	case "LatencyAtQuantileMS":
		want = 1
	default:
		hint := ""
		for _, n := range metricNames {
			if strings.EqualFold(n, t.text) {
				hint = fmt.Sprintf(" (did you mean %s?)", n)
			}
		}
		return nil, p.errAt(t, "unknown function %q: expected NetworkErrorRatio, ResponseCodeRatio or LatencyAtQuantileMS%s", t.text, hint)
	}
	p.next()
	if p.tok.kind != tLParen {
		return nil, p.errAt(p.tok, "expected ( after %s, found %s", t.text, p.tok.describe())
	}
	p.next()
	var args []token
	for p.tok.kind != tRParen {
		if len(args) > 0 {
			if p.tok.kind != tComma {
				return nil, p.errAt(p.tok, "expected , or ) in the arguments of %s, found %s", t.text, p.tok.describe())
			}
			p.next()
		}
		if p.tok.kind != tNumber {
			return nil, p.errAt(p.tok, "expected a number as argument %d of %s, found %s", len(args)+1, t.text, p.tok.describe())
		}
		args = append(args, p.tok)
		p.next()
	}
	closing := p.tok
	p.next()
	if len(args) != want {
		at := closing
		if len(args) > want {
			at = args[want]
		}
		return nil, p.errAt(at, "%s takes %d argument%s, got %d", t.text, want, plural(want), len(args))
	}
	switch t.text {
	case "NetworkErrorRatio":
		return netErrRatio{}, nil
	case "LatencyAtQuantileMS":
		q, _ := strconv.ParseFloat(args[0].text, 64)
		if !(q > 0 && q <= 100) {
			return nil, p.errAt(args[0], "the quantile of LatencyAtQuantileMS is a percentile, above 0 and at most 100, got %s", args[0].text)
		}
		return latency{q}, nil
	}
	var n [4]int
	for i, a := range args {
		v, err := strconv.Atoi(a.text)
		if err != nil || v < 0 || v > 1000 {
			return nil, p.errAt(a, "the arguments of ResponseCodeRatio are status codes, whole numbers from 0 to 1000, got %s", a.text)
		}
		n[i] = v
	}
	if n[0] >= n[1] {
		return nil, p.errAt(args[1], "ResponseCodeRatio(from, to, …) counts statuses from `from` up to, not including, `to`: to must be above from (%d, %d)", n[0], n[1])
	}
	if n[2] >= n[3] {
		return nil, p.errAt(args[3], "ResponseCodeRatio(…, dFrom, dTo) divides by the statuses from dFrom up to, not including, dTo: dTo must be above dFrom (%d, %d)", n[2], n[3])
	}
	return codeRatio{n[0], n[1], n[2], n[3]}, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
