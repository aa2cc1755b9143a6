package docker

import (
	"strings"
	"testing"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/labelexpr"
)

func files(t *testing.T, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("usher.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

const base = `
entrypoints: { web: { address: ":0" } }
http:
  middlewares:
    auth: { stripPrefix: { prefixes: ["/x"] } }
  routers:
    static: { rule: "PathPrefix(` + "`/static`" + `)", service: static }
  services:
    static: { loadBalancer: { servers: [ { url: "http://127.0.0.1:1" } ] } }
`

func ctr(name, ip string, labels ...string) Container {
	c := Container{ID: "id-" + name, Name: name, Labels: map[string]string{}, Networks: map[string]string{"bridge": ip}, Ports: []int{8080}}
	for i := 0; i+1 < len(labels); i += 2 {
		c.Labels[labels[i]] = labels[i+1]
	}
	return c
}

func TestBuildPoolAndDefaults(t *testing.T) {
	cs := []Container{
		ctr("shop-2", "172.17.0.3", "usher.enable", "true", "usher.http.routers.shop.rule", "Host(`shop.local`)",
			"usher.http.services.shop.loadbalancer.server.port", "9000", "usher.http.routers.shop.middlewares", "auth"),
		ctr("shop-1", "172.17.0.2", "usher.enable", "true", "usher.http.routers.shop.rule", "Host(`shop.local`)",
			"usher.http.services.shop.loadBalancer.server.port", "9000", "usher.http.routers.shop.middlewares", "auth"),
		ctr("plain", "172.17.0.4", "usher.enable", "true", "com.docker.compose.service", "web", "usher.http.routers.web.rule", "Path(`/w`)"),
		ctr("off", "172.17.0.5", "usher.http.routers.off.rule", "Path(`/off`)"),
		ctr("starting", "172.17.0.6", "usher.enable", "true"),
	}
	cs[4].Health = "starting"
	part, probs := Build(files(t, base), cs, Options{})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	shop := part.HTTP.Services["shop"].LoadBalancer.Servers
	if len(shop) != 2 || shop[0].URL != "http://172.17.0.2:9000" || shop[1].URL != "http://172.17.0.3:9000" {
		t.Errorf("shop pool = %+v", shop)
	}
	r := part.HTTP.Routers["shop"]
	if r.Service != "shop" || r.Provider != "docker" || len(r.Middlewares) != 1 || r.Middlewares[0] != "auth" {
		t.Errorf("router shop = %+v", r)
	}
	if w := part.HTTP.Services["web"]; w == nil || w.LoadBalancer.Servers[0].URL != "http://172.17.0.4:8080" {
		t.Errorf("compose service web = %+v", w)
	}
	if part.HTTP.Routers["web"].Service != "web" {
		t.Errorf("router web uses %q", part.HTTP.Routers["web"].Service)
	}
	if part.HTTP.Routers["off"] != nil || part.HTTP.Services["starting"] != nil {
		t.Errorf("a container not enabled or starting was read: %v", part.HTTP.Services)
	}
	all, err := config.Merge(files(t, base), part)
	if err != nil {
		t.Fatal(err)
	}
	if vp := config.Validate(all); len(vp) > 0 {
		t.Fatal(vp)
	}
}

func TestBuildLabelErrorsLeaveOneOut(t *testing.T) {
	cs := []Container{
		ctr("good", "172.17.0.2", "usher.enable", "true", "usher.http.routers.good.rule", "Path(`/good`)"),
		ctr("badrule", "172.17.0.3", "usher.enable", "true", "usher.http.routers.bad.rule", "Path(`/x`"),
		ctr("badkey", "172.17.0.4", "usher.enable", "true", "usher.http.routers.k.rulez", "Path(`/k`)"),
		ctr("badport", "172.17.0.5", "usher.enable", "true", "usher.http.services.p.loadBalancer.server.port", "http"),
		ctr("clash", "172.17.0.6", "usher.enable", "true", "usher.http.services.static.loadBalancer.server.port", "80"),
		ctr("nomw", "172.17.0.7", "usher.enable", "true", "usher.http.routers.nomw.rule", "Path(`/n`)", "usher.http.routers.nomw.middlewares", "nope"),
		ctr("static", "172.17.0.8", "usher.enable", "yes please"),
		ctr("envsecret", "172.17.0.9", "usher.enable", "true", "usher.http.middlewares.h.headers.customRequestHeaders.X", "${HOME}",
			"usher.http.routers.e.rule", "Path(`/e`)", "usher.http.routers.e.middlewares", "h"),
	}
	part, probs := Build(files(t, base), cs, Options{})
	if part.HTTP.Routers["good"] == nil {
		t.Error("the good container was left out")
	}
	text := probs.Error()
	for _, want := range []string{
		`container "badrule", label usher.http.routers.bad.rule: http.routers.bad.rule:`,
		`container "badkey", label usher.http.routers.k.rulez: http.routers.k.rulez: unknown key "rulez"`,
		`container "badport", label usher.http.services.p.loadBalancer.server.port: expected a port number`,
		`container "clash", label usher.http.services.static.loadBalancer.server.port: service "static" is defined in the configuration files too`,
		`container "nomw", label usher.http.routers.nomw.middlewares: http.routers.nomw.middlewares[0]:`,
		`container "static", label usher.enable: expected true or false, got "yes please"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing problem %q in:\n%s", want, text)
		}
	}
	for _, name := range []string{"bad", "k", "nomw"} {
		if part.HTTP.Routers[name] != nil {
			t.Errorf("router %s of a container with problems was taken", name)
		}
	}
	// Labels are literal: ${HOME} is not usher's environment.
	if h := part.HTTP.Middlewares["h"]; h == nil {
		t.Errorf("middleware h missing: %v", probs)
	} else if v := h.Spec.(*config.Headers).CustomRequestHeaders["X"]; v != "${HOME}" {
		t.Errorf("label value expanded to %q", v)
	}
}

func TestBuildOrderIndependentReferences(t *testing.T) {
	// a uses a middleware b defines: a is read again once b is in.
	cs := []Container{
		ctr("a", "172.17.0.2", "usher.enable", "true", "usher.http.routers.a.rule", "Path(`/a`)", "usher.http.routers.a.middlewares", "strip"),
		ctr("b", "172.17.0.3", "usher.enable", "true", "usher.http.middlewares.strip.stripPrefix.prefixes", "/a"),
	}
	part, probs := Build(files(t, base), cs, Options{})
	if len(probs) > 0 || part.HTTP.Routers["a"] == nil {
		t.Fatalf("problems %v, routers %v", probs, part.HTTP.Routers)
	}
}

func TestBuildOptions(t *testing.T) {
	expr, err := labelexpr.Parse("Label(`zone`, `public`)")
	if err != nil {
		t.Fatal(err)
	}
	cs := []Container{
		ctr("pub", "", "zone", "public"),
		ctr("priv", "172.17.0.3", "zone", "private"),
		ctr("optout", "172.17.0.4", "zone", "public", "usher.enable", "false"),
	}
	cs[0].Networks = map[string]string{"bridge": "172.17.0.2", "front": "10.5.0.2"}
	part, probs := Build(files(t, base), cs, Options{ExposedByDefault: true, Network: "front", Constraints: expr})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	if len(part.HTTP.Services) != 1 || part.HTTP.Services["pub"].LoadBalancer.Servers[0].URL != "http://10.5.0.2:8080" {
		t.Errorf("services = %v", part.HTTP.Services)
	}
	_, probs = Build(files(t, base), cs[:1], Options{ExposedByDefault: true, Network: "back"})
	if !strings.Contains(probs.Error(), `no address on network "back" (its networks: bridge, front)`) {
		t.Errorf("problems = %v", probs)
	}
	two := ctr("two", "172.17.0.9", "usher.enable", "true")
	two.Ports = []int{80, 443}
	_, probs = Build(files(t, base), []Container{two}, Options{})
	if !strings.Contains(probs.Error(), `label usher.http.services.two.loadBalancer.server.port: the container exposes 2 ports (80, 443)`) {
		t.Errorf("problems = %v", probs)
	}
}

// An autoscaler's container serves its service through Fit, not as a
// service of its own: Build reads its other labels, and its routers
// default to the autoscaled service.
func TestBuildAutoscaledContainer(t *testing.T) {
	const scaledFiles = `
entrypoints: { web: { address: ":0" } }
http:
  services:
    app:
      loadBalancer:
        servers: []
        autoscale: { max: 3, target: { inFlight: 5 }, actuator: { docker: { image: "app:1" } } }
`
	cs := []Container{
		ctr("usher-app-1", "172.17.0.2", config.AutoscaleServiceLabel, "app", "usher.enable", "true", "usher.http.routers.app.rule", "Host(`app.local`)"),
		ctr("usher-app-2", "172.17.0.3", config.AutoscaleServiceLabel, "app", "usher.enable", "true", "usher.http.routers.app.rule", "Host(`app.local`)"),
		ctr("usher-app-3", "172.17.0.4", config.AutoscaleServiceLabel, "app"), // exposed by default, no usher.* label: no service named after it
	}
	part, probs := Build(files(t, scaledFiles), cs, Options{ExposedByDefault: true})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	if len(part.HTTP.Services) != 0 {
		t.Errorf("services of their own: %v", part.HTTP.Services)
	}
	if r := part.HTTP.Routers["app"]; r == nil || r.Service != "app" {
		t.Errorf("router app = %+v", r)
	}
}

func TestFit(t *testing.T) {
	p := &Provider{endpoint: Endpoint("unix:///var/run/docker.sock"), watch: true, containers: map[string]*Container{}}
	add := func(name, ip, health string, stopping bool, service string) {
		c := ctr(name, ip, config.AutoscaleServiceLabel, service)
		c.Health, c.Stopping = health, stopping
		p.containers[c.ID] = &c
	}
	add("ok", "10.0.0.1", "", false, "app")
	add("healthy", "10.0.0.2", "healthy", false, "app")
	add("starting", "10.0.0.3", "starting", false, "app")
	add("unhealthy", "10.0.0.4", "unhealthy", false, "app")
	add("stopping", "10.0.0.5", "", true, "app")
	add("other", "10.0.0.6", "", false, "other")
	plain := ctr("plain", "10.0.0.7")
	p.containers[plain.ID] = &plain
	fit, ok := p.Fit("app", "unix:///var/run/docker.sock/")
	if !ok || len(fit) != 2 || !fit["10.0.0.1"] || !fit["10.0.0.2"] {
		t.Errorf("Fit = %v, %v; want 10.0.0.1 and 10.0.0.2", fit, ok)
	}
	if _, ok := p.Fit("app", "tcp://10.1.1.1:2375"); ok {
		t.Error("Fit answered for another engine")
	}
	p.watch = false
	if _, ok := p.Fit("app", ""); ok {
		t.Error("Fit answered with watch off: it would never see a new container")
	}
}
