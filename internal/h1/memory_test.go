package h1

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLongLineBuffer: a line longer than the reader's buffer is gathered in a
// buffer that never grows past the header budget, and costs little beyond
// its own size.
func TestLongLineBuffer(t *testing.T) {
	for _, tt := range []struct {
		size, budget int
		ok           bool
	}{
		{5000, 64 << 10, true},
		{60 << 10, 64 << 10, true},
		{64<<10 - 2, 64 << 10, true},
		{64<<10 - 1, 64 << 10, false},
		{1 << 20, 64 << 10, false},
		{300 << 10, 1 << 20, true},
	} {
		line := strings.Repeat("a", tt.size) + "\r\n"
		lr := lineReader{br: bufio.NewReaderSize(strings.NewReader(line), bufSize), budget: tt.budget, scratch: make([]byte, 0, smallBody)}
		got, err := lr.line(errTooLarge)
		if (err == nil) != tt.ok {
			t.Fatalf("%d bytes, budget %d: %v", tt.size, tt.budget, err)
		}
		if err == nil && (len(got) != tt.size || cap(got) > tt.budget) {
			t.Errorf("%d bytes, budget %d: got %d in a buffer of %d", tt.size, tt.budget, len(got), cap(got))
		}

		// What gathering it allocates, buffer after buffer, as line does
		// (pieces of the reader's size, the budget left as the limit).
		full, allocated, budget := make([]byte, 0, smallBody), 0, tt.budget
		for rest := tt.size + 2; rest > 0 && budget >= 0; rest -= bufSize {
			piece := make([]byte, min(rest, bufSize))
			if budget -= len(piece); budget < 0 {
				break
			}
			before := cap(full)
			full = appendLine(full, piece, len(full)+len(piece)+budget)
			if cap(full) != before {
				allocated += cap(full)
			}
		}
		if cap(full) > tt.budget {
			t.Errorf("%d bytes, budget %d: grew to %d", tt.size, tt.budget, cap(full))
		}
		if limit := min(4*tt.size, tt.budget) * 4 / 3; allocated > limit {
			t.Errorf("%d bytes, budget %d: %d bytes allocated, want at most %d", tt.size, tt.budget, allocated, limit)
		}
	}
}

// TestHeaderFloodMemory: 400 connections each sending a 1 MB header line
// get 431 and do not make the server hold more than a few dozen MiB (the
// heap the runtime holds from the OS, as RSS would show; with GOGC at 400 as
// usher runs). With the old 1MiB default this was close to a gigabyte.
func TestHeaderFloodMemory(t *testing.T) {
	const conns, lineSize = 400, 1 << 20
	addr := start(t, &Server{Handler: echo})
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	big := bytes.Repeat([]byte("a"), lineSize)
	runtime.GC()
	debug.FreeOSMemory()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)

	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[string]int{}
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			go func() {
				io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ")
				c.Write(big) // fails once the server has closed
				io.WriteString(c, "\r\n\r\n")
			}()
			head := make([]byte, 12)
			_, err = io.ReadFull(c, head)
			mu.Lock()
			statuses[string(head)+errString(err)]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	held := (int64(m.HeapSys-m.HeapReleased) - int64(m0.HeapSys-m0.HeapReleased)) + int64(m.StackSys) - int64(m0.StackSys)
	t.Logf("memory taken from the OS during the flood: %.1f MiB; answers %v", float64(held)/(1<<20), statuses)
	if statuses["HTTP/1.1 431"] != conns {
		t.Errorf("answers %v, want %d times 431", statuses, conns)
	}
	if held > 64<<20 {
		t.Errorf("the flood took %.1f MiB, want at most 64", float64(held)/(1<<20))
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return " " + err.Error()
}
