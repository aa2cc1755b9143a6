package server

import (
	"io"
	"net/http"
	"sync/atomic"
)

// badRequest answers 400 with why the request is refused.
func badRequest(w http.ResponseWriter, err error) {
	h := w.Header()
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	w.WriteHeader(http.StatusBadRequest)
	io.WriteString(w, "Bad Request: "+err.Error()+"\n")
}

// countingBody counts the request body bytes read through it, for the
// Record's BytesIn. The count is atomic: a handler may leave a goroutine
// reading the body after it returned.
type countingBody struct {
	rc io.ReadCloser
	n  atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.n.Add(int64(n))
	}
	return n, err
}

func (b *countingBody) Close() error { return b.rc.Close() }

// countBody wraps r's body in a countingBody; nil (and no allocation) for a
// request without a body.
func countBody(r *http.Request) *countingBody {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	cb := &countingBody{rc: r.Body}
	r.Body = cb
	return cb
}
