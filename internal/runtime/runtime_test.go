package runtime

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/rule"
)

// lbConfig is a checked config of one load balancer "app" on urls, with
// three routers on entrypoint web.
func lbConfig(urls ...string) Checked {
	c, err := Check(rawLBConfig(urls...))
	if err != nil {
		panic(err)
	}
	return c
}

func rawLBConfig(urls ...string) *config.Config {
	var servers []config.Server
	for _, u := range urls {
		servers = append(servers, config.Server{URL: u})
	}
	cfg := &config.Config{
		Entrypoints: map[string]*config.Entrypoint{"web": {Address: "127.0.0.1:0"}},
		HTTP: &config.HTTP{
			Routers: map[string]*config.Router{
				"short": {Rule: "PathPrefix(`/`)", Service: "app"},
				"long":  {Rule: "PathPrefix(`/api`) && Method(`GET`)", Service: "app"},
				"first": {Rule: "PathPrefix(`/`)", Service: "app", Priority: 1000},
			},
			Services: map[string]*config.Service{"app": {LoadBalancer: &config.LoadBalancer{Servers: servers}}},
		},
	}
	return cfg
}

func TestServerStateSurvivesReloadForTheSameURL(t *testing.T) {
	st := NewState()
	s1, p1, err := Compile(context.Background(), lbConfig("http://10.0.0.1:80", "http://10.0.0.2:80"), st)
	if err != nil {
		t.Fatal(err)
	}
	p1.Commit()
	kept, _ := st.Servers.Lookup("app|http://10.0.0.1:80")
	gone, _ := st.Servers.Lookup("app|http://10.0.0.2:80")
	kept.Start() // a request in flight on the old snapshot

	s2, p2, err := Compile(context.Background(), lbConfig("http://10.0.0.1:80", "http://10.0.0.3:80"), st)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := st.Servers.Lookup("app|http://10.0.0.2:80"); again != gone || gone.Draining() {
		t.Fatal("compiling changed the registry before commit")
	}
	p2.Commit()
	removed := p2.Removed()
	after, _ := st.Servers.Lookup("app|http://10.0.0.1:80")
	if after != kept || after.InFlight() != 1 {
		t.Fatalf("server with the same URL lost its state: same=%v inflight=%d", after == kept, after.InFlight())
	}
	if len(removed) != 1 || removed[0] != gone || !gone.Draining() {
		t.Fatalf("removed server not drained: %v", removed)
	}
	if s1 == s2 || s1.Services["app"] == s2.Services["app"] {
		t.Fatal("snapshots must be distinct")
	}
}

func TestRoutersOrderedByPriorityThenRuleLength(t *testing.T) {
	snap, _, err := Compile(context.Background(), lbConfig("http://10.0.0.1:80"), NewState())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range snap.RoutersOf("web") {
		names = append(names, r.Name)
	}
	if got := names; len(got) != 3 || got[0] != "first" || got[1] != "long" || got[2] != "short" {
		t.Fatalf("order = %v, want [first long short]", got)
	}
	r := httptest.NewRequest(http.MethodGet, "/api/x", nil)
	if rt := snap.Match("web", &rule.Request{R: r, Host: "example.com"}); rt == nil || rt.Name != "first" {
		t.Fatalf("match = %v", rt)
	}
	if rt := snap.Match("nope", &rule.Request{R: r}); rt != nil {
		t.Fatal("router matched on an entrypoint it is not on")
	}
}

func TestCompileProblemsNamePaths(t *testing.T) {
	c := lbConfig("http://10.0.0.1:80")
	cfg := c.Config()
	cfg.HTTP.Routers["bad"] = &config.Router{Rule: "Host(`a`", Service: "app"}
	cfg.HTTP.Routers["orphan"] = &config.Router{Rule: "Host(`b`)", Service: "missing"}
	_, _, err := Compile(context.Background(), c, NewState()) // past validation, as a bug would be
	ps, ok := err.(config.Problems)
	if !ok || len(ps) != 2 {
		t.Fatalf("err = %v", err)
	}
	if ps[0].Path != "http.routers.bad.rule" || ps[1].Path != "http.services.missing" {
		t.Fatalf("paths = %q, %q", ps[0].Path, ps[1].Path)
	}
}
