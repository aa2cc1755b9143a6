package admin

import (
	"errors"
	"sort"
	"strings"

	"github.com/usher-lb/usher/internal/config"
)

// Status of a part of the configuration (an entrypoint, router, service or
// middleware) as the API shows it.
const (
	statusEnabled = "enabled" // serving as configured
	statusError   = "error"   // the last reload was refused because of this part
)

// refusal is what the last refused reload said, sorted by the part of the
// configuration each problem is about. A part with problems keeps serving its
// previous definition (or is absent, when it is new): only a config that
// compiles as a whole is applied.
type refusal struct {
	parts   map[string][]string // "http.routers.api" → messages
	general []string            // problems about no single part, or errors that are no config.Problems
}

// refusalOf sorts the problems of err, the last reload error (nil: none).
func refusalOf(err error, known map[string][]string) refusal {
	rf := refusal{parts: map[string][]string{}}
	if err == nil {
		return rf
	}
	var ps config.Problems
	var p config.Problem
	switch {
	case errors.As(err, &ps):
	case errors.As(err, &p):
		ps = config.Problems{p}
	default:
		rf.general = append(rf.general, config.RedactURLs(err.Error()))
		return rf
	}
	for _, p := range ps {
		if part := partOf(p.Path, known); part != "" {
			msg := p.Msg
			if rest := strings.TrimPrefix(p.Path, part); rest != "" {
				msg = strings.TrimLeft(rest, ".") + ": " + msg
			}
			if pos := p.Pos.String(); pos != "" {
				msg = pos + ": " + msg
			}
			rf.parts[part] = append(rf.parts[part], config.RedactURLs(msg))
		} else {
			rf.general = append(rf.general, config.RedactURLs(p.Error()))
		}
	}
	return rf
}

// sections whose children are named parts, with where the name starts.
var sections = []string{"entrypoints.", "http.routers.", "http.services.", "http.middlewares."}

// partOf returns the part a key path is about ("http.routers.api" for
// "http.routers.api.rule"), or "" for a path about no single part. Names may
// hold dots: the names of the running config (known, by section) are tried
// first, the longest that fits wins.
func partOf(path string, known map[string][]string) string {
	for _, sec := range sections {
		rest, ok := strings.CutPrefix(path, sec)
		if !ok || rest == "" {
			continue
		}
		best := ""
		for _, name := range known[sec] {
			if len(name) > len(best) && (rest == name || strings.HasPrefix(rest, name+".") || strings.HasPrefix(rest, name+"[")) {
				best = name
			}
		}
		if best == "" {
			best = rest
			if i := strings.IndexAny(rest, ".["); i >= 0 {
				best = rest[:i]
			}
		}
		return sec + best
	}
	return ""
}

// of returns the status and error text of a part.
func (rf refusal) of(section, name string) (status, errText string) {
	if msgs := rf.parts[section+name]; len(msgs) > 0 {
		return statusError, strings.Join(msgs, "\n")
	}
	return statusEnabled, ""
}

// missing returns the names of a section's parts that have problems but are
// not in the running config (new parts of a refused config), sorted.
func (rf refusal) missing(section string, running func(string) bool) []string {
	var out []string
	for part := range rf.parts {
		if name, ok := strings.CutPrefix(part, section); ok && !running(name) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// count is the number of parts of a section with problems.
func (rf refusal) count(section string) int {
	n := 0
	for part := range rf.parts {
		if strings.HasPrefix(part, section) {
			n++
		}
	}
	return n
}
