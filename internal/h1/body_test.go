package h1

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// strict answers as a proxy would: 408 for a body that timed out, 400 for
// one the client broke, and the body's size otherwise. The error it saw is
// sent on errs.
func strict(errs chan<- error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if errs != nil {
			errs <- err
		}
		var be *BodyError
		var ne net.Error
		switch {
		case err == nil:
			fmt.Fprintf(w, "read %d", n)
		case errors.As(err, &ne) && ne.Timeout():
			http.Error(w, err.Error(), http.StatusRequestTimeout)
		case errors.As(err, &be):
			http.Error(w, err.Error(), http.StatusBadRequest)
		default:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
}

// expectClosed reads what is left on the connection and fails unless it
// ends with EOF (the server closed it).
func expectClosed(t *testing.T, br *bufio.Reader) {
	t.Helper()
	if b, err := io.ReadAll(br); err != nil || len(b) != 0 {
		t.Errorf("after the response: %q %v, want the connection closed", b, err)
	}
}

// TestBodyErrors: a client's own framing error reaches the handler as a
// BodyError that tells which it is; the handler's answer reaches the client
// with Connection: close; then the connection closes.
func TestBodyErrors(t *testing.T) {
	errs := make(chan error, 1)
	addr := start(t, &Server{Handler: strict(errs), BodyIdleTimeout: 300 * time.Millisecond})
	chunked := "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
	for _, tt := range []struct {
		name, raw string
		halfClose bool // the client stops sending (and waits for the answer)
		code      int
		is        error // errors.Is the handler's error
		text      string
	}{
		{"bad chunk size", chunked + "zz\r\nabc\r\n0\r\n\r\n", false, 400, ErrMalformedBody, `chunk-size line "zz"`},
		{"bad chunk size, more sent", chunked + "zz\r\n" + strings.Repeat("a", 200<<10), false, 400, ErrMalformedBody, `chunk-size line "zz"`},
		{"chunk without crlf", chunked + "3\r\nabcX\r\n0\r\n\r\n", false, 400, ErrMalformedBody, "not followed by CRLF"},
		{"chunk bare lf", chunked + "3\nabc\r\n0\r\n\r\n", false, 400, ErrMalformedBody, "CRLF"},
		{"chunk line too long", chunked + strings.Repeat("1", 5000) + "\r\n", false, 400, ErrMalformedBody, "over 4096 bytes"},
		{"bad trailer", chunked + "1\r\na\r\n0\r\nBad Name: v\r\n\r\n", false, 400, ErrMalformedBody, "trailer section"},
		{"short body", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc", true, 400, io.ErrUnexpectedEOF, "after 3 of 10 bytes"},
		{"cut chunked", chunked + "5\r\nab", true, 400, io.ErrUnexpectedEOF, "after 2 bytes"},
		{"stalled body", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc", false, 408, nil, "timeout (after 3 of 10 bytes)"},
		{"stalled chunk line", chunked + "5\r\nabcde\r\n", false, 408, nil, "timeout"},
		{"expect then nothing", "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n", false, 408, nil, "timeout (after 0 of 10 bytes)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, addr)
			t0 := time.Now()
			go func() {
				io.WriteString(c, tt.raw)
				if tt.halfClose {
					c.(*net.TCPConn).CloseWrite()
				}
			}()
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err == nil && resp.StatusCode == 100 {
				resp, err = http.ReadResponse(br, nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			herr := <-errs
			if resp.StatusCode != tt.code || !resp.Close || !strings.Contains(string(b), tt.text) {
				t.Errorf("%d close=%v %q, want %d with Connection: close and %q", resp.StatusCode, resp.Close, b, tt.code, tt.text)
			}
			var ne net.Error
			if !errors.As(herr, &ne) || ne.Timeout() != (tt.code == 408) {
				t.Errorf("handler's error %v: not a net.Error with Timeout %v", herr, tt.code == 408)
			}
			if tt.is != nil && !errors.Is(herr, tt.is) {
				t.Errorf("handler's error %v is not %v", herr, tt.is)
			}
			if tt.code == 408 && time.Since(t0) > 3*time.Second {
				t.Errorf("timed out after %v", time.Since(t0))
			}
			expectClosed(t, br)
		})
	}
}

// TestBodyIdleTimeout: the timeout is between reads, not for the whole body:
// a body trickled slower than the timeout in all but faster between bytes
// is read whole; and no timeout applies when it is 0.
func TestBodyIdleTimeout(t *testing.T) {
	for _, tt := range []struct {
		timeout, gap time.Duration
		code         int
	}{
		{300 * time.Millisecond, 60 * time.Millisecond, 200}, // 10 bytes over 600ms
		{100 * time.Millisecond, 250 * time.Millisecond, 408},
		{0, 60 * time.Millisecond, 200},
	} {
		addr := start(t, &Server{Handler: strict(nil), BodyIdleTimeout: tt.timeout})
		c := dial(t, addr)
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
		go func() {
			for range 10 {
				time.Sleep(tt.gap)
				if _, err := io.WriteString(c, "a"); err != nil {
					return
				}
			}
		}()
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != tt.code || (tt.code == 200 && string(b) != "read 10") {
			t.Errorf("timeout %v, a byte every %v: %d %q, want %d", tt.timeout, tt.gap, resp.StatusCode, b, tt.code)
		}
	}
}

// TestBodyIdleWithinReadTimeout: the body idle timeout never extends the
// request's ReadTimeout.
func TestBodyIdleWithinReadTimeout(t *testing.T) {
	addr := start(t, &Server{Handler: strict(nil), BodyIdleTimeout: time.Minute, ReadTimeout: 300 * time.Millisecond})
	c := dial(t, addr)
	t0 := time.Now()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 408 || time.Since(t0) > 5*time.Second {
		t.Fatalf("%d after %v, want 408 after the ReadTimeout", resp.StatusCode, time.Since(t0))
	}
}
