// Package compress implements the compress middleware: responses are
// compressed with zstd, brotli or gzip, the first of usher's encodings (in
// its order of preference) that the client's Accept-Encoding accepts.
//
// What it compresses: a response with a body (not to HEAD, not 1xx, 204,
// 205, 206 or 304), whose Content-Type is compressible (see
// DefaultExcludedContentTypes, includedContentTypes, excludedContentTypes),
// that the server did not encode itself (no Content-Encoding), that neither
// side marked Cache-Control: no-transform, to a request without Range, and of
// minResponseBodyBytes or more: known from its Content-Length, or else found
// by holding up to that many bytes before deciding (a body that ends, or is
// flushed, before then is decided then: sent as it is when it ended, and
// compressed when flushed, since a flushing handler streams). Upgrades
// (WebSocket) pass untouched.
//
// What the client sees of a compressed response: Content-Encoding, no
// Content-Length (the body is chunked on HTTP/1.1), no Accept-Ranges (ranges
// of the encoded body are not served), a strong ETag made weak (W/"..."), the
// digests of the server's bytes removed (Content-MD5, Digest, Content-Digest,
// Repr-Digest). Every response compress judged, compressed or not, carries
// Vary: Accept-Encoding (merged into the server's Vary, once), so that no
// cache gives one client's representation to another.
//
// Streams: every Flush of the handler (the proxy flushes event streams and
// responses of unknown length as the server sends them) is a flush of the
// encoder, and a text/event-stream response is flushed after every write, so
// that an event reaches the client, compressed, when it is sent. Trailers
// pass as they are.
//
// A response cut short (observe.Record.Abort: its server's body ended before
// its framing said) is never ended cleanly: its encoder is dropped without
// the gzip footer or the zstd and brotli end marks, and the entrypoint's
// abort then ends the exchange, so that the client cannot take the part for
// the whole.
package compress

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/wire"
)

// DefaultMinResponseBodyBytes is the size under which bodies go as they are
// when minResponseBodyBytes is not set.
const DefaultMinResponseBodyBytes = 1024

// maxMinResponseBodyBytes bounds minResponseBodyBytes: that much of a body
// of unknown length is held before deciding.
const maxMinResponseBodyBytes = 64 << 10

// defaultEncodings is usher's order of preference: zstd compresses about as
// well as brotli at its default level for a fraction of its CPU, and both
// better than gzip.
var defaultEncodings = []string{"zstd", "br", "gzip"}

type handler struct {
	next     http.Handler
	order    []int // encodings, in order of preference
	levels   [numEncodings]int
	min      int
	included []mediaPattern // empty: any type not excluded
	excluded []mediaPattern // the user's exclusions
	builtin  bool           // DefaultExcludedContentTypes apply (no included list)

	writers sync.Pool // *writer
	bufs    sync.Pool // *[]byte of cap min: bodies of unknown length held until min
}

// New returns the compress middleware around next (see the package doc).
func New(_ context.Context, next http.Handler, cfg *config.Compress, _ string) (http.Handler, error) {
	h := &handler{next: next, min: DefaultMinResponseBodyBytes}
	names := cfg.Encodings
	if len(names) == 0 {
		names = defaultEncodings
	}
	for _, n := range names {
		enc := -1
		for i, name := range encodingNames {
			if i != noEncoding && n == name {
				enc = i
			}
		}
		switch {
		case enc < 0:
			return nil, fmt.Errorf("compress: encodings: %q is not one of zstd, br, gzip", n)
		case containsInt(h.order, enc):
			return nil, fmt.Errorf("compress: encodings: %q is listed twice", n)
		}
		h.order = append(h.order, enc)
	}
	if m := cfg.MinResponseBodyBytes; m != nil {
		if *m < 0 || *m > maxMinResponseBodyBytes {
			return nil, fmt.Errorf("compress: minResponseBodyBytes must be 0 to 64KiB, got %d", int64(*m))
		}
		h.min = int(*m)
	}
	var l config.CompressLevel
	if cfg.Level != nil {
		l = *cfg.Level
	}
	h.levels[encGzip], h.levels[encBr] = defaultGzipLevel, defaultBrLevel
	switch {
	case l.Gzip < 0 || l.Gzip > 9:
		return nil, fmt.Errorf("compress: level.gzip must be 1 to 9, got %d", l.Gzip)
	case l.Br < 0 || l.Br > 9:
		return nil, fmt.Errorf("compress: level.br must be 1 to 9, got %d", l.Br)
	case l.Zstd < 0 || l.Zstd > 22:
		return nil, fmt.Errorf("compress: level.zstd must be 1 to 22, got %d", l.Zstd)
	}
	if l.Gzip > 0 {
		h.levels[encGzip] = l.Gzip
	}
	if l.Br > 0 {
		h.levels[encBr] = l.Br
	}
	zl := defaultZstdLevel
	if l.Zstd > 0 {
		zl = l.Zstd
	}
	h.levels[encZstd] = int(zstd.EncoderLevelFromZstd(zl)) // 1 to 4

	var err error
	if h.included, err = parsePatterns(cfg.IncludedContentTypes); err != nil {
		return nil, fmt.Errorf("compress: includedContentTypes: %w", err)
	}
	if h.excluded, err = parsePatterns(cfg.ExcludedContentTypes); err != nil {
		return nil, fmt.Errorf("compress: excludedContentTypes: %w", err)
	}
	h.builtin = len(h.included) == 0
	h.writers.New = func() any { return new(writer) }
	h.bufs.New = func() any { b := make([]byte, 0, h.min); return &b }
	return h, nil
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// compressible tells whether a response of media type typ/sub may be
// compressed.
func (h *handler) compressible(typ, sub string) bool {
	switch {
	case len(h.included) > 0 && !matchAny(h.included, typ, sub):
		return false
	case matchAny(h.excluded, typ, sub):
		return false
	case h.builtin && matchAny(defaultExcluded, typ, sub):
		return matchAny(defaultExcludedExcept, typ, sub)
	}
	return true
}

// choose returns the encoding for a request: the first of usher's that its
// Accept-Encoding accepts, noEncoding when none.
func (h *handler) choose(r *http.Request) int {
	vv := r.Header["Accept-Encoding"]
	if len(vv) == 0 {
		return noEncoding
	}
	a := parseAcceptEncoding(vv)
	for _, enc := range h.order {
		if a.accepts(enc) {
			return enc
		}
	}
	return noEncoding
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect || (len(r.Header["Upgrade"]) > 0 && wire.HasToken(r.Header["Connection"], "upgrade")) {
		h.next.ServeHTTP(w, r) // a tunnel, not a response to compress
		return
	}
	cw := h.writers.Get().(*writer)
	cw.start(h, w, r)
	defer h.release(cw)
	h.next.ServeHTTP(cw, r)
	cw.close()
}

// release returns cw to its pool; a response whose handler did not return
// (it panicked) is dropped as a cut one is.
func (h *handler) release(cw *writer) {
	if !cw.closed {
		cw.drop()
	}
	*cw = writer{}
	h.writers.Put(cw)
}
