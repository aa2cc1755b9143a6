// Package headers implements the headers middleware: it sets and removes request
// and response headers and adds security headers to responses.
package headers

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/middleware/internal/reqinfo"
)

// field is one header to set: a canonical key and its value as a one-element
// slice that every request shares. The slices are read-only and have capacity 1,
// so that an append by a later handler copies instead of writing into them.
type field struct {
	key string
	val []string
}

// edits is a set of header changes, precomputed: set first, then delete.
type edits struct {
	set []field
	del []string
}

func (e *edits) apply(h http.Header) {
	for _, f := range e.set {
		h[f.key] = f.val
	}
	for _, k := range e.del {
		delete(h, k)
	}
}

func (e *edits) empty() bool { return len(e.set) == 0 && len(e.del) == 0 }

type headers struct {
	next     http.Handler
	req      edits
	host     string // set r.Host to this when not ""
	security []field
	sts      []string // the Strict-Transport-Security value, nil when none
	forceSTS bool
	resp     edits
	wrap     bool // the response needs changes
	pool     sync.Pool
}

const stsKey = "Strict-Transport-Security"

// New returns a handler that changes the request's headers, passes it to next,
// and changes the response's headers just before they are written, so that its
// values replace what the upstream sent.
//
// On the request, each of cfg.CustomRequestHeaders is set (replacing all values
// of that header), or removed when its value is empty. "Host" sets r.Host (it
// cannot be removed).
//
// On the response, first the security headers are set:
//   - Strict-Transport-Security: max-age=<STSSeconds>[; includeSubDomains][; preload]
//     when STSSeconds > 0, on HTTPS requests only (the scheme is X-Forwarded-Proto
//     as set by the entrypoint, else whether r.TLS is set), or on every request
//     when ForceSTSHeader;
//   - X-Content-Type-Options: nosniff when ContentTypeNosniff;
//   - X-Frame-Options: CustomFrameOptionsValue when set, else DENY when FrameDeny;
//   - Referrer-Policy, Content-Security-Policy, Permissions-Policy,
//     Cross-Origin-Opener-Policy, Cross-Origin-Embedder-Policy and
//     Cross-Origin-Resource-Policy: the values given, when not empty;
//
// then each of cfg.CustomResponseHeaders is set, or removed when its value is
// empty, so a custom response header wins over a security header of the same name.
// The response changes apply to the final response (status 101 or 200 and up),
// on its WriteHeader, first Write or first Flush, whichever comes first, or when
// next returns having written nothing; not to
// interim 1xx responses, nor to a response that the handler writes itself on a
// hijacked connection. The response is not buffered: the writer passed to next
// implements Flush and Unwrap, so http.ResponseController reaches the
// underlying writer's Flush, Hijack and deadlines.
//
// Header names must be HTTP tokens, and two names may not differ only by case;
// values must not contain control characters other than tab. STSSeconds must not
// be negative. Keys and values are canonicalised and precomputed: a request
// allocates nothing of its own.
func New(_ context.Context, next http.Handler, cfg *config.Headers, _ string) (http.Handler, error) {
	if cfg == nil {
		return nil, fmt.Errorf("headers: no configuration")
	}
	h := &headers{next: next, forceSTS: cfg.ForceSTSHeader}
	var err error
	if h.req, err = customEdits("customRequestHeaders", cfg.CustomRequestHeaders); err != nil {
		return nil, err
	}
	if i := slices.IndexFunc(h.req.set, func(f field) bool { return f.key == "Host" }); i >= 0 {
		h.host = h.req.set[i].val[0]
		h.req.set = slices.Delete(h.req.set, i, i+1)
	}
	if slices.Contains(h.req.del, "Host") {
		return nil, fmt.Errorf("headers: customRequestHeaders: Host cannot be removed")
	}
	if h.resp, err = customEdits("customResponseHeaders", cfg.CustomResponseHeaders); err != nil {
		return nil, err
	}

	switch {
	case cfg.STSSeconds < 0:
		return nil, fmt.Errorf("headers: stsSeconds %d is negative", cfg.STSSeconds)
	case cfg.STSSeconds > 0:
		v := "max-age=" + strconv.Itoa(cfg.STSSeconds)
		if cfg.STSIncludeSubdomains {
			v += "; includeSubDomains"
		}
		if cfg.STSPreload {
			v += "; preload"
		}
		h.sts = []string{v}[:1:1]
	}
	sec := func(key, val, opt string) error {
		if val == "" {
			return nil
		}
		if !validValue(val) {
			return fmt.Errorf("headers: %s %q has a control character", opt, val)
		}
		h.security = append(h.security, field{key, []string{val}[:1:1]})
		return nil
	}
	frame := cfg.CustomFrameOptionsValue
	if frame == "" && cfg.FrameDeny {
		frame = "DENY"
	}
	if cfg.ContentTypeNosniff {
		_ = sec("X-Content-Type-Options", "nosniff", "")
	}
	for _, s := range []struct{ key, val, opt string }{
		{"X-Frame-Options", frame, "customFrameOptionsValue"},
		{"Referrer-Policy", cfg.ReferrerPolicy, "referrerPolicy"},
		{"Content-Security-Policy", cfg.ContentSecurityPolicy, "contentSecurityPolicy"},
		{"Permissions-Policy", cfg.PermissionsPolicy, "permissionsPolicy"},
		{"Cross-Origin-Opener-Policy", cfg.CrossOriginOpenerPolicy, "crossOriginOpenerPolicy"},
		{"Cross-Origin-Embedder-Policy", cfg.CrossOriginEmbedderPolicy, "crossOriginEmbedderPolicy"},
		{"Cross-Origin-Resource-Policy", cfg.CrossOriginResourcePolicy, "crossOriginResourcePolicy"},
	} {
		if err := sec(s.key, s.val, s.opt); err != nil {
			return nil, err
		}
	}
	h.wrap = !h.resp.empty() || len(h.security) > 0 || h.sts != nil
	h.pool.New = func() any { return new(writer) }
	return h, nil
}

// customEdits checks and canonicalises a custom header map, in sorted key order.
func customEdits(opt string, m map[string]string) (edits, error) {
	var e edits
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	seen := make(map[string]string, len(m))
	for _, k := range keys {
		v := m[k]
		if !validName(k) {
			return e, fmt.Errorf("headers: %s: %q is not a valid header name", opt, k)
		}
		if !validValue(v) {
			return e, fmt.Errorf("headers: %s: %s value %q has a control character", opt, k, v)
		}
		ck := http.CanonicalHeaderKey(k)
		if other, dup := seen[ck]; dup {
			return e, fmt.Errorf("headers: %s: %q and %q are the same header", opt, other, k)
		}
		seen[ck] = k
		if v == "" {
			e.del = append(e.del, ck)
		} else {
			e.set = append(e.set, field{ck, []string{v}[:1:1]})
		}
	}
	return e, nil
}

func (h *headers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sts := h.sts != nil && (h.forceSTS || reqinfo.IsHTTPS(r))
	if r.Header == nil { // a request built in code
		r.Header = make(http.Header)
	}
	h.req.apply(r.Header)
	if h.host != "" {
		r.Host = h.host
	}
	if !h.wrap {
		h.next.ServeHTTP(w, r)
		return
	}
	hw := h.pool.Get().(*writer)
	*hw = writer{ResponseWriter: w, h: h, sts: sts}
	h.next.ServeHTTP(hw, r)
	// A handler that writes nothing gets its 200 written by the server after it
	// returns, with the header map as it is then.
	hw.before()
	// Not deferred: a writer that a panicking handler may still hold is left to
	// the garbage collector rather than put back.
	*hw = writer{}
	h.pool.Put(hw)
}

// applyResponse sets the security headers, then the custom response headers.
func (h *headers) applyResponse(hdr http.Header, sts bool) {
	for _, f := range h.security {
		hdr[f.key] = f.val
	}
	if sts {
		hdr[stsKey] = h.sts
	}
	h.resp.apply(hdr)
}

// writer changes the response headers when they are about to be written. It is
// valid only until the handler it was passed to returns (it is then reused).
type writer struct {
	http.ResponseWriter
	h     *headers
	sts   bool
	wrote bool // the final response's headers are written
}

func (w *writer) before() {
	if !w.wrote {
		w.wrote = true
		w.h.applyResponse(w.ResponseWriter.Header(), w.sts)
	}
}

// WriteHeader changes the headers before a final status (101, or 200 and up);
// interim 1xx responses go out as they are.
func (w *writer) WriteHeader(code int) {
	if code >= 200 || code == http.StatusSwitchingProtocols {
		w.before()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *writer) Write(p []byte) (int, error) {
	w.before()
	return w.ResponseWriter.Write(p)
}

// Flush writes the headers, changed, if they are not yet, and flushes the
// underlying writer when it can.
func (w *writer) Flush() { _ = w.FlushError() }

// FlushError is Flush with the underlying writer's error, for http.ResponseController.
func (w *writer) FlushError() error {
	w.before()
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap returns the underlying writer, for http.ResponseController.
func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// validName tells whether s is an HTTP token (RFC 9110, 5.1).
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// validValue tells whether s has no control characters other than tab.
func validValue(s string) bool {
	return !strings.ContainsFunc(s, func(c rune) bool { return c < 0x20 && c != '\t' || c == 0x7f })
}
