package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFromLabels(t *testing.T) {
	cfg, probs := FromLabels(`container "a"`, "usher.", map[string]string{
		"http.routers.r.rule":                           "Path(`/a`)",
		"http.routers.r.entrypoints":                    "web, websecure",
		"http.routers.r.service":                        "s",
		"http.services.s.loadbalancer.servers[0].url":   "http://10.0.0.1:80",
		"http.services.s.loadBalancer.servers[1].url":   "http://10.0.0.2:80",
		"http.services.s.loadBalancer.healthCheck.path": "/healthz",
		"http.middlewares.m.basicAuth.users":            "u:$apr1$x$y",
	})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	r := cfg.HTTP.Routers["r"]
	if r.Rule != "Path(`/a`)" || len(r.Entrypoints) != 2 || r.Entrypoints[1] != "websecure" {
		t.Errorf("router = %+v", r)
	}
	lb := cfg.HTTP.Services["s"].LoadBalancer
	if len(lb.Servers) != 2 || lb.Servers[1].URL != "http://10.0.0.2:80" || lb.HealthCheck.Path != "/healthz" {
		t.Errorf("service = %+v", lb)
	}
	if u := cfg.HTTP.Middlewares["m"].Spec.(*BasicAuth).Users; len(u) != 1 || u[0] != "u:$apr1$x$y" {
		t.Errorf("users = %q (a label is literal: no ${} expansion)", u)
	}
	if p := cfg.Source.Pos("http.routers.r.rule"); p.String() != `container "a", label usher.http.routers.r.rule` {
		t.Errorf("position = %q", p)
	}

	_, probs = FromLabels(`container "b"`, "usher.", map[string]string{
		"http.routers.r":                              "x",
		"http.routers.r.rule":                         "y",
		"http.services.s.loadBalancer.servers[1].url": "http://a",
		"log.level":                                   "debug",
		"http.middlewares.j.jwt.secretFile":           "/etc/passwd",
	})
	text := probs.Error()
	for _, want := range []string{
		`container "b", label usher.http.routers.r.rule: "http.routers.r" cannot both have a value and keys below it`,
		`label usher.http.services.s.loadBalancer.servers[1].url: http.services.s.loadBalancer.servers: http.services.s.loadBalancer.servers[0] is not set`,
		`"log" is a static key`,
		`a label cannot name a file`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in:\n%s", want, text)
		}
	}
}

// A router of the files may use a service another provider defines.
func TestLoadAllWith(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "usher.yaml")
	os.WriteFile(path, []byte("entrypoints: { web: { address: \":0\" } }\nhttp: { routers: { r: { rule: \"Path(`/`)\", service: fromdocker } } }\n"), 0o644)
	if _, err := LoadAll(path); err == nil || !strings.Contains(err.Error(), "fromdocker") {
		t.Fatalf("without the provider: %v", err)
	}
	more := func(files *Config) *Config {
		c, _ := FromLabels("c", "", map[string]string{"http.services.fromdocker.loadBalancer.servers[0].url": "http://127.0.0.1:1"})
		out, err := Merge(files, c)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	cfg, err := LoadAllWith(path, more)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Services["fromdocker"] == nil {
		t.Error("the provider's service is missing")
	}
}

// TestLabelsNameNoHostFile: a label cannot make usher read a file of its
// host, whatever key would name it; keys that only look alike pass.
func TestLabelsNameNoHostFile(t *testing.T) {
	for _, tc := range []struct {
		key  string
		file bool
	}{
		{"http.middlewares.a.basicAuth.usersFile", true},
		{"http.middlewares.a.apiKey.keysFile", true},
		{"http.middlewares.a.waf.rulesFiles[0]", true},
		{"http.middlewares.a.jwt.publicKeyFile", true},
		{"http.services.s.loadBalancer.transport.tls.key", true},
		{"http.services.s.loadBalancer.transport.tls.CA", true},
		{"http.middlewares.a.rateLimit.key", false},
		{"http.middlewares.a.jwt.jwksURL", false},
		{"http.routers.r.tls.certResolver", false},
	} {
		if got := fileKey(tc.key); got != tc.file {
			t.Errorf("%s: fileKey %v, want %v", tc.key, got, tc.file)
		}
	}
	_, probs := FromLabels(`container "c"`, "usher.", map[string]string{
		"http.middlewares.a.basicAuth.usersFile": "/etc/shadow",
		"http.middlewares.a.basicAuth.realm":     "x",
	})
	if len(probs) == 0 || !strings.Contains(probs[0].Error(), "label usher.http.middlewares.a.basicAuth.usersFile: a label cannot name a file") {
		t.Errorf("problems %v", probs)
	}
}

// TestLabelsSetNoAutoscale: an autoscale section, whose actuator runs
// commands and starts containers, comes from config files only.
func TestLabelsSetNoAutoscale(t *testing.T) {
	_, probs := FromLabels(`container "c"`, "usher.", map[string]string{
		"http.services.s.loadBalancer.autoscale.actuator.exec.command": "/bin/sh",
		"http.services.s.loadBalancer.server.port":                     "80",
	})
	if len(probs) == 0 || !strings.Contains(probs[0].Error(), "label usher.http.services.s.loadBalancer.autoscale.actuator.exec.command: a label cannot set autoscale") {
		t.Errorf("problems %v", probs)
	}
	if autoscaleKey("http.services.autoscale.loadBalancer.server.port") {
		t.Error("a service named autoscale is not an autoscale key")
	}
}
