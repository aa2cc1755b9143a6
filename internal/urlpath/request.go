package urlpath

import (
	"errors"
	"net/http"
	"strings"
)

// ErrTarget is a request target that is neither a path, an absolute URL nor
// the "*" of OPTIONS.
var ErrTarget = errors.New("the request target is not a path")

// NormalizeRequest puts r's path in normal form (see Normalize) before r is
// routed: URL.Path (decoded), URL.RawPath (escaped, "" when the decoded form
// says it all) and RequestURI (the escaped path and the query as received)
// are rewritten together, so that the rule matchers, the middlewares and the
// request written to the server read one path. The query is left as it came.
//
// The path is read from RequestURI, the target as the client sent it (net/url
// has already turned a raw \ into %5C in URL.Path's escaping; here it is a
// /). An absolute-form target whose path changes gets an origin-form
// RequestURI; "*" and the authority of CONNECT are left alone.
//
// A request whose path is already normal is left untouched, without
// allocating.
func NormalizeRequest(r *http.Request, allowEncodedSlash bool) error {
	u := r.URL
	if u == nil {
		return ErrTarget
	}
	if u.Opaque != "" {
		return ErrTarget
	}
	ruri := r.RequestURI
	var path, query string
	switch {
	case ruri == "": // a request made in code: its URL is all there is
		path = u.EscapedPath()
		if u.RawQuery != "" || u.ForceQuery {
			query = "?" + u.RawQuery
		}
	case ruri == "*":
		return nil
	case ruri[0] == '/':
		path, query = cutQuery(ruri)
	case r.Method == http.MethodConnect:
		return nil
	default: // absolute-form: scheme://authority[/path][?query]
		i := strings.Index(ruri, "://")
		if i < 0 || u.Host == "" {
			return ErrTarget
		}
		rest := ruri[i+3:]
		j := strings.IndexAny(rest, "/\\?")
		if j < 0 {
			rest = ""
		} else {
			rest = rest[j:]
		}
		path, query = cutQuery(rest)
	}
	out, changed, err := Normalize(path, allowEncodedSlash)
	if err != nil {
		return err
	}
	if !changed {
		return nil // net/url read this very path into u
	}
	dec := Unescape(out)
	u.Path = dec
	u.RawPath = ""
	if dec != out {
		u.RawPath = out
	}
	r.RequestURI = out + query
	return nil
}

func cutQuery(s string) (path, query string) {
	if i := strings.IndexByte(s, '?'); i >= 0 {
		return s[:i], s[i:]
	}
	return s, ""
}
