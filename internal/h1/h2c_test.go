package h1

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestH2CHandOff: with H2C set, a connection that starts with the HTTP/2
// preface, or whose first request asks for h2c without a body, goes to H2C
// with every byte usher read; anything else stays HTTP/1.1.
func TestH2CHandOff(t *testing.T) {
	type got struct {
		read     string
		upgrade  *http.Request
		settings []byte
	}
	handed := make(chan got, 1)
	s := &Server{Handler: echo, H2C: func(c net.Conn, up *http.Request, settings []byte) {
		b := make([]byte, 64)
		n, _ := io.ReadAtLeast(c, b, len(h2Preface)+5)
		io.WriteString(c, "h2 here")
		c.Close()
		handed <- got{string(b[:n]), up, settings}
	}}
	addr := start(t, s)

	c := dial(t, addr)
	io.WriteString(c, h2Preface+"hello")
	if b, _ := io.ReadAll(c); string(b) != "h2 here" {
		t.Fatalf("prior knowledge: the client read %q", b)
	}
	if g := <-handed; g.read != h2Preface+"hello" || g.upgrade != nil {
		t.Errorf("prior knowledge: H2C read %q, upgrade %v", g.read, g.upgrade)
	}

	c = dial(t, addr)
	io.WriteString(c, "GET /up HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n"+h2Preface+"hello")
	b, _ := io.ReadAll(c)
	if want := "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\nh2 here"; string(b) != want {
		t.Fatalf("upgrade: the client read %q, want %q", b, want)
	}
	if g := <-handed; g.read != h2Preface+"hello" || g.upgrade == nil || g.upgrade.URL.Path != "/up" || len(g.settings) != 18 {
		t.Errorf("upgrade: H2C read %q, upgrade %v, settings %x", g.read, g.upgrade, g.settings)
	}

	// HTTP/1.1 all the same: methods that start like the preface, an
	// upgrade with a body, an upgrade on a later request, bad settings.
	for _, raw := range []string{
		"PUT /p HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nz",
		"PRI /p HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /up HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nContent-Length: 2\r\n\r\nhi",
		"GET /up HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: !!\r\n\r\n",
		"GET /up HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n",
	} {
		resp, body := roundTrip(t, addr, raw)
		if resp.StatusCode != 200 || !strings.HasPrefix(body, raw[:strings.IndexByte(raw, ' ')]) {
			t.Errorf("%q: %d %q, want it served as HTTP/1.1", raw, resp.StatusCode, body)
		}
	}
	c = dial(t, addr)
	io.WriteString(c, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n")
	if b, _ := io.ReadAll(c); strings.Contains(string(b), "101") || strings.Count(string(b), "HTTP/1.1 200") != 2 {
		t.Errorf("an upgrade on the second request: %q", b)
	}
	select {
	case g := <-handed:
		t.Errorf("handed off: %+v", g)
	default:
	}
}

// TestH2CPrefaceWithout: without H2C, the preface is not a request.
func TestH2CPrefaceWithout(t *testing.T) {
	addr := start(t, &Server{Handler: echo})
	resp, _ := roundTrip(t, addr, h2Preface)
	if resp.StatusCode < 400 {
		t.Errorf("the preface got %d", resp.StatusCode)
	}
}

// TestH2CBrokenPreface: with H2C, a first line that is not HTTP/1 at all,
// as a broken HTTP/2 preface is, closes the connection without an answer
// (RFC 9113 §3.4); without H2C, or on a later request, it gets its 400.
func TestH2CBrokenPreface(t *testing.T) {
	const broken = "INVALID CONNECTION PREFACE\r\n\r\n"
	h2c := start(t, &Server{Handler: echo, H2C: func(c net.Conn, _ *http.Request, _ []byte) { c.Close() }})
	c := dial(t, h2c)
	io.WriteString(c, broken)
	if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
		t.Errorf("with H2C: the client read %q (%v), want a close", b, err)
	}
	c = dial(t, h2c)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"+broken)
	if b, _ := io.ReadAll(c); !strings.Contains(string(b), "HTTP/1.1 200") || !strings.Contains(string(b), "HTTP/1.1 400") {
		t.Errorf("a later request: %q, want 200 then 400", b)
	}
	if resp, _ := roundTrip(t, start(t, &Server{Handler: echo}), broken); resp.StatusCode != 400 {
		t.Errorf("without H2C: %d, want 400", resp.StatusCode)
	}
}
