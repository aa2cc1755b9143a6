package test

import (
	"bytes"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Config is a TLS entrypoint (HTTP/2 by ALPN) and a plain one with h2c,
// both routing everything to one server.
const h2Config = `
entrypoints:
  websecure: { address: "127.0.0.1:0", tls: {} }
  web: { address: "127.0.0.1:0", h2c: true }
tls:
  certificates: [ { certFile: "{{cert}}", keyFile: "{{key}}" } ]
http:
  routers:
    plain: { rule: "PathPrefix(` + "`/`" + `)", service: app }
    secure: { rule: "PathPrefix(` + "`/`" + `)", service: app, tls: {} }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`

// h2specBin finds h2spec (scripts/test.sh installs it).
func h2specBin(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("h2spec"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "h2spec")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("h2spec is not installed: go install github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible (scripts/test.sh does)")
	return ""
}

// junit is the part of h2spec's JUnit report the test reads.
type junit struct {
	Suites []struct {
		Cases []struct {
			Package string    `xml:"package,attr"`
			Name    string    `xml:"classname,attr"`
			Error   *struct{} `xml:"error"`
			Failure *struct{} `xml:"failure"`
			Skipped *struct{} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// TestH2Spec: h2spec, the HTTP/2 conformance suite, every case of it (its
// generic, http2 and hpack sections, strict cases included) against a TLS
// entrypoint and an h2c one. Any case failed or skipped fails the test, by
// its section and name.
func TestH2Spec(t *testing.T) {
	bin := h2specBin(t)
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		// Some cases need a response body of a few bytes at least, or skip.
		io.WriteString(w, "a response body long enough for every h2spec case\n")
	})
	certFile, keyFile, _ := selfSigned(t, t.TempDir(), "h2spec.test")
	u := startUsher(t, config(h2Config, "cert", certFile, "key", keyFile, "be", be.URL))
	for _, ep := range []string{"websecure", "web"} {
		t.Run(ep, func(t *testing.T) {
			_, port, _ := net.SplitHostPort(u.addrs[ep])
			report := filepath.Join(t.TempDir(), "h2spec.xml")
			args := []string{"--strict", "-h", "127.0.0.1", "-p", port, "-o", "5", "-j", report}
			if ep == "websecure" {
				args = append(args, "--tls", "--insecure")
			}
			out, err := exec.Command(bin, args...).CombinedOutput()
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				t.Fatalf("h2spec: %v\n%s", err, out)
			}
			b, rerr := os.ReadFile(report)
			var rep junit
			if rerr != nil || xml.Unmarshal(b, &rep) != nil {
				t.Fatalf("h2spec wrote no report (%v); output:\n%s", rerr, out)
			}
			type tally struct{ tests, passed int }
			sections := map[string]*tally{}
			var bad []string
			for _, s := range rep.Suites {
				for _, c := range s.Cases {
					sec, _, _ := strings.Cut(c.Package, "/")
					if sections[sec] == nil {
						sections[sec] = &tally{}
					}
					sections[sec].tests++
					switch {
					case c.Error != nil || c.Failure != nil:
						bad = append(bad, fmt.Sprintf("failed: %s %s", c.Package, c.Name))
					case c.Skipped != nil:
						bad = append(bad, fmt.Sprintf("skipped: %s %s", c.Package, c.Name))
					default:
						sections[sec].passed++
					}
				}
			}
			names := make([]string, 0, len(sections))
			for n := range sections {
				names = append(names, n)
			}
			sort.Strings(names)
			var line []string
			total := 0
			for _, n := range names {
				line = append(line, fmt.Sprintf("%s %d/%d", n, sections[n].passed, sections[n].tests))
				total += sections[n].tests
			}
			t.Logf("h2spec on %s: %s", ep, strings.Join(line, ", "))
			if total < 146 { // h2spec 2.2.1 has 146 cases with --strict
				t.Errorf("h2spec ran %d cases, want 146; output:\n%s", total, out)
			}
			if len(bad) > 0 || (err != nil && len(bad) == 0) {
				t.Errorf("h2spec on %s:\n%s\n\noutput:\n%s", ep, strings.Join(bad, "\n"), out)
			}
		})
	}
}

// h2Conn is a raw HTTP/2 connection to usher: frames as the test writes
// them, after the handshake.
type h2Conn struct {
	c   net.Conn
	fr  *http2.Framer
	enc *hpack.Encoder
	buf bytes.Buffer
}

func dialH2(t *testing.T, addr string, useTLS bool) *h2Conn {
	t.Helper()
	var c net.Conn
	var err error
	if useTLS {
		c, err = tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
		if err == nil && c.(*tls.Conn).ConnectionState().NegotiatedProtocol != "h2" {
			t.Fatal("ALPN did not choose h2")
		}
	} else {
		c, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	h := &h2Conn{c: c, fr: http2.NewFramer(c, c)}
	h.enc = hpack.NewEncoder(&h.buf)
	io.WriteString(c, http2.ClientPreface)
	h.fr.WriteSettings()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
			h.fr.WriteSettingsAck()
			break
		}
	}
	return h
}

func (h *h2Conn) block(path string) []byte {
	h.buf.Reset()
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "flood.test"}, {":path", path}} {
		h.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	return bytes.Clone(h.buf.Bytes())
}

// goaway reads until the connection closes and returns the GOAWAY it got
// (nil for none).
func (h *h2Conn) goaway(t *testing.T) *http2.GoAwayFrame {
	t.Helper()
	var g *http2.GoAwayFrame
	h.c.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the connection stayed open")
			}
			return g
		}
		if ga, ok := f.(*http2.GoAwayFrame); ok {
			g = ga
		}
	}
}

// TestH2RapidReset (CVE-2023-44487): a client that opens streams and
// cancels them at once, as fast as it can, over TLS, gets
// GOAWAY(ENHANCE_YOUR_CALM) and a closed connection after its reset budget;
// the server behind sees a bounded number of those requests, usher logs
// why, and serves the next client.
func TestH2RapidReset(t *testing.T) {
	var hits atomic.Int64
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "ok")
	})
	certFile, keyFile, _ := selfSigned(t, t.TempDir(), "flood.test")
	u := startUsher(t, config(h2Config, "cert", certFile, "key", keyFile, "be", be.URL))
	h := dialH2(t, u.addrs["websecure"], true)
	got := make(chan *http2.GoAwayFrame, 1)
	go func() { got <- h.goaway(t) }()
	sent := 0
	for stream := uint32(1); stream < 200000; stream += 2 {
		if h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: h.block("/r"), EndStream: true, EndHeaders: true}) != nil ||
			h.fr.WriteRSTStream(stream, http2.ErrCodeCancel) != nil {
			break
		}
		sent++
	}
	g := <-got
	if g == nil || g.ErrCode != http2.ErrCodeEnhanceYourCalm {
		t.Errorf("got GOAWAY %v, want ENHANCE_YOUR_CALM", g)
	}
	l := u.waitMsg("HTTP/2 connection closed", 10*time.Second)
	if l["reason"] != "rapid reset" {
		t.Errorf("logged %v", l)
	}
	// The budget is 500 resets; each can have reached the server once.
	if n := hits.Load(); n > 600 {
		t.Errorf("the server behind got %d of the %d reset requests", n, sent)
	}
	t.Logf("%d streams opened and reset before the close; the server got %d", sent, hits.Load())
	if code, body := getTLS(t, u.addrs["websecure"]); code != 200 || body != "ok" {
		t.Errorf("next client: %d %q", code, body)
	}
}

// TestH2ContinuationFlood (CVE-2024-27316 class): a header block that never
// ends, in empty CONTINUATION frames on an h2c entrypoint, gets
// GOAWAY(ENHANCE_YOUR_CALM) and a close; in full frames it gets a GOAWAY and
// a close once it passes the header size bound. No request reaches the
// server.
func TestH2ContinuationFlood(t *testing.T) {
	var hits atomic.Int64
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	certFile, keyFile, _ := selfSigned(t, t.TempDir(), "flood.test")
	u := startUsher(t, config(h2Config, "cert", certFile, "key", keyFile, "be", be.URL))
	for _, size := range []int{0, 16380} {
		h := dialH2(t, u.addrs["web"], false)
		got := make(chan *http2.GoAwayFrame, 1)
		go func() { got <- h.goaway(t) }()
		h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: h.block("/c")})
		frag := bytes.Repeat([]byte{0x00, 0x01, 'x', 0x01, 'y'}, size/5)
		sent := 0
		for sent < 1<<30 && h.fr.WriteContinuation(1, false, frag) == nil {
			sent += 9 + len(frag)
		}
		g := <-got
		switch {
		case g == nil:
			t.Errorf("%d-byte frames: closed without GOAWAY", size)
		case size == 0 && g.ErrCode != http2.ErrCodeEnhanceYourCalm:
			t.Errorf("empty frames: GOAWAY %v, want ENHANCE_YOUR_CALM", g.ErrCode)
		}
		t.Logf("%d-byte frames: %d bytes sent before the close", size, sent)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the server behind got %d requests", n)
	}
}

// getTLS does one HTTP/2 GET on a TLS entrypoint.
func getTLS(t *testing.T, addr string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
		ForceAttemptHTTP2: true,
	}}
	resp, err := c.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.ProtoMajor != 2 {
		t.Errorf("spoke %s, want HTTP/2", resp.Proto)
	}
	return resp.StatusCode, string(b)
}
