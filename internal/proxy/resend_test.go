package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// echoBody answers a request with its method and body.
func echoBody(c net.Conn, req *http.Request, body string) error {
	b := req.Method + " " + body
	_, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(len(b))+"\r\n\r\n"+b)
	return err
}

// post sends a POST through f with body (chunked when chunked) and returns
// the status and body of the answer.
func post(t *testing.T, url, body string, chunked bool) (int, string) {
	t.Helper()
	var rd io.Reader = strings.NewReader(body)
	if chunked {
		rd = io.MultiReader(rd)
	}
	req, _ := http.NewRequest("POST", url, rd)
	resp, err := oneShot.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestPostAfterTheServerClosedItsIdleConnection: servers (Node, uvicorn,
// gunicorn) close keep-alive connections idle for a few seconds; a POST that
// comes after must not meet the closed connection.
func TestPostAfterTheServerClosedItsIdleConnection(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		closed := make(chan struct{}, 1)
		back := rawServer(t, func(c net.Conn) {
			br := bufio.NewReader(c)
			req, body, err := readRequest(br)
			if err != nil {
				return
			}
			echoBody(c, req, body)
			c.Close() // its keep-alive ran out
			closed <- struct{}{}
		})
		f, _ := front(t, back, Options{}, RequestOptions{})
		for i := range 3 {
			status, got := post(t, f.URL, "order=42", chunked)
			if status != 200 || got != "POST order=42" {
				t.Fatalf("chunked %v, POST %d: %d %q", chunked, i, status, got)
			}
			<-closed
		}
	}
}

// TestRequestSentAgainWhenTheServerClosedAsItWent: the server closes its
// idle connection just as a request goes out on it (the race left after the
// pooled connection was looked at): no byte of an answer comes, and the
// request, body included, is sent again on a fresh connection.
func TestRequestSentAgainWhenTheServerClosedAsItWent(t *testing.T) {
	small := "item=1&qty=2"
	large := strings.Repeat("y", 40<<10) // sent by the body writer goroutine
	for _, tc := range []struct {
		name    string
		body    string
		chunked bool
	}{
		{"no body", "", false},
		{"small body", small, false},
		{"small chunked body", small, true},
		{"body of 40KiB", large, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var conns atomic.Int32
			var mu sync.Mutex
			var seen []string
			back := rawServer(t, func(c net.Conn) {
				n := conns.Add(1)
				br := bufio.NewReader(c)
				for i := 0; ; i++ {
					if n == 1 && i == 1 {
						br.Peek(1) // the next request is coming: close now
						return
					}
					req, body, err := readRequest(br)
					if err != nil {
						return
					}
					mu.Lock()
					seen = append(seen, body)
					mu.Unlock()
					echoBody(c, req, body)
				}
			})
			f, _ := front(t, back, Options{}, RequestOptions{})
			if status, _ := post(t, f.URL, "warm", false); status != 200 {
				t.Fatalf("first POST: %d", status)
			}
			method, want := "POST", "POST "+tc.body
			var status int
			var got string
			if tc.body == "" {
				method, want = "GET", "GET "
				status, got = fetch(t, "GET", f.URL)
			} else {
				status, got = post(t, f.URL, tc.body, tc.chunked)
			}
			if status != 200 || got != want {
				t.Fatalf("%s on the closed connection: %d %q (%d bytes), want 200 and its body echoed", method, status, trunc(got), len(got))
			}
			mu.Lock()
			defer mu.Unlock()
			if len(seen) != 2 || seen[1] != tc.body {
				t.Fatalf("the server saw %d requests, want 2 (the second once)", len(seen))
			}
		})
	}
}

// TestRequestWithGetBodySentAgain: a body that can be made anew (GetBody) is
// sent again whatever its size.
func TestRequestWithGetBodySentAgain(t *testing.T) {
	var conns atomic.Int32
	back := rawServer(t, func(c net.Conn) {
		n := conns.Add(1)
		br := bufio.NewReader(c)
		for i := 0; ; i++ {
			if n == 1 && i == 1 {
				br.Peek(1)
				return
			}
			req, body, err := readRequest(br)
			if err != nil {
				return
			}
			echoBody(c, req, body[:min(len(body), 4)])
		}
	})
	up := upstreamFor(t, back, Options{})
	for i, body := range []string{"warm", strings.Repeat("z", 256<<10)} {
		r, _ := http.NewRequest("PUT", "http://front.test/", bytes.NewReader([]byte(body)))
		w := &discardWriter{h: http.Header{}, keep: true}
		resp, err := up.RoundTrip(w, r, RequestOptions{})
		if err != nil {
			t.Fatalf("PUT %d: %v", i, err)
		}
		resp.WriteTo(w)
		if w.status != 200 || w.body.String() != "PUT "+body[:4] {
			t.Fatalf("PUT %d: %d %q", i, w.status, w.body.String())
		}
	}
}

// TestNoResendOnceTheServerAnswered: a request whose server sent any byte of
// an answer before it closed may have been acted on: it is never sent again.
func TestNoResendOnceTheServerAnswered(t *testing.T) {
	var requests atomic.Int32
	back := rawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for i := 0; ; i++ {
			req, body, err := readRequest(br)
			if err != nil {
				return
			}
			requests.Add(1)
			if i == 1 {
				io.WriteString(c, "HTTP/1.1 200 OK\r\n") // and dies
				return
			}
			echoBody(c, req, body)
		}
	})
	f, _ := front(t, back, Options{}, RequestOptions{})
	if status, _ := post(t, f.URL, "warm", false); status != 200 {
		t.Fatalf("first POST: %d", status)
	}
	if status, _ := post(t, f.URL, "pay=100", false); status != 502 {
		t.Fatalf("POST whose server died mid-answer: %d, want 502", status)
	}
	if n := requests.Load(); n != 2 {
		t.Fatalf("the server got %d requests, want 2: the second never sent again", n)
	}
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
