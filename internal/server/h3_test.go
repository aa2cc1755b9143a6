package server

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"testing"
)

// A socket whose buffers the kernel kept small gets one warning with the
// sysctl that fixes it, however many entrypoints have such sockets.
func TestWarnUDPBuffersOnceWithTheFix(t *testing.T) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetReadBuffer(16 << 10); err != nil {
		t.Fatal(err)
	}
	rcv, _, err := udpBuffers(c)
	if err != nil {
		t.Skipf("buffer sizes unknown here: %v", err)
	}
	if rcv >= wantUDPBuffer {
		t.Fatalf("receive buffer %d after asking for 16KiB", rcv)
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	warnUDPBuffers(log, "websecure", c)
	warnUDPBuffers(log, "other", c)
	out := buf.String()
	if n := strings.Count(out, "level=WARN"); n != 1 {
		t.Fatalf("%d warnings, want 1:\n%s", n, out)
	}
	for _, want := range []string{"sysctl -w net.core.rmem_max=7500000 net.core.wmem_max=7500000", "entrypoint=websecure", "receiveBufferKiB="} {
		if !strings.Contains(out, want) {
			t.Errorf("the warning does not say %q:\n%s", want, out)
		}
	}
}

// Port 0 gives a TCP listener and a UDP socket on one port; a fixed port
// whose UDP side is taken is an error that says so.
func TestListenTCPAndUDP(t *testing.T) {
	ln, udp, err := listenTCPAndUDP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, tp, _ := net.SplitHostPort(ln.Addr().String())
	_, up, _ := net.SplitHostPort(udp.LocalAddr().String())
	if tp != up || tp == "0" {
		t.Errorf("tcp port %s, udp port %s", tp, up)
	}
	ln.Close()
	defer udp.Close()
	// The UDP port stays taken, the TCP one is free again.
	_, _, err = listenTCPAndUDP("127.0.0.1:" + up)
	if err == nil || !strings.Contains(err.Error(), "http3: listen udp 127.0.0.1:"+up) || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("busy UDP port: %v", err)
	}
}
