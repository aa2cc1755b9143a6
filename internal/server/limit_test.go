package server

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"
)

func TestPeerKey(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"192.0.2.7:1234", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:1234", "192.0.2.7"},
		{"[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:80", "2001:db8:1:2::"},
		{"[2001:db8:1:2::1]:80", "2001:db8:1:2::"},
		{"[2001:db8:1:3::1]:80", "2001:db8:1:3::"},
	} {
		a, _ := net.ResolveTCPAddr("tcp", tc.addr)
		got, ok := peerKey(a)
		if !ok || got.String() != tc.want {
			t.Errorf("%s: got %v %v, want %s", tc.addr, got, ok, tc.want)
		}
	}
}

// limitedServer accepts on a limitListener and holds every admitted
// connection open until the test ends.
func limitedServer(t *testing.T, l *connLimiter) (addr string, admitted chan net.Conn) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	ln := &limitListener{Listener: raw, l: l}
	admitted = make(chan net.Conn, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			admitted <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		close(admitted)
		for c := range admitted {
			c.Close()
		}
	})
	return raw.Addr().String(), admitted
}

func TestConnLimiterRefusesWith503(t *testing.T) {
	l := &connLimiter{plain: true, entrypoint: "web"}
	l.set(2, 0)
	addr, admitted := limitedServer(t, l)
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, <-admitted)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" || !resp.Close {
		t.Fatalf("refused: %d %v", resp.StatusCode, resp.Header)
	}
	if l.open.Load() != 2 {
		t.Errorf("open %d, want 2", l.open.Load())
	}
	// One closes: a new connection gets in, and the count is right.
	held[0].Close()
	held[0].Close() // twice: counted once
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	select {
	case <-admitted:
	case <-time.After(5 * time.Second):
		t.Fatal("a connection under the limit was not admitted")
	}
	if l.open.Load() != 2 {
		t.Errorf("open %d, want 2", l.open.Load())
	}
}

func TestConnLimiterPerIP(t *testing.T) {
	l := &connLimiter{}
	l.set(0, 1)
	addr, admitted := limitedServer(t, l)
	c1, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	<-admitted
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	// TLS entrypoint (plain false): closed at once, nothing written.
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c2.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("second connection from the same IP: read %d, %v", n, err)
	}
	// From another address of loopback (127.0.0.2 is loopback on Linux).
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	c3, err := d.Dial("tcp", addr)
	if err != nil {
		t.Skip("no 127.0.0.2:", err)
	}
	defer c3.Close()
	select {
	case <-admitted:
	case <-time.After(5 * time.Second):
		t.Fatal("another IP was refused")
	}
}

// BenchmarkConnLimiter is what a connection's open and close cost: the
// global count and the per-IP shard.
func BenchmarkConnLimiter(b *testing.B) {
	l := &connLimiter{}
	l.set(1<<30, 1<<30)
	c := &fakeConn{addr: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			lc := l.admit(c).(*limitedConn)
			l.release(lc)
		}
	})
}

type fakeConn struct {
	net.Conn
	addr net.Addr
}

func (c *fakeConn) RemoteAddr() net.Addr { return c.addr }
