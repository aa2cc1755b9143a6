package proxy

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// oneShot is a client that opens a new connection for every request, as a
// different user would.
var oneShot = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}

func fetch(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := oneShot.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const injected = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\ninjected"

// TestLeftoverBytesNeverAnswerTheNextRequest: a server that sends anything
// past its response's framing (or anything at all while its connection is
// idle) must not get to answer the next request, which comes from another
// client on another connection.
func TestLeftoverBytesNeverAnswerTheNextRequest(t *testing.T) {
	tests := []struct {
		name   string
		method string // of the first request
		first  string // what the server sends for it
		later  string // what it sends once the first exchange is over, while the connection is idle
		status int    // of the first response
	}{
		{"bytes past Content-Length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + injected, "", 200},
		{"response after a pause", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", injected, 200},
		{"bytes past the last chunk", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n" + injected, "", 200},
		{"body on a 204", "GET", "HTTP/1.1 204 No Content\r\nContent-Length: 45\r\n\r\n" + injected, "", 204},
		{"body on a 304", "GET", "HTTP/1.1 304 Not Modified\r\n\r\n" + injected, "", 304},
		{"body on a response to HEAD", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 45\r\n\r\n" + injected, "", 200},
		{"body on a response to HEAD, after a pause", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 45\r\n\r\n", injected, 200},
		{"unsolicited response while idle", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n", 200},
		{"close while idle", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "close", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var conns atomic.Int32
			firstDone := make(chan struct{}) // the proxy has finished the first exchange
			idleSent := make(chan struct{})  // the server has sent what it sends while idle
			back := rawServer(t, func(c net.Conn) {
				n := conns.Add(1)
				br := bufio.NewReader(c)
				if n == 1 {
					if _, _, err := readRequest(br); err != nil {
						return
					}
					io.WriteString(c, tc.first)
					<-firstDone
					switch tc.later {
					case "":
					case "close":
						c.Close()
					default:
						io.WriteString(c, tc.later)
					}
					close(idleSent)
					io.Copy(io.Discard, br) // a request sent here would get no answer
					return
				}
				for {
					if _, _, err := readRequest(br); err != nil {
						return
					}
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh")
				}
			})
			f, _ := front(t, back, Options{}, RequestOptions{})
			if status, _ := fetch(t, tc.method, f.URL+"/first"); status != tc.status {
				t.Fatalf("first request: status %d, want %d", status, tc.status)
			}
			close(firstDone)
			<-idleSent
			status, body := fetch(t, "GET", f.URL+"/second")
			if status != 200 || body != "fresh" {
				t.Fatalf("the next client got %d %q, want 200 \"fresh\" from a new connection", status, body)
			}
			if n := conns.Load(); n != 2 {
				t.Fatalf("the server saw %d connections, want 2 (the tainted one never reused)", n)
			}
		})
	}
}

// TestInterimResponsesAreBounded: a server may send a few interim (1xx)
// responses before its answer, not an endless stream of them.
func TestInterimResponsesAreBounded(t *testing.T) {
	big := "HTTP/1.1 103 Early Hints\r\nLink: <" + strings.Repeat("x", 12<<10) + ">\r\n\r\n"
	tests := []struct {
		name    string
		interim string
		status  int
	}{
		{"a few", strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", 3) + "HTTP/1.1 102 Processing\r\n\r\n", 200},
		{"a flood", strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", 50), 502},
		{"too many bytes", strings.Repeat(big, 3), 502},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			back := rawServer(t, func(c net.Conn) {
				br := bufio.NewReader(c)
				for {
					if _, _, err := readRequest(br); err != nil {
						return
					}
					io.WriteString(c, tc.interim+"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			})
			f, _ := front(t, back, Options{}, RequestOptions{})
			status, body := fetch(t, "GET", f.URL)
			if status != tc.status {
				t.Fatalf("status %d %q, want %d", status, body, tc.status)
			}
		})
	}
}

// BenchmarkIdleCheck is the cost of looking at a pooled connection before
// using it (one non-blocking peek at its socket).
func BenchmarkIdleCheck(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
		}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	c := &conn{nc: nc, raw: nc, br: bufio.NewReaderSize(nc, readBufSize)}
	b.ReportAllocs()
	for range b.N {
		if !c.idleQuiet(time.Now()) {
			b.Fatal("an idle connection is not quiet")
		}
	}
}

// TestLeftoverBytesOverTLS: with TLS a second response can wait in the TLS
// layer's buffer rather than in the socket's: it is found there too.
func TestLeftoverBytesOverTLS(t *testing.T) {
	cert := selfSignedCert(t)
	var conns atomic.Int32
	// The second record is written before the next request is sent: a
	// response that arrives after usher sent a request cannot be told from
	// the answer to it, on any HTTP/1.1 connection.
	injectedSent := make(chan struct{})
	var sentOnce sync.Once
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := conns.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					if _, _, err := readRequest(br); err != nil {
						return
					}
					if n == 1 {
						// Two TLS records, one after the other.
						io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
						io.WriteString(c, injected)
						sentOnce.Do(func() { close(injectedSent) })
						continue
					}
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh")
				}
			}()
		}
	}()
	f, _ := front(t, "https://"+ln.Addr().String(), Options{TLS: &tls.Config{InsecureSkipVerify: true}}, RequestOptions{})
	for i := range 5 {
		status, body := fetch(t, "GET", f.URL)
		if i == 0 {
			<-injectedSent
		}
		if status != 200 || (body != "ok" && body != "fresh") || (i > 0 && body != "fresh") {
			t.Fatalf("request %d: %d %q", i, status, body)
		}
	}
}

// selfSignedCert makes a certificate for 127.0.0.1.
func selfSignedCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
