package compress

import (
	"net/http"
	"strings"

	"github.com/usher-lb/usher/internal/observe"
	"github.com/usher-lb/usher/internal/wire"
)

// The states of a response through the middleware.
const (
	stNone     = iota // no status yet
	stHolding         // compressible, its length unknown: held until min bytes
	stPass            // headers sent on; the body goes as it is
	stCompress        // headers sent on; the body goes through the encoder
)

// writer is the ResponseWriter the handler writes to. It decides on the
// status and headers (WriteHeader), holds a body of unknown length until it
// knows whether it is short, and sends the rest through the encoder. Pooled
// by the handler; one response at a time.
type writer struct {
	h      *handler
	w      http.ResponseWriter
	r      *http.Request
	enc    int  // what the request's Accept-Encoding chose; noEncoding: none
	may    bool // the request allows a transformed body: not HEAD, no Range, no no-transform
	state  int
	status int
	sse    bool // text/event-stream: flushed after every write
	dirty  bool // stCompress: written to since the encoder's last flush
	closed bool // the handler returned

	held *[]byte // stHolding: the body so far, under h.min bytes
	e    *encoder
}

func (cw *writer) start(h *handler, w http.ResponseWriter, r *http.Request) {
	cw.h, cw.w, cw.r = h, w, r
	cw.enc = h.choose(r)
	cw.may = r.Method != http.MethodHead && len(r.Header["Range"]) == 0 && !wire.HasToken(r.Header["Cache-Control"], "no-transform")
}

func (cw *writer) Header() http.Header { return cw.w.Header() }

// Unwrap lets http.ResponseController and observe.From reach the writers
// below (deadlines, Hijack, the request's Record). Flush stays this writer's.
func (cw *writer) Unwrap() http.ResponseWriter { return cw.w }

func (cw *writer) WriteHeader(code int) {
	if cw.state != stNone {
		return // superfluous: the status is chosen
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		cw.w.WriteHeader(code) // interim (103 Early Hints): goes at once
		return
	}
	cw.status = code
	cw.judge()
}

var (
	varyAE = []string{"Accept-Encoding"}
	// digests of the server's bytes, wrong for the encoded ones.
	digests = []string{"Content-Md5", "Digest", "Content-Digest", "Repr-Digest"}
)

// judge decides what to do with the response from its status and headers.
func (cw *writer) judge() {
	h := cw.w.Header()
	code := cw.status
	switch {
	case code == http.StatusSwitchingProtocols, code == http.StatusNoContent, code == http.StatusResetContent,
		len(h["Content-Encoding"]) > 0, wire.HasToken(h["Cache-Control"], "no-transform"):
		// No body, or one the server encoded or forbade to change: nothing
		// about it depends on the client's Accept-Encoding.
		cw.pass()
		return
	}
	addVary(h)
	if cw.enc == noEncoding || !cw.may || code == http.StatusPartialContent || code == http.StatusNotModified {
		if code == http.StatusNotModified {
			cw.weakenRevalidated(h)
		}
		cw.pass()
		return
	}
	length := int64(-1)
	if cl := h["Content-Length"]; len(cl) == 1 {
		if n, ok := wire.ParseContentLength(cl[0]); ok {
			length = n
		}
	}
	if length >= 0 && (length == 0 || length < int64(cw.h.min)) {
		cw.pass() // short
		return
	}
	ct := h["Content-Type"]
	if len(ct) == 0 {
		cw.pass() // unknown content: it may well be compressed already
		return
	}
	typ, sub, ok := splitMediaType(ct[0])
	if !ok || !cw.h.compressible(typ, sub) {
		cw.pass()
		return
	}
	switch {
	case strings.EqualFold(typ, "text") && strings.EqualFold(sub, "event-stream"):
		cw.sse = true
		cw.compress()
	case length >= 0 || cw.h.min == 0:
		cw.compress()
	default:
		cw.state = stHolding
	}
}

func (cw *writer) pass() {
	cw.state = stPass
	cw.w.WriteHeader(cw.status)
}

// compress sets the headers of an encoded response and sends them on.
func (cw *writer) compress() {
	h := cw.w.Header()
	delete(h, "Content-Length")
	delete(h, "Accept-Ranges")
	for _, k := range digests {
		delete(h, k)
	}
	h["Content-Encoding"] = contentEncoding[cw.enc]
	if et := h["Etag"]; len(et) > 0 && strings.HasPrefix(et[0], `"`) {
		// The encoded bytes are not the server's: a strong validator would
		// promise byte equality it cannot keep. A weak one still matches in
		// If-None-Match, so revalidation goes on working.
		et[0] = "W/" + et[0]
	}
	cw.e = getEncoder(cw.enc, cw.h.levels[cw.enc], cw.w)
	cw.state = stCompress
	cw.w.WriteHeader(cw.status)
}

// weakenRevalidated gives a 304 the weak ETag the client holds: when its
// If-None-Match names W/"x" and the server's 304 says "x", the client's copy
// is one that compress encoded (and weakened).
func (cw *writer) weakenRevalidated(h http.Header) {
	et := h["Etag"]
	if len(et) == 0 || !strings.HasPrefix(et[0], `"`) {
		return
	}
	for _, v := range cw.r.Header["If-None-Match"] {
		for v != "" {
			var tag string
			tag, v, _ = strings.Cut(v, ",")
			if t, ok := strings.CutPrefix(trimOWS(tag), "W/"); ok && t == et[0] {
				et[0] = "W/" + et[0]
				return
			}
		}
	}
}

// addVary adds Accept-Encoding to the response's Vary, once, in one line
// with the server's own values.
func addVary(h http.Header) {
	vv := h["Vary"]
	if wire.HasToken(vv, "Accept-Encoding") || wire.HasToken(vv, "*") {
		return
	}
	n := 0
	for _, v := range vv {
		if trimOWS(v) != "" {
			n++
		}
	}
	switch {
	case n == 0:
		h["Vary"] = varyAE
	case len(vv) == 1:
		h["Vary"] = []string{trimOWS(vv[0]) + ", Accept-Encoding"}
	default:
		var b strings.Builder
		for _, v := range vv {
			if v = trimOWS(v); v != "" {
				b.WriteString(v)
				b.WriteString(", ")
			}
		}
		b.WriteString("Accept-Encoding")
		h["Vary"] = []string{b.String()}
	}
}

func (cw *writer) Write(p []byte) (int, error) {
	switch cw.state {
	case stNone:
		cw.WriteHeader(http.StatusOK)
		return cw.Write(p)
	case stCompress:
		n, err := cw.e.c.Write(p)
		cw.dirty = true
		if err == nil && cw.sse {
			err = cw.flushEncoder()
		}
		return n, err
	case stHolding:
		held := cw.held
		if held == nil {
			if len(p) >= cw.h.min {
				return cw.startCompressing(p)
			}
			held = cw.h.bufs.Get().(*[]byte)
			cw.held = held
		}
		if len(*held)+len(p) < cw.h.min {
			*held = append(*held, p...)
			return len(p), nil
		}
		return cw.startCompressing(p)
	}
	return cw.w.Write(p)
}

// startCompressing compresses a held body, now long enough, and p after it.
func (cw *writer) startCompressing(p []byte) (int, error) {
	cw.compress()
	if err := cw.writeHeld(); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	cw.dirty = true
	return cw.e.c.Write(p)
}

// writeHeld sends the held body on, through the encoder when compressing,
// and gives its buffer back.
func (cw *writer) writeHeld() error {
	held := cw.held
	if held == nil {
		return nil
	}
	cw.held = nil
	var err error
	if len(*held) > 0 {
		if cw.state == stCompress {
			_, err = cw.e.c.Write(*held)
			cw.dirty = true
		} else {
			_, err = cw.w.Write(*held)
		}
	}
	*held = (*held)[:0]
	cw.h.bufs.Put(held)
	return err
}

// Flush sends what the handler wrote so far to the client. A body still
// held is compressed: a handler that flushes is streaming, and its body's
// length is unknown.
func (cw *writer) Flush() { _ = cw.FlushError() }

// FlushError is Flush with its error, for http.ResponseController.
func (cw *writer) FlushError() error {
	switch cw.state {
	case stNone:
		cw.WriteHeader(http.StatusOK)
		return cw.FlushError()
	case stHolding:
		if _, err := cw.startCompressing(nil); err != nil {
			return err
		}
		return cw.flushEncoder()
	case stCompress:
		return cw.flushEncoder()
	}
	return flush(cw.w)
}

// flushEncoder flushes the encoder, when it was written to since its last
// flush (each flush costs a few bytes: an SSE event flushed by its writer
// and again by the proxy gets one), then the client's writer.
func (cw *writer) flushEncoder() error {
	if cw.dirty {
		cw.dirty = false
		if err := cw.e.Flush(); err != nil {
			return err
		}
	}
	return flush(cw.w)
}

func flush(w http.ResponseWriter) error {
	switch f := w.(type) {
	case interface{ FlushError() error }:
		return f.FlushError()
	case http.Flusher:
		f.Flush()
		return nil
	}
	return http.NewResponseController(w).Flush()
}

// close ends the response once the handler returned: a held body goes as it
// is (it is short), a compressed one gets its end, unless the response was
// cut short (observe.Record.Abort), when it must not.
func (cw *writer) close() {
	cw.closed = true
	if rec := observe.From(cw.w); rec != nil && rec.Abort {
		cw.drop()
		return
	}
	switch cw.state {
	case stHolding:
		cw.state = stPass
		cw.w.WriteHeader(cw.status)
		_ = cw.writeHeld()
	case stCompress:
		_ = cw.e.finish()
		cw.e = nil
	}
}

// drop forgets the response's encoder and held body without ending either.
func (cw *writer) drop() {
	if cw.e != nil {
		cw.e.discard()
		cw.e = nil
	}
	if held := cw.held; held != nil {
		cw.held = nil
		*held = (*held)[:0]
		cw.h.bufs.Put(held)
	}
}
