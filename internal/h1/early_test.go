package h1

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestEarlyAnswerReachesTheUploader: a handler that refuses an upload from
// its headers, without reading its body, is heard by Go's client in the
// middle of its upload, every time: the connection is not reset under the
// client's writes (before the lingering close, about one POST in four
// failed with "connection reset by peer" or "broken pipe").
func TestEarlyAnswerReachesTheUploader(t *testing.T) {
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
	})})
	const size = 10 << 20 // well past what the sockets' buffers take at once
	upload := make([]byte, size)
	for _, chunked := range []bool{false, true} {
		for i := range 8 {
			var body io.Reader = bytes.NewReader(upload)
			if chunked {
				body = io.MultiReader(body) // no length: sent chunked
			}
			req, _ := http.NewRequest("POST", "http://"+addr+"/upload", body)
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("chunked %v, POST %d: %v, want the 413", chunked, i, err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge || string(b) != "too large\n" || err != nil {
				t.Fatalf("chunked %v, POST %d: %d %q %v, want the 413", chunked, i, resp.StatusCode, b, err)
			}
		}
	}
}

// TestLingerIsBounded: a client that goes on sending after the answer (a
// flood, a trickle) does not keep its connection: it is closed about
// lingerTime after the answer. One that resets it is let go at once.
func TestLingerIsBounded(t *testing.T) {
	closed := make(chan struct{}, 10)
	addr := start(t, &Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
		}),
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateClosed {
				closed <- struct{}{}
			}
		},
	})
	for _, tt := range []struct {
		name  string
		piece int           // bytes per write
		pause time.Duration // between writes
		close bool          // the client resets the connection after the answer
	}{
		{"flood", 64 << 10, 0, false},
		{"trickle", 1, 10 * time.Millisecond, false},
		{"client resets", 64 << 10, 0, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, addr)
			io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n")
			stop := make(chan struct{})
			writing := make(chan struct{})
			go func() {
				defer close(writing)
				piece := make([]byte, tt.piece)
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := c.Write(piece); err != nil {
						return
					}
					time.Sleep(tt.pause)
				}
			}()
			defer func() { close(stop); c.Close(); <-writing }()
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge || !resp.Close {
				t.Fatalf("%v %v, want a 413 with Connection: close", resp, err)
			}
			answered := time.Now()
			if tt.close {
				c.(*net.TCPConn).SetLinger(0) // its close resets the connection
				close(stop)
				c.Close()
				<-writing
				stop = make(chan struct{})
			}
			select {
			case <-closed:
			case <-time.After(5 * time.Second):
				t.Fatal("the connection is still open 5s after the answer")
			}
			d := time.Since(answered)
			if max := lingerTime + 500*time.Millisecond; d > max || (tt.close && d > lingerTime/2) {
				t.Errorf("closed %v after the answer", d)
			}
		})
	}
}

// TestSetReadDeadlineEndsABlockedRead: a read deadline set through
// http.ResponseController from another goroutine ends a body Read blocked
// on a stalled client at once (it used to wait for the read to return: for
// the body's idle timeout, or forever), and the handler's answer reaches the
// client. A deadline set before the read bounds it too, whatever the
// server's own timeouts.
func TestSetReadDeadlineEndsABlockedRead(t *testing.T) {
	for _, srv := range []struct {
		name           string
		bodyIdle, read time.Duration // the server's BodyIdleTimeout, ReadTimeout
	}{
		{"no timeouts", 0, 0},
		{"bodyIdleTimeout", 10 * time.Second, 0},
		{"readTimeout", 0, 10 * time.Second},
	} {
		for _, tt := range []struct {
			name   string
			before bool          // set before the read (else while it blocks)
			in     time.Duration // the deadline, from when it is set
		}{
			{"now, during the read", false, 0},
			{"soon, during the read", false, 150 * time.Millisecond},
			{"soon, before the read", true, 150 * time.Millisecond},
		} {
			t.Run(srv.name+"/"+tt.name, func(t *testing.T) {
				s := &Server{BodyIdleTimeout: srv.bodyIdle, ReadTimeout: srv.read}
				s.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					rc := http.NewResponseController(w)
					half := make(chan struct{})
					goOn := make(chan struct{}) // before: the deadline is set
					type result struct {
						err error
						at  time.Time
					}
					got := make(chan result, 1)
					go func() {
						buf := make([]byte, 1000)
						n := 0
						for n < 500 {
							m, err := r.Body.Read(buf[n:])
							if n += m; err != nil {
								got <- result{err, time.Now()}
								return
							}
						}
						close(half)
						if tt.before {
							<-goOn
						}
						_, err := r.Body.Read(buf)
						got <- result{err, time.Now()}
					}()
					<-half
					if !tt.before {
						for !w.(*response).c.reading.Load() {
							time.Sleep(time.Millisecond) // the read has begun: it holds the read lock
						}
					}
					dl := time.Now().Add(tt.in)
					set := make(chan error, 1)
					go func() { set <- rc.SetReadDeadline(dl) }()
					select {
					case err := <-set:
						if err != nil {
							t.Errorf("SetReadDeadline: %v", err)
						}
					case <-time.After(2 * time.Second):
						t.Error("SetReadDeadline waits for the read in progress")
						http.Error(w, "stuck", http.StatusInternalServerError)
						return
					}
					close(goOn)
					var res result
					select {
					case res = <-got:
					case <-time.After(2 * time.Second):
						t.Error("the read goes on past its deadline")
						http.Error(w, "stuck", http.StatusInternalServerError)
						return
					}
					var ne net.Error
					if !errors.As(res.err, &ne) || !ne.Timeout() {
						t.Errorf("the read ended with %v, want a timeout", res.err)
					}
					if late := res.at.Sub(dl); late < 0 || late > 500*time.Millisecond {
						t.Errorf("the read ended %v after its deadline", late)
					}
					http.Error(w, "stopped", http.StatusRequestTimeout)
				})
				addr := start(t, s)
				c := dial(t, addr)
				io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"+strings.Repeat("a", 500))
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					t.Fatalf("no answer: %v", err)
				}
				b, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != http.StatusRequestTimeout || string(b) != "stopped\n" || !resp.Close {
					t.Errorf("got %d %q close=%v, want the handler's 408, closing", resp.StatusCode, b, resp.Close)
				}
			})
		}
	}
}

// TestSetReadDeadlineWhileReading: deadlines set again and again from one
// goroutine while another reads a body that streams in leave the body
// whole, and the last one, in the past, ends the read of the rest.
func TestSetReadDeadlineWhileReading(t *testing.T) {
	const first = 1 << 20
	addr := start(t, &Server{BodyIdleTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		done := make(chan struct{})
		var n int64
		var err error
		go func() {
			defer close(done)
			n, err = io.Copy(io.Discard, io.LimitReader(r.Body, first))
		}()
	loop:
		for {
			select {
			case <-done:
				break loop
			default:
				if err := rc.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
					t.Errorf("SetReadDeadline: %v", err)
				}
				time.Sleep(50 * time.Microsecond) // (pacing)
			}
		}
		if n != first || err != nil {
			t.Errorf("read %d of %d: %v", n, first, err)
		}
		rc.SetReadDeadline(time.Now())
		if _, err := r.Body.Read(make([]byte, 10)); err == nil {
			t.Error("a read after a past deadline succeeded")
		}
		fmt.Fprintf(w, "read %d", n)
	})})
	c := dial(t, addr)
	go func() {
		fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", 2*first)
		piece := make([]byte, 16<<10)
		for i := 0; i < first/len(piece); i++ {
			if _, err := c.Write(piece); err != nil {
				return
			}
		}
		// and the rest never comes
	}()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != fmt.Sprintf("read %d", first) {
		t.Errorf("got %q", b)
	}
}

// TestSetReadDeadlineAfterTheHandler: a read deadline set once the handler
// has returned (by a goroutine it left behind) is refused, and the next
// request on the connection is read as if it had not been tried.
func TestSetReadDeadlineAfterTheHandler(t *testing.T) {
	left := make(chan *http.ResponseController, 1)
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/leave" {
			left <- http.NewResponseController(w)
			return
		}
		b, err := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%d %v", len(b), err)
	})})
	c := dial(t, addr)
	br := bufio.NewReader(c)
	io.WriteString(c, "GET /leave HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	if err := (<-left).SetReadDeadline(time.Now()); err == nil {
		t.Error("SetReadDeadline after the handler returned: no error")
	}
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "5 <nil>" || resp.Close {
		t.Errorf("the next request: %q close=%v", b, resp.Close)
	}
}
