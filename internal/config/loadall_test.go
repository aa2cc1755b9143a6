package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tree writes files (paths relative to a fresh directory, "->target" makes a
// symbolic link) and returns the directory.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if target, ok := strings.CutPrefix(text, "->"); ok {
			err = os.Symlink(target, p)
		} else {
			err = os.WriteFile(p, []byte(text), 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func loadAllLines(t *testing.T, path string) []string {
	t.Helper()
	cfg, err := LoadAll(path)
	if err == nil && cfg == nil {
		t.Fatal("LoadAll returned neither a config nor an error")
	}
	return problemLines(t, err)
}

func sameLines(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

const bt = "`"

// A directory that cannot be read, a missing secret file and a broken server
// URL are all reported in one go, each at the key that names it; the router
// that refers to a service the directory would define is not blamed for it.
func TestLoadAllReportsEveryProblemAtItsKey(t *testing.T) {
	dir := tree(t, map[string]string{"usher.yaml": `providers:
  file: { directory: conf.d }
admin:
  tokenFile: /nonexistent/token
entrypoints:
  web: { address: ":8080" }
http:
  routers:
    api: { rule: "Host(` + bt + `a` + bt + `)", service: from-conf-d, middlewares: [from-conf-d-too] }
    own: { rule: "Host(` + bt + `b` + bt + `)", service: own }
  services:
    own:
      loadBalancer:
        servers: [ { url: "http://10.0.0.1:99999" }, { url: "http://10.0.0.1:8080", weight: -1 } ]
        retryy: {}
`})
	main := filepath.Join(dir, "usher.yaml")
	sameLines(t, loadAllLines(t, main), []string{
		main + `:4: admin.tokenFile: cannot read /nonexistent/token: no such file or directory`,
		main + `:15: http.services.own.loadBalancer.retryy: unknown key "retryy"; did you mean "retry"?`,
		main + `:2: providers.file.directory: cannot read the directory ` + filepath.Join(dir, "conf.d") + `: no such file or directory`,
		main + `:14: http.services.own.loadBalancer.servers[0].url: "http://10.0.0.1:99999" has port 99999, out of range: a port is a number from 1 to 65535`,
		main + `:14: http.services.own.loadBalancer.servers[1].weight: weight must be 0 or more, got -1`,
	})
}

// Each file of the directory is reported on its own: one that cannot be
// read, one that does not parse, one with problems of its own; and the
// merged whole is still validated.
func TestLoadAllReportsEveryFileOfTheDirectory(t *testing.T) {
	dir := tree(t, map[string]string{
		"usher.yaml": `providers: { file: { directory: conf.d } }
entrypoints: { web: { address: ":8080" } }
http:
  routers:
    api: { rule: "Host(` + bt + `a` + bt + `)", service: in-broken-file }
`,
		"conf.d/a.yaml":  "->nowhere.yaml",
		"conf.d/b.yaml":  "http:\n  routers: [\n",
		"conf.d/c.toml":  "[http.services.c.loadBalancer]\nservers = [ { url = \"http://user:s3cret@h:abc\" } ]\n",
		"conf.d/d.yaml":  "\n",
		"conf.d/.e.yaml": "not: [ read", // a temporary file of an editor
	})
	main, confd := filepath.Join(dir, "usher.yaml"), filepath.Join(dir, "conf.d")
	got := loadAllLines(t, main)
	want := []string{
		filepath.Join(confd, "a.yaml") + `: cannot read the file: no such file or directory`,
		filepath.Join(confd, "b.yaml") + `:2: YAML syntax: `,
		filepath.Join(confd, "d.yaml") + `: the file is empty`,
		filepath.Join(confd, "c.toml") + `:2: http.services.c.loadBalancer.servers[0].url: "http://********@h:abc" has an invalid port "abc": a port is a number from 1 to 65535`,
	}
	if len(got) != len(want) {
		sameLines(t, got, want)
		return
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("line %d: %q, want it to start with %q", i, got[i], want[i])
		}
	}
	if strings.Contains(strings.Join(got, "\n"), "s3cret") || strings.Contains(strings.Join(got, "\n"), "user") {
		t.Errorf("the password shows in the problems:\n%s", strings.Join(got, "\n"))
	}
}

// With every file read, a reference to a name nobody defines is a problem
// again, and names defined twice across files are reported with the rest.
func TestLoadAllWithACompleteDirectory(t *testing.T) {
	dir := tree(t, map[string]string{
		"etc/usher.toml": `[providers.file]
directory = "conf.d"
[http.routers.api]
rule = "Host(` + bt + `a` + bt + `)"
service = "nowhere"
[http.services.s.loadBalancer]
servers = [ { url = "http://h:" } ]
`,
		"etc/conf.d/a.yaml": `http:
  services:
    s: { loadBalancer: { servers: [ { url: "http://h:0" } ] } }
`,
	})
	main := filepath.Join(dir, "etc", "usher.toml")
	sameLines(t, loadAllLines(t, main), []string{
		filepath.Join(dir, "etc", "conf.d", "a.yaml") + `:3: http.services.s: service "s" is already defined at ` + main + `:6`,
		// The first definition is the one kept, and checked.
		main + `:5: http.routers.api.service: service "nowhere" does not exist`,
		main + `:7: http.services.s.loadBalancer.servers[0].url: "http://h:" has a ':' but no port after it; write the port (1 to 65535) or leave the ':' out for the scheme's default`,
	})

	// Fixed, it loads, merged.
	os.WriteFile(filepath.Join(dir, "etc", "conf.d", "a.yaml"), []byte("http: { services: { s: { loadBalancer: { servers: [ { url: \"http://h:1\" } ] } } } }\n"), 0o600)
	os.WriteFile(main, []byte("[providers.file]\ndirectory = \"conf.d\"\n[http.routers.api]\nrule = \"Host(`a`)\"\nservice = \"s\"\n"), 0o600)
	cfg, err := LoadAll(main)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Services["s"] == nil || cfg.HTTP.Routers["api"] == nil {
		t.Errorf("not merged: %s", dump(cfg))
	}
	if _, err := LoadAll(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("a missing main file: %v", err)
	}
}

// Files the config names must be files usher can read, not directories.
func TestNamedFilesMustBeReadable(t *testing.T) {
	dir := t.TempDir()
	p := Validate(&Config{TLS: &TLS{Certificates: []Certificate{{CertFile: dir, KeyFile: filepath.Join(dir, "k.pem")}}}})
	sameLines(t, strings.Split(p.Error(), "\n"), []string{
		`tls.certificates[0].certFile: ` + dir + ` is a directory, not a file`,
		`tls.certificates[0].keyFile: cannot read ` + filepath.Join(dir, "k.pem") + `: no such file or directory`,
	})
}

func TestServerURLPorts(t *testing.T) {
	for raw, want := range map[string]string{
		"http://h:8080":        "",
		"http://h":             "",
		"https://h:443/p":      "",
		"http://[::1]:80":      "",
		"http://[::1]":         "",
		"http://u:p@h:1/x:y":   "",
		"http://h:65535":       "",
		"http://h:99999":       `"http://h:99999" has port 99999, out of range`,
		"http://h:65536":       `"http://h:65536" has port 65536, out of range`,
		"http://h:0":           `"http://h:0" has port 0, out of range`,
		"http://h:000080":      "",
		"http://h:abc":         `"http://h:abc" has an invalid port "abc"`,
		"http://h:-1":          `"http://h:-1" has an invalid port "-1"`,
		"http://h:":            `"http://h:" has a ':' but no port after it`,
		"http://h:/p":          `"http://h:/p" has a ':' but no port after it`,
		"http://[::1]:":        `"http://[::1]:" has a ':' but no port after it`,
		"http://[::1]:x":       `"http://[::1]:x" has an invalid port "x"`,
		"http://user:pw@h:abc": `"http://********@h:abc" has an invalid port "abc"`,
	} {
		c := &Config{HTTP: &HTTP{Services: map[string]*Service{"s": {LoadBalancer: &LoadBalancer{Servers: []Server{{URL: raw}}}}}}}
		var got string
		for _, p := range Validate(c) {
			if p.Path == "http.services.s.loadBalancer.servers[0].url" {
				got = p.Msg
			}
		}
		if (want == "") != (got == "") || !strings.HasPrefix(got, want) {
			t.Errorf("%s: %q, want %q…", raw, got, want)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://10.0.0.1:8080":           "http://10.0.0.1:8080",
		"http://u:p@10.0.0.1:8080/a":     "http://********@10.0.0.1:8080/a",
		"https://tok3n@h/x@y":            "https://********@h/x@y",
		"http://h/p?q=a@b":               "http://h/p?q=a@b",
		"http://a:b@c@h":                 "http://********@h",
		"http://user:pa%40ss@[::1]:80/p": "http://********@[::1]:80/p",
		"http://u:p@h:abc":               "http://********@h:abc", // does not parse: redacted anyway
		"":                               "",
		"not a url":                      "not a url",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRedactURLs(t *testing.T) {
	for in, want := range map[string]string{
		`plain text`: `plain text`,
		`"http://u:p@h:abc" has an invalid port; also https://t0k@x/y and http://h/a@b`: `"http://********@h:abc" has an invalid port; also https://********@x/y and http://h/a@b`,
		`Get "http://user:pass@10.0.0.1/x": refused`:                                    `Get "http://********@10.0.0.1/x": refused`,
		`a@b://c`:    `a@b://c`,
		`x://@`:      `x://********@`,
		`://u@h ://`: `://********@h ://`,
	} {
		if got := RedactURLs(in); got != want {
			t.Errorf("RedactURLs(%q) = %q, want %q", in, got, want)
		}
	}
}

// A secret with a broken ${ reference is a problem that does not quote it.
func TestProblemsDoNotQuoteSecrets(t *testing.T) {
	_, err := parseWith("usher.yaml", `admin: { address: "127.0.0.1:9090", token: "t0ken${x" }
http:
  middlewares:
    h: { headers: { customRequestHeaders: { X-Key: "k3y${}" } } }
  services:
    s:
      loadBalancer:
        servers: [ { url: "http://us3r:pa55@h/${oops" } ]
        healthCheck: { headers: { X-Probe: "pr0be${A B}" }, path: "/${UNSET_VAR}" }
`, nil, nil)
	got := strings.Join(problemLines(t, err), "\n")
	for _, secret := range []string{"t0ken", "k3y", "us3r", "pa55", "pr0be"} {
		if strings.Contains(got, secret) {
			t.Errorf("%s shows in the problems:\n%s", secret, got)
		}
	}
	for _, want := range []string{
		"usher.yaml:1: admin.token: the value holds a ${ that is not",
		"usher.yaml:4: http.middlewares.h.headers.customRequestHeaders.X-Key: the value holds a ${",
		`usher.yaml:8: http.services.s.loadBalancer.servers[0].url: unclosed ${ in "http://********@h/${oops"`,
		"usher.yaml:9: http.services.s.loadBalancer.healthCheck.headers.X-Probe: the value holds a ${",
		"usher.yaml:9: http.services.s.loadBalancer.healthCheck.path: environment variable UNSET_VAR is not set",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
}
