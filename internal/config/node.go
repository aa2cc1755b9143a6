package config

import (
	"strconv"
)

// node is one value of a configuration file, whatever its format. YAML and TOML
// are both read into this tree so that one decoder, one set of error messages
// and one notion of position serve both formats.
type node struct {
	kind nodeKind
	pos  Pos
	// text is a scalar as written: strings without quotes or escapes, numbers
	// and booleans in their source spelling. Conversion waits for the decoder,
	// which knows the target type and expands ${VAR} first.
	text    string
	entries []entry // mapping, in file order
	items   []*node // list
	index   map[string]int

	// weight counts the values below this one as the decoder will see them,
	// capped at maxNodes: YAML aliases share subtrees, and a few lines of
	// aliases can otherwise stand for billions of values.
	weight int
}

type nodeKind uint8

const (
	kindNull nodeKind = iota
	kindScalar
	kindMap
	kindList
)

// entry is one key of a mapping.
type entry struct {
	key string
	pos Pos
	val *node
	// dupOf is set when the key repeats an earlier one of the same mapping;
	// the decoder reports it, because only the decoder knows the key path.
	dupOf *Pos
}

// Limits that keep hostile or broken files from exhausting memory or stack.
const (
	maxNodes = 1 << 20
	maxDepth = 64
)

func newMap(pos Pos) *node { return &node{kind: kindMap, pos: pos, weight: 1} }

func newList(pos Pos) *node { return &node{kind: kindList, pos: pos, weight: 1} }

func newScalar(pos Pos, text string) *node {
	return &node{kind: kindScalar, pos: pos, text: text, weight: 1}
}

func newNull(pos Pos) *node { return &node{kind: kindNull, pos: pos, weight: 1} }

// get returns the value under key, or nil.
func (n *node) get(key string) *node {
	if i, ok := n.index[key]; ok {
		return n.entries[i].val
	}
	return nil
}

// add appends key: val; a key already present is kept, marked as a duplicate,
// for the decoder to report.
func (n *node) add(key string, pos Pos, val *node) {
	if n.index == nil {
		n.index = map[string]int{}
	}
	e := entry{key: key, pos: pos, val: val}
	if i, ok := n.index[key]; ok {
		first := n.entries[i].pos
		e.dupOf = &first
	} else {
		n.index[key] = len(n.entries)
	}
	n.entries = append(n.entries, e)
	n.addWeight(val)
}

func (n *node) push(val *node) {
	n.items = append(n.items, val)
	n.addWeight(val)
}

func (n *node) addWeight(val *node) {
	n.weight += val.weight
	if n.weight > maxNodes {
		n.weight = maxNodes + 1
	}
}

// describe names what the node is, for "expected X, got Y" messages.
func (n *node) describe() string {
	switch n.kind {
	case kindMap:
		return "a mapping"
	case kindList:
		return "a list"
	case kindNull:
		return "an empty value"
	default:
		return strconv.Quote(clip(n.text))
	}
}

// clip keeps messages about huge values readable.
func clip(s string) string {
	const max = 60
	if len(s) <= max {
		return s
	}
	r := []rune(s)
	if len(r) <= max {
		return s
	}
	return string(r[:max]) + "…"
}
