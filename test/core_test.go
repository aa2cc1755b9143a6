package test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const twoEntrypoints = `
entrypoints:
  web:   { address: "127.0.0.1:0" }
  other: { address: "127.0.0.1:0" }
`

func TestRoundRobinOverThreeServers(t *testing.T) {
	a, b, c := backend(t, "a"), backend(t, "b"), backend(t, "c")
	u := startUsher(t, config(`
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    all: { rule: "PathPrefix(`+"`/`"+`)", service: app }
  services:
    app:
      loadBalancer:
        servers: [ { url: "{{a}}" }, { url: "{{b}}", weight: 2 }, { url: "{{c}}" } ]
`, "a", a.URL, "b", b.URL, "c", c.URL))
	counts := map[string]int{}
	var seq []string
	for i := 0; i < 40; i++ {
		_, body := get(t, u.url("web")+"/")
		counts[body]++
		seq = append(seq, body)
	}
	if counts["a"] != 10 || counts["b"] != 20 || counts["c"] != 10 {
		t.Fatalf("weights 1:2:1 over 40 requests gave %v", counts)
	}
	for i := 1; i < len(seq); i++ {
		if seq[i] == "b" && seq[i-1] == "b" && i > 1 && seq[i-2] == "b" {
			t.Fatalf("smooth round-robin sent three in a row to b: %v", seq)
		}
	}
}

func TestRoutingRulesPrioritiesAndEntrypoints(t *testing.T) {
	api, web, admin, other := backend(t, "api"), backend(t, "web"), backend(t, "admin"), backend(t, "other")
	u := startUsher(t, twoEntrypoints+config(`
http:
  routers:
    api:   { rule: "Host(`+"`example.com`"+`) && PathPrefix(`+"`/api`"+`)", service: api, entrypoints: [web] }
    site:  { rule: "Host(`+"`example.com`"+`)", service: web, entrypoints: [web] }
    admin: { rule: "Host(`+"`example.com`"+`) && (Header(`+"`X-Admin`, `yes`"+`) || Method(`+"`DELETE`"+`)) && !ClientIP(`+"`10.0.0.0/8`"+`)", service: admin, priority: 1000 }
    other: { rule: "PathPrefix(`+"`/`"+`)", service: other, entrypoints: [other] }
  services:
    api:   { loadBalancer: { servers: [ { url: "{{api}}" } ] } }
    web:   { loadBalancer: { servers: [ { url: "{{web}}" } ] } }
    admin: { loadBalancer: { servers: [ { url: "{{admin}}" } ] } }
    other: { loadBalancer: { servers: [ { url: "{{other}}" } ] } }
`, "api", api.URL, "web", web.URL, "admin", admin.URL, "other", other.URL))
	tests := []struct {
		ep, method, host, path string
		header                 map[string]string
		status                 int
		body                   string
	}{
		{"web", "GET", "example.com", "/api/users", nil, 200, "api"},
		{"web", "GET", "EXAMPLE.com:80", "/apix", nil, 200, "api"},
		{"web", "GET", "example.com", "/", nil, 200, "web"},
		{"web", "GET", "example.com", "/api", map[string]string{"X-Admin": "yes"}, 200, "admin"},
		{"web", "DELETE", "example.com", "/x", nil, 200, "admin"},
		{"web", "GET", "other.com", "/", nil, 404, "Not Found\n"},
		{"other", "GET", "example.com", "/api", nil, 200, "other"},
	}
	for _, tc := range tests {
		req, _ := http.NewRequest(tc.method, u.url(tc.ep)+tc.path, nil)
		req.Host = tc.host
		for k, v := range tc.header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || string(b) != tc.body {
			t.Errorf("%s %s %s%s on %s: got %d %q, want %d %q", tc.method, tc.ep, tc.host, tc.path, tc.ep, resp.StatusCode, b, tc.status, tc.body)
		}
	}
}

func TestForwardedHeadersAndTrustedProxies(t *testing.T) {
	seen := make(chan http.Header, 4)
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		h.Set("Host", r.Host)
		seen <- h
	})
	u := startUsher(t, config(`
entrypoints:
  open:    { address: "127.0.0.1:0" }
  trusted: { address: "127.0.0.1:0", trustedProxies: ["127.0.0.0/8"] }
http:
  routers:
    all: { rule: "PathPrefix(`+"`/`"+`)", service: app }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ], passHostHeader: false } }
`, "be", be.URL))
	send := func(ep string) http.Header {
		req, _ := http.NewRequest("GET", u.url(ep)+"/", nil)
		req.Host = "shop.example:8080"
		req.Header.Set("X-Forwarded-For", "203.0.113.9")
		req.Header.Set("X-Forwarded-Proto", "https")
		req.Header.Set("X-Real-Ip", "6.6.6.6")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return <-seen
	}
	h := send("open")
	port := u.addrs["open"][strings.LastIndexByte(u.addrs["open"], ':')+1:] // the entrypoint's port, not the Host's
	for k, want := range map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "shop.example:8080", "X-Forwarded-Port": port, "X-Real-Ip": "127.0.0.1", "Host": strings.TrimPrefix(be.URL, "http://")} {
		if got := h.Get(k); got != want {
			t.Errorf("untrusted client: %s = %q, want %q", k, got, want)
		}
	}
	h = send("trusted")
	for k, want := range map[string]string{"X-Forwarded-For": "203.0.113.9, 127.0.0.1", "X-Forwarded-Proto": "https", "X-Real-Ip": "6.6.6.6"} {
		if got := h.Get(k); got != want {
			t.Errorf("trusted proxy: %s = %q, want %q", k, got, want)
		}
	}
}

func TestRedirectToAnotherEntrypoint(t *testing.T) {
	u := startUsher(t, `
entrypoints:
  web:    { address: "127.0.0.1:0", redirectTo: secure }
  secure: { address: "127.0.0.1:0" }
`)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(u.url("web") + "/a/b?c=d")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	port := u.addrs["secure"][strings.LastIndex(u.addrs["secure"], ":"):]
	if want := "http://127.0.0.1" + port + "/a/b?c=d"; resp.StatusCode != 308 || resp.Header.Get("Location") != want {
		t.Fatalf("got %d %q, want 308 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
}

func TestBadServerAnswers502And504WithoutInternals(t *testing.T) {
	slow := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	u := startUsher(t, config(`
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    dead: { rule: "Path(`+"`/dead`"+`)", service: dead }
    slow: { rule: "Path(`+"`/slow`"+`)", service: slow }
  services:
    dead: { loadBalancer: { servers: [ { url: "http://127.0.0.1:1" } ] } }
    slow: { loadBalancer: { servers: [ { url: "{{slow}}" } ], transport: { responseHeaderTimeout: 200ms } } }
`, "slow", slow.URL))
	for path, want := range map[string]int{"/dead": 502, "/slow": 504} {
		status, body := get(t, u.url("web")+path)
		if status != want || body != http.StatusText(want)+"\n" {
			t.Errorf("%s: got %d %q, want %d with a bare body", path, status, body, want)
		}
	}
}

func TestServerSentEventsArriveOneByOne(t *testing.T) {
	next := make(chan struct{})
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; i < 3; i++ {
			fmt.Fprintf(w, "data: event %d\n\n", i)
			w.(http.Flusher).Flush()
			select {
			case <-next:
			case <-r.Context().Done():
				return
			}
		}
	})
	u := startUsher(t, config(lbTpl, "addr", "127.0.0.1:0", "extra", "", "servers", serverList(be.URL)))
	resp, err := http.Get(u.url("web") + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for i := 0; i < 3; i++ {
		// The server sends the next event only once the client read this one:
		// buffering anywhere on the way would hang here.
		line, err := br.ReadString('\n')
		if err != nil || line != fmt.Sprintf("data: event %d\n", i) {
			t.Fatalf("event %d: %q %v", i, line, err)
		}
		br.ReadString('\n')
		if i < 2 {
			next <- struct{}{}
		}
	}
	close(next)
}

func TestBodyOverLimitGets413AndNeverReachesServer(t *testing.T) {
	var reached atomic.Int32
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "got %d", n)
	})
	u := startUsher(t, config(`
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    all: { rule: "PathPrefix(`+"`/`"+`)", service: app, middlewares: [limit] }
  middlewares:
    limit: { buffering: { maxRequestBodyBytes: 1KiB } }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`, "be", be.URL))
	post := func(body io.Reader, size int64) (int, string) {
		req, _ := http.NewRequest("POST", u.url("web")+"/upload", body)
		req.ContentLength = size
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, body := post(strings.NewReader(strings.Repeat("x", 1000)), 1000); status != 200 || body != "got 1000" {
		t.Fatalf("small body: %d %q", status, body)
	}
	if status, _ := post(strings.NewReader(strings.Repeat("x", 5000)), 5000); status != 413 {
		t.Fatalf("large body with Content-Length: %d, want 413", status)
	}
	if status, _ := post(io.MultiReader(strings.NewReader(strings.Repeat("x", 3000)), strings.NewReader("y")), -1); status != 413 {
		t.Fatalf("large chunked body: %d, want 413", status)
	}
	if n := reached.Load(); n != 1 {
		t.Fatalf("server saw %d requests, want only the small one", n)
	}
}

func TestMirrorNeverDelaysTheMainResponse(t *testing.T) {
	mirrored := make(chan string, 10)
	main := backend(t, "main")
	slowMirror := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		time.Sleep(2 * time.Second) // the mirror is slow: the client must not notice
		mirrored <- r.Method + " " + r.URL.Path + " " + string(b)
	})
	u := startUsher(t, config(`
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    all: { rule: "PathPrefix(`+"`/`"+`)", service: shadowed }
  services:
    shadowed: { mirror: { service: main, mirrors: [ { name: next, percent: 100 } ] } }
    main: { loadBalancer: { servers: [ { url: "{{main}}" } ] } }
    next: { loadBalancer: { servers: [ { url: "{{mirror}}" } ] } }
`, "main", main.URL, "mirror", slowMirror.URL))
	start := time.Now()
	resp, err := http.Post(u.url("web")+"/orders", "text/plain", strings.NewReader("order-1"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if took := time.Since(start); string(b) != "main" || took > time.Second {
		t.Fatalf("main response %q took %v; the mirror must not delay it", b, took)
	}
	select {
	case got := <-mirrored:
		if got != "POST /orders order-1" {
			t.Fatalf("mirror got %q", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the mirror never got its copy")
	}
}

func TestWeightedAndFailover(t *testing.T) {
	blue, green, fallback := backend(t, "blue"), backend(t, "green"), backend(t, "fallback")
	u := startUsher(t, config(`
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    shop:  { rule: "Host(`+"`shop`"+`)", service: shop }
    guard: { rule: "Host(`+"`guard`"+`)", service: guarded }
  services:
    shop: { weighted: { services: [ { name: blue, weight: 3 }, { name: green, weight: 1 } ] } }
    blue:  { loadBalancer: { servers: [ { url: "{{blue}}" } ] } }
    green: { loadBalancer: { servers: [ { url: "{{green}}" } ] } }
    guarded: { failover: { service: drained, fallback: static } }
    drained: { loadBalancer: { servers: [ { url: "{{blue}}", weight: 0 } ] } }
    static: { loadBalancer: { servers: [ { url: "{{fallback}}" } ] } }
`, "blue", blue.URL, "green", green.URL, "fallback", fallback.URL))
	counts := map[string]int{}
	for i := 0; i < 40; i++ {
		req, _ := http.NewRequest("GET", u.url("web")+"/", nil)
		req.Host = "shop"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		counts[string(b)]++
	}
	if counts["blue"] != 30 || counts["green"] != 10 {
		t.Errorf("weighted 3:1 over 40 gave %v", counts)
	}
	req, _ := http.NewRequest("GET", u.url("web")+"/", nil)
	req.Host = "guard"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "fallback" {
		t.Errorf("failover with no available main server answered %q", b)
	}
}

func TestMiddlewaresThroughUsher(t *testing.T) {
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "leaky/1.0")
		w.Header().Set("X-Frame-Options", "ALLOWALL")
		fmt.Fprintf(w, "%s|%s|%s", r.URL.Path, r.Header.Get("X-Forwarded-Prefix"), r.Header.Get("X-Env"))
	})
	u := startUsher(t, config(`
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    api:  { rule: "PathPrefix(`+"`/api`"+`)", service: app, middlewares: [secure] }
    old:  { rule: "PathPrefix(`+"`/old`"+`)", service: app, middlewares: [moved] }
  middlewares:
    strip:  { stripPrefix: { prefixes: ["/api"] } }
    add:    { addPrefix: { prefix: "/v2" } }
    env:    { headers: { customRequestHeaders: { X-Env: prod }, customResponseHeaders: { Server: "" }, frameDeny: true, contentTypeNosniff: true } }
    secure: { chain: { middlewares: [strip, add, env] } }
    moved:  { redirectRegex: { regex: "^http://([^/]+)/old/(.*)", replacement: "http://${1}/new/${2}", permanent: true } }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`, "be", be.URL))
	resp, err := http.Get(u.url("web") + "/api/users")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "/v2/users|/api|prod" {
		t.Errorf("server saw %q", b)
	}
	if resp.Header.Get("Server") != "" || resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("response headers: %v", resp.Header)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = client.Get(u.url("web") + "/old/page?x=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := u.url("web") + "/new/page?x=1"; resp.StatusCode != 308 || resp.Header.Get("Location") != want {
		t.Errorf("redirectRegex: %d %q, want 308 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
}

const reloadTpl = `
providers:
  file: { watch: true }
entrypoints:
  web: { address: "{{addr}}" }
http:
  routers:
    all: { rule: "PathPrefix(` + "`/`" + `)", service: app }
  services:
    app: { loadBalancer: { servers: [ {{servers}} ] } }
`

func TestReloadUnderLoadLosesNoRequest(t *testing.T) {
	a, b, c := backend(t, "a"), backend(t, "b"), backend(t, "c")
	servers := func(urls ...string) string {
		var s []string
		for _, u := range urls {
			s = append(s, `{ url: "`+u+`" }`)
		}
		return strings.Join(s, ", ")
	}
	u := startUsher(t, config(reloadTpl, "addr", "127.0.0.1:0", "servers", servers(a.URL, b.URL)))
	addr := u.addrs["web"]
	var load tally
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 5 * time.Second}
			for i := 0; i < 5000; i++ { // bounded, whatever happens
				select {
				case <-stop:
					return
				default:
				}
				load.get(client, "http://"+addr+"/")
			}
		}()
	}
	sets := [][]string{{a.URL, b.URL, c.URL}, {c.URL}, {b.URL, c.URL}, {a.URL}, {a.URL, b.URL, c.URL}}
	for _, set := range sets {
		time.Sleep(50 * time.Millisecond) // let load run on each config
		if l := u.rewrite(config(reloadTpl, "addr", addr, "servers", servers(set...))); l.msg() != "configuration applied" {
			t.Fatalf("reload refused: %v", l)
		}
	}
	close(stop)
	wg.Wait()
	if load.failed.Load() > 0 {
		t.Fatalf("%d of %d requests failed during reloads; first: %v", load.failed.Load(), load.ok.Load()+load.failed.Load(), load.firstErr.Load())
	}
	if load.ok.Load() < 100 {
		t.Fatalf("only %d requests ran", load.ok.Load())
	}
}

func TestBrokenConfigIsRefusedAndOldOneServes(t *testing.T) {
	a := backend(t, "a")
	u := startUsher(t, config(reloadTpl, "addr", "127.0.0.1:0", "servers", `{ url: "`+a.URL+`" }`))
	addr := u.addrs["web"]
	broken := strings.Replace(config(reloadTpl, "addr", addr, "servers", `{ url: "`+a.URL+`" }`), "PathPrefix(`/`)", "PathPrefix(`/`", 1)
	l := u.rewrite(broken)
	if !strings.HasPrefix(l.msg(), "configuration refused") {
		t.Fatalf("broken config applied: %v", l)
	}
	if e, _ := l["error"].(string); !strings.Contains(e, "usher.yaml:8: http.routers.all.rule:") {
		t.Errorf("error does not say where: %q", e)
	}
	if status, body := get(t, "http://"+addr+"/"); status != 200 || body != "a" {
		t.Fatalf("after a refused reload: %d %q", status, body)
	}
}

func TestGracefulShutdownFinishesInFlightRequests(t *testing.T) {
	started := make(chan struct{})
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(500 * time.Millisecond)
		io.WriteString(w, "finished")
	})
	u := startUsher(t, config(`
entrypoints:
  web: { address: "127.0.0.1:0", gracePeriod: 5s }
http:
  routers:
    all: { rule: "PathPrefix(`+"`/`"+`)", service: app }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`, "be", be.URL))
	type result struct {
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get(u.url("web") + "/slow")
		if err != nil {
			res <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{string(b), err}
	}()
	<-started
	u.cmd.Process.Signal(syscall.SIGTERM)
	r := <-res
	if r.err != nil || r.body != "finished" {
		t.Fatalf("in-flight request during shutdown: %q %v", r.body, r.err)
	}
	select {
	case <-u.done:
	case <-time.After(10 * time.Second):
		t.Fatal("usher did not exit after draining")
	}
	if _, err := http.Get(u.url("web") + "/"); err == nil {
		t.Fatal("usher still accepts after shutdown")
	}
}

func TestValidateCommand(t *testing.T) {
	dir := t.TempDir()
	good := dir + "/good.yaml"
	bad := dir + "/usher.yaml"
	os.WriteFile(good, []byte("entrypoints:\n  web: { address: \":8080\" }\n"), 0o644)
	os.WriteFile(bad, []byte(`entrypoints:
  web: { address: ":8080" }
http:
  routers:
    api:
      rulee: "Host(`+"`a`"+`)"
      service: missing
    b:
      rule: "Host(`+"`a`"+`"
      service: missing
`), 0o644)
	out, err := exec.Command(usherBin, "validate", "-c", good).CombinedOutput()
	if err != nil {
		t.Fatalf("good config: %v %s", err, out)
	}
	out, err = exec.Command(usherBin, "validate", "-c", bad).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("bad config exit: %v", err)
	}
	for _, want := range []string{
		`usher.yaml:6: http.routers.api.rulee: unknown key "rulee"; did you mean "rule"?`,
		`usher.yaml:9: http.routers.b.rule:`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}
}

func TestTOMLConfig(t *testing.T) {
	a, b := backend(t, "a"), backend(t, "b")
	t.Setenv("USHER_TEST_B", b.URL)
	u := startUsherFile(t, "usher.toml", config(`
[entrypoints.web]
address = "127.0.0.1:0"

[http.routers.all]
rule = "PathPrefix(`+"`/`"+`)"
service = "app"

[[http.services.app.loadBalancer.servers]]
url = "{{a}}"

[[http.services.app.loadBalancer.servers]]
url = "${USHER_TEST_B}"
`, "a", a.URL))
	seen := map[string]int{}
	for i := 0; i < 4; i++ {
		_, body := get(t, u.url("web")+"/")
		seen[body]++
	}
	if seen["a"] != 2 || seen["b"] != 2 {
		t.Fatalf("TOML config with ${VAR}: %v", seen)
	}
}

func TestClientGoingAwayReachesTheServer(t *testing.T) {
	started := make(chan struct{})
	canceled := make(chan struct{})
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-r.Context().Done():
			close(canceled)
		case <-time.After(20 * time.Second):
		}
	})
	u := startUsher(t, config(lbTpl, "addr", "127.0.0.1:0", "extra", "retry: { attempts: 0 }", "servers", serverList(be.URL)))
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", u.url("web")+"/slow", nil)
	go func() { <-started; cancel() }()
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("the request should have been canceled")
	}
	select {
	case <-canceled:
	case <-time.After(5 * time.Second):
		t.Fatal("the server never saw the client go away")
	}
}
