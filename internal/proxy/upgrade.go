package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/usher-lb/usher/internal/wire"
)

// IsUpgrade tells whether r asks to switch protocols (WebSocket and others).
func IsUpgrade(r *http.Request) bool {
	return r.Header.Get("Upgrade") != "" && headerHasToken(r.Header["Connection"], "upgrade")
}

func headerHasToken(vv []string, tok string) bool {
	return wire.HasToken(vv, tok)
}

// Tunnels tracks the connections handed over to a protocol switch, which the
// HTTP server no longer sees: graceful shutdown waits for them and closes them
// when its grace period ends.
type Tunnels struct {
	mu    sync.Mutex
	conns map[*tunnel]struct{}
	wg    sync.WaitGroup
}

type tunnel struct{ client, server net.Conn }

// DefaultTunnels is the process's tunnel tracker.
var DefaultTunnels = &Tunnels{}

func (t *Tunnels) add(tu *tunnel) {
	t.mu.Lock()
	if t.conns == nil {
		t.conns = map[*tunnel]struct{}{}
	}
	t.conns[tu] = struct{}{}
	t.wg.Add(1)
	t.mu.Unlock()
}

func (t *Tunnels) remove(tu *tunnel) {
	t.mu.Lock()
	delete(t.conns, tu)
	t.mu.Unlock()
	t.wg.Done()
}

// Len is the number of open tunnels.
func (t *Tunnels) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns)
}

// Wait returns when every tunnel has closed.
func (t *Tunnels) Wait() { t.wg.Wait() }

// CloseAll closes every open tunnel.
func (t *Tunnels) CloseAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for tu := range t.conns {
		tu.client.Close()
		tu.server.Close()
	}
}

// tunnelDrain is how long one direction of a tunnel may go on after the other ended.
const tunnelDrain = 5 * time.Second

// ServeUpgrade forwards a protocol-switch request on a connection of its own;
// when the server agrees (101), the client's connection is taken over from the
// HTTP server and bytes are copied both ways until either side closes.
func (up *Upstream) ServeUpgrade(w http.ResponseWriter, r *http.Request, ro RequestOptions) Outcome {
	ctx := r.Context()
	c, err := up.dial(ctx)
	if err != nil {
		return WriteError(w, r, classify("dial", err, ctx, true))
	}
	if up.opts.ResponseHeaderTimeout > 0 {
		c.nc.SetDeadline(time.Now().Add(up.opts.ResponseHeaderTimeout))
	}
	// An upgrade carries no body: what follows its head is the new protocol.
	c.body.reset(nil, 0, false)
	up.writeHead(c.bw, r, ro, true, 0)
	if err := c.bw.Flush(); err != nil {
		c.nc.Close()
		return WriteError(w, r, classify("write", err, ctx, false))
	}
	resp := c.newResponse(up, ctx, r, time.Now())
	for {
		if err := resp.readHead(); err != nil {
			c.nc.Close()
			return WriteError(w, r, classify("read", err, ctx, false))
		}
		if resp.Status >= 200 || resp.Status == http.StatusSwitchingProtocols {
			break
		}
		if resp.interims++; resp.interims > maxInterim || resp.headBytes > maxInterimBytes {
			c.nc.Close()
			return WriteError(w, r, classify("read", errInterim, ctx, false))
		}
	}
	c.nc.SetDeadline(time.Time{})
	if resp.Status != http.StatusSwitchingProtocols {
		resp.closeAfter = true
		status := resp.Status
		n, err := resp.WriteTo(w)
		return Outcome{Status: status, Bytes: n, Err: err, Written: true, Abort: err != nil}
	}

	client, crw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		c.nc.Close()
		PlainError(w, http.StatusInternalServerError)
		return Outcome{Status: http.StatusInternalServerError, Err: err, Written: true}
	}
	// The 101 and its headers, as the server sent them.
	bw := crw.Writer
	bw.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	for i, k := range resp.keys {
		wire.WriteField(bw, k, resp.vals[i])
	}
	bw.WriteString("\r\n")
	if err := bw.Flush(); err != nil {
		client.Close()
		c.nc.Close()
		return Outcome{Status: http.StatusSwitchingProtocols, Written: true}
	}
	tu := &tunnel{client: client, server: c.nc}
	DefaultTunnels.add(tu)
	defer DefaultTunnels.remove(tu)

	// Each direction half-closes the other side when its source ends; once one
	// direction is over the other gets a short time to drain, then both close.
	var n int64
	done := make(chan struct{})
	go func() {
		// client → server: first what the HTTP server had already buffered.
		io.Copy(c.nc, io.MultiReader(bufferedOf(crw.Reader), client))
		closeWrite(c.nc)
		c.nc.SetReadDeadline(time.Now().Add(tunnelDrain))
		close(done)
	}()
	// server → client: first what we had read past the 101.
	n, _ = io.Copy(client, io.MultiReader(bufferedOf(c.br), c.nc))
	closeWrite(client)
	client.SetReadDeadline(time.Now().Add(tunnelDrain))
	<-done
	client.Close()
	c.nc.Close()
	return Outcome{Status: http.StatusSwitchingProtocols, Bytes: n, Written: true}
}

// bufferedOf returns the bytes already buffered in br, as a reader.
func bufferedOf(br *bufio.Reader) io.Reader {
	b, _ := br.Peek(br.Buffered())
	return strings.NewReader(string(b))
}

// closeWrite half-closes a connection so the other side sees EOF while its own
// direction can still drain.
func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		return
	}
	c.Close()
}
