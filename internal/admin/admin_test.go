package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/observe"
	"github.com/usher-lb/usher/internal/runtime"
)

func TestEndpoints(t *testing.T) {
	f := newFixture(t, fixtureOpts{dashboard: true})
	f.traffic(6, "example.com", "/api/users")
	f.decide("headers", "frame", 3, 2, 1)
	f.decide("basicAuth", "strip-api", 1, 0, 0)
	f.bus.Publish(observe.Event{Type: "health", Service: "app", Server: f.serverURL(0), From: "healthy", To: "unhealthy"})

	tests := []struct {
		path  string
		check func(t *testing.T, body []byte)
	}{
		{"/api/overview", func(t *testing.T, body []byte) {
			var o overview
			mustJSON(t, body, &o)
			if o.Version != "v9.9.9-test" || o.Routers.Total != 3 || o.Services.Total != 3 || o.Middlewares.Total != 3 {
				t.Errorf("counts: %+v", o)
			}
			if o.Servers != (serverCount{Total: 3, Healthy: 3}) {
				t.Errorf("servers: %+v", o.Servers)
			}
			if len(o.Entrypoints) != 2 || o.Entrypoints[0].Name != "other" || o.Entrypoints[1].Name != "web" {
				t.Errorf("entrypoints: %+v", o.Entrypoints)
			}
			if !o.Reload.OK || o.Reload.Error != "" || o.Reload.Counts["ok"] != 1 || o.Reload.LastGood == nil {
				t.Errorf("reload: %+v", o.Reload)
			}
		}},
		{"/api/entrypoints", func(t *testing.T, body []byte) {
			var eps []map[string]any
			mustJSON(t, body, &eps)
			if len(eps) != 2 || eps[1]["name"] != "web" || eps[1]["status"] != "enabled" || eps[1]["protocol"] != "http" {
				t.Fatalf("entrypoints: %v", eps)
			}
			if got := eps[1]["routers"]; !equalJSON(got, []string{"api", "site"}) {
				t.Errorf("web's routers = %v, want [api site] (the order they are tried)", got)
			}
			if eps[1]["readHeaderTimeout"] != "10s" {
				t.Errorf("durations read as in the file: readHeaderTimeout = %v", eps[1]["readHeaderTimeout"])
			}
		}},
		{"/api/http/routers", func(t *testing.T, body []byte) {
			var rs []map[string]any
			mustJSON(t, body, &rs)
			api := byName(t, rs, "api")
			if api["service"] != "app" || api["status"] != "enabled" || !strings.Contains(api["rule"].(string), "PathPrefix(`/api`)") {
				t.Errorf("api: %v", api)
			}
			if !equalJSON(api["middlewares"], []string{"strip-api", "secured"}) || !equalJSON(api["chain"], []string{"strip-api", "frame"}) {
				t.Errorf("api middlewares %v, chain %v", api["middlewares"], api["chain"])
			}
			if site := byName(t, rs, "site"); !equalJSON(site["entrypoints"], []string{"other", "web"}) || site["priority"] != float64(len("Host(`example.com`)")) {
				t.Errorf("site: %v", site)
			}
		}},
		{"/api/http/middlewares", func(t *testing.T, body []byte) {
			var ms []map[string]any
			mustJSON(t, body, &ms)
			frame := byName(t, ms, "frame")
			if frame["type"] != "headers" || !equalJSON(frame["usedBy"], []string{"api"}) || frame["status"] != "enabled" {
				t.Errorf("frame: %v", frame)
			}
			if cfg, _ := frame["config"].(map[string]any); cfg["frameDeny"] != true {
				t.Errorf("frame config: %v", frame["config"])
			}
			if chain := byName(t, ms, "secured"); chain["type"] != "chain" {
				t.Errorf("secured: %v", chain)
			}
			// Counted as the fixture's start counted them: frame as a
			// headers middleware, and a strip-api of another kind, which
			// is not this strip-api's.
			if d := frame["decisions"]; !equalJSON(d, map[string]int{"allow": 3, "deny": 2, "error": 1}) {
				t.Errorf("frame's decisions: %v", d)
			}
			if d, ok := byName(t, ms, "strip-api")["decisions"]; ok {
				t.Errorf("strip-api shows the decisions of another kind: %v", d)
			}
		}},
		{"/api/http/services", func(t *testing.T, body []byte) {
			var ss []struct {
				Name, Type, Status string
				UsedBy             []string
				Servers            []serverView
				Available          *bool
				LoadBalancer       map[string]any
			}
			mustJSON(t, body, &ss)
			if len(ss) != 3 || ss[0].Name != "app" || ss[1].Name != "canary" || ss[2].Name != "other" {
				t.Fatalf("services: %+v", ss)
			}
			app := ss[0]
			if app.Type != "loadBalancer" || app.Status != "enabled" || !slices.Equal(app.UsedBy, []string{"api"}) || app.Available == nil || !*app.Available {
				t.Errorf("app: %+v", app)
			}
			if len(app.Servers) != 2 {
				t.Fatalf("app servers: %+v", app.Servers)
			}
			s0, s1 := app.Servers[0], app.Servers[1]
			if s0.URL != f.backends[0].URL || s0.Health != "up" || s0.Weight != 1 || s1.Weight != 2 {
				t.Errorf("servers: %+v", app.Servers)
			}
			if s0.Requests+s1.Requests != 6 {
				t.Errorf("requests %d + %d, want 6", s0.Requests, s1.Requests)
			}
			if s1.URL != f.shownURL(1) || strings.Contains(s1.URL, "usher") {
				t.Errorf("server URL with a password: %s", s1.URL)
			}
			if ss[1].Type != "weighted" || ss[1].Servers != nil {
				t.Errorf("canary: %+v", ss[1])
			}
		}},
		{"/api/http/services?series=30", func(t *testing.T, body []byte) {
			var ss []struct {
				Name   string
				Series []point
			}
			mustJSON(t, body, &ss)
			if len(ss[0].Series) != 30 || ss[1].Series != nil {
				t.Errorf("series: app %d points, canary %v", len(ss[0].Series), ss[1].Series)
			}
		}},
		{"/metrics", func(t *testing.T, body []byte) {
			if !strings.Contains(string(body), "usher_up 1") {
				t.Errorf("metrics: %s", body)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			code, _, body := f.do(http.MethodGet, tt.path)
			if code != http.StatusOK {
				t.Fatalf("%d %s", code, body)
			}
			for _, secret := range []string{cookieSecret, serverPass, adminToken} {
				if strings.Contains(string(body), secret) {
					t.Errorf("secret %q in the answer:\n%s", secret, body)
				}
			}
			tt.check(t, body)
		})
	}
}

func TestErrors(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	tests := []struct {
		method, path string
		code         int
		hdr          []string
	}{
		{"GET", "/api/nope", 404, nil},
		{"POST", "/api/overview", 405, nil},
		{"GET", drainPath("app", "http://127.0.0.1:1", "drain"), 405, nil},
		{"GET", "/api/http/services?series=-1", 400, nil},
		{"GET", "/api/http/services?series=x", 400, nil},
		{"GET", "/dashboard/", 404, nil}, // Dashboard off
		{"GET", "/", 404, nil},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			code, h, body := f.do(tt.method, tt.path, tt.hdr...)
			if code != tt.code {
				t.Fatalf("%d, want %d: %s", code, tt.code, body)
			}
			var e errorBody
			mustJSON(t, body, &e)
			if e.Error == "" || h.Get("Content-Type") != "application/json" {
				t.Errorf("error body %s, Content-Type %s", body, h.Get("Content-Type"))
			}
		})
	}
}

func TestNoSnapshotYet(t *testing.T) {
	srv := newServer(t, Deps{Snapshot: func() *runtime.Snapshot { return nil }})
	resp, err := http.Get(srv + "/api/overview")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", resp.StatusCode)
	}
}

func TestDrainAndUndrain(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	events := f.bus.Subscribe(t.Context())
	srv, ok := f.state.Servers.Lookup("app|" + f.serverURL(1))
	if !ok {
		t.Fatal("no server in the registry")
	}
	tests := []struct {
		name     string
		path     string
		hdr      []string
		code     int
		draining bool // after the request
	}{
		{"drain by configured URL", drainPath("app", f.serverURL(1), "drain"), nil, 200, true},
		{"undrain", drainPath("app", f.serverURL(1), "undrain"), nil, 200, false},
		{"drain by the URL the API shows", drainPath("app", f.shownURL(1), "drain"), nil, 200, true},
		{"undrain again", drainPath("app", f.serverURL(1), "undrain"), nil, 200, false},
		{"unknown service", drainPath("nope", f.serverURL(1), "drain"), nil, 404, false},
		{"unknown server", drainPath("app", "http://127.0.0.1:1", "drain"), nil, 404, false},
		{"server of another service", drainPath("other", f.serverURL(1), "drain"), nil, 404, false},
		{"cross-site", drainPath("app", f.serverURL(1), "drain"), []string{"Sec-Fetch-Site", "cross-site"}, 403, false},
		{"other origin", drainPath("app", f.serverURL(1), "drain"), []string{"Origin", "http://evil.example"}, 403, false},
		{"same origin", drainPath("app", f.serverURL(1), "drain"), []string{"Origin", f.admin.URL, "Sec-Fetch-Site", "same-origin"}, 200, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, body := f.do(http.MethodPost, tt.path, tt.hdr...)
			if code != tt.code {
				t.Fatalf("%d, want %d: %s", code, tt.code, body)
			}
			if srv.Draining() != tt.draining {
				t.Fatalf("Draining() = %v, want %v", srv.Draining(), tt.draining)
			}
			if code != 200 {
				return
			}
			var sv serverView
			mustJSON(t, body, &sv)
			if want := map[bool]string{true: "draining", false: "up"}[tt.draining]; sv.Health != want || sv.Draining != tt.draining {
				t.Errorf("answer: %+v", sv)
			}
			select {
			case ev := <-events:
				if ev.Type != "drain" || ev.Service != "app" || strings.Contains(ev.Server, serverPass) || ev.To != sv.Health {
					t.Errorf("event: %+v", ev)
				}
			case <-time.After(time.Second):
				t.Error("no drain event")
			}
		})
	}
	// The drained server takes no new request.
	f.do(http.MethodPost, drainPath("app", f.serverURL(1), "drain"))
	before := srv.Requests()
	f.traffic(5, "example.com", "/api/")
	if srv.Requests() != before {
		t.Errorf("a drained server got %d requests", srv.Requests()-before)
	}
}

// /api/explain on a running usher: the port of the URL picks the entrypoint
// (as listening, port 0 resolved), a named entrypoint decides TLS, and every
// service names its server.
func TestExplain(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	web, other := f.ports["web"], f.ports["other"]
	appServers := []string{f.backends[0].URL, strings.Replace(f.backends[1].URL, "http://", "http://********@", 1)}
	otherServer := f.backends[2].URL
	tests := []struct {
		query  string
		code   int
		want   Explanation
		server []string // the server is one of these
		reason string   // in the reason
	}{
		{"url=https://example.com/api/users&entrypoint=web", 200, Explanation{Entrypoint: "web", ClientIP: "0.0.0.0", Router: "api", Rule: "Host(`example.com`) && PathPrefix(`/api`)",
			Middlewares: []string{"strip-api", "frame"}, Kinds: []string{"stripPrefix", "headers"}, Guards: []Guard{}, Service: "app"}, appServers, "in plain HTTP, as entrypoint web serves it"},
		{"url=http://EXAMPLE.com:" + other + "/", 200, Explanation{Entrypoint: "other", ClientIP: "0.0.0.0", Router: "site", Rule: "Host(`example.com`)",
			Middlewares: []string{}, Service: "canary"}, append(appServers, otherServer), "of the weighted services (app 90, other 10"},
		{"url=http://example.com:" + web + "/", 200, Explanation{Entrypoint: "web", ClientIP: "0.0.0.0", Router: "site", Rule: "Host(`example.com`)",
			Middlewares: []string{}, Service: "canary"}, append(appServers, otherServer), "listens on port " + web},
		{"url=http://ops.example.com:" + other + "/x&header=X-Team:+ops", 200, Explanation{Entrypoint: "other", ClientIP: "0.0.0.0", Router: "ops",
			Rule: "Host(`ops.example.com`) && Header(`X-Team`, `ops`)", Middlewares: []string{}, Service: "other"}, []string{otherServer}, ""},
		{"url=http://x:" + other + "/&header=Host:ops.example.com&header=X-Team:ops&method=post", 200, Explanation{Entrypoint: "other", ClientIP: "0.0.0.0", Router: "ops",
			Rule: "Host(`ops.example.com`) && Header(`X-Team`, `ops`)", Middlewares: []string{}, Service: "other"}, []string{otherServer}, ""},
		{"url=http://ops.example.com:" + other + "/x", 200, Explanation{Entrypoint: "other", ClientIP: "0.0.0.0", Middlewares: []string{}}, nil, "no router of entrypoint other"},
		{"url=http://ops.example.com/x&header=X-Team:ops&entrypoint=web", 200, Explanation{Entrypoint: "web", ClientIP: "0.0.0.0", Middlewares: []string{}}, nil, "usher answers 404"},
		{"url=http://example.com/", 200, Explanation{Middlewares: []string{}}, nil, "no entrypoint listens on port 80"},
		{"url=https://example.com:" + web + "/", 200, Explanation{Entrypoint: "web", Middlewares: []string{}}, nil, "serves plain HTTP: an https:// request gets no answer"},
		{"", 400, Explanation{}, nil, ""},
		{"url=/relative", 400, Explanation{}, nil, ""},
		{"url=http://x/&header=nocolon", 400, Explanation{}, nil, ""},
		{"url=http://x/&clientIP=nope", 400, Explanation{}, nil, ""},
		{"url=http://x/&entrypoint=nope", 404, Explanation{}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			code, _, body := f.do(http.MethodGet, "/api/explain?"+tt.query)
			if code != tt.code {
				t.Fatalf("%d, want %d: %s", code, tt.code, body)
			}
			if code != 200 {
				return
			}
			var got Explanation
			mustJSON(t, body, &got)
			if got.Reason == "" || !strings.Contains(got.Reason, tt.reason) {
				t.Errorf("reason %q, want it to hold %q", got.Reason, tt.reason)
			}
			if (tt.server == nil) != (got.Server == "") || (tt.server != nil && !slices.Contains(tt.server, got.Server)) {
				t.Errorf("server %q, want one of %q", got.Server, tt.server)
			}
			got.Reason, got.Server = "", ""
			if len(got.Kinds) == 0 && len(got.Guards) == 0 && len(tt.want.Kinds) == 0 {
				got.Kinds, got.Guards = nil, nil // a router without middlewares
			}
			if !equalJSON(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if strings.Contains(string(body), serverPass) {
				t.Errorf("a secret in %s", body)
			}
		})
	}
}

// Explain goes through the function that serves: forwarded headers from an
// untrusted client are replaced before the rules see them, and kept from a
// trusted proxy (with the client it names); the URL's port picks among
// entrypoints; weighted, mirror and failover services name their server.
func TestExplainThroughTheServedPath(t *testing.T) {
	snap, _ := compile(t, `
entrypoints:
  web:       { address: ":8080", trustedProxies: ["10.0.0.0/8"] }
  internal:  { address: "127.0.0.1:9000" }
  internal2: { address: "127.0.0.2:9000" }
  secure:    { address: ":8443", tls: {} }
  plain:     { address: ":8081", redirectTo: secure }
http:
  routers:
    forwarded: { rule: "Header(`+"`X-Forwarded-Host`, `shop.example`"+`)", service: a, entrypoints: [web] }
    all:       { rule: "PathPrefix(`+"`/`"+`)", service: b, entrypoints: [web, internal, internal2], priority: 1 }
    canary:    { rule: "Path(`+"`/canary`"+`)", service: canary, entrypoints: [web] }
    mirror:    { rule: "Path(`+"`/mirror`"+`)", service: mirror, entrypoints: [web] }
    failover:  { rule: "Path(`+"`/failover`"+`)", service: failover, entrypoints: [web] }
    tlsonly:   { rule: "PathPrefix(`+"`/`"+`)", service: a, entrypoints: [secure], tls: {} }
  services:
    a: { loadBalancer: { servers: [ { url: "http://10.1.0.1:80" } ] } }
    b: { loadBalancer: { servers: [ { url: "http://10.1.0.2:80" } ] } }
    down: { loadBalancer: { servers: [ { url: "http://10.1.0.3:80", weight: 0 } ] } }
    canary:   { weighted: { services: [ { name: a, weight: 1 } ] } }
    mirror:   { mirror: { service: b, mirrors: [ { name: a, percent: 10 } ] } }
    failover: { failover: { service: down, fallback: a } }
`, runtime.NewState())
	eps, err := runtime.Entrypoints(snap.Config)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name       string
		p          ExplainParams
		entrypoint string
		router     string
		clientIP   string
		server     string
		reason     string
	}{
		{"X-Forwarded-Host of an untrusted client is replaced", ExplainParams{URL: "http://x.example:8080/", Headers: []string{"X-Forwarded-Host: shop.example"}},
			"web", "all", "0.0.0.0", "http://10.1.0.2:80", ""},
		{"X-Forwarded-Host of a trusted proxy is kept", ExplainParams{URL: "http://x.example:8080/", Headers: []string{"X-Forwarded-Host: shop.example"}, ClientIP: "10.0.0.5"},
			"web", "forwarded", "10.0.0.5", "http://10.1.0.1:80", ""},
		{"the client a trusted proxy names", ExplainParams{URL: "http://x.example:8080/", Headers: []string{"X-Forwarded-For: 203.0.113.9"}, ClientIP: "10.0.0.5"},
			"web", "all", "203.0.113.9", "http://10.1.0.2:80", ""},
		{"two entrypoints on the port", ExplainParams{URL: "http://x.example:9000/"}, "", "", "", "", "entrypoints internal and internal2 all listen on port 9000"},
		{"a named one of them", ExplainParams{URL: "http://x.example:9000/"}, "internal2", "all", "0.0.0.0", "http://10.1.0.2:80", ""},
		{"no entrypoint on the port", ExplainParams{URL: "http://x.example:7777/"}, "", "", "", "", "no entrypoint listens on port 7777"},
		{"none on the scheme's port", ExplainParams{URL: "https://x.example/"}, "", "", "", "", "no entrypoint listens on port 443"},
		{"a TLS entrypoint, TLS-only router", ExplainParams{URL: "https://x.example:8443/"}, "secure", "tlsonly", "0.0.0.0", "http://10.1.0.1:80", ""},
		{"plain HTTP to the TLS port", ExplainParams{URL: "http://x.example:8443/"}, "secure", "", "", "", "serves TLS: an http:// request gets no answer"},
		{"a redirecting entrypoint", ExplainParams{URL: "http://x.example:8081/"}, "plain", "", "", "", "redirects every request (308) to entrypoint secure"},
		{"weighted", ExplainParams{URL: "http://x.example:8080/canary"}, "web", "canary", "0.0.0.0", "http://10.1.0.1:80", "service a is next of the weighted services"},
		{"mirror", ExplainParams{URL: "http://x.example:8080/mirror"}, "web", "mirror", "0.0.0.0", "http://10.1.0.2:80", "service b answers (copies to a 10%"},
		{"failover", ExplainParams{URL: "http://x.example:8080/failover"}, "web", "failover", "0.0.0.0", "http://10.1.0.1:80", "its fallback a answers"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewExplainRequest(tt.p)
			if err != nil {
				t.Fatal(err)
			}
			named := ""
			if strings.HasPrefix(tt.name, "a named") {
				named = tt.entrypoint
			}
			e := ExplainRequest(snap, eps, r, named, nil)
			if e.Entrypoint != tt.entrypoint || e.Router != tt.router || e.ClientIP != tt.clientIP || e.Server != tt.server ||
				!strings.Contains(e.Reason, tt.reason) {
				t.Errorf("%+v\nwant entrypoint %q router %q client %q server %q, reason with %q", e, tt.entrypoint, tt.router, tt.clientIP, tt.server, tt.reason)
			}
		})
	}
}

func TestToken(t *testing.T) {
	f := newFixture(t, fixtureOpts{token: adminToken, dashboard: true})
	tests := []struct {
		name string
		hdr  []string
		code int
	}{
		{"none", nil, 401},
		{"wrong bearer", []string{"Authorization", "Bearer nope"}, 401},
		{"empty bearer", []string{"Authorization", "Bearer "}, 401},
		{"bearer", []string{"Authorization", "Bearer " + adminToken}, 200},
		{"bearer, any case", []string{"Authorization", "bearer " + adminToken}, 200},
		{"basic", []string{"Authorization", basic("anyone", adminToken)}, 200},
		{"basic, wrong password", []string{"Authorization", basic(adminToken, "nope")}, 401},
	}
	for _, path := range []string{"/api/overview", "/metrics", "/dashboard/", "/api/nope"} {
		for _, tt := range tests {
			t.Run(path+" "+tt.name, func(t *testing.T) {
				code, h, body := f.do(http.MethodGet, path, tt.hdr...)
				want := tt.code
				if want == 200 && path == "/api/nope" {
					want = 404
				}
				if code != want {
					t.Fatalf("%d, want %d: %s", code, want, body)
				}
				if code == 401 && len(h.Values("WWW-Authenticate")) == 0 {
					t.Error("401 without WWW-Authenticate")
				}
			})
		}
	}
}

func basic(user, pass string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, pass)
	return r.Header.Get("Authorization")
}

func TestRefusedReloadShowsProblems(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.setStatus(refusedStatus())

	var o overview
	f.getJSON("/api/overview", &o)
	if o.Reload.OK || !strings.Contains(o.Reload.Error, "expected ')'") || o.Routers.Errors != 2 || len(o.Reload.Problems) != 1 {
		t.Errorf("overview: %+v", o)
	}
	var rs []map[string]any
	f.getJSON("/api/http/routers", &rs)
	api := byName(t, rs, "api")
	if api["status"] != "error" || api["error"] != "usher.yaml:9: rule: expected ')' at column 23" || api["rule"] == nil {
		t.Errorf("api: %v", api)
	}
	if nb := byName(t, rs, "newbie"); nb["status"] != "error" || nb["running"] != false {
		t.Errorf("newbie: %v", nb)
	}
	if site := byName(t, rs, "site"); site["status"] != "enabled" || site["error"] != "" {
		t.Errorf("site: %v", site)
	}
}

// refusedStatus is the status after a refused reload of a config that breaks
// router api's rule, adds a router on an unknown service and a bad log level.
func refusedStatus() runtime.Status {
	refused := config.Problems{
		{Pos: config.Pos{File: "usher.yaml", Line: 9}, Path: "http.routers.api.rule", Msg: "expected ')' at column 23"},
		{Pos: config.Pos{File: "usher.yaml", Line: 30}, Path: "http.routers.newbie.service", Msg: `unknown service "nope"`},
		{Pos: config.Pos{File: "usher.yaml", Line: 2}, Path: "log.level", Msg: `"loud" is not one of debug, info, warn, error`},
	}
	return runtime.Status{LastError: refused, LastGood: time.Now().Add(-time.Minute), Reloads: map[string]int{"ok": 1, "error": 1}}
}

func TestPartOf(t *testing.T) {
	known := map[string][]string{"http.routers.": {"api", "api.v2"}}
	for path, want := range map[string]string{
		"http.routers.api.rule":                   "http.routers.api",
		"http.routers.api.v2.rule":                "http.routers.api.v2",
		"http.routers.new.v3.rule":                "http.routers.new",
		"http.routers.api":                        "http.routers.api",
		"http.services.s.loadBalancer.servers[0]": "http.services.s",
		"http.services.s[0]":                      "http.services.s",
		"entrypoints.web.address":                 "entrypoints.web",
		"http.routers":                            "",
		"log.level":                               "",
	} {
		if got := partOf(path, known); got != want {
			t.Errorf("partOf(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestEventStream(t *testing.T) {
	old := pingEvery
	pingEvery = 50 * time.Millisecond
	defer func() { pingEvery = old }()
	f := newFixture(t, fixtureOpts{})
	f.bus.Publish(observe.Event{Type: "reload", To: "applied"})

	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.admin.URL+"/api/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func(want func(string) bool, what string) string {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("stream ended waiting for %s", what)
				}
				if want(l) {
					return l
				}
			case <-deadline:
				t.Fatalf("no %s", what)
			}
		}
	}
	prefix := func(p string) func(string) bool { return func(l string) bool { return strings.HasPrefix(l, p) } }

	// The recent events first, then the new ones.
	next(func(l string) bool { return l == "event: reload" }, "recent reload event")
	next(prefix(`data: {"time":`), "its data")
	next(prefix(": ping"), "ping")
	f.bus.Publish(observe.Event{Type: "health", Service: "app", Server: "http://a", From: "healthy", To: "unhealthy"})
	next(func(l string) bool { return l == "event: health" }, "health event")
	data := next(prefix("data: "), "its data")
	var ev observe.Event
	mustJSON(t, []byte(strings.TrimPrefix(data, "data: ")), &ev)
	if ev.Service != "app" || ev.To != "unhealthy" || ev.Time.IsZero() {
		t.Errorf("event: %+v", ev)
	}

	// The stream ends when the client goes: its subscription is dropped.
	if n := f.bus.Subscribers(); n != 1 {
		t.Fatalf("%d subscribers, want 1", n)
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for f.bus.Subscribers() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the stream's subscription outlived its client")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStatsShowUp(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.traffic(20, "example.com", "/api/")
	// Stats count complete seconds only.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var ss []struct {
			Name    string
			Stats   traffic
			Servers []serverView
		}
		f.getJSON("/api/http/services", &ss)
		var o overview
		f.getJSON("/api/overview", &o)
		app := ss[0]
		if app.Stats.Requests == 20 && app.Servers[0].Requests+app.Servers[1].Requests == 20 && o.Traffic.Requests == 20 {
			if app.Stats.RPS <= 0 || app.Stats.P50Ms <= 0 || app.Stats.P99Ms < app.Stats.P50Ms || app.Stats.ErrorRate != 0 {
				t.Errorf("app stats: %+v", app.Stats)
			}
			if s := app.Servers[0]; s.Requests == 0 || s.RPS <= 0 || s.P50Ms <= 0 {
				t.Errorf("server stats: %+v", s)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats never showed the 20 requests: %+v, overview %+v", app, o.Traffic)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestDashboardFiles(t *testing.T) {
	f := newFixture(t, fixtureOpts{dashboard: true})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(f.admin.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/dashboard/" {
		t.Errorf("/: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	for path, want := range map[string]string{
		"/dashboard/":            "text/html",
		"/dashboard/app.js":      "text/javascript",
		"/dashboard/app.css":     "text/css",
		"/dashboard/favicon.svg": "image/svg+xml",
	} {
		code, h, body := f.do(http.MethodGet, path)
		if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), want) || len(body) == 0 {
			t.Errorf("%s: %d %s", path, code, h.Get("Content-Type"))
		}
		if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("%s: CSP %q", path, h.Get("Content-Security-Policy"))
		}
		if strings.Contains(string(body), "https://") || strings.Contains(string(body), "//cdn") {
			t.Errorf("%s loads something from elsewhere", path)
		}
	}
}

func newServer(t *testing.T, d Deps) string {
	t.Helper()
	srv := httptest.NewServer(New(d))
	t.Cleanup(srv.Close)
	return srv.URL
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
}

// equalJSON compares two values by their JSON.
func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func byName(t *testing.T, items []map[string]any, name string) map[string]any {
	t.Helper()
	for _, it := range items {
		if it["name"] == name {
			return it
		}
	}
	t.Fatalf("no %q in %v", name, items)
	return nil
}
