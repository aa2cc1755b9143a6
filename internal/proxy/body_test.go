package proxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

func TestBodyErrorStatus(t *testing.T) {
	timeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	for _, tc := range []struct {
		err  error
		want int
	}{
		{io.ErrUnexpectedEOF, 400},
		{errors.New("h1: malformed chunked encoding"), 400},
		{timeout, 408},
		{fmt.Errorf("wrapped: %w", timeout), 408},
		{&http.MaxBytesError{Limit: 10}, 413},
	} {
		if got := (&BodyError{tc.err}).Status(); got != tc.want {
			t.Errorf("%v: %d, want %d", tc.err, got, tc.want)
		}
	}
}

// TestClientsBadBodyIsItsOwnError: reading the client's body fails while it
// is sent: the client gets a 400 and the end of its connection; the error is
// a BodyError, not the server's.
func TestClientsBadBodyIsItsOwnError(t *testing.T) {
	back := answer(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	up := upstreamFor(t, back, Options{})
	for _, tc := range []struct {
		name   string
		body   io.Reader
		length int64
	}{
		{"short, small", strings.NewReader("ten bytes."), 100},
		{"short, large", strings.NewReader(strings.Repeat("x", 20<<10)), 40 << 10},
		{"broken, chunked", io.MultiReader(strings.NewReader("part"), &failing{}), -1},
	} {
		r := httptest.NewRequest("POST", "/", tc.body)
		r.ContentLength = tc.length
		w := httptest.NewRecorder()
		_, err := up.RoundTrip(w, r, RequestOptions{})
		var be *BodyError
		if !errors.As(err, &be) {
			t.Fatalf("%s: %v, want a BodyError", tc.name, err)
		}
		out := WriteError(w, r, err)
		if out.Status != 400 || w.Code != 400 || w.Header().Get("Connection") != "close" {
			t.Errorf("%s: %d, Connection %q; want 400 and close", tc.name, w.Code, w.Header().Get("Connection"))
		}
	}
}

type failing struct{}

func (*failing) Read([]byte) (int, error) { return 0, errors.New("malformed chunked encoding") }
