// Command h3load is the load client (and the backend, and the certificate
// maker) of bench/h3.sh: it sends GETs over HTTP/2 or HTTP/3 to one
// entrypoint for a while and reports requests/s and the CPU a process
// (usher) spent per request, read from /proc.
//
//	h3load cert DIR                      write DIR/cert.pem and DIR/key.pem for bench.test
//	h3load backend ADDR                  answer every request with 1 KiB
//	h3load load -proto h2|h3 -addr A -ca F -pid P -d 4s -conns 4 -streams 8
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: h3load cert DIR | backend ADDR | load [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "cert":
		err = writeCert(os.Args[2])
	case "backend":
		body := strings.Repeat("x", 1023) + "\n"
		err = http.ListenAndServe(os.Args[2], http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, body)
		}))
	case "load":
		err = load(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "h3load:", err)
		os.Exit(1)
	}
}

func writeCert(dir string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "bench.test"},
		DNSNames:     []string{"bench.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
}

func load(args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	proto := fs.String("proto", "h3", "h2 or h3")
	addr := fs.String("addr", "127.0.0.1:8443", "usher's entrypoint")
	caFile := fs.String("ca", "", "certificate to trust")
	pid := fs.Int("pid", 0, "process whose CPU is counted (0: none)")
	d := fs.Duration("d", 4*time.Second, "how long")
	conns := fs.Int("conns", 4, "connections")
	streams := fs.Int("streams", 8, "requests in flight per connection")
	fs.Parse(args)
	pem, err := os.ReadFile(*caFile)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	tc := &tls.Config{RootCAs: roots, ServerName: "bench.test"}
	var clients []*http.Client
	for range *conns {
		var rt http.RoundTripper
		switch *proto {
		case "h3":
			rt = &http3.Transport{TLSClientConfig: tc.Clone(), Dial: func(ctx context.Context, _ string, tc *tls.Config, qc *quic.Config) (*quic.Conn, error) {
				return quic.DialAddrEarly(ctx, *addr, tc, qc)
			}}
		case "h2":
			rt = &http.Transport{TLSClientConfig: tc.Clone(), ForceAttemptHTTP2: true, MaxConnsPerHost: 1,
				DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					return (&net.Dialer{}).DialContext(ctx, network, *addr)
				}}
		default:
			return fmt.Errorf("-proto %q: want h2 or h3", *proto)
		}
		clients = append(clients, &http.Client{Transport: rt, Timeout: 10 * time.Second})
	}
	get := func(c *http.Client) error {
		resp, err := c.Get("https://bench.test/")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != 200 || resp.ProtoMajor != map[string]int{"h2": 2, "h3": 3}[*proto] {
			return fmt.Errorf("%s %d", resp.Proto, resp.StatusCode)
		}
		return nil
	}
	for _, c := range clients { // connect before counting
		if err := get(c); err != nil {
			return err
		}
	}
	var n, failed atomic.Int64
	var firstErr atomic.Value
	cpu0, err := cpuTicks(*pid)
	if err != nil {
		return err
	}
	start := time.Now()
	end := start.Add(*d)
	var wg sync.WaitGroup
	for _, c := range clients {
		for range *streams {
			wg.Go(func() {
				for time.Now().Before(end) {
					if err := get(c); err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err)
						continue
					}
					n.Add(1)
				}
			})
		}
	}
	wg.Wait()
	el := time.Since(start)
	cpu1, err := cpuTicks(*pid)
	if err != nil {
		return err
	}
	hz := 100.0 // USER_HZ on Linux
	usPerReq := float64(cpu1-cpu0) / hz * 1e6 / float64(n.Load())
	fmt.Printf("%s %.0f %.1f %d\n", *proto, float64(n.Load())/el.Seconds(), usPerReq, failed.Load())
	if e := firstErr.Load(); e != nil {
		fmt.Fprintln(os.Stderr, "first error:", e)
	}
	return nil
}

// cpuTicks is the utime+stime of every thread of pid, in clock ticks.
func cpuTicks(pid int) (int64, error) {
	if pid == 0 {
		return 0, nil
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s, nil
}
