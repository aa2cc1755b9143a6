package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestEarlyAnswerReachesTheClient: a server that answers before it has read
// the request's body (a 413 for an upload too large), then closes or stops
// reading, is heard: the client gets that answer, not a 502 nor a hang.
func TestEarlyAnswerReachesTheClient(t *testing.T) {
	const size = 16 << 20 // well past what the sockets' buffers hold
	for _, tc := range []struct {
		name    string
		then    string // what the server does after its answer: close, or hold (stop reading)
		chunked bool
	}{
		{"then closes", "close", false},
		{"then stops reading", "hold", false},
		{"chunked upload, then stops reading", "hold", true},
		{"chunked upload, then closes", "close", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each ends on net/http's 500ms wait before closing the client's connection
			stop := make(chan struct{})
			back := rawServer(t, func(c net.Conn) {
				br := bufio.NewReader(c)
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				io.WriteString(c, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\ntoo large")
				if tc.then == "hold" {
					<-stop
				}
			})
			t.Cleanup(func() { close(stop) })
			f, _ := front(t, back, Options{}, RequestOptions{})
			var body io.Reader = bytes.NewReader(make([]byte, size))
			if tc.chunked {
				body = io.MultiReader(body) // unknown length: sent chunked
			}
			req, _ := http.NewRequest("POST", f.URL+"/upload", body)
			client := &http.Client{Timeout: 10 * time.Second}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("the client got no answer: %v", err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 413 || string(b) != "too large" {
				t.Fatalf("got %d %q, want the server's 413", resp.StatusCode, b)
			}
		})
	}
}

// TestEarlyAnswerToAStalledUpload: the client stops sending its body, the
// server answers without it: the answer is not held until the client sends
// more (the read of its body is ended; on net/http's server and HTTP/2 at
// once).
func TestEarlyAnswerToAStalledUpload(t *testing.T) {
	back := rawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\ntoo large")
		io.Copy(io.Discard, br)
	})
	f, _ := front(t, back, Options{}, RequestOptions{})
	c, err := net.Dial("tcp", f.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
	c.Write(make([]byte, 20000)) // and no more
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer while the upload is stalled: %v", err)
	}
	if resp.StatusCode != 413 {
		t.Fatalf("got %d, want the server's 413", resp.StatusCode)
	}
}
