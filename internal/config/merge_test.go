package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadDynamicDir(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a.yaml": `http:
  routers:
    api: { rule: "PathPrefix(` + "`/api`" + `)", service: api }
  services:
    api: { loadBalancer: { servers: [ { url: "http://a" } ] } }
tls:
  certificates: [ { certFile: a.pem, keyFile: a.key } ]
`,
		"b.toml": `[http.routers.shop]
rule = "Host(` + "`shop`" + `)"
service = "api"

[[tls.certificates]]
certFile = "b.pem"
keyFile = "b.key"
`,
		"c.yml":       "http:\n  middlewares:\n    strip: { stripPrefix: { prefixes: [/api] } }\n",
		".hidden.yml": "log: {}\n",
		"notes.txt":   "not config",
	})
	cfg, err := LoadDynamicDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := sortedKeys(cfg.HTTP.Routers); !reflect.DeepEqual(got, []string{"api", "shop"}) {
		t.Errorf("routers = %v", got)
	}
	if len(cfg.TLS.Certificates) != 2 || cfg.TLS.Certificates[1].CertFile != "b.pem" {
		t.Errorf("certificates = %+v", cfg.TLS.Certificates)
	}
	for path, want := range map[string]string{
		"http.routers.api.rule":       "a.yaml:3",
		"http.routers.shop.rule":      "b.toml:2",
		"http.middlewares.strip":      "c.yml:3",
		"tls.certificates[0].keyFile": "a.yaml:7",
		"tls.certificates[1].keyFile": "b.toml:7",
		"tls.certificates[1]":         "b.toml:5",
	} {
		if got := cfg.Source.Pos(path).String(); got != filepath.Join(dir, want) {
			t.Errorf("Pos(%s) = %s, want %s", path, got, want)
		}
	}
	if p := Validate(cfg); len(p) != 4 || !strings.Contains(p.Error(), "b.toml:6: tls.certificates[1].certFile: cannot read b.pem") {
		t.Errorf("Validate of the merged config: %v", p)
	}
}

func TestLoadDynamicDirErrors(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a.yaml": `entrypoints: { web: { address: ":80" } }
http:
  routers:
    api: { rule: "PathPrefix(` + "`/`" + `)", service: api }
  services:
    api: { loadBalancer: { servers: [ { url: "http://a" } ] } }
`,
		"b.yaml": `http:
  routers:
    api: { rule: "Path(` + "`/x`" + `)", service: api }
    ok: { rule: "Path(` + "`/y`" + `)", service: api }
  services:
    api: { loadBalancer: { servers: [ { url: "http://b" } ] } }
  middlewares: {}
`,
	})
	_, err := LoadDynamicDir(dir)
	want := []string{
		dir + `/a.yaml:1: entrypoints: "entrypoints" is a static key, which only the main configuration file may hold; a file of the dynamic directory holds only http, tcp, udp, tls`,
	}
	if got := problemLines(t, err); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}

	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(`http:
  routers:
    api: { rule: "PathPrefix(`+"`/`"+`)", service: api }
  services:
    api: { loadBalancer: { servers: [ { url: "http://a" } ] } }
`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadDynamicDir(dir)
	want = []string{
		dir + `/b.yaml:3: http.routers.api: router "api" is already defined at ` + dir + `/a.yaml:3`,
		dir + `/b.yaml:6: http.services.api: service "api" is already defined at ` + dir + `/a.yaml:5`,
	}
	if got := problemLines(t, err); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}

	if _, err := LoadDynamicDir(filepath.Join(dir, "nope")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing directory: %v", err)
	}
}

func TestMergeKeepsInputsAndPositions(t *testing.T) {
	base, err := parseWith("usher.yaml", `admin: { address: ":9090", token: t }
http:
  routers:
    a: { rule: "Path(`+"`/a`"+`)", service: s }
  services:
    s: { loadBalancer: { servers: [ { url: "http://a" } ] } }
`, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	extra, err := parseWith("extra.toml", "[http.routers.b]\nrule = \"Path(`/b`)\"\nservice = \"s\"\n\n[tls.options.default]\nminVersion = \"1.3\"\n", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	baseCopy := base.clone(false)
	merged, err := Merge(base, extra, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(base, baseCopy) {
		t.Error("Merge changed its base")
	}
	if merged.Admin.Token != "t" || len(merged.HTTP.Routers) != 2 || merged.TLS.Options["default"].MinVersion != "1.3" {
		t.Errorf("merged = %s", dump(merged))
	}
	merged.HTTP.Routers["a"].Rule = "changed"
	if base.HTTP.Routers["a"].Rule == "changed" {
		t.Error("merged config shares memory with its base")
	}
	for path, want := range map[string]string{
		"http.routers.a.rule":            "usher.yaml:4",
		"http.routers.b.rule":            "extra.toml:2",
		"http":                           "usher.yaml:2",
		"tls.options.default.minVersion": "extra.toml:6",
	} {
		if got := merged.Source.Pos(path).String(); got != want {
			t.Errorf("Pos(%s) = %s, want %s", path, got, want)
		}
	}

	// The same dynamic names in TLS options conflict too.
	_, err = Merge(merged, extra)
	want := []string{
		`extra.toml:1: http.routers.b: router "b" is already defined at extra.toml:1`,
		`extra.toml:5: tls.options.default: TLS option "default" is already defined at extra.toml:5`,
	}
	if got := problemLines(t, err); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestRedacted(t *testing.T) {
	cfg, err := parseWith("usher.yaml", `admin: { address: ":9090", token: hunter2 }
http:
  services:
    s:
      loadBalancer:
        servers: [ { url: "http://a" }, { url: "http://us3r:pa55@b:8080/p" } ]
        sticky: { cookie: { name: c, secret: k3y } }
        healthCheck: { headers: { Authorization: "Bearer pr0be-t0ken" } }
    t:
      loadBalancer:
        servers: [ { url: "http://a" } ]
        sticky: { cookie: { name: c } }
  middlewares:
    h: { headers: { customRequestHeaders: { X-A: b, X-Api-Key: k3y-h3ader, X-Removed: "" }, customResponseHeaders: { X-B: r3sp }, frameDeny: true } }
tracing: { otlpEndpoint: "http://tr4ce:pw@collector:4318" }
`, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Redacted()
	if r.Admin.Token != Redaction || r.HTTP.Services["s"].LoadBalancer.Sticky.Cookie.Secret != Redaction {
		t.Errorf("secrets left: %s", dump(r))
	}
	if r.HTTP.Services["t"].LoadBalancer.Sticky.Cookie.Secret != "" {
		t.Error("an empty secret was replaced")
	}
	if cfg.Admin.Token != "hunter2" || cfg.HTTP.Services["s"].LoadBalancer.Sticky.Cookie.Secret != "k3y" {
		t.Error("Redacted changed the original")
	}
	hs := r.HTTP.Middlewares["h"].Spec.(*Headers)
	if r.Admin.Address != ":9090" || !hs.FrameDeny || r.HTTP.Services["s"].LoadBalancer.Servers[0].URL != "http://a" {
		t.Errorf("redacted copy lost values: %s", dump(r))
	}
	// Header values may carry tokens: only their names are shown; an empty
	// value (which removes the header) stays empty.
	if hs.CustomRequestHeaders["X-A"] != Redaction || hs.CustomRequestHeaders["X-Api-Key"] != Redaction ||
		hs.CustomRequestHeaders["X-Removed"] != "" || len(hs.CustomRequestHeaders) != 3 || hs.CustomResponseHeaders["X-B"] != Redaction {
		t.Errorf("headers middleware: %v %v", hs.CustomRequestHeaders, hs.CustomResponseHeaders)
	}
	if h := r.HTTP.Services["s"].LoadBalancer.HealthCheck.Headers; h["Authorization"] != Redaction {
		t.Errorf("health check headers: %v", h)
	}
	if u := r.HTTP.Services["s"].LoadBalancer.Servers[1].URL; u != "http://********@b:8080/p" {
		t.Errorf("server URL: %s", u)
	}
	if u := r.Tracing.OTLPEndpoint; u != "http://********@collector:4318" {
		t.Errorf("tracing endpoint: %s", u)
	}
	hs.CustomRequestHeaders["X-A"] = "c"
	if cfg.HTTP.Middlewares["h"].Spec.(*Headers).CustomRequestHeaders["X-A"] != "b" {
		t.Error("redacted copy shares a middleware spec with the original")
	}
	if cfg.HTTP.Services["s"].LoadBalancer.Servers[1].URL != "http://us3r:pa55@b:8080/p" || cfg.HTTP.Services["s"].LoadBalancer.HealthCheck.Headers["Authorization"] != "Bearer pr0be-t0ken" {
		t.Error("Redacted changed the original")
	}
	if r.Source.Pos("admin.token").Line != 1 {
		t.Error("redacted copy lost its positions")
	}
	for _, secret := range []string{"hunter2", "k3y", "pr0be-t0ken", "r3sp", "us3r", "pa55", "tr4ce"} {
		if strings.Contains(dump(r), secret) {
			t.Errorf("%s shows in the redacted copy", secret)
		}
	}
	if (*Config)(nil).Redacted() == nil {
		t.Error("Redacted of nil is nil")
	}
}

func TestStaticEqual(t *testing.T) {
	load := func(text string) *Config {
		t.Helper()
		c, err := parseWith("usher.yaml", text, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	base := load("entrypoints: { web: { address: ':80' } }\nhttp: { routers: { a: { rule: x, service: s } } }\n")
	tests := []struct {
		name, text string
		equal      bool
	}{
		{"dynamic change only", "entrypoints: { web: { address: ':80' } }\nhttp: { routers: { b: { rule: y, service: s } } }\n", true},
		{"defaults written out", "log: { level: info }\nentrypoints: { web: { address: ':80', protocol: http, idleTimeout: 180s } }\n", true},
		{"empty sections", "entrypoints: { web: { address: ':80', trustedProxies: [] } }\ncertResolvers: {}\n", true},
		{"address", "entrypoints: { web: { address: ':81' } }\n", false},
		{"new entrypoint", "entrypoints: { web: { address: ':80' }, b: { address: ':82' } }\n", false},
		{"admin turned on", "admin: {}\nentrypoints: { web: { address: ':80' } }\n", false},
		{"log level", "log: { level: debug }\nentrypoints: { web: { address: ':80' } }\n", false},
	}
	for _, tc := range tests {
		if got := StaticEqual(base, load(tc.text)); got != tc.equal {
			t.Errorf("%s: StaticEqual = %v, want %v", tc.name, got, tc.equal)
		}
	}
	if !StaticEqual(nil, &Config{}) {
		t.Error("nil and empty configs differ")
	}
}
