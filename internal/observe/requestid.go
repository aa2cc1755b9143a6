package observe

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"net/http"
)

// RequestIDHeader is the header that carries a request's id to the servers
// and back to the client.
const RequestIDHeader = "X-Request-Id"

// maxRequestID is the longest client-sent id usher keeps.
const maxRequestID = 128

// EnsureRequestID gives the request an id and returns it. A client-sent
// X-Request-Id is kept when it is sane (one value of 1 to 128 visible ASCII
// characters); otherwise usher makes one of 32 hex digits (128 random bits)
// and replaces whatever the client sent. The id is set on the request, so
// that the servers get it, and on the response headers; the Record of w, when
// there is one, gets it too.
//
// Ids come from math/rand/v2's runtime source (ChaCha8 per thread, seeded by
// the OS): cheap, safe from any goroutine, and unpredictable enough for an id
// that is a correlation key and never a secret.
func EnsureRequestID(w http.ResponseWriter, r *http.Request) string {
	if r.Header == nil {
		r.Header = http.Header{}
	}
	var id string
	if v := r.Header[RequestIDHeader]; len(v) == 1 && saneRequestID(v[0]) {
		id = v[0]
	} else {
		id = newRequestID()
	}
	// One backing array for both headers, each capped at one element: a
	// change to one (or an append) never shows in the other.
	vals := []string{id, id}
	r.Header[RequestIDHeader] = vals[0:1:1]
	w.Header()[RequestIDHeader] = vals[1:2:2]
	if rec := From(w); rec != nil {
		rec.RequestID = id
	}
	return id
}

func saneRequestID(s string) bool {
	if s == "" || len(s) > maxRequestID {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var raw [16]byte
	binary.LittleEndian.PutUint64(raw[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(raw[8:], rand.Uint64())
	var out [32]byte
	hex.Encode(out[:], raw[:])
	return string(out[:])
}
