package server

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// gRPC through usher: its requests are proxied as any HTTP/2 request (with
// their trailers), and what usher answers itself (no route, no server, a
// timeout, a guard's refusal), or an error page of a server that is not
// gRPC's, reaches the client as a gRPC status rather than an HTTP error
// that gRPC clients can only guess at.

// isGRPC tells whether r is a gRPC call: HTTP/2 with a gRPC content type.
func isGRPC(r *http.Request) bool {
	return r.ProtoMajor == 2 && isGRPCType(r.Header.Get("Content-Type"))
}

func isGRPCType(ct string) bool {
	return ct == "application/grpc" || strings.HasPrefix(ct, "application/grpc+") || strings.HasPrefix(ct, "application/grpc;")
}

// grpcCode is the gRPC status of an HTTP error status (the gRPC project's
// mapping, with 504 as DEADLINE_EXCEEDED: usher's own timeout, not an
// unavailable server).
func grpcCode(status int) int {
	switch status {
	case http.StatusBadRequest:
		return 13 // INTERNAL
	case http.StatusUnauthorized:
		return 16 // UNAUTHENTICATED
	case http.StatusForbidden:
		return 7 // PERMISSION_DENIED
	case http.StatusNotFound:
		return 12 // UNIMPLEMENTED
	case http.StatusRequestTimeout, http.StatusGatewayTimeout:
		return 4 // DEADLINE_EXCEEDED
	case http.StatusRequestEntityTooLarge:
		return 8 // RESOURCE_EXHAUSTED
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable:
		return 14 // UNAVAILABLE
	}
	return 2 // UNKNOWN
}

// grpcWriter turns a response that is not gRPC's into a trailers-only gRPC
// response: HTTP 200, the status in grpc-status and grpc-message, no body.
// It sits under the access log's recorder, which records the HTTP status
// usher meant (a 504 is logged as a 504).
type grpcWriter struct {
	http.ResponseWriter
	wrote bool // the final header is out
	local bool // and it was turned into a gRPC status: the body is dropped
}

func (g *grpcWriter) WriteHeader(code int) {
	if g.wrote {
		return
	}
	if code < 200 {
		g.ResponseWriter.WriteHeader(code)
		return
	}
	g.wrote = true
	h := g.Header()
	if code != http.StatusOK && !isGRPCType(h.Get("Content-Type")) {
		g.local = true
		for _, k := range []string{"Content-Length", "Content-Type", "X-Content-Type-Options", "Content-Encoding", "Vary"} {
			delete(h, k)
		}
		h["Content-Type"] = []string{"application/grpc"}
		h["Grpc-Status"] = []string{strconv.Itoa(grpcCode(code))}
		h["Grpc-Message"] = []string{grpcMessage(code)}
		code = http.StatusOK
	}
	g.ResponseWriter.WriteHeader(code)
}

// grpcMessage is the status text, percent-encoded as gRPC wants it.
func grpcMessage(code int) string {
	msg := "usher: " + strconv.Itoa(code) + " " + http.StatusText(code)
	return strings.ReplaceAll(url.PathEscape(msg), "%20", " ")
}

func (g *grpcWriter) Write(b []byte) (int, error) {
	if !g.wrote {
		g.WriteHeader(http.StatusOK)
	}
	if g.local {
		return len(b), nil
	}
	return g.ResponseWriter.Write(b)
}

func (g *grpcWriter) Flush() {
	if g.local {
		return
	}
	if f, ok := g.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (g *grpcWriter) Unwrap() http.ResponseWriter { return g.ResponseWriter }

// errGRPCDeadline is the cause of a call's context ending at its
// grpc-timeout.
var errGRPCDeadline = errors.New("grpc-timeout reached")

// grpcTimeout reads a grpc-timeout value: at most 8 digits and a unit
// (H, M, S, m, u, n).
func grpcTimeout(v string) (time.Duration, bool) {
	if len(v) < 2 || len(v) > 9 {
		return 0, false
	}
	n, err := strconv.ParseInt(v[:len(v)-1], 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	unit := map[byte]time.Duration{'H': time.Hour, 'M': time.Minute, 'S': time.Second, 'm': time.Millisecond, 'u': time.Microsecond, 'n': time.Nanosecond}[v[len(v)-1]]
	if unit == 0 {
		return 0, false
	}
	if n > int64((1<<63-1)/unit) {
		return 0, false
	}
	return time.Duration(n) * unit, true
}

// withGRPCDeadline bounds a call by its grpc-timeout, so that the exchange
// with the server ends when the client stops waiting, whether or not the
// server honours the header it is passed.
func withGRPCDeadline(r *http.Request) (*http.Request, context.CancelFunc) {
	d, ok := grpcTimeout(r.Header.Get("Grpc-Timeout"))
	if !ok {
		return r, func() {}
	}
	ctx, cancel := context.WithTimeoutCause(r.Context(), d, errGRPCDeadline)
	return r.WithContext(ctx), cancel
}
