package rule

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

type tokKind uint8

const (
	tokEOF tokKind = iota
	tokIdent
	tokString
	tokNumber // digits, with a fraction perhaps: 20, 0.5
	tokLParen
	tokRParen
	tokComma
	tokAnd
	tokOr
	tokNot
)

// token is one lexical element. pos is its byte offset in the expression;
// text is the identifier, or the string's value with escapes resolved.
type token struct {
	kind tokKind
	pos  int
	text string
}

// describe names the token for a "got ..." message.
func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of rule"
	case tokIdent:
		return "'" + t.text + "'"
	case tokString:
		return "string"
	case tokNumber:
		return "number " + t.text
	case tokLParen:
		return "'('"
	case tokRParen:
		return "')'"
	case tokComma:
		return "','"
	case tokAnd:
		return "'&&'"
	case tokOr:
		return "'||'"
	case tokNot:
		return "'!'"
	}
	return "?"
}

// lexer produces tokens on demand so that errors come in source order.
type lexer struct {
	src string
	off int
}

func errAt(pos int, msg string) *SyntaxError { return &SyntaxError{Col: pos + 1, Msg: msg} }

func isIdentStart(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func isIdentByte(c byte) bool { return isIdentStart(c) || '0' <= c && c <= '9' }

func (l *lexer) next() (token, *SyntaxError) {
	for l.off < len(l.src) {
		switch l.src[l.off] {
		case ' ', '\t', '\r', '\n':
			l.off++
			continue
		}
		break
	}
	start := l.off
	if start >= len(l.src) {
		return token{kind: tokEOF, pos: start}, nil
	}
	c := l.src[start]
	two := func(want byte, k tokKind, name string) (token, *SyntaxError) {
		if start+1 < len(l.src) && l.src[start+1] == want {
			l.off += 2
			return token{kind: k, pos: start}, nil
		}
		return token{}, errAt(start, "expected '"+name+"', got '"+string(c)+"'")
	}
	switch {
	case c == '(':
		l.off++
		return token{kind: tokLParen, pos: start}, nil
	case c == ')':
		l.off++
		return token{kind: tokRParen, pos: start}, nil
	case c == ',':
		l.off++
		return token{kind: tokComma, pos: start}, nil
	case c == '!':
		l.off++
		return token{kind: tokNot, pos: start}, nil
	case c == '&':
		return two('&', tokAnd, "&&")
	case c == '|':
		return two('|', tokOr, "||")
	case c == '`':
		end := strings.IndexByte(l.src[start+1:], '`')
		if end < 0 {
			return token{}, errAt(start, "unterminated string")
		}
		l.off = start + 1 + end + 1
		return token{kind: tokString, pos: start, text: l.src[start+1 : start+1+end]}, nil
	case c == '"':
		return l.quoted()
	case '0' <= c && c <= '9':
		i := start + 1
		for i < len(l.src) && ('0' <= l.src[i] && l.src[i] <= '9' || l.src[i] == '.') {
			i++
		}
		if i < len(l.src) && isIdentByte(l.src[i]) {
			return token{}, errAt(start, "invalid number "+strconv.Quote(l.src[start:i+1]))
		}
		l.off = i
		return token{kind: tokNumber, pos: start, text: l.src[start:i]}, nil
	case isIdentStart(c):
		i := start + 1
		for i < len(l.src) && isIdentByte(l.src[i]) {
			i++
		}
		l.off = i
		return token{kind: tokIdent, pos: start, text: l.src[start:i]}, nil
	}
	r, _ := utf8.DecodeRuneInString(l.src[start:])
	msg := "unexpected character " + strconv.QuoteRune(r)
	switch r {
	case '\'', '‘', '’', '“', '”', '´':
		msg += "; quote strings with backticks or double quotes"
	}
	return token{}, errAt(start, msg)
}

// quoted lexes a double-quoted string whose only escapes are \" and \\.
func (l *lexer) quoted() (token, *SyntaxError) {
	start := l.off
	var b strings.Builder
	i := start + 1
	seg := i // start of the run not yet copied to b
	for i < len(l.src) {
		switch l.src[i] {
		case '"':
			text := l.src[seg:i]
			if b.Len() > 0 {
				b.WriteString(text)
				text = b.String()
			}
			l.off = i + 1
			return token{kind: tokString, pos: start, text: text}, nil
		case '\\':
			if i+1 >= len(l.src) {
				return token{}, errAt(start, "unterminated string")
			}
			switch e := l.src[i+1]; e {
			case '"', '\\':
				b.WriteString(l.src[seg:i])
				b.WriteByte(e)
				i += 2
				seg = i
				continue
			default:
				r, _ := utf8.DecodeRuneInString(l.src[i+1:])
				esc := "'\\" + string(r) + "'"
				if !unicode.IsPrint(r) {
					esc = "'\\' followed by " + strconv.QuoteRune(r)
				}
				return token{}, errAt(i, "invalid escape "+esc+" in string; only \\\" and \\\\ are escapes, use backticks for regexps")
			}
		}
		i++
	}
	return token{}, errAt(start, "unterminated string")
}
