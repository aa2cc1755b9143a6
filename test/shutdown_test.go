package test

import (
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// On shutdown a WebSocket gets the longest gracePeriod of all entrypoints,
// counted from the signal, even on an entrypoint whose own grace is short; a
// request still in flight when its entrypoint's grace ends is cut then.
func TestWebSocketsGetTheLongestGracePeriod(t *testing.T) {
	upgrader := websocket.Upgrader{}
	echo := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: first\n\n")
			w.(http.Flusher).Flush()
			<-r.Context().Done() // until usher cuts the connection
			return
		}
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, msg); err != nil {
				return
			}
		}
	})
	const short, long = 100 * time.Millisecond, 1500 * time.Millisecond
	u := startUsher(t, config(`
entrypoints:
  ws:   { address: "127.0.0.1:0", gracePeriod: 100ms }
  slow: { address: "127.0.0.1:0", gracePeriod: 1500ms }
http:
  routers:
    all: { rule: "PathPrefix(`+"`/`"+`)", service: app }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`, "be", echo.URL))
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+u.addrs["ws"]+"/chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	// A request that never ends, on the entrypoint with the long grace.
	hang, err := (&http.Client{Timeout: 10 * time.Second}).Get(u.url("slow") + "/hang")
	if err != nil {
		t.Fatal(err)
	}
	defer hang.Body.Close()
	hangCut := make(chan time.Time, 1)
	go func() { io.Copy(io.Discard, hang.Body); hangCut <- time.Now() }()

	start := time.Now()
	u.cmd.Process.Signal(syscall.SIGTERM)
	// The WebSocket keeps echoing until the longest grace is over.
	var lastEcho time.Time
	for time.Since(start) < long+3*time.Second {
		ws.SetWriteDeadline(time.Now().Add(3 * time.Second))
		ws.SetReadDeadline(time.Now().Add(3 * time.Second))
		if err := ws.WriteMessage(websocket.TextMessage, []byte("ping")); err != nil {
			break
		}
		if _, msg, err := ws.ReadMessage(); err != nil || string(msg) != "ping" {
			break
		}
		lastEcho = time.Now()
		time.Sleep(20 * time.Millisecond) // the pace of the pings
	}
	closed := time.Since(start)
	if alive := lastEcho.Sub(start); alive < long-300*time.Millisecond {
		t.Errorf("the WebSocket stopped echoing %v after the signal; its entrypoint's grace is %v, the longest %v", alive, short, long)
	}
	if closed > long+time.Second {
		t.Errorf("the WebSocket was closed %v after the signal, want about %v", closed, long)
	}
	select {
	case <-u.done:
	case <-time.After(long + 3*time.Second):
		u.cmd.Process.Signal(syscall.SIGQUIT)
		<-u.done
		t.Fatalf("usher did not exit; log:\n%s", u.logText())
	}
	// (A -race build of usher sleeps 1s at exit: GORACE atexit_sleep_ms.)
	if took := time.Since(start); took > long+2*time.Second {
		t.Errorf("usher exited %v after the signal; the longest grace is %v; log:\n%s", took, long, u.logText())
	}
	select {
	case at := <-hangCut:
		if d := at.Sub(start); d < long-300*time.Millisecond || d > long+time.Second {
			t.Errorf("the hanging request was cut %v after the signal, want about %v", d, long)
		}
	case <-time.After(time.Second):
		t.Error("the hanging request was not cut")
	}
}
