package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// tomlReader turns a TOML document into a node tree. TOML builds its tree
// from headers ([a.b], [[a.b]]) and dotted keys, so the reader keeps, beside
// the tree, what TOML needs to refuse redefinitions.
type tomlReader struct {
	file  string
	p     unstable.Parser
	probs Problems
	// tables defined by a [header], with where: defining one twice is an error.
	headers map[*node]Pos
	// lists made by [[header]]: only those can grow by another [[header]].
	arrays map[*node]bool
	// inline tables and arrays are complete where they are written.
	sealed map[*node]bool
}

func readTOML(file string, data []byte) (*node, Problems) {
	r := &tomlReader{file: file, headers: map[*node]Pos{}, arrays: map[*node]bool{}, sealed: map[*node]bool{}}
	// Positions of errors are found by slice capacity; a copy whose capacity
	// is its length keeps that arithmetic exact.
	data = append([]byte(nil), data...)[:len(data):len(data)]
	r.p.Reset(data)
	root := newMap(Pos{File: file, Line: 1, Col: 1})
	cur, curPath := root, ""
	empty := true
	for r.p.NextExpression() {
		e := r.p.Expression()
		switch e.Kind {
		case unstable.KeyValue:
			empty = false
			keys := r.keys(e.Key())
			r.set(cur, curPath, keys, r.value(e.Value(), keys[len(keys)-1].pos, 0))
		case unstable.Table:
			empty = false
			cur, curPath = r.table(root, r.keys(e.Key()))
		case unstable.ArrayTable:
			empty = false
			cur, curPath = r.arrayTable(root, r.keys(e.Key()))
		}
	}
	if err := r.p.Error(); err != nil {
		r.probs = append(r.probs, r.syntaxProblem(data, err))
	}
	if len(r.probs) > 0 {
		return nil, r.probs
	}
	if empty { // nothing but whitespace and comments: decodeFile refuses it
		return newNull(root.pos), nil
	}
	return root, nil
}

type tomlKey struct {
	name string
	pos  Pos
}

func (r *tomlReader) keys(it unstable.Iterator) []tomlKey {
	var out []tomlKey
	for it.Next() {
		k := it.Node()
		out = append(out, tomlKey{name: string(k.Data), pos: r.pos(k.Raw, Pos{File: r.file})})
	}
	if len(out) == 0 {
		out = append(out, tomlKey{pos: Pos{File: r.file}})
	}
	return out
}

// pos is where a range starts; nodes without a range (arrays) take the
// position of what holds them.
func (r *tomlReader) pos(rg unstable.Range, fallback Pos) Pos {
	if rg.Length == 0 {
		return fallback
	}
	s := r.p.Shape(rg)
	return Pos{File: r.file, Line: s.Start.Line, Col: s.Start.Column}
}

func (r *tomlReader) syntaxProblem(data []byte, err error) Problem {
	var pe *unstable.ParserError
	if !errors.As(err, &pe) {
		return Problem{Pos: Pos{File: r.file}, Msg: "TOML syntax: " + err.Error()}
	}
	off := cap(data) - cap(pe.Highlight)
	if pe.Highlight == nil || off < 0 || off > len(data) {
		off = len(data)
	}
	line := 1 + strings.Count(string(data[:off]), "\n")
	return Problem{Pos: Pos{File: r.file, Line: line}, Msg: "TOML syntax: " + pe.Message}
}

func join(keys []tomlKey) string {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.name
	}
	return strings.Join(names, ".")
}

func (r *tomlReader) fail(pos Pos, path, format string, args ...any) {
	r.probs = append(r.probs, Problem{Pos: pos, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// descend walks one key down from t for a header or a dotted key, creating
// the table when absent. It returns nil when the key holds something that is
// not a table to add keys to.
func (r *tomlReader) descend(t *node, k tomlKey, path string) *node {
	ex := t.get(k.name)
	switch {
	case ex == nil:
		n := newMap(k.pos)
		t.add(k.name, k.pos, n)
		return n
	case ex.kind == kindList && r.arrays[ex] && len(ex.items) > 0:
		// [a.b] after [[a]] continues the last element of a.
		return ex.items[len(ex.items)-1]
	case ex.kind == kindMap && !r.sealed[ex]:
		return ex
	default:
		r.fail(k.pos, path, "%q is already set at line %d and cannot be extended here", k.name, ex.pos.Line)
		return nil
	}
}

func (r *tomlReader) set(t *node, prefix string, keys []tomlKey, val *node) {
	path := prefix
	for i, k := range keys {
		path = dotted(path, k.name)
		if i == len(keys)-1 {
			t.add(k.name, k.pos, val)
			return
		}
		if t = r.descend(t, k, path); t == nil {
			return
		}
	}
}

func (r *tomlReader) table(root *node, keys []tomlKey) (*node, string) {
	t, path := root, ""
	for _, k := range keys {
		path = dotted(path, k.name)
		if t = r.descend(t, k, path); t == nil {
			return newMap(k.pos), path
		}
	}
	last := keys[len(keys)-1]
	if first, ok := r.headers[t]; ok {
		r.fail(last.pos, path, "table [%s] is defined twice (first at line %d)", join(keys), first.Line)
		return newMap(last.pos), path
	}
	r.headers[t] = last.pos
	return t, path
}

func (r *tomlReader) arrayTable(root *node, keys []tomlKey) (*node, string) {
	t, path := root, ""
	for _, k := range keys[:len(keys)-1] {
		path = dotted(path, k.name)
		if t = r.descend(t, k, path); t == nil {
			return newMap(k.pos), path
		}
	}
	last := keys[len(keys)-1]
	path = dotted(path, last.name)
	list := t.get(last.name)
	switch {
	case list == nil:
		list = newList(last.pos)
		r.arrays[list] = true
		t.add(last.name, last.pos, list)
	case !r.arrays[list]:
		r.fail(last.pos, path, "%q is already set at line %d and cannot be extended with [[%s]]", last.name, list.pos.Line, join(keys))
		return newMap(last.pos), path
	}
	item := newMap(last.pos)
	list.push(item)
	return item, fmt.Sprintf("%s[%d]", path, len(list.items)-1)
}

func (r *tomlReader) value(v *unstable.Node, at Pos, depth int) *node {
	pos := r.pos(v.Raw, at)
	if depth > maxDepth {
		r.fail(pos, "", "values are nested more than %d deep", maxDepth)
		return newNull(pos)
	}
	switch v.Kind {
	case unstable.String, unstable.Bool:
		return newScalar(pos, string(v.Data))
	case unstable.Integer:
		return newScalar(pos, tomlInteger(string(v.Data)))
	case unstable.Float:
		return newScalar(pos, strings.ReplaceAll(string(v.Data), "_", ""))
	case unstable.Array:
		n := newList(pos)
		r.sealed[n] = true
		it := v.Children()
		for it.Next() {
			if c := it.Node(); c.Kind != unstable.Comment {
				n.push(r.value(c, pos, depth+1))
			}
		}
		return n
	case unstable.InlineTable:
		n := newMap(pos)
		it := v.Children()
		for it.Next() {
			kv := it.Node()
			if kv.Kind != unstable.KeyValue {
				continue
			}
			keys := r.keys(kv.Key())
			r.set(n, "", keys, r.value(kv.Value(), keys[len(keys)-1].pos, depth+1))
		}
		r.sealed[n] = true
		return n
	default:
		// Dates and times: no field takes one, so they stay text and meet
		// the usual "expected ..." message where they do not fit.
		return newScalar(pos, string(v.Data))
	}
}

// tomlInteger spells a TOML integer (1_000, 0x1F, +5) in decimal, so that the
// decoder reads one spelling whatever the format.
func tomlInteger(raw string) string {
	s := strings.ReplaceAll(raw, "_", "")
	s = strings.TrimPrefix(s, "+")
	if n, err := strconv.ParseInt(s, 0, 64); err == nil {
		return strconv.FormatInt(n, 10)
	}
	return raw
}

func dotted(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}
