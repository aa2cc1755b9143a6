package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/h1"
	"github.com/usher-lb/usher/internal/runtime"
)

// TestBodyIdleTLS: on net/http's server (TLS entrypoints), a body that stops
// coming fails after the idle timeout with a timeout h1.BodyError, on
// HTTP/1.1 and on HTTP/2; a slow but steady body is read whole.
func TestBodyIdleTLS(t *testing.T) {
	const idle = 300 * time.Millisecond
	srv := httptest.NewUnstartedServer(bodyIdle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		var be *h1.BodyError
		var ne net.Error
		switch {
		case err == nil:
			fmt.Fprintf(w, "read %d", n)
		case errors.As(err, &be) && errors.As(err, &ne) && ne.Timeout():
			http.Error(w, err.Error(), http.StatusRequestTimeout)
		default:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}), idle, 0))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()

	t.Run("http1 stalled", func(t *testing.T) {
		c, err := tls.Dial("tcp", srv.Listener.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		t0 := time.Now()
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 408 || time.Since(t0) > 5*time.Second {
			t.Fatalf("%d %q after %v, want 408", resp.StatusCode, b, time.Since(t0))
		}
	})

	for _, tt := range []struct {
		name  string
		gap   time.Duration
		bytes int
		code  int
	}{
		{"http2 stalled", 3 * idle, 2, 408},
		{"http2 steady", idle / 5, 10, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr := srv.Client().Transport.(*http.Transport).Clone()
			tr.ForceAttemptHTTP2 = true
			defer tr.CloseIdleConnections()
			pr, pw := io.Pipe()
			go func() {
				for range tt.bytes {
					if _, err := pw.Write([]byte("a")); err != nil {
						return
					}
					time.Sleep(tt.gap)
				}
				pw.Close()
			}()
			defer pw.Close()
			req, _ := http.NewRequest("POST", srv.URL, pr)
			resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor != 2 || resp.StatusCode != tt.code || (tt.code == 200 && !strings.Contains(string(b), fmt.Sprint("read ", tt.bytes))) {
				t.Fatalf("%s %d %q, want HTTP/2 %d", resp.Proto, resp.StatusCode, b, tt.code)
			}
		})
	}
}

// TestBodyIdleTimeoutPlain: an entrypoint's bodyIdleTimeout reaches h1: a
// client that stops sending its body is answered and disconnected after it,
// not held for the 60s default.
func TestBodyIdleTimeoutPlain(t *testing.T) {
	back := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	defer back.Close()
	cfg, err := config.Parse("usher.yaml", []byte(`
entrypoints:
  web: { address: "127.0.0.1:0", bodyIdleTimeout: 200ms }
http:
  routers:
    all: { rule: "PathPrefix(`+"`/`"+`)", service: app }
  services:
    app: { loadBalancer: { servers: [ { url: "`+back.URL+`" } ] } }
`))
	if err != nil {
		t.Fatal(err)
	}
	checked, err := runtime.Check(cfg)
	if err != nil {
		t.Fatal(err)
	}
	snap, pending, err := runtime.Compile(context.Background(), checked, runtime.NewState())
	if err != nil {
		t.Fatal(err)
	}
	pending.Commit()
	s, err := New(cfg, slog.New(slog.DiscardHandler), Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Swap(snap)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Serve(ctx) }()
	defer func() { cancel(); <-done }()

	c, err := net.Dial("tcp", s.Addr("web"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t0 := time.Now()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err == nil {
		io.ReadAll(resp.Body)
		if resp.StatusCode < 400 || !resp.Close {
			t.Errorf("%d close=%v, want an error status and Connection: close", resp.StatusCode, resp.Close)
		}
		_, err = br.ReadByte()
	}
	if err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("connection: %v, want it closed", err)
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("closed after %v, want about 200ms", d)
	}
}
