// Package h2guard sits between a client's HTTP/2 connection and Go's HTTP/2
// server (golang.org/x/net/http2), at the byte level: it reads the client's
// frames as they pass, and answers the few things RFC 9113 requires that
// Go's server does not do, or does not bound:
//
//   - A request (or trailer) with a connection-specific field (Connection,
//     Proxy-Connection, Keep-Alive, Transfer-Encoding, Upgrade) or a TE other
//     than "trailers" is malformed (§8.2.2): a stream error of type
//     PROTOCOL_ERROR. Go's server takes such requests. The guard decodes every
//     header block with its own HPACK decoder (kept in step with the server's)
//     and, when a block is malformed, ends it with one more CONTINUATION frame
//     carrying a field Go's server rejects (an upper-case name), so that the
//     server itself resets the stream with PROTOCOL_ERROR and both HPACK
//     states stay the same.
//   - A SETTINGS frame that repeats a setting is processed in order (§6.5.3);
//     Go's server hangs up on it. The guard passes the frame on with each
//     setting once, with its last value (or the first invalid one, so the
//     server still answers an invalid value as the RFC says).
//   - Rapid reset (CVE-2023-44487): the client's RST_STREAM frames draw from
//     a budget that time and the server's completed responses refill; a
//     client that overdraws it gets GOAWAY(ENHANCE_YOUR_CALM) and the
//     connection closes. Go's server bounds only the handlers it runs at
//     once, not the requests a client can start and cancel.
//   - CONTINUATION floods (CVE-2024-27316 class): Go's server bounds the
//     bytes of a header block but not its frames (empty CONTINUATION frames
//     cost it nothing but CPU, forever); the guard bounds the frames of one
//     block and answers more with GOAWAY(ENHANCE_YOUR_CALM).
//
// What Go's server already does right (frame sizes, stream states, flow
// control, HPACK errors) the guard leaves to it: when the client breaks a
// rule the server will answer with a connection error, the guard just passes
// the bytes on. It holds only HEADERS, CONTINUATION and SETTINGS frames
// until they are whole (at most MaxFrameSize bytes); everything else, DATA
// above all, goes through as it comes, read straight into the server's
// buffer.
//
// The server's frames are not parsed, only counted at their boundaries, so
// that a GOAWAY the guard sends lands between two of them.
package h2guard

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2/hpack"
)

// MaxFrameSize is the largest frame payload the guard holds, and so the
// SETTINGS_MAX_FRAME_SIZE the server must advertise (http2.Server's
// MaxReadFrameSize): the RFC's initial value, which clients assume anyway.
const MaxFrameSize = 1 << 14

// Defaults of Options.
const (
	// DefaultResetBurst is the client resets a connection may send at once:
	// twice Go's default concurrent streams (250), so a client that cancels
	// all its streams at once (a page left) stays well inside it.
	DefaultResetBurst = 500
	// DefaultResetRate is the resets per second the budget refills by, on
	// top of one for each response the server completes.
	DefaultResetRate = 100
	// DefaultMaxBlockFrames bounds the frames (HEADERS and its
	// CONTINUATIONs) of one header block. A 16KiB frame each, that is far
	// more header bytes than any server takes; a client needs more only to
	// flood.
	DefaultMaxBlockFrames = 128
)

// Options tunes a guard; zero values take the defaults.
type Options struct {
	ResetBurst     int     // client RST_STREAM frames allowed at once
	ResetRate      float64 // and per second after that
	MaxBlockFrames int     // frames in one header block
	// HeaderTableSize is the HPACK dynamic table size the server
	// advertises (SETTINGS_HEADER_TABLE_SIZE); default 4096, Go's.
	HeaderTableSize uint32
	// MaxStringLength bounds one HPACK string the guard decodes; default
	// 1MiB (Go's server has the same bound, its MaxHeaderBytes).
	MaxStringLength int
	// Upgraded: the connection came from an h2c upgrade, whose request is
	// stream 1 (a GOAWAY the guard sends counts it).
	Upgraded bool
	// OnFlood, when set, is told why the guard closed a connection.
	OnFlood func(c net.Conn, reason string)
}

// Frame types and flags the guard reads (RFC 9113 §6).
const (
	frameData         = 0x0
	frameHeaders      = 0x1
	frameRSTStream    = 0x3
	frameSettings     = 0x4
	frameGoAway       = 0x7
	frameContinuation = 0x9

	flagEndStream  = 0x1
	flagAck        = 0x1
	flagEndHeaders = 0x4
	flagPadded     = 0x8
	flagPriority   = 0x20

	errCodeEnhanceYourCalm = 0xb

	prefaceLen = 24 // "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
	headerLen  = 9
)

// malformed is the CONTINUATION frame that ends a malformed header block: one
// literal field without indexing (no change to the dynamic table) named
// "Malformed", which Go's server refuses as a stream error. Its stream ID
// (bytes 5..8) is filled in.
var malformed = []byte{
	0, 0, 12, frameContinuation, flagEndHeaders, 0, 0, 0, 0,
	0x00, 9, 'M', 'a', 'l', 'f', 'o', 'r', 'm', 'e', 'd', 0,
}

// ErrFlood is the read error the server gets once the guard has closed a
// connection for a flood.
var ErrFlood = errors.New("h2guard: connection closed for a flood")

var holdPool = sync.Pool{New: func() any {
	b := make([]byte, headerLen+MaxFrameSize+len(malformed))
	return &b
}}

// Conn is a guarded HTTP/2 connection, to be handed to the HTTP/2 server.
// The server's one reading goroutine calls Read; Write may be called by any.
type Conn struct {
	net.Conn
	opts Options

	// Read side, owned by the reading goroutine.
	preface int             // client preface bytes still to pass on
	hdr     [headerLen]byte // the frame header being read
	hn      int
	pass    int    // payload bytes of the current frame to pass on as they come
	ready   []byte // bytes to hand to the server before reading more
	hold    *[]byte
	held    int // bytes of a held frame read into *hold so far
	need    int // its whole size

	dec         *hpack.Decoder // nil once its state may differ from the server's
	inBlock     bool           // a header block is open (no END_HEADERS yet)
	blockStream uint32
	blockFrames int
	blockBad    bool // a field of the open block makes it malformed
	blockSkip   bool // the server does not decode the open block: neither do we
	lastStream  uint32
	tokens      float64
	refilled    time.Time
	seenDone    int64
	err         error

	// Write side.
	wmu   sync.Mutex
	whdr  [headerLen]byte
	whn   int
	wskip int
	wdead bool
	done  atomic.Int64 // streams the server ended (END_STREAM sent)
}

// tlsConn is a guarded TLS connection: the server reads its TLS state
// (r.TLS, the TLS 1.2 minimum) through ConnectionState.
type tlsConn struct {
	*Conn
	tc *tls.Conn
}

func (t tlsConn) ConnectionState() tls.ConnectionState { return t.tc.ConnectionState() }

// Wrap guards c, an HTTP/2 connection whose next bytes are the client's
// connection preface (on TLS, right after the handshake; in the clear, the
// preface read again). A *tls.Conn keeps its ConnectionState.
func Wrap(c net.Conn, opts Options) net.Conn {
	g := newConn(c, opts)
	if tc, ok := c.(*tls.Conn); ok {
		return tlsConn{g, tc}
	}
	return g
}

func newConn(c net.Conn, opts Options) *Conn {
	if opts.ResetBurst <= 0 {
		opts.ResetBurst = DefaultResetBurst
	}
	if opts.ResetRate <= 0 {
		opts.ResetRate = DefaultResetRate
	}
	if opts.MaxBlockFrames <= 0 {
		opts.MaxBlockFrames = DefaultMaxBlockFrames
	}
	if opts.HeaderTableSize == 0 {
		opts.HeaderTableSize = 4096
	}
	if opts.MaxStringLength <= 0 {
		opts.MaxStringLength = 1 << 20
	}
	g := &Conn{Conn: c, opts: opts, preface: prefaceLen, tokens: float64(opts.ResetBurst)}
	if opts.Upgraded {
		g.lastStream = 1
	}
	g.dec = hpack.NewDecoder(opts.HeaderTableSize, g.field)
	g.dec.SetMaxStringLength(opts.MaxStringLength)
	return g
}

// field checks one decoded field of a header block (RFC 9113 §8.2.2).
func (g *Conn) field(f hpack.HeaderField) {
	switch f.Name {
	case "connection", "proxy-connection", "keep-alive", "transfer-encoding", "upgrade":
		g.blockBad = true
	case "te":
		if !strings.EqualFold(strings.TrimSpace(f.Value), "trailers") {
			g.blockBad = true
		}
	}
}

// Read hands the server the client's bytes, frame by frame, as the guard
// lets them through.
func (g *Conn) Read(p []byte) (int, error) {
	for {
		if len(g.ready) > 0 {
			n := copy(p, g.ready)
			g.ready = g.ready[n:]
			if len(g.ready) == 0 && g.hold != nil {
				holdPool.Put(g.hold)
				g.hold = nil
			}
			return n, nil
		}
		if g.err != nil {
			return 0, g.err
		}
		switch {
		case g.preface > 0:
			n, err := g.Conn.Read(p[:min(len(p), g.preface)])
			g.preface -= n
			return n, err
		case g.pass > 0:
			n, err := g.Conn.Read(p[:min(len(p), g.pass)])
			g.pass -= n
			return n, err
		case g.need > 0:
			if err := g.readHeld(); err != nil {
				return 0, err
			}
		default:
			n, err := g.Conn.Read(g.hdr[g.hn:])
			g.hn += n
			if g.hn < headerLen {
				if err != nil {
					return 0, err
				}
				continue
			}
			g.hn = 0
			g.frame()
		}
	}
}

// frame decides what to do with the frame whose header was just read: pass
// it on as it comes, or hold it until whole.
func (g *Conn) frame() {
	length := int(g.hdr[0])<<16 | int(g.hdr[1])<<8 | int(g.hdr[2])
	typ, flags := g.hdr[3], g.hdr[4]
	stream := binary.BigEndian.Uint32(g.hdr[5:]) & (1<<31 - 1)
	hold := false
	switch typ {
	case frameHeaders, frameContinuation:
		if typ == frameHeaders {
			if g.inBlock { // the server ends the connection (PROTOCOL_ERROR)
				g.dec = nil
			}
			g.inBlock, g.blockStream, g.blockFrames, g.blockBad, g.blockSkip = true, stream, 0, false, false
			if stream > g.lastStream {
				g.lastStream = stream
			}
		} else if !g.inBlock || stream != g.blockStream {
			g.dec = nil // the server ends the connection
		}
		g.blockFrames++
		if g.blockFrames > g.opts.MaxBlockFrames {
			g.flood("CONTINUATION flood")
			return
		}
		if flags&flagEndHeaders != 0 {
			g.inBlock = false
		}
		if g.dec != nil && length <= MaxFrameSize {
			hold = true
		} else {
			g.dec = nil // the server refuses a frame over its size (FRAME_SIZE_ERROR)
		}
	case frameSettings:
		hold = flags&flagAck == 0 && length > 6 && length%6 == 0 && length <= 100*6
	case frameRSTStream:
		if !g.spendReset() {
			g.flood("rapid reset")
			return
		}
	}
	if !hold {
		g.ready, g.pass = g.hdr[:], length
		return
	}
	g.hold = holdPool.Get().(*[]byte)
	copy(*g.hold, g.hdr[:])
	g.held, g.need = headerLen, headerLen+length
}

// readHeld reads the rest of a held frame and, once it is whole, checks it.
func (g *Conn) readHeld() error {
	b := *g.hold
	for g.held < g.need {
		n, err := g.Conn.Read(b[g.held:g.need])
		g.held += n
		if err != nil && g.held < g.need {
			return err
		}
	}
	n := g.need
	g.need = 0
	switch b[3] {
	case frameSettings:
		n = headerLen + dedupSettings(b[headerLen:n])
		b[0], b[1], b[2] = byte((n-headerLen)>>16), byte((n-headerLen)>>8), byte(n-headerLen)
	default:
		n = g.headerBlock(b, n)
	}
	g.ready = b[:n]
	return nil
}

// headerBlock decodes the fragment of a held HEADERS or CONTINUATION frame
// b[:n]; when it ends a malformed block, it returns the frame without
// END_HEADERS and the malformed CONTINUATION after it, and their length.
func (g *Conn) headerBlock(b []byte, n int) int {
	frag := b[headerLen:n]
	if b[3] == frameHeaders {
		pad := 0
		if b[4]&flagPadded != 0 {
			if len(frag) < 1 {
				g.dec = nil
				return n
			}
			pad, frag = int(frag[0]), frag[1:]
		}
		if b[4]&flagPriority != 0 {
			if len(frag) < 5 {
				g.dec = nil
				return n
			}
			frag = frag[5:]
		}
		if pad > len(frag) {
			// The server resets the stream without decoding the block.
			g.blockSkip = true
			return n
		}
		frag = frag[:len(frag)-pad]
	}
	if g.blockSkip || g.dec == nil {
		return n
	}
	if _, err := g.dec.Write(frag); err != nil {
		g.dec = nil // the server answers COMPRESSION_ERROR
		return n
	}
	if b[4]&flagEndHeaders == 0 {
		return n
	}
	if err := g.dec.Close(); err != nil {
		g.dec = nil
		return n
	}
	if !g.blockBad {
		return n
	}
	g.blockBad = false
	b[4] &^= flagEndHeaders
	m := b[n : n+len(malformed)]
	copy(m, malformed)
	copy(m[5:9], b[5:9])
	return n + len(malformed)
}

// dedupSettings rewrites the settings of a SETTINGS payload in place so that
// each appears once, where it first appeared: with its last value, or its
// first invalid one (so that the server still answers an invalid value as
// the RFC says). Applying them in order comes to the same, which is what
// §6.5.3 asks. It returns the new length.
func dedupSettings(p []byte) int {
	n := len(p) / 6
	id := func(i int) uint16 { return binary.BigEndian.Uint16(p[i*6:]) }
	val := func(i int) uint32 { return binary.BigEndian.Uint32(p[i*6+2:]) }
	dup := false
	for i := 0; i < n && !dup; i++ {
		for j := i + 1; j < n; j++ {
			if id(i) == id(j) {
				dup = true
				break
			}
		}
	}
	if !dup {
		return len(p)
	}
	// Entries before out are rewritten, those from i on are as sent; the
	// IDs before i are the same set either way, so "seen before" holds.
	out := 0
	for i := range n {
		k := id(i)
		seen := false
		for j := range i {
			if id(j) == k {
				seen = true
				break
			}
		}
		if seen {
			continue
		}
		v, bad := val(i), !valid(k, val(i))
		for j := i + 1; j < n && !bad; j++ {
			if id(j) == k {
				v, bad = val(j), !valid(k, val(j))
			}
		}
		binary.BigEndian.PutUint16(p[out*6:], k)
		binary.BigEndian.PutUint32(p[out*6+2:], v)
		out++
	}
	return out * 6
}

// valid reports whether a setting's value is allowed (RFC 9113 §6.5.2).
func valid(id uint16, v uint32) bool {
	switch id {
	case 0x2, 0x8: // ENABLE_PUSH, ENABLE_CONNECT_PROTOCOL
		return v <= 1
	case 0x4: // INITIAL_WINDOW_SIZE
		return v <= 1<<31-1
	case 0x5: // MAX_FRAME_SIZE
		return v >= 1<<14 && v <= 1<<24-1
	}
	return true
}

// DedupSettings is dedupSettings for the payload of an HTTP2-Settings field
// (an h2c upgrade), which the server processes as a SETTINGS frame.
func DedupSettings(p []byte) []byte {
	if len(p)%6 != 0 || len(p) > 100*6 {
		return p
	}
	return p[:dedupSettings(p)]
}

// spendReset takes one reset from the budget, refilled first by the time
// since the last and by the responses the server completed; it reports
// whether there was one.
func (g *Conn) spendReset() bool {
	now := time.Now()
	if !g.refilled.IsZero() {
		g.tokens += now.Sub(g.refilled).Seconds() * g.opts.ResetRate
	}
	g.refilled = now
	if d := g.done.Load(); d != g.seenDone {
		g.tokens += float64(d - g.seenDone)
		g.seenDone = d
	}
	if burst := float64(g.opts.ResetBurst); g.tokens > burst {
		g.tokens = burst
	}
	if g.tokens < 1 {
		return false
	}
	g.tokens--
	return true
}

// flood ends the connection: a GOAWAY(ENHANCE_YOUR_CALM) between two of the
// server's frames, if the server is between two, and then no more writes;
// the server's next read gets ErrFlood and it closes the connection.
func (g *Conn) flood(reason string) {
	g.err = ErrFlood
	// A write of the server's stuck on a client that does not read would
	// hold the lock: this ends it.
	_ = g.Conn.SetWriteDeadline(time.Now().Add(time.Second))
	g.wmu.Lock()
	if !g.wdead && g.whn == 0 && g.wskip == 0 {
		var f [headerLen + 8]byte
		f[2], f[3] = 8, frameGoAway
		binary.BigEndian.PutUint32(f[9:], g.lastStream)
		binary.BigEndian.PutUint32(f[13:], errCodeEnhanceYourCalm)
		_, _ = g.Conn.Write(f[:])
	}
	g.wdead = true
	g.wmu.Unlock()
	if g.opts.OnFlood != nil {
		g.opts.OnFlood(g.Conn, reason)
	}
}

// Write passes the server's bytes on, keeping count of its frame boundaries
// and of the streams it ends.
func (g *Conn) Write(p []byte) (int, error) {
	g.wmu.Lock()
	defer g.wmu.Unlock()
	if g.wdead {
		return 0, ErrFlood
	}
	n, err := g.Conn.Write(p)
	g.track(p[:n])
	return n, err
}

func (g *Conn) track(p []byte) {
	for len(p) > 0 {
		if g.wskip > 0 {
			k := min(len(p), g.wskip)
			g.wskip -= k
			p = p[k:]
			continue
		}
		k := copy(g.whdr[g.whn:], p)
		g.whn += k
		p = p[k:]
		if g.whn < headerLen {
			return
		}
		g.whn = 0
		g.wskip = int(g.whdr[0])<<16 | int(g.whdr[1])<<8 | int(g.whdr[2])
		if t := g.whdr[3]; (t == frameData || t == frameHeaders) && g.whdr[4]&flagEndStream != 0 {
			g.done.Add(1)
		}
	}
}
