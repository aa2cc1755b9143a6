package test

import (
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/jwtverify/jwttest"
)

const jwtTpl = `
accessLog: { path: "{{log}}", format: json }
admin: { address: "127.0.0.1:0" }
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    jwks: { rule: "PathPrefix(` + "`/jwks`" + `)", middlewares: [idp], service: app }
    pem:  { rule: "PathPrefix(` + "`/pem`" + `)", middlewares: [pem], service: app }
    hs:   { rule: "PathPrefix(` + "`/hs`" + `)", middlewares: [hs], service: app }
    keys: { rule: "PathPrefix(` + "`/keys`" + `)", middlewares: [keys], service: app }
    {{extra}}
  middlewares:
    idp:
      jwt:
        jwksURL: "{{jwks}}/.well-known/jwks.json"
        issuer: "https://id.example.com"
        audience: [shop, blog]
        leeway: 5s
        claims: { role: { contains: admin } }
        claimsToHeaders: { sub: X-User, email: X-Email }
        tokenFrom: [ "header:Authorization", "cookie:token", "query:access_token" ]
    pem: { jwt: { publicKeyFile: "{{pem}}", algorithms: [RS256, PS256] } }
    hs:  { jwt: { secretFile: "{{secret}}", audience: shop, realm: shop } }
    keys:
      apiKey:
        query: api_key
        idHeader: X-Api-Key-Id
        keys: [ { id: mobile, sha256: "{{mobileSum}}" } ]
        keysFile: "{{keysFile}}"
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`

// TestJWTThroughUsher: tokens signed by a JWK Set's keys, a PEM key and a
// secret, checked by the real binary; the JWK Set is served by the test,
// which counts how often usher fetches it.
func TestJWTThroughUsher(t *testing.T) {
	ecKey, rsaKey := jwttest.EC(elliptic.P256()), jwttest.RSA()
	var fetches atomic.Int64
	idp := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/jwks.json" {
			http.NotFound(w, r)
			return
		}
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Write(jwttest.JWKS(jwttest.JWK("k1", "ES256", ecKey), jwttest.JWK("k2", "", rsaKey)))
	})
	be, seen := recordingBackend(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const secret = "e2e-secret-0123456789abcdef-0123456789"
	sum := func(k string) string { s := sha256.Sum256([]byte(k)); return hex.EncodeToString(s[:]) }
	logPath := filepath.Join(dir, "access.log")
	vars := []string{
		"log", logPath, "jwks", idp.URL, "be", be,
		"pem", write("rsa.pem", string(jwttest.PEM(rsaKey))),
		"secret", write("secret", secret+"\n"),
		"mobileSum", sum("mobile-key-7f3a9c"),
		"keysFile", write("keys", "# id:sha256\nci:"+sum("ci-key-51be02")+"\n"),
	}
	cfg := config(jwtTpl, append(vars, "extra", "")...)
	u := startUsher(t, cfg)
	web := u.url("web")

	now := time.Now()
	good := map[string]any{"sub": "alice", "email": "alice@example.com", "iss": "https://id.example.com", "aud": "shop",
		"role": []string{"user", "admin"}, "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
	with := func(k string, v any) map[string]any {
		c := map[string]any{}
		for k, v := range good {
			c[k] = v
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	es256 := jwttest.Sign("ES256", "k1", ecKey, good, nil)
	rs256 := jwttest.Sign("RS256", "k2", rsaKey, good, nil)
	var tokens []string // every token sent: none may reach a log

	t.Run("a good token: through, with its claims in headers and not the client's copies", func(t *testing.T) {
		for _, tok := range []string{es256, rs256} {
			tokens = append(tokens, tok)
			resp, body := send(t, "GET", web+"/jwks/orders", nil, "Authorization: Bearer "+tok, "X-User: root", "X-Email: root@example.com")
			if resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("status %d body %q", resp.StatusCode, body)
			}
			got := next(t, seen)
			if v := got.h.Values("X-User"); len(v) != 1 || v[0] != "alice" {
				t.Errorf("server got X-User %q, want alice only", v)
			}
			if v := got.h.Values("X-Email"); len(v) != 1 || v[0] != "alice@example.com" {
				t.Errorf("server got X-Email %q", v)
			}
		}
	})

	t.Run("token in the query: through, and the server never sees it", func(t *testing.T) {
		resp, _ := send(t, "GET", web+"/jwks/q?a=1&access_token="+es256+"&b=2", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if got := next(t, seen); got.target != "/jwks/q?a=1&b=2" {
			t.Errorf("server got %q", got.target)
		}
		resp, _ = send(t, "GET", web+"/jwks/c", nil, "Cookie: token="+es256)
		if resp.StatusCode != 200 {
			t.Fatalf("cookie: status %d", resp.StatusCode)
		}
		next(t, seen)
	})

	for _, tt := range []struct {
		name, path, token string
		status            int
		www               string
	}{
		{"no token", "/jwks/x", "", 401, `Bearer realm="usher"`},
		{"alg none", "/jwks/x", jwttest.Sign("none", "k1", nil, good, nil), 401, `Bearer realm="usher", error="invalid_token", error_description="unsigned tokens (alg none) are not accepted"`},
		{"HS256 signed with the JWK Set's RSA key, as PEM", "/jwks/x", jwttest.Sign("HS256", "k2", jwttest.PEM(rsaKey), good, nil), 401, `error_description="no key known for the token's kid and algorithm"`},
		{"HS256 signed with the RSA public key", "/pem/x", jwttest.Sign("HS256", "", jwttest.PEM(rsaKey), good, nil), 401, `error="invalid_token"`},
		{"expired", "/jwks/x", jwttest.Sign("ES256", "k1", ecKey, with("exp", now.Add(-time.Minute).Unix()), nil), 401, `error_description="the token has expired"`},
		{"not yet valid", "/jwks/x", jwttest.Sign("ES256", "k1", ecKey, with("nbf", now.Add(time.Hour).Unix()), nil), 401, `error="invalid_token"`},
		{"wrong audience", "/jwks/x", jwttest.Sign("ES256", "k1", ecKey, with("aud", "wiki"), nil), 401, `error_description="the token is not for this audience"`},
		{"wrong issuer", "/jwks/x", jwttest.Sign("ES256", "k1", ecKey, with("iss", "https://evil.example"), nil), 401, `error="invalid_token"`},
		{"bad signature", "/jwks/x", jwttest.Sign("ES256", "k1", jwttest.EC(elliptic.P256()), good, nil), 401, `error_description="the token's signature is not valid"`},
		{"claim does not match", "/jwks/x", jwttest.Sign("ES256", "k1", ecKey, with("role", "user"), nil), 403, `error="insufficient_scope"`},
		{"RS256 from the PEM file", "/pem/x", rs256, 200, ""},
		{"RS384 outside the allowlist", "/pem/x", jwttest.Sign("RS384", "", rsaKey, good, nil), 401, `error_description="the token's algorithm is not accepted"`},
		{"HS256 with the secret file", "/hs/x", jwttest.Sign("HS256", "", []byte(secret), good, nil), 200, ""},
		{"HS256 with another secret", "/hs/x", jwttest.Sign("HS256", "", []byte(secret+"x"), good, nil), 401, `Bearer realm="shop", error="invalid_token"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var fields []string
			if tt.token != "" {
				tokens = append(tokens, tt.token)
				fields = append(fields, "Authorization: Bearer "+tt.token)
			}
			resp, _ := send(t, "GET", web+tt.path, nil, fields...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (%q)", resp.StatusCode, tt.status, resp.Header.Get("WWW-Authenticate"))
			}
			if tt.status == 200 {
				next(t, seen)
				return
			}
			www := resp.Header.Get("WWW-Authenticate")
			if !strings.Contains(www, tt.www) || (tt.token == "" && strings.Contains(www, "error")) {
				t.Errorf("WWW-Authenticate %q, want %q", www, tt.www)
			}
			select {
			case r := <-seen:
				t.Fatalf("a refused request reached the server: %s", r.target)
			default:
			}
		})
	}

	t.Run("made-up kids do not make usher flood the identity provider", func(t *testing.T) {
		before := fetches.Load()
		for i := range 40 {
			tok := jwttest.Sign("ES256", fmt.Sprintf("kid-%d", i), ecKey, good, nil)
			if resp, _ := send(t, "GET", web+"/jwks/x", nil, "Authorization: Bearer "+tok); resp.StatusCode != 401 {
				t.Fatalf("unknown kid: status %d", resp.StatusCode)
			}
		}
		// The first fetch was less than 30 s ago: none may be made; were it
		// older, one.
		if n := fetches.Load() - before; n > 1 {
			t.Fatalf("%d fetches of the JWK Set for 40 unknown kids, want at most 1", n)
		}
	})

	t.Run("a reload keeps the JWK Set", func(t *testing.T) {
		before := fetches.Load()
		l := u.rewrite(config(jwtTpl, append(vars, "extra", "other: { rule: \"PathPrefix(`/other`)\", service: app }")...))
		if l.msg() != "configuration applied" {
			t.Fatalf("reload: %v", l)
		}
		if resp, _ := send(t, "GET", web+"/jwks/x", nil, "Authorization: Bearer "+es256); resp.StatusCode != 200 {
			t.Fatalf("after the reload: status %d", resp.StatusCode)
		}
		next(t, seen)
		if n := fetches.Load() - before; n != 0 {
			t.Errorf("%d fetches of the JWK Set across a reload, want 0", n)
		}
	})

	t.Run("apiKey: by header or query, the id to the server, never the key", func(t *testing.T) {
		resp, _ := send(t, "GET", web+"/keys/a", nil, "X-Api-Key: mobile-key-7f3a9c", "X-Api-Key-Id: admin")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		got := next(t, seen)
		if v := got.h.Values("X-Api-Key-Id"); len(v) != 1 || v[0] != "mobile" || got.h.Get("X-Api-Key") != "" {
			t.Errorf("server got X-Api-Key-Id %q, X-Api-Key %q", v, got.h.Get("X-Api-Key"))
		}
		resp, _ = send(t, "GET", web+"/keys/b?api_key=ci-key-51be02&x=1", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("query key: status %d", resp.StatusCode)
		}
		if got := next(t, seen); got.target != "/keys/b?x=1" || got.h.Get("X-Api-Key-Id") != "ci" {
			t.Errorf("server got %q with id %q", got.target, got.h.Get("X-Api-Key-Id"))
		}
		for _, k := range []string{"", "mobile-key-7f3a9", sum("mobile-key-7f3a9c")} {
			var f []string
			if k != "" {
				f = []string{"X-Api-Key: " + k}
			}
			resp, _ := send(t, "GET", web+"/keys/c", nil, f...)
			if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `ApiKey header="X-Api-Key"` {
				t.Errorf("key %q: status %d, WWW-Authenticate %q", k, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
		}
	})

	t.Run("decisions are counted, users and key ids logged, no token or key anywhere", func(t *testing.T) {
		_, metrics := get(t, "http://"+u.addrs["admin"]+"/metrics")
		for _, want := range []string{
			`usher_middleware_decisions_total{kind="jwt",middleware="idp",result="allow"} 5`,
			`usher_middleware_decisions_total{kind="jwt",middleware="idp",result="deny"} 49`,
			`usher_middleware_decisions_total{kind="jwt",middleware="pem",result="deny"} 2`,
			`usher_middleware_decisions_total{kind="apiKey",middleware="keys",result="allow"} 2`,
			`usher_middleware_decisions_total{kind="apiKey",middleware="keys",result="deny"} 3`,
		} {
			if !strings.Contains(metrics, want+"\n") {
				t.Errorf("metrics lack %s", want)
			}
		}
		var lines []map[string]any
		waitFor(t, 5*time.Second, func() bool {
			lines = readJSONLines(t, logPath)
			return len(lines) >= 2
		})
		users := map[any]bool{}
		for _, l := range lines {
			users[l["user"]] = true
		}
		for _, want := range []string{"alice", "mobile", "ci"} {
			if !users[want] {
				t.Errorf("no access log line with user %s (users %v)", want, users)
			}
		}
		logs := u.logText() + fmt.Sprint(lines)
		_, admin := get(t, "http://"+u.addrs["admin"]+"/api/http/middlewares")
		for _, s := range append(tokens, secret, "mobile-key-7f3a9c", "ci-key-51be02") {
			if strings.Contains(logs, s) || strings.Contains(admin, s) {
				t.Errorf("%.24s… reached a log or the admin API", s)
			}
		}
		if strings.Contains(admin, sum("mobile-key-7f3a9c")) {
			t.Error("the admin API shows a key's hash")
		}
	})
}
