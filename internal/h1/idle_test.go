//go:build linux

package h1

import (
	"bytes"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// grow uses about n KiB of stack, as a chain of middlewares would.
//
//go:noinline
func grow(n int) byte {
	var a [1024]byte
	a[n%len(a)] = byte(n)
	if n > 0 {
		return grow(n-1) + a[0]
	}
	return a[0]
}

// rawGet sends one GET on a new connection made with system calls (so that
// the client side costs the test's Go heap nothing), reads the response head
// and returns the socket, left open.
func rawGet(t testing.TB, addr *net.TCPAddr) int {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &syscall.Timeval{Sec: 10})
	sa := &syscall.SockaddrInet4{Port: addr.Port}
	copy(sa.Addr[:], addr.IP.To4())
	if err := syscall.Connect(fd, sa); err != nil {
		syscall.Close(fd)
		t.Fatal(err)
	}
	if _, err := syscall.Write(fd, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	var buf [512]byte
	var got []byte
	for !bytes.Contains(got, []byte("\r\n\r\n")) {
		n, err := syscall.Read(fd, buf[:])
		if err != nil || n == 0 {
			t.Fatalf("read: %d %v (%q)", n, err, got)
		}
		got = append(got, buf[:n]...)
	}
	if !bytes.HasPrefix(got, []byte("HTTP/1.1 200 ")) {
		t.Fatalf("%q", got)
	}
	return fd
}

// TestIdleConnMemory: an idle keep-alive connection holds no buffer and, once
// idle for stackIdle, no stack beyond the smallest, even when its handler
// needed 16 KiB of stack. Heap and stack per idle connection are measured
// with runtime.MemStats over 2000 connections.
func TestIdleConnMemory(t *testing.T) {
	const n = 2000
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil && rl.Cur < 2*n+200 {
		t.Skipf("RLIMIT_NOFILE %d is too low for %d connections", rl.Cur, n)
	}
	var idle atomic.Int32
	s := &Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Grow", string('a'+grow(16)%26))
		}),
		ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute,
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateIdle {
				idle.Add(1)
			}
		},
	}
	addr, _ := net.ResolveTCPAddr("tcp", start(t, s))
	// One connection first, for the pools and the runtime's first-use costs.
	fds := []int{rawGet(t, addr)}
	t.Cleanup(func() {
		for _, fd := range fds {
			syscall.Close(fd)
		}
	})
	time.Sleep(2 * stackIdle)

	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // no GC: it would shrink stacks itself
	runtime.GC()
	var m0, m runtime.MemStats
	runtime.ReadMemStats(&m0)
	for range n {
		fds = append(fds, rawGet(t, addr))
	}
	perConn := func(v, v0 uint64) float64 { return (float64(v) - float64(v0)) / n / 1024 }
	// The connections move to small stacks stackIdle after their request:
	// poll until that is done (or give up and report what is there).
	var stack float64
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		runtime.ReadMemStats(&m)
		stack = perConn(m.StackInuse, m0.StackInuse)
		if idle.Load() == n+1 && stack <= 3.5 {
			break
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&m)
	heap := perConn(m.HeapInuse, m0.HeapInuse)
	t.Logf("per idle connection: heap %.2f KiB, stack %.2f KiB", heap, stack)
	if idle.Load() != n+1 {
		t.Fatalf("%d connections idle, want %d", idle.Load(), n+1)
	}
	if heap+stack > 6 {
		t.Errorf("an idle connection costs %.2f KiB of heap and %.2f KiB of stack; want at most 6 KiB in all", heap, stack)
	}
}
