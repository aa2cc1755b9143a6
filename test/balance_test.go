package test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const lbTpl = `
entrypoints:
  web: { address: "{{addr}}" }
http:
  routers:
    all: { rule: "PathPrefix(` + "`/`" + `)", service: app }
  services:
    app:
      loadBalancer:
        {{extra}}
        servers: [ {{servers}} ]
`

func serverList(urls ...string) string {
	var s []string
	for _, u := range urls {
		s = append(s, `{ url: "`+u+`" }`)
	}
	return strings.Join(s, ", ")
}

func TestOneOfThreeKilledDuringLoadFailsNoGET(t *testing.T) {
	a, b, c := backend(t, "a"), backend(t, "b"), backend(t, "c")
	u := startUsher(t, config(lbTpl, "addr", "127.0.0.1:0", "extra", "", "servers", serverList(a.URL, b.URL, c.URL)))
	var load tally
	var wg sync.WaitGroup
	killed := make(chan struct{})
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 5 * time.Second}
			for i := 0; i < 300; i++ {
				if i == 100 && w == 0 {
					b.CloseClientConnections()
					b.Close() // the server dies: its port refuses from now on
					close(killed)
				}
				load.get(client, u.url("web")+"/")
			}
		}()
	}
	wg.Wait()
	<-killed
	if load.failed.Load() > 0 {
		t.Fatalf("%d of %d GETs failed when one server died; first: %v", load.failed.Load(), load.ok.Load()+load.failed.Load(), load.firstErr.Load())
	}
}

func TestStickyCookieHoldsAcrossReloadAndRepinsWhenServerDies(t *testing.T) {
	a, b, c := backend(t, "a"), backend(t, "b"), backend(t, "c")
	sticky := "sticky: { cookie: { name: srv, httpOnly: true, sameSite: lax } }"
	u := startUsher(t, config(lbTpl, "addr", "127.0.0.1:0", "extra", sticky, "servers", serverList(a.URL, b.URL, c.URL)))
	addr := u.addrs["web"]
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	hit := func() (string, *http.Response) {
		resp, err := client.Get("http://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(body), resp
	}
	first, resp := hit()
	cookie := resp.Header.Get("Set-Cookie")
	if !strings.HasPrefix(cookie, "srv=") || !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Lax") {
		t.Fatalf("Set-Cookie = %q", cookie)
	}
	for _, addr := range []string{a.URL, b.URL, c.URL} {
		if strings.Contains(cookie, strings.TrimPrefix(addr, "http://")) {
			t.Fatalf("cookie reveals a server address: %q", cookie)
		}
	}
	for i := 0; i < 1000; i++ {
		if got, _ := hit(); got != first {
			t.Fatalf("request %d went to %s, pinned to %s", i, got, first)
		}
	}
	// A reload that keeps the servers keeps the pins.
	if l := u.rewrite(config(lbTpl, "addr", addr, "extra", sticky, "servers", serverList(c.URL, b.URL, a.URL))); l.msg() != "configuration applied" {
		t.Fatalf("reload: %v", l)
	}
	for i := 0; i < 50; i++ {
		if got, _ := hit(); got != first {
			t.Fatalf("after reload, request %d went to %s, pinned to %s", i, got, first)
		}
	}
	// The pinned server dies: the user lands on another and is pinned anew.
	map[string]func(){"a": a.Close, "b": b.Close, "c": c.Close}[first]()
	second, resp := hit()
	if second == first || !strings.HasPrefix(resp.Header.Get("Set-Cookie"), "srv=") {
		t.Fatalf("after %s died: answered by %q, Set-Cookie %q", first, second, resp.Header.Get("Set-Cookie"))
	}
	for i := 0; i < 20; i++ {
		if got, _ := hit(); got != second {
			t.Fatalf("re-pinned to %s but request %d went to %s", second, i, got)
		}
	}
}

func TestTamperedStickyCookieIsIgnored(t *testing.T) {
	a, b := backend(t, "a"), backend(t, "b")
	u := startUsher(t, config(lbTpl, "addr", "127.0.0.1:0", "extra", "sticky: { cookie: { name: srv } }", "servers", serverList(a.URL, b.URL)))
	for _, forged := range []string{"x", strings.TrimPrefix(a.URL, "http://"), "AAAAAAAAAAAAAAAAAAAAAA"} {
		req, _ := http.NewRequest("GET", u.url("web")+"/", nil)
		req.AddCookie(&http.Cookie{Name: "srv", Value: forged})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var fresh string
		for _, c := range resp.Cookies() {
			if c.Name == "srv" {
				fresh = c.Value
			}
		}
		if resp.StatusCode != 200 || fresh == "" || fresh == forged {
			t.Fatalf("forged cookie %q: status %d, Set-Cookie %q (want a fresh pin)", forged, resp.StatusCode, resp.Header.Get("Set-Cookie"))
		}
	}
}

func TestRetriesOnStatusOnlyForIdempotentMethods(t *testing.T) {
	var badHits, postsSeen atomic.Int32
	bad := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		badHits.Add(1)
		if r.Method == "POST" {
			postsSeen.Add(1)
		}
		w.WriteHeader(503)
		io.WriteString(w, "bad")
	})
	good := backend(t, "good")
	u := startUsher(t, config(lbTpl, "addr", "127.0.0.1:0", "extra", "retry: { attempts: 1, onStatus: [503] }", "servers", serverList(bad.URL, good.URL)))
	for i := 0; i < 10; i++ {
		if status, body := get(t, u.url("web")+"/"); status != 200 || body != "good" {
			t.Fatalf("GET %d: %d %q, want the retry's answer", i, status, body)
		}
	}
	statuses := map[int]int{}
	for i := 0; i < 10; i++ {
		resp, err := http.Post(u.url("web")+"/", "text/plain", strings.NewReader("order"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		statuses[resp.StatusCode]++
	}
	if statuses[503] != 5 || statuses[200] != 5 || postsSeen.Load() != 5 {
		t.Fatalf("POSTs: statuses %v, bad server saw %d; a POST that reached a server must not be retried", statuses, postsSeen.Load())
	}
}

func TestRemovedServerFinishesInFlightAndGetsNoNewRequest(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	var slowHits atomic.Int32
	slow := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		slowHits.Add(1)
		started <- struct{}{}
		<-release
		io.WriteString(w, "slow done")
	})
	fast := backend(t, "fast")
	u := startUsher(t, config(lbTpl, "addr", "127.0.0.1:0", "extra", "", "servers", serverList(slow.URL)))
	addr := u.addrs["web"]
	res := make(chan string, 1)
	go func() {
		_, body := get(t, "http://"+addr+"/")
		res <- body
	}()
	<-started
	if l := u.rewrite(config(lbTpl, "addr", addr, "extra", "", "servers", serverList(fast.URL))); l.msg() != "configuration applied" {
		t.Fatalf("reload: %v", l)
	}
	for i := 0; i < 20; i++ {
		if _, body := get(t, "http://"+addr+"/"); body != "fast" {
			t.Fatalf("new request went to %q after the slow server was removed", body)
		}
	}
	close(release)
	if body := <-res; body != "slow done" {
		t.Fatalf("in-flight request on the removed server: %q", body)
	}
	if n := slowHits.Load(); n != 1 {
		t.Fatalf("removed server got %d requests, want only the one in flight", n)
	}
}

func TestRetryReplaysABufferedBody(t *testing.T) {
	var badSaw, goodSaw atomic.Value
	bad := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		badSaw.Store(string(b))
		w.WriteHeader(503)
	})
	good := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		goodSaw.Store(string(b))
		io.WriteString(w, "stored")
	})
	u := startUsher(t, config(`
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    all: { rule: "PathPrefix(`+"`/`"+`)", service: app, middlewares: [buf] }
  middlewares:
    buf: { buffering: { maxRequestBodyBytes: 1MiB } }
  services:
    app: { loadBalancer: { servers: [ { url: "{{bad}}" }, { url: "{{good}}" } ], retry: { attempts: 1, onStatus: [503] } } }
`, "bad", bad.URL, "good", good.URL))
	for i := 0; i < 2; i++ { // the round starts at either server
		req, _ := http.NewRequest("PUT", u.url("web")+"/doc", strings.NewReader("the document"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "stored" {
			t.Fatalf("PUT %d: %d %q", i, resp.StatusCode, b)
		}
		if goodSaw.Load() != "the document" {
			t.Fatalf("the good server got %q", goodSaw.Load())
		}
	}
	if badSaw.Load() != "the document" {
		t.Fatalf("the first server got %v", badSaw.Load())
	}
}
