package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Pos is where a key was read: file, line and column (1-based; 0 when unknown).
type Pos struct {
	File string
	Line int
	Col  int
}

func (p Pos) String() string {
	switch {
	case p.File == "":
		return ""
	case p.Line == 0:
		return p.File
	default:
		return p.File + ":" + strconv.Itoa(p.Line)
	}
}

// Source tells where each key path of a Config was read. Paths are dotted keys
// with list indexes in brackets: "http.routers.api.rule", "http.services.s.loadBalancer.servers[0].url".
type Source struct {
	pos map[string]Pos
}

// NewSource returns an empty Source.
func NewSource() *Source { return &Source{pos: map[string]Pos{}} }

// Set records where path was read.
func (s *Source) Set(path string, p Pos) { s.pos[path] = p }

// Pos returns where path was read, or where its nearest known parent was read.
func (s *Source) Pos(path string) Pos {
	if s == nil {
		return Pos{}
	}
	for {
		if p, ok := s.pos[path]; ok {
			return p
		}
		i := strings.LastIndexAny(path, ".[")
		if i <= 0 {
			return Pos{}
		}
		path = path[:i]
	}
}

// Merge copies the positions of o into s (later sources win).
func (s *Source) Merge(o *Source) {
	if o == nil {
		return
	}
	for k, v := range o.pos {
		s.pos[k] = v
	}
}

// Problem is one error found in a configuration, with where it is.
type Problem struct {
	Pos  Pos
	Path string // key path, e.g. http.routers.api.rule
	Msg  string

	// missingName marks a reference to a service, middleware or TLS option
	// that is not defined: not a problem when a file that may define it
	// could not be read.
	missingName bool
}

// Error formats as `usher.yaml:14: http.routers.api.rule: expected ')' at column 23`.
func (p Problem) Error() string {
	var b strings.Builder
	if s := p.Pos.String(); s != "" {
		b.WriteString(s)
		b.WriteString(": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is every error found in a configuration; it is an error itself.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Problemf makes a Problem at path, positioned from the config's Source.
func (c *Config) Problemf(path, format string, args ...any) Problem {
	return Problem{Pos: c.Source.Pos(path), Path: path, Msg: fmt.Sprintf(format, args...)}
}
