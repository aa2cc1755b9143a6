package config

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// parseWith is Parse with a fixed environment and files, so that tests do
// not depend on the machine.
func parseWith(name, text string, env map[string]string, files map[string]string) (*Config, error) {
	l := loader{
		lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		readFile: func(p string) ([]byte, error) {
			if s, ok := files[p]; ok {
				return []byte(s), nil
			}
			return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
		},
	}
	return l.parse(name, []byte(text), false)
}

func problemLines(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("error is %T, not Problems: %v", err, err)
	}
	return strings.Split(ps.Error(), "\n")
}

func TestYAMLAndTOMLDecodeTheSame(t *testing.T) {
	y, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tm, err := Load("testdata/full.toml")
	if err != nil {
		t.Fatal(err)
	}
	ys, ts := y.Source, tm.Source
	y.Source, tm.Source = nil, nil
	if !reflect.DeepEqual(y, tm) {
		t.Errorf("YAML and TOML differ:\nyaml %s\ntoml %s", dump(y), dump(tm))
	}

	// A few values, so that equal does not mean equally empty.
	api := y.HTTP.Services["api"].LoadBalancer
	if got := *api.Servers[0].Weight; got != 2 {
		t.Errorf("weight = %d", got)
	}
	if api.Servers[1].Weight != nil {
		t.Errorf("absent weight decoded as %d", *api.Servers[1].Weight)
	}
	if api.HealthCheck.Interval.D() != 3*time.Second || api.HashBalanceFactor != 1.5 || !*api.PassHostHeader {
		t.Errorf("loadBalancer = %+v", api)
	}
	if got := y.Entrypoints["internal"].MaxHeaderBytes; got != 64<<10 {
		t.Errorf("maxHeaderBytes = %d", got)
	}
	if got := y.HTTP.Middlewares["strip"]; got.Kind != "stripPrefix" || !reflect.DeepEqual(got.Spec, &StripPrefix{Prefixes: []string{"/api", "/v1"}}) {
		t.Errorf("strip = %+v", got)
	}
	if got := y.HTTP.Middlewares["api-limit"].Spec.(*Buffering).MaxRequestBodyBytes; got != 10_000_000 {
		t.Errorf("maxRequestBodyBytes = %d", got)
	}

	for _, tc := range []struct {
		src        *Source
		path, want string
	}{
		{ys, "http.routers.api.rule", "testdata/full.yaml:36"},
		{ys, "http.services.api.loadBalancer.servers[1].url", "testdata/full.yaml:46"},
		{ys, "http.services.api.loadBalancer.servers[1]", "testdata/full.yaml:46"},
		{ys, "tls.certificates[0].keyFile", "testdata/full.yaml:82"},
		{ts, "http.routers.api.rule", "testdata/full.toml:34"},
		{ts, "http.services.api.loadBalancer.servers[1].url", "testdata/full.toml:50"},
		{ts, "http.middlewares.both.chain.middlewares", "testdata/full.toml:99"},
		{ts, "http.middlewares.api-auth.headers.frameDeny", "testdata/full.toml:103"},
		{ts, "entrypoints.websecure.tls.certResolver", "testdata/full.toml:11"},
		// Unknown paths fall back to their nearest known parent.
		{ts, "http.routers.api.nothing", "testdata/full.toml:32"},
	} {
		if got := tc.src.Pos(tc.path).String(); got != tc.want {
			t.Errorf("Pos(%s) = %s, want %s", tc.path, got, tc.want)
		}
	}
}

func dump(c *Config) string {
	b, err := json.MarshalIndent(c, "", " ")
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, file, text string
		env              map[string]string
		want             []string
	}{
		{
			name: "unknown key with suggestion",
			file: "usher.yaml",
			text: `http:
  routers:
    api:
      service: api
      rulee: Host(` + "`a`" + `)
`,
			want: []string{`usher.yaml:5: http.routers.api.rulee: unknown key "rulee"; did you mean "rule"?`},
		},
		{
			name: "unknown key without suggestion",
			file: "usher.yaml",
			text: "log:\n  colour: red\n",
			want: []string{`usher.yaml:2: log.colour: unknown key "colour"`},
		},
		{
			name: "unknown key in TOML",
			file: "usher.toml",
			text: "[http.services.s.loadBalancer]\nalgoritm = \"p2c\"\n",
			want: []string{`usher.toml:2: http.services.s.loadBalancer.algoritm: unknown key "algoritm"; did you mean "algorithm"?`},
		},
		{
			name: "case typo is suggested",
			file: "usher.yaml",
			text: "entrypoints:\n  web:\n    address: :80\n    redirectto: x\n",
			want: []string{`usher.yaml:4: entrypoints.web.redirectto: unknown key "redirectto"; did you mean "redirectTo"?`},
		},
		{
			name: "type mismatches, several in one file",
			file: "usher.yaml",
			text: `entrypoints:
  web:
    address: [":80"]
    http3: maybe
    idleTimeout: 3
    maxHeaderBytes: lots
http:
  services:
    s:
      loadBalancer:
        hashBalanceFactor: high
        servers:
          - url: http://a
            weight: abc
          - url: { host: a }
          - weight: 99999999999999999999
`,
			want: []string{
				`usher.yaml:3: entrypoints.web.address: expected a string, got a list`,
				`usher.yaml:4: entrypoints.web.http3: expected true or false (or a mapping of options), got "maybe"`,
				`usher.yaml:5: entrypoints.web.idleTimeout: expected a duration (like 3s, 500ms, 1m30s), got "3"`,
				`usher.yaml:6: entrypoints.web.maxHeaderBytes: expected a size (like 512, 64KiB, 10MB), got "lots"`,
				`usher.yaml:11: http.services.s.loadBalancer.hashBalanceFactor: expected a number, got "high"`,
				`usher.yaml:14: http.services.s.loadBalancer.servers[0].weight: expected an integer, got "abc"`,
				`usher.yaml:15: http.services.s.loadBalancer.servers[1].url: expected a string, got a mapping`,
				`usher.yaml:16: http.services.s.loadBalancer.servers[2].weight: integer 99999999999999999999 is out of range`,
			},
		},
		{
			name: "TOML type mismatch",
			file: "usher.toml",
			text: "[[http.services.s.loadBalancer.servers]]\nurl = \"http://a\"\nweight = \"abc\"\n",
			want: []string{`usher.toml:3: http.services.s.loadBalancer.servers[0].weight: expected an integer, got "abc"`},
		},
		{
			name: "negative duration",
			file: "usher.yaml",
			text: "entrypoints: { web: { address: ':80', gracePeriod: -1s } }\n",
			want: []string{`usher.yaml:1: entrypoints.web.gracePeriod: a duration cannot be negative, got "-1s"`},
		},
		{
			name: "list expected",
			file: "usher.yaml",
			text: "http: { routers: { r: { entrypoints: web } } }\n",
			want: []string{`usher.yaml:1: http.routers.r.entrypoints: expected a list, got "web"`},
		},
		{
			name: "section is a scalar",
			file: "usher.yaml",
			text: "admin: yes\nentrypoints: web\n",
			want: []string{
				`usher.yaml:1: admin: expected a mapping, got "yes"`,
				`usher.yaml:2: entrypoints: expected a mapping of names, got "web"`,
			},
		},
		{
			name: "duplicate key in YAML",
			file: "usher.yaml",
			text: "http:\n  routers:\n    a:\n      rule: x\n      rule: y\n    a: {}\n",
			want: []string{
				`usher.yaml:5: http.routers.a.rule: "rule" is defined twice (first at line 4)`,
				`usher.yaml:6: http.routers.a: "a" is defined twice (first at line 3)`,
			},
		},
		{
			name: "duplicate key in TOML",
			file: "usher.toml",
			text: "[log]\nlevel = \"info\"\nlevel = \"debug\"\n",
			want: []string{`usher.toml:3: log.level: "level" is defined twice (first at line 2)`},
		},
		{
			name: "TOML table defined twice",
			file: "usher.toml",
			text: "[log]\nlevel = \"info\"\n[log]\nformat = \"json\"\n",
			want: []string{`usher.toml:3: log: table [log] is defined twice (first at line 1)`},
		},
		{
			name: "YAML syntax error",
			file: "usher.yaml",
			text: "log:\n  level: info\n format: json\n",
			want: []string{`usher.yaml:2: YAML syntax: did not find expected key`},
		},
		{
			name: "TOML syntax error",
			file: "usher.toml",
			text: "[log]\nlevel = \n",
			want: []string{`usher.toml:2: TOML syntax: unexpected character U+000A at start of value`},
		},
		{
			name: "unknown extension",
			file: "usher.json",
			text: "{}",
			want: []string{`usher.json: unknown file type ".json": use .yaml, .yml or .toml`},
		},
		{
			name: "two YAML documents",
			file: "usher.yaml",
			text: "log: {}\n---\nadmin: {}\n",
			want: []string{`usher.yaml:2: a configuration file holds one YAML document; found another`},
		},
		{
			name: "top level is a list",
			file: "usher.yaml",
			text: "- a\n- b\n",
			want: []string{`usher.yaml:1: expected a mapping of keys at the top of the file, got a list`},
		},
		{
			name: "self-referencing alias",
			file: "usher.yaml",
			text: "log: &a\n  level: *a\n",
			want: []string{`usher.yaml:1: an alias refers to a value that contains it`},
		},
		{
			name: "unset variable",
			file: "usher.yaml",
			text: "entrypoints:\n  web: { address: ':${PORT}' }\n",
			want: []string{`usher.yaml:2: entrypoints.web.address: environment variable PORT is not set (write ${PORT:-default} to give a default)`},
		},
		{
			name: "variable making a bad integer",
			file: "usher.yaml",
			env:  map[string]string{"W": "heavy"},
			text: "http: { services: { s: { loadBalancer: { servers: [ { url: 'http://a', weight: '${W}' } ] } } } }\n",
			want: []string{`usher.yaml:1: http.services.s.loadBalancer.servers[0].weight: expected an integer, got "heavy"`},
		},
		{
			name: "empty map name",
			file: "usher.yaml",
			text: "http: { routers: { '': { rule: x } } }\n",
			want: []string{`usher.yaml:1: http.routers: a name cannot be empty`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseWith(tc.file, tc.text, tc.env, nil)
			if err == nil {
				t.Fatalf("no error; config %s", dump(cfg))
			}
			if cfg != nil {
				t.Errorf("config returned with an error")
			}
			got := problemLines(t, err)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

func TestEnvInValues(t *testing.T) {
	env := map[string]string{"PORT": "8080", "HOST": "10.0.0.1", "EMPTY": ""}
	yamlText := `entrypoints:
  web: { address: ":${PORT}", readHeaderTimeout: "${RHT:-3s}" }
http:
  services:
    s:
      loadBalancer:
        passHostHeader: ${PHH:-false}
        servers:
          - url: "http://${HOST}:${BACKEND_PORT:-9000}/"
            weight: ${W:-2}
  middlewares:
    auth:
      headers: { customRequestHeaders: { X-Price: "$$5 ${EMPTY:-none}" } }
    rr:
      redirectRegex: { regex: "^http://(.*)$", replacement: "https://${1}/$1" }
`
	tomlText := `[entrypoints.web]
address = ":${PORT}"
readHeaderTimeout = "${RHT:-3s}"

[http.services.s.loadBalancer]
passHostHeader = "${PHH:-false}"
servers = [{ url = "http://${HOST}:${BACKEND_PORT:-9000}/", weight = "${W:-2}" }]

[http.middlewares.auth.headers.customRequestHeaders]
X-Price = "$$5 ${EMPTY:-none}"

[http.middlewares.rr.redirectRegex]
regex = "^http://(.*)$"
replacement = "https://${1}/$1"
`
	for name, text := range map[string]string{"usher.yaml": yamlText, "usher.toml": tomlText} {
		t.Run(name, func(t *testing.T) {
			cfg, err := parseWith(name, text, env, nil)
			if err != nil {
				t.Fatal(err)
			}
			web := cfg.Entrypoints["web"]
			if web.Address != ":8080" || web.ReadHeaderTimeout.D() != 3*time.Second {
				t.Errorf("web = %+v", web)
			}
			lb := cfg.HTTP.Services["s"].LoadBalancer
			if lb.Servers[0].URL != "http://10.0.0.1:9000/" || *lb.Servers[0].Weight != 2 || *lb.PassHostHeader {
				t.Errorf("lb = %+v %+v", lb, lb.Servers[0])
			}
			if got := cfg.HTTP.Middlewares["auth"].Spec.(*Headers).CustomRequestHeaders["X-Price"]; got != "$5 none" {
				t.Errorf("X-Price = %q", got)
			}
			rr := cfg.HTTP.Middlewares["rr"].Spec.(*RedirectRegex)
			if rr.Regex != "^http://(.*)$" || rr.Replacement != "https://${1}/$1" {
				t.Errorf("redirectRegex = %+v", rr)
			}
		})
	}
}

func TestExpandEnv(t *testing.T) {
	env := map[string]string{"A": "a", "EMPTY": "", "B": "b"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct{ in, want, err string }{
		{in: "plain", want: "plain"},
		{in: "${A}", want: "a"},
		{in: "x${A}y${B}z", want: "xaybz"},
		{in: "${EMPTY}", want: ""},
		{in: "${EMPTY:-d}", want: "d"},
		{in: "${UNSET:-d}", want: "d"},
		{in: "${UNSET:-}", want: ""},
		{in: "${UNSET:-${A}}", want: "a"},
		{in: "${UNSET:-${ALSO_UNSET:-deep}}", want: "deep"},
		{in: "$$", want: "$"},
		{in: "$${A}", want: "${A}"},
		{in: "a$", want: "a$"},
		{in: "$argon2id$v=19$m=65536", want: "$argon2id$v=19$m=65536"},
		{in: "${1}", want: "${1}"},
		{in: "${UNSET}", err: "environment variable UNSET is not set (write ${UNSET:-default} to give a default)"},
		{in: "${A", err: `unclosed ${ in "${A"`},
		{in: "${}", err: "bad variable reference ${}: want ${NAME} or ${NAME:-default}"},
		{in: "${A-b}", err: "bad variable reference ${A-b}: want ${NAME} or ${NAME:-default}"},
	}
	for _, tc := range tests {
		got, err := expandEnv(tc.in, lookup)
		switch {
		case tc.err != "" && (err == nil || err.Error() != tc.err):
			t.Errorf("expandEnv(%q) error = %v, want %s", tc.in, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("expandEnv(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestSecretsFromFiles(t *testing.T) {
	files := map[string]string{"/run/secrets/token": "s3cret\n", "/run/secrets/hmac": "k\r\n"}
	env := map[string]string{"SECRETS": "/run/secrets"}
	cfg, err := parseWith("usher.yaml", `admin:
  address: 0.0.0.0:9090
  tokenFile: ${SECRETS}/token
http:
  services:
    s:
      loadBalancer:
        servers: [{ url: "http://a" }]
        sticky: { cookie: { secretFile: /run/secrets/hmac } }
tls:
  certificates: [{ certFile: c.pem, keyFile: k.pem }]
`, env, files)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Admin.Token != "s3cret" {
		t.Errorf("token = %q", cfg.Admin.Token)
	}
	if got := cfg.HTTP.Services["s"].LoadBalancer.Sticky.Cookie.Secret; got != "k" {
		t.Errorf("secret = %q", got)
	}
	// certFile is a field of its own: it stays a path.
	if c := cfg.TLS.Certificates[0]; c.CertFile != "c.pem" || c.KeyFile != "k.pem" {
		t.Errorf("certificate = %+v", c)
	}
	if got := cfg.Source.Pos("admin.token").Line; got != 3 {
		t.Errorf("admin.token line = %d", got)
	}

	_, err = parseWith("usher.toml", "[admin]\ntoken = \"a\"\ntokenFile = \"/run/secrets/token\"\n[http.routers.r]\nruleFile = \"/nope\"\n", nil, files)
	want := []string{
		`usher.toml:3: admin.tokenFile: set either "token" or "tokenFile", not both`,
		`usher.toml:5: http.routers.r.ruleFile: unknown key "ruleFile"`, // only secrets come from files
	}
	if got := problemLines(t, err); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestSecretFileFromDisk(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	if err := os.WriteFile(tok, []byte("from-disk\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, maxSecretFile+1), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse("usher.yaml", []byte("admin: { tokenFile: '"+tok+"' }\n"))
	if err != nil || cfg.Admin.Token != "from-disk" {
		t.Fatalf("token = %v, %v", cfg, err)
	}
	_, err = Parse("usher.yaml", []byte("admin: { tokenFile: '"+big+"' }\n"))
	want := "usher.yaml:1: admin.tokenFile: " + big + " is larger than 65536 bytes; a secret file holds only the secret"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
	_, err = Load(filepath.Join(dir, "missing.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing file: %v", err)
	}
}

func TestMiddlewareUnion(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string
	}{
		{
			name: "zero keys",
			text: "http:\n  middlewares:\n    m: {}\n",
			want: []string{`usher.yaml:3: http.middlewares.m: a middleware needs one key naming its kind (one of ` + knownKinds() + `)`},
		},
		{
			name: "no value",
			text: "http:\n  middlewares:\n    m:\n",
			want: []string{`usher.yaml:3: http.middlewares.m: a middleware needs one key naming its kind (one of ` + knownKinds() + `)`},
		},
		{
			name: "two keys",
			text: "http:\n  middlewares:\n    m:\n      stripPrefix: { prefixes: [/a] }\n      addPrefix: { prefix: /b }\n",
			want: []string{`usher.yaml:3: http.middlewares.m: a middleware has exactly one kind, got 2: "stripPrefix", "addPrefix"`},
		},
		{
			name: "unknown kind with suggestion",
			text: "http:\n  middlewares:\n    m:\n      stripPrefx: { prefixes: [/a] }\n",
			want: []string{`usher.yaml:4: http.middlewares.m.stripPrefx: unknown middleware kind "stripPrefx"; did you mean "stripPrefix"?`},
		},
		{
			name: "unknown kind without suggestion",
			text: "http:\n  middlewares:\n    m:\n      zzz: { average: 5 }\n",
			want: []string{`usher.yaml:4: http.middlewares.m.zzz: unknown middleware kind "zzz"; known kinds: ` + knownKinds()},
		},
		{
			name: "unknown key inside a kind",
			text: "http:\n  middlewares:\n    m:\n      stripPrefix: { prefix: /a }\n",
			want: []string{`usher.yaml:4: http.middlewares.m.stripPrefix.prefix: unknown key "prefix"; did you mean "prefixes"?`},
		},
		{
			name: "not a mapping",
			text: "http:\n  middlewares:\n    m: stripPrefix\n",
			want: []string{`usher.yaml:3: http.middlewares.m: expected a mapping with one middleware kind, got "stripPrefix"`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseWith("usher.yaml", tc.text, nil, nil)
			if got := problemLines(t, err); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}

	cfg, err := parseWith("usher.yaml", "http:\n  middlewares:\n    c: { chain: { middlewares: [a, b] } }\n    r: { redirectScheme: { scheme: https, permanent: true } }\n", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m := cfg.HTTP.Middlewares["c"]; m.Kind != "chain" || !reflect.DeepEqual(m.Spec, &Chain{Middlewares: []string{"a", "b"}}) {
		t.Errorf("c = %+v", m)
	}
	if m := cfg.HTTP.Middlewares["r"]; m.Kind != "redirectScheme" || !reflect.DeepEqual(m.Spec, &RedirectScheme{Scheme: "https", Permanent: true}) {
		t.Errorf("r = %+v", m)
	}
}

func TestYAMLAliasesAndMerge(t *testing.T) {
	_, err := parseWith("usher.yaml", `x-server: &srv { url: "http://a", weight: 3 }
x-lb: &lb
  algorithm: p2c
  servers: [*srv]
http:
  services:
    a: { loadBalancer: *lb }
    b:
      loadBalancer:
        <<: *lb
        algorithm: random
`, nil, nil)
	// x- keys are not config keys: aliases are meant to live in the file
	// that uses them, so their anchors must be somewhere known.
	if got := problemLines(t, err); len(got) != 2 || !strings.Contains(got[0], `unknown key "x-server"`) {
		t.Fatalf("got %q", got)
	}
	cfg, err := parseWith("usher.yaml", `http:
  services:
    a: { loadBalancer: &lb { algorithm: p2c, servers: [ { url: "http://a", weight: 3 } ] } }
    b:
      loadBalancer:
        <<: *lb
        algorithm: random
`, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.HTTP.Services["a"].LoadBalancer, cfg.HTTP.Services["b"].LoadBalancer
	if a.Algorithm != "p2c" || b.Algorithm != "random" || *b.Servers[0].Weight != 3 {
		t.Errorf("a = %+v, b = %+v", a, b)
	}
}

func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 10; i++ {
		b.WriteString("a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	_, err := parseWith("usher.yaml", b.String(), nil, nil)
	want := "usher.yaml: the file stands for more than 1048576 values (through YAML aliases)"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v", err)
	}
}

// An empty file is what a save caught between its truncate and its write
// looks like: refused, main file or a file of the directory, rather than
// taken as a configuration without routers.
func TestEmptyFilesAreRefused(t *testing.T) {
	for _, name := range []string{"e.yaml", "e.toml", "e.yml"} {
		for _, text := range []string{"", " ", "\n\n", "\t \r\n", "# only a comment\n", "\n# a\n  # b\n"} {
			_, err := parseWith(name, text, nil, nil)
			if got := problemLines(t, err); len(got) != 1 || !strings.HasPrefix(got[0], name+": the file is empty") {
				t.Errorf("%s %q: %q", name, text, got)
			}
		}
	}
	for _, text := range []string{"---\n", "~\n", "--- # nothing\n", "null"} {
		if got := problemLines(t, mustFail(parseWith("e.yaml", text, nil, nil))); len(got) != 1 || !strings.Contains(got[0], "the file is empty") {
			t.Errorf("yaml %q: %q", text, got)
		}
	}
	// Saying "nothing" on purpose is a configuration.
	for name, text := range map[string]string{"e.yaml": "{}\n", "e.toml": "[http]\n", "f.yaml": "http: {}\n"} {
		if cfg, err := parseWith(name, text, nil, nil); err != nil || cfg == nil || cfg.Source == nil {
			t.Errorf("%s %q: %v, %v", name, text, cfg, err)
		}
	}
	dir := writeFiles(t, map[string]string{"a.yaml": "http: {}\n", "b.yaml": "\n", "c.toml": "# x\n"})
	got := problemLines(t, mustFail(LoadDynamicDir(dir)))
	if len(got) != 2 || !strings.HasPrefix(got[0], filepath.Join(dir, "b.yaml")+": the file is empty") ||
		!strings.HasPrefix(got[1], filepath.Join(dir, "c.toml")+": the file is empty") {
		t.Errorf("directory: %q", got)
	}
}

func mustFail[T any](_ T, err error) error { return err }

func TestNullSections(t *testing.T) {
	cfg, err := parseWith("usher.yaml", "providers:\n  file:\nadmin:\nlog: ~\n", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Providers.File == nil || cfg.Admin == nil || cfg.Log == nil {
		t.Errorf("a section written without a value must be present: %s", dump(cfg))
	}
}

func TestTOMLForms(t *testing.T) {
	cfg, err := parseWith("usher.toml", `
[entrypoints.web]
address = ":80"
maxHeaderBytes = 0x10_00
trustedProxies = [
  "10.0.0.0/8", # comment
  "::1",
]

[http.services.s]
loadBalancer.servers = [{ url = "http://a", weight = +1_0 }]
loadBalancer.healthCheck.interval = "5s"

[tls]
[[tls.certificates]]
certFile = "a"
keyFile = "b"
[[tls.certificates]]
certFile = "c"
keyFile = "d"
`, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Entrypoints["web"].MaxHeaderBytes; got != 4096 {
		t.Errorf("maxHeaderBytes = %d", got)
	}
	if got := cfg.Entrypoints["web"].TrustedProxies; !reflect.DeepEqual(got, []string{"10.0.0.0/8", "::1"}) {
		t.Errorf("trustedProxies = %q", got)
	}
	lb := cfg.HTTP.Services["s"].LoadBalancer
	if *lb.Servers[0].Weight != 10 || lb.HealthCheck.Interval.D() != 5*time.Second {
		t.Errorf("lb = %+v", lb)
	}
	if len(cfg.TLS.Certificates) != 2 || cfg.TLS.Certificates[1].KeyFile != "d" {
		t.Errorf("certificates = %+v", cfg.TLS.Certificates)
	}
	if got := cfg.Source.Pos("tls.certificates[1].keyFile").Line; got != 20 {
		t.Errorf("tls.certificates[1].keyFile line = %d", got)
	}

	_, err = parseWith("usher.toml", "[log]\nlevel = \"x\"\n[log.level]\na = 1\n", nil, nil)
	want := `usher.toml:3: log.level: "level" is already set at line 2 and cannot be extended here`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v", err)
	}
}

func TestParseReportsValidationProblemsWithLoadProblems(t *testing.T) {
	text := `entrypoints:
  web: { address: ":8080" }
http:
  routers:
    api:
      rulee: "Host(` + "`a`" + `)"
      service: missing
    b:
      rule: "Host(` + "`a`" + `"
      service: api
  services:
    api:
      loadBalancer:
        servers: [ { url: { host: a } } ]
`
	_, err := Parse("usher.yaml", []byte(text))
	got := problemLines(t, err)
	want := []string{
		`usher.yaml:6: http.routers.api.rulee: unknown key "rulee"; did you mean "rule"?`,
		`usher.yaml:14: http.services.api.loadBalancer.servers[0].url: expected a string, got a mapping`,
		`usher.yaml:5: http.routers.api.rule: a rule is required, like Host(` + "`example.com`" + `)`,
		`usher.yaml:7: http.routers.api.service: service "missing" does not exist`,
	}
	if len(got) != len(want)+1 || strings.Join(got[:len(want)], "\n") != strings.Join(want, "\n") ||
		!strings.HasPrefix(got[len(want)], "usher.yaml:9: http.routers.b.rule: ") {
		t.Errorf("got\n  %s\nwant\n  %s\n  usher.yaml:9: http.routers.b.rule: ...", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}

	// A directory may define what the main file refers to: then only the
	// file's own problems are reported.
	_, err = Parse("usher.yaml", []byte("providers: { file: { directory: conf.d } }\n"+text))
	if got := problemLines(t, err); len(got) != 2 {
		t.Errorf("with a directory: %q", got)
	}
}

// knownKinds is the list the errors give, as a user reads it: the kinds of
// MiddlewareKinds, sorted.
func knownKinds() string {
	ks := make([]string, 0, len(MiddlewareKinds))
	for k := range MiddlewareKinds {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return strings.Join(ks, ", ")
}

// Every middleware kind of the design is in this version: none is refused
// as "not supported", and each decodes into its own type. (When the design
// grows a kind usher lacks, plannedMiddlewareKinds refuses it so.)
func TestEveryDesignedMiddlewareKindIsSupported(t *testing.T) {
	if len(plannedMiddlewareKinds) != 0 {
		t.Fatalf("kinds of the design this version lacks: %v", plannedMiddlewareKinds)
	}
	for _, k := range designMiddlewareKinds {
		if _, ok := MiddlewareKinds[k]; !ok {
			t.Errorf("designed kind %q is not in MiddlewareKinds", k)
		}
	}
	_, err := Parse("usher.yaml", []byte("http:\n  middlewares:\n    m:\n      retry: { attempts: 3 }\n"))
	if err != nil && strings.Contains(err.Error(), "not supported") {
		t.Fatalf("retry refused: %v", err)
	}
}
