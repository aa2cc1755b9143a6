package h1

import (
	"bytes"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/usher-lb/usher/internal/wire"
)

// h2Preface is what an HTTP/2 client sends first (RFC 9113 §3.4).
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// H2C serves a connection that speaks HTTP/2 without TLS: from its first
// byte (prior knowledge; upgrade is nil), or after an HTTP/1.1 request with
// `Upgrade: h2c` that usher answered with 101 (upgrade is that request, with
// no body, to be answered as the connection's stream 1, and settings its
// decoded HTTP2-Settings). c's reads start with the bytes usher had already
// read. It returns when the connection is done; the server no longer counts
// it.
type H2C func(c net.Conn, upgrade *http.Request, settings []byte)

// startsWithPreface reports whether the connection's first bytes are the
// HTTP/2 preface. It reads only as far as they agree with it: an HTTP/1.1
// request differs at its first or second byte.
func (c *conn) startsWithPreface() bool {
	for n := 1; n <= len(h2Preface); n++ {
		b, err := c.br.Peek(n)
		if err != nil || b[n-1] != h2Preface[n-1] {
			return false
		}
	}
	return true
}

// h2cUpgrade reports whether r asks to upgrade to h2c in a way usher takes
// (RFC 7540 §3.2): `Upgrade: h2c`, `Connection` naming Upgrade and
// HTTP2-Settings, one HTTP2-Settings field of base64url SETTINGS, and no
// body (a body would have to be read whole first; the request is served in
// HTTP/1.1 instead, as the RFC allows). It returns the decoded settings.
func h2cUpgrade(r *http.Request) ([]byte, bool) {
	if r.Body != http.NoBody || r.ProtoMajor != 1 || r.ProtoMinor != 1 {
		return nil, false
	}
	if !wire.HasToken(r.Header["Upgrade"], "h2c") {
		return nil, false
	}
	conn := r.Header["Connection"]
	if !wire.HasToken(conn, "upgrade") || !wire.HasToken(conn, "http2-settings") {
		return nil, false
	}
	vs := r.Header["Http2-Settings"]
	if len(vs) != 1 {
		return nil, false
	}
	settings, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(strings.TrimSpace(vs[0]), "="))
	if err != nil || len(settings)%6 != 0 {
		return nil, false
	}
	return settings, true
}

// handOff gives the connection to the server's H2C, with what was read of
// it. The caller holds rmu and has the buffers; serve's deferred end sees a
// hijacked connection and leaves the socket open.
func (c *conn) handOff(upgrade *http.Request, settings []byte) {
	read, _ := c.br.Peek(c.br.Buffered())
	pc := &prefixConn{Conn: c.rwc, pre: bytes.Clone(read)}
	_, _ = c.br.Discard(len(read))
	c.releaseBufs()
	c.hijacked = true
	c.hijackedA.Store(true)
	_ = c.rwc.SetDeadline(time.Time{})
	c.setState(http.StateHijacked)
	c.srv.trackConn(c, false)
	c.srv.H2C(pc, upgrade, settings)
}

// prefixConn is a connection whose first reads return pre.
type prefixConn struct {
	net.Conn
	pre []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.pre) > 0 {
		n := copy(b, p.pre)
		p.pre = p.pre[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}
