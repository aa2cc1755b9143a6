package h1

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestContextDone: a handler blocked on its context's Done returns promptly
// when the client closes its connection; WithCancel/WithTimeout children
// and context.AfterFunc see it, and need no goroutine each.
func TestContextDone(t *testing.T) {
	type result struct {
		waited                  time.Duration
		childErr, afterFuncSeen error
		goroutines              int
	}
	got := make(chan result, 1)
	entered := make(chan struct{})
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if ctx.Done() == nil {
			panic("Done is nil")
		}
		g0 := runtime.NumGoroutine()
		var cancels []context.CancelFunc
		for range 100 {
			_, cancel := context.WithCancel(ctx)
			cancels = append(cancels, cancel)
		}
		child, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		seen := make(chan error, 1)
		context.AfterFunc(ctx, func() { seen <- ctx.Err() })
		g := runtime.NumGoroutine() - g0
		for _, c := range cancels {
			c()
		}
		close(entered)
		t0 := time.Now()
		<-ctx.Done()
		res := result{waited: time.Since(t0), goroutines: g}
		select {
		case <-child.Done():
			res.childErr = child.Err()
		case <-time.After(time.Second):
		}
		select {
		case res.afterFuncSeen = <-seen:
		case <-time.After(time.Second):
		}
		got <- res
	})})
	c := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	<-entered
	t0 := time.Now()
	c.Close()
	select {
	case res := <-got:
		if d := time.Since(t0); d > time.Second {
			t.Errorf("Done closed %v after the client left", d)
		}
		if res.childErr != context.Canceled || res.afterFuncSeen != context.Canceled {
			t.Errorf("WithTimeout child: %v, AfterFunc: %v; want both canceled", res.childErr, res.afterFuncSeen)
		}
		if res.goroutines > 2 {
			t.Errorf("101 children and an AfterFunc took %d goroutines", res.goroutines)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler is still waiting on Done")
	}
}

// TestContextDoneKeepAlive: Done closes when the handler returns (for what
// it left waiting); the connection then serves its next requests, with its
// idle timeout; a pipelined request is not a client gone.
func TestContextDoneKeepAlive(t *testing.T) {
	released := make(chan string, 4)
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		go func() {
			<-ctx.Done()
			released <- r.URL.Path
		}()
		select {
		case <-ctx.Done():
			io.WriteString(w, "canceled")
		case <-time.After(150 * time.Millisecond):
			io.WriteString(w, r.URL.Path)
		}
	}), IdleTimeout: 300 * time.Millisecond, ReadHeaderTimeout: 50 * time.Millisecond})
	c := dial(t, addr)
	br := bufio.NewReader(c)
	get := func(want string) {
		t.Helper()
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := io.ReadAll(resp.Body); string(b) != want {
			t.Fatalf("%q, want %q", b, want)
		}
		select {
		case p := <-released:
			if p != want {
				t.Fatalf("released %q", p)
			}
		case <-time.After(time.Second):
			t.Fatal("Done not closed after the handler returned")
		}
	}
	// The handler outlives the header deadline (50ms): the watch must not
	// take that for the client leaving.
	io.WriteString(c, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n")
	get("/1")
	io.WriteString(c, "GET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
	get("/2")
	io.WriteString(c, "GET /3 HTTP/1.1\r\nHost: x\r\n\r\nGET /4 HTTP/1.1\r\nHost: x\r\n\r\n")
	get("/3")
	get("/4")
	t0 := time.Now()
	if _, err := br.ReadByte(); err != io.EOF || time.Since(t0) > 2*time.Second {
		t.Fatalf("idle connection: %v after %v, want closed after the idle timeout", err, time.Since(t0))
	}
}

// TestContextDoneBody: Done asked before the body is read watches from the
// body's end; the body is read whole meanwhile.
func TestContextDoneBody(t *testing.T) {
	got := make(chan string, 1)
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		done := r.Context().Done()
		b, err := io.ReadAll(r.Body)
		got <- fmt.Sprintf("%q %v", b, err)
		<-done
		got <- "done"
	})})
	c := dial(t, addr)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
	for _, chunk := range []string{"3\r\nabc\r\n", "2\r\nde\r\n", "0\r\n\r\n"} {
		time.Sleep(30 * time.Millisecond)
		io.WriteString(c, chunk)
	}
	if s := <-got; s != `"abcde" <nil>` {
		t.Fatal(s)
	}
	select {
	case s := <-got:
		t.Fatalf("%s while the client is there", s)
	case <-time.After(100 * time.Millisecond):
	}
	c.Close()
	select {
	case <-got:
	case <-time.After(3 * time.Second):
		t.Fatal("Done not closed when the client left after its body")
	}
}

// TestContextDoneHijack: a connection hijacked after Done was called reads
// and writes as its own.
func TestContextDoneHijack(t *testing.T) {
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.Context().Done()
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		defer c.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		brw.WriteString("echo " + line)
		brw.Flush()
	})})
	c := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(c)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 101 {
		t.Fatal(resp, err)
	}
	time.Sleep(50 * time.Millisecond)
	io.WriteString(c, "ping\n")
	if line, err := br.ReadString('\n'); !strings.HasPrefix(line, "echo ping") {
		t.Fatalf("%q %v", line, err)
	}
}
