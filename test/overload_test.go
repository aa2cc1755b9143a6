package test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The load check of the request queue: a server of fixed capacity (8
// requests at once, 20ms each: 400 requests/s) gets twice that, open loop
// (800 requests/s whatever the answers), through usher, for a few seconds.
// Without a limit the excess piles up (in the server's accept queue here,
// in usher's connections in general) and every request waits longer than
// the one before; with maxConnsPerServer and a bounded queue the excess gets
// a fast 503 and the requests admitted keep their latency. Figures are
// logged (go test -v -run TestOverloadLoadCheck ./test/).
const (
	overloadCap      = 8
	overloadService  = 20 * time.Millisecond
	overloadRate     = 2 * overloadCap * int(time.Second/overloadService) // twice capacity
	overloadDuration = 3 * time.Second
)

const overloadTpl = `
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    all: { rule: "PathPrefix(` + "`/`" + `)", service: app }
  services:
    app:
      loadBalancer:
        servers: [ { url: "{{be}}" } ]
        retry: { attempts: 0 }
{{limits}}
`

type loadFigures struct {
	sent, ok, refused, other int
	p50, p99, max            time.Duration // of requests answered 200
	refusedP99               time.Duration // of requests answered 503
	rssStart, rssEnd, rssMax int64         // usher's resident memory, KiB
}

func (f loadFigures) String() string {
	return fmt.Sprintf("sent %d: 200 %d (p50 %v, p99 %v, max %v), 503 %d (p99 %v), other %d; usher RSS %d → %d KiB (max %d)",
		f.sent, f.ok, f.p50.Round(time.Millisecond), f.p99.Round(time.Millisecond), f.max.Round(time.Millisecond),
		f.refused, f.refusedP99.Round(time.Millisecond), f.other, f.rssStart, f.rssEnd, f.rssMax)
}

func rssKiB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[min(len(d)-1, int(q*float64(len(d))))]
}

// runOverload sends overloadRate requests/s for overloadDuration through a
// fresh usher configured with limits, to a fresh server of fixed capacity.
func runOverload(t *testing.T, limits string) loadFigures {
	sem := make(chan struct{}, overloadCap)
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case sem <- struct{}{}:
		case <-r.Context().Done():
			return
		}
		time.Sleep(overloadService)
		<-sem
		io.WriteString(w, "ok")
	})
	u := startUsher(t, config(overloadTpl, "be", be.URL, "limits", limits))
	url := u.url("web") + "/"
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2000}}
	defer client.CloseIdleConnections()
	pid := u.cmd.Process.Pid

	var mu sync.Mutex
	var f loadFigures
	var okLat, refLat []time.Duration
	var wg sync.WaitGroup
	var rssMax atomic.Int64
	stop := make(chan struct{})
	go func() { // sample memory as the load runs
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				if r := rssKiB(pid); r > rssMax.Load() {
					rssMax.Store(r)
				}
			}
		}
	}()
	interval := time.Second / time.Duration(overloadRate)
	start := time.Now()
	n := int(overloadDuration / interval)
	for i := range n {
		if i == n/10 {
			f.rssStart = rssKiB(pid) // warm: after the first tenth
		}
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			resp, err := client.Get(url)
			d := time.Since(t0)
			status := 0
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				status = resp.StatusCode
			}
			mu.Lock()
			defer mu.Unlock()
			switch status {
			case 200:
				f.ok++
				okLat = append(okLat, d)
			case 503:
				f.refused++
				refLat = append(refLat, d)
			default:
				f.other++
			}
		}()
	}
	f.rssEnd = rssKiB(pid)
	wg.Wait()
	close(stop)
	f.sent = n
	f.rssMax = max(rssMax.Load(), f.rssEnd)
	f.p50, f.p99, f.max = quantile(okLat, .5), quantile(okLat, .99), quantile(okLat, 1)
	f.refusedP99 = quantile(refLat, .99)
	return f
}

func TestOverloadLoadCheck(t *testing.T) {
	if raceEnabled || testing.Short() {
		t.Skip("a load check: not under the race detector, nor with -short")
	}
	limited := runOverload(t, fmt.Sprintf("        maxConnsPerServer: %d\n        queue: { maxSize: %d, timeout: 100ms }", overloadCap, overloadCap))
	t.Logf("with maxConnsPerServer %d and queue {maxSize %d, timeout 100ms}: %v", overloadCap, overloadCap, limited)
	if os.Getenv("USHER_OVERLOAD_COMPARE") != "" {
		unlimited := runOverload(t, "")
		t.Logf("without a limit: %v", unlimited)
	}
	// Bounds with room for a shared machine: an admitted request waits at
	// most the queue timeout, then is served in about 20ms.
	if limited.other != 0 {
		t.Errorf("%d requests got neither 200 nor 503", limited.other)
	}
	if limited.ok < limited.sent/4 {
		t.Errorf("only %d of %d served: the server's capacity is half the load", limited.ok, limited.sent)
	}
	if limited.refused == 0 {
		t.Error("no request refused at twice the capacity")
	}
	if limited.p99 > time.Second {
		t.Errorf("p99 of admitted requests %v: the queue does not bound it", limited.p99)
	}
	if limited.refusedP99 > time.Second {
		t.Errorf("p99 of refusals %v: not fast", limited.refusedP99)
	}
	if limited.rssStart > 0 && limited.rssEnd-limited.rssStart > 64<<10 {
		t.Errorf("usher's memory grew by %d KiB under overload", limited.rssEnd-limited.rssStart)
	}
}
