package config

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// yamlReader turns a YAML document into a node tree.
type yamlReader struct {
	file  string
	probs Problems
	done  map[*yaml.Node]*node
	// busy holds the nodes being converted: an alias to one of them is a
	// value that contains itself, which would never end.
	busy map[*yaml.Node]bool
}

var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func readYAML(file string, data []byte) (*node, Problems) {
	r := &yamlReader{file: file, done: map[*yaml.Node]*node{}, busy: map[*yaml.Node]bool{}}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) { // nothing but whitespace and comments
			return newNull(Pos{File: file}), nil
		}
		return nil, Problems{r.syntaxProblem(err)}
	}
	// A second document would be silently ignored by a plain Unmarshal; a
	// file that says two things is refused instead.
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, Problems{{Pos: Pos{File: file, Line: extra.Line}, Msg: "a configuration file holds one YAML document; found another"}}
	case !errors.Is(err, io.EOF):
		return nil, Problems{r.syntaxProblem(err)}
	}
	root := r.convert(&doc, 0)
	if len(r.probs) > 0 {
		return nil, r.probs
	}
	return root, nil
}

func (r *yamlReader) syntaxProblem(err error) Problem {
	msg := err.Error()
	if m := yamlLineErr.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Problem{Pos: Pos{File: r.file, Line: line}, Msg: "YAML syntax: " + m[2]}
	}
	return Problem{Pos: Pos{File: r.file}, Msg: "YAML syntax: " + strings.TrimPrefix(msg, "yaml: ")}
}

func (r *yamlReader) pos(y *yaml.Node) Pos { return Pos{File: r.file, Line: y.Line, Col: y.Column} }

func (r *yamlReader) fail(y *yaml.Node, format string, args ...any) *node {
	r.probs = append(r.probs, Problem{Pos: r.pos(y), Msg: fmt.Sprintf(format, args...)})
	return newNull(r.pos(y))
}

func (r *yamlReader) convert(y *yaml.Node, depth int) *node {
	if depth > maxDepth {
		return r.fail(y, "values are nested more than %d deep", maxDepth)
	}
	if n, ok := r.done[y]; ok {
		return n
	}
	if r.busy[y] {
		return r.fail(y, "an alias refers to a value that contains it")
	}
	r.busy[y] = true
	n := r.convertNew(y, depth)
	delete(r.busy, y)
	r.done[y] = n
	return n
}

func (r *yamlReader) convertNew(y *yaml.Node, depth int) *node {
	switch y.Kind {
	case yaml.DocumentNode:
		if len(y.Content) == 0 {
			return newNull(r.pos(y))
		}
		// A document of only "---" or "~" is null: decodeFile refuses it
		// as an empty file.
		return r.convert(y.Content[0], depth)
	case yaml.AliasNode:
		if y.Alias == nil {
			return r.fail(y, "alias to an unknown anchor")
		}
		return r.convert(y.Alias, depth)
	case yaml.ScalarNode:
		if y.ShortTag() == "!!null" {
			return newNull(r.pos(y))
		}
		return newScalar(r.pos(y), y.Value)
	case yaml.SequenceNode:
		n := newList(r.pos(y))
		for _, c := range y.Content {
			n.push(r.convert(c, depth+1))
		}
		return n
	case yaml.MappingNode:
		return r.mapping(y, depth)
	default:
		return r.fail(y, "unexpected YAML node")
	}
}

func (r *yamlReader) mapping(y *yaml.Node, depth int) *node {
	n := newMap(r.pos(y))
	var merged []*node
	for i := 0; i+1 < len(y.Content); i += 2 {
		k, v := y.Content[i], y.Content[i+1]
		if k.Kind == yaml.AliasNode && k.Alias != nil {
			k = k.Alias
		}
		if k.Kind != yaml.ScalarNode {
			r.fail(k, "a key must be a plain string")
			continue
		}
		if k.ShortTag() == "!!merge" {
			merged = append(merged, r.mergeSources(v, depth)...)
			continue
		}
		n.add(k.Value, r.pos(k), r.convert(v, depth+1))
	}
	// "<<: *base" fills in keys the mapping does not set itself; with a list
	// of bases, the first that sets a key wins, as the YAML merge spec says.
	for _, m := range merged {
		for _, e := range m.entries {
			if e.dupOf == nil && n.get(e.key) == nil {
				n.add(e.key, e.pos, e.val)
			}
		}
	}
	return n
}

func (r *yamlReader) mergeSources(v *yaml.Node, depth int) []*node {
	src := r.convert(v, depth+1)
	switch src.kind {
	case kindMap:
		return []*node{src}
	case kindList:
		var out []*node
		for _, it := range src.items {
			if it.kind != kindMap {
				r.fail(v, "a merge key (<<) takes a mapping or a list of mappings")
				return nil
			}
			out = append(out, it)
		}
		return out
	default:
		r.fail(v, "a merge key (<<) takes a mapping or a list of mappings")
		return nil
	}
}
