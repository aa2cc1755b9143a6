package jwt

import (
	"bytes"
	"context"
	"crypto/elliptic"
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/jwtverify/jwttest"
	"github.com/usher-lb/usher/internal/middleware/env"
	"github.com/usher-lb/usher/internal/middleware/internal/reqkey"
	"github.com/usher-lb/usher/internal/observe"
)

var (
	ecKey  = jwttest.EC(elliptic.P256())
	rsaKey = jwttest.RSA()
	secret = "0123456789abcdef0123456789abcdef"
)

// seen is what the server got.
type seen struct {
	header http.Header
	query  string
	claims map[string]any
}

func build(t *testing.T, cfg *config.JWT, log *bytes.Buffer) (http.Handler, *seen) {
	t.Helper()
	ctx := context.Background()
	if log != nil {
		ctx = env.With(ctx, env.New(env.Config{Log: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))}, nil))
	}
	s := &seen{}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.header, s.query, s.claims = r.Header.Clone(), r.URL.RawQuery, reqkey.Claims(r)
		w.WriteHeader(http.StatusOK)
	})
	h, err := New(ctx, next, cfg, "auth")
	if err != nil {
		t.Fatal(err)
	}
	return h, s
}

func claims(extra map[string]any) map[string]any {
	c := map[string]any{"sub": "alice", "iss": "https://id.example.com", "aud": "shop", "exp": time.Now().Add(time.Hour).Unix(),
		"role": []string{"user", "admin"}, "scope": "read write", "tenant": "acme", "n": 42,
		"realm_access": map[string]any{"roles": []string{"ops"}}}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func pemFile(t testing.TB) string {
	p := filepath.Join(t.TempDir(), "keys.pem")
	if err := os.WriteFile(p, append(jwttest.PEM(ecKey), jwttest.PEM(rsaKey)...), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func do(h http.Handler, target string, hdr map[string]string) (*httptest.ResponseRecorder, *observe.Record) {
	r := httptest.NewRequest("GET", target, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	rw := observe.NewRecorder(w)
	h.ServeHTTP(rw, r)
	return w, &rw.Rec
}

func TestJWT(t *testing.T) {
	cfg := &config.JWT{
		PublicKeyFile: pemFile(t), Issuer: "https://id.example.com", Audience: config.Strings{"shop"},
		Claims: map[string]*config.ClaimMatch{"role": {Contains: "admin"}},
	}
	h, _ := build(t, cfg, nil)
	es := func(c map[string]any) string { return jwttest.Sign("ES256", "", ecKey, c, nil) }
	tests := []struct {
		name   string
		auth   string
		status int
		www    string // a part of WWW-Authenticate
	}{
		{"ES256", "Bearer " + es(claims(nil)), 200, ""},
		{"bearer in lower case", "bearer " + es(claims(nil)), 200, ""},
		{"RS256", "Bearer " + jwttest.Sign("RS256", "", rsaKey, claims(nil), nil), 200, ""},
		{"PS384", "Bearer " + jwttest.Sign("PS384", "", rsaKey, claims(nil), nil), 200, ""},
		{"no token", "", 401, `Bearer realm="usher"`},
		{"basic scheme", "Basic YWxpY2U6c2VjcmV0", 401, `Bearer realm="usher"`},
		{"alg none", "Bearer " + jwttest.Sign("none", "", nil, claims(nil), nil), 401, `error="invalid_token", error_description="unsigned tokens (alg none) are not accepted"`},
		{"HMAC with the public key", "Bearer " + jwttest.Sign("HS256", "", jwttest.PEM(ecKey), claims(nil), nil), 401, `error="invalid_token"`},
		{"expired", "Bearer " + es(claims(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})), 401, `error_description="the token has expired"`},
		{"not yet", "Bearer " + es(claims(map[string]any{"nbf": time.Now().Add(time.Hour).Unix()})), 401, `error="invalid_token"`},
		{"wrong audience", "Bearer " + es(claims(map[string]any{"aud": "blog"})), 401, `error="invalid_token"`},
		{"wrong issuer", "Bearer " + es(claims(map[string]any{"iss": "https://evil.example"})), 401, `error="invalid_token"`},
		{"bad signature", "Bearer " + jwttest.Sign("ES256", "", jwttest.EC(elliptic.P256()), claims(nil), nil), 401, `error="invalid_token"`},
		{"garbage", "Bearer not-a-token", 401, `error="invalid_token"`},
		{"claim does not match", "Bearer " + es(claims(map[string]any{"role": []string{"user"}})), 403, `error="insufficient_scope"`},
		{"claim missing", "Bearer " + es(claims(map[string]any{"role": nil})), 403, `error="insufficient_scope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tt.auth != "" {
				hdr["Authorization"] = tt.auth
			}
			w, rec := do(h, "http://shop.example.com/x", hdr)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d (%s)", w.Code, tt.status, w.Header().Get("WWW-Authenticate"))
			}
			www := w.Header().Get("WWW-Authenticate")
			if !strings.Contains(www, tt.www) {
				t.Fatalf("WWW-Authenticate %q, want %q in it", www, tt.www)
			}
			if tt.status == 401 && tt.auth == "" && strings.Contains(www, "error") {
				t.Fatalf("no token, yet an error: %q", www)
			}
			if tt.status == 200 && rec.Identity.Name() != "alice" {
				t.Fatalf("identity %+v", rec.Identity)
			}
			if tt.status != 200 && rec.Identity != nil {
				t.Fatal("identity set on a refusal")
			}
		})
	}
}

func TestClaimMatchers(t *testing.T) {
	for _, tt := range []struct {
		name  string
		match map[string]*config.ClaimMatch
		req   []string
		ok    bool
	}{
		{"equals", map[string]*config.ClaimMatch{"tenant": {Equals: "acme"}}, nil, true},
		{"equals other", map[string]*config.ClaimMatch{"tenant": {Equals: "globex"}}, nil, false},
		{"equals a number", map[string]*config.ClaimMatch{"n": {Equals: "42"}}, nil, true},
		{"equals on a list", map[string]*config.ClaimMatch{"role": {Equals: "admin"}}, nil, false},
		{"contains in a list", map[string]*config.ClaimMatch{"role": {Contains: "admin"}}, nil, true},
		{"contains a scope word", map[string]*config.ClaimMatch{"scope": {Contains: "write"}}, nil, true},
		{"contains a part of a word", map[string]*config.ClaimMatch{"scope": {Contains: "rea"}}, nil, false},
		{"oneOf a string", map[string]*config.ClaimMatch{"tenant": {OneOf: []string{"globex", "acme"}}}, nil, true},
		{"oneOf a list", map[string]*config.ClaimMatch{"role": {OneOf: []string{"root", "admin"}}}, nil, true},
		{"oneOf none", map[string]*config.ClaimMatch{"role": {OneOf: []string{"root"}}}, nil, false},
		{"dotted", map[string]*config.ClaimMatch{"realm_access.roles": {Contains: "ops"}}, nil, true},
		{"dotted missing", map[string]*config.ClaimMatch{"realm_access.groups": {Contains: "ops"}}, nil, false},
		{"two, one fails", map[string]*config.ClaimMatch{"tenant": {Equals: "acme"}, "role": {Contains: "root"}}, nil, false},
		{"required present", nil, []string{"sub", "realm_access.roles"}, true},
		{"required missing", nil, []string{"email"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := build(t, &config.JWT{Secret: secret, Claims: tt.match, RequiredClaims: tt.req}, nil)
			w, _ := do(h, "/", map[string]string{"Authorization": "Bearer " + jwttest.Sign("HS256", "", []byte(secret), claims(nil), nil)})
			if (w.Code == 200) != tt.ok {
				t.Fatalf("status %d, want ok %v", w.Code, tt.ok)
			}
			if !tt.ok && w.Code != 403 {
				t.Fatalf("status %d, want 403", w.Code)
			}
		})
	}
}

// TestForwarding: claims go to the server in headers, whatever copies the
// client sent are removed, the query token is removed, the token is
// removed only with removeToken, and the log never has it.
func TestForwarding(t *testing.T) {
	var log bytes.Buffer
	h, s := build(t, &config.JWT{
		Secret:          secret,
		ClaimsToHeaders: map[string]string{"sub": "X-User", "role": "X-Roles", "n": "X-N", "email": "X-Email", "realm_access.roles": "X-Realm-Roles"},
		TokenFrom:       []string{"header:Authorization", "cookie:token", "query:access_token"},
	}, &log)
	tok := jwttest.Sign("HS256", "", []byte(secret), claims(nil), nil)

	w, _ := do(h, "/p?a=1&access_token="+tok+"&b=2", map[string]string{"X-User": "root", "X-Email": "root@example.com", "x-roles": "admin"})
	if w.Code != 200 {
		t.Fatalf("query token: %d", w.Code)
	}
	if s.query != "a=1&b=2" {
		t.Fatalf("query forwarded %q", s.query)
	}
	want := map[string]string{"X-User": "alice", "X-Roles": "user, admin", "X-N": "42", "X-Email": "", "X-Realm-Roles": "ops"}
	for k, v := range want {
		if got := s.header.Values(k); (v == "" && len(got) != 0) || (v != "" && (len(got) != 1 || got[0] != v)) {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	if s.claims["sub"] != "alice" {
		t.Errorf("reqkey claims %v", s.claims)
	}

	// A bad token in the query: refused, and the server gets nothing.
	if w, _ := do(h, "/p?access_token=bad", nil); w.Code != 401 {
		t.Fatalf("bad query token: %d", w.Code)
	}

	w, _ = do(h, "/", map[string]string{"Cookie": "a=b; token=" + tok + "; c=d"})
	if w.Code != 200 || !strings.Contains(s.header.Get("Cookie"), "token=") {
		t.Fatalf("cookie token: %d, cookie forwarded %q", w.Code, s.header.Get("Cookie"))
	}
	w, _ = do(h, "/", map[string]string{"Authorization": "Bearer " + tok})
	if w.Code != 200 || s.header.Get("Authorization") == "" {
		t.Fatalf("header token: %d, kept %q", w.Code, s.header.Get("Authorization"))
	}

	h, s = build(t, &config.JWT{Secret: secret, RemoveToken: true, TokenFrom: []string{"cookie:token", "header:Authorization"}}, &log)
	if w, _ := do(h, "/", map[string]string{"Cookie": "a=b; token=" + tok + "; c=d"}); w.Code != 200 || s.header.Get("Cookie") != "a=b; c=d" {
		t.Fatalf("removeToken cookie: %d, %q", w.Code, s.header.Get("Cookie"))
	}
	if w, _ := do(h, "/", map[string]string{"Authorization": "Bearer " + tok}); w.Code != 200 || s.header.Get("Authorization") != "" {
		t.Fatalf("removeToken header: %d, %q", w.Code, s.header.Get("Authorization"))
	}
	do(h, "/", map[string]string{"Authorization": "Bearer " + tok + "x"})
	if strings.Contains(log.String(), tok[:20]) || strings.Contains(log.String(), secret) {
		t.Fatalf("the log has the token or the secret:\n%s", log.String())
	}
	if !strings.Contains(log.String(), "signature is not valid") {
		t.Fatalf("the log has no reason:\n%s", log.String())
	}
}

// TestCacheKeepsOnlyWhatHolds: a kept verification is used again, but not
// past the token's exp.
func TestCache(t *testing.T) {
	h, _ := build(t, &config.JWT{Secret: secret, Leeway: new(config.Duration)}, nil)
	m := h.(*middleware)
	var now atomic.Pointer[time.Time]
	t0 := time.Now()
	now.Store(&t0)
	m.now = func() time.Time { return *now.Load() }
	tok := jwttest.Sign("HS256", "", []byte(secret), claims(map[string]any{"exp": t0.Unix() + 10}), nil)
	for range 3 {
		if w, _ := do(h, "/", map[string]string{"Authorization": "Bearer " + tok}); w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
	}
	later := t0.Add(11 * time.Second)
	now.Store(&later)
	if w, _ := do(h, "/", map[string]string{"Authorization": "Bearer " + tok}); w.Code != 401 {
		t.Fatalf("expired token from the cache: %d", w.Code)
	}
}

func TestNewRefuses(t *testing.T) {
	for _, cfg := range []*config.JWT{
		{},
		{Secret: secret, Algorithms: []string{"RS256"}},
		{Secret: secret, Algorithms: []string{"none"}},
		{PublicKeyFile: "/nonexistent"},
		{Secret: secret, Realm: `a"b`},
		{Secret: secret, TokenFrom: []string{"body:x"}},
		{Secret: secret, Claims: map[string]*config.ClaimMatch{"x": {}}},
	} {
		if _, err := New(context.Background(), http.NotFoundHandler(), cfg, "m"); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}

// TestJWKSOverTLS: a JWK Set on https with a private CA, trusted through
// jwksTLS.ca; without it, the set cannot be had and requests get 503.
func TestJWKSOverTLS(t *testing.T) {
	idp := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(jwttest.JWKS(jwttest.JWK("k1", "ES256", ecKey)))
	}))
	defer idp.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: idp.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	tok := "Bearer " + jwttest.Sign("ES256", "k1", ecKey, claims(nil), nil)
	h, _ := build(t, &config.JWT{JWKSURL: idp.URL, JWKSTLS: &config.ClientTLS{CA: ca}}, nil)
	defer h.(*middleware).v.StopJWKS()
	if w, _ := do(h, "/", map[string]string{"Authorization": tok}); w.Code != 200 {
		t.Fatalf("with the CA: %d", w.Code)
	}
	h, _ = build(t, &config.JWT{JWKSURL: idp.URL}, nil)
	defer h.(*middleware).v.StopJWKS()
	if w, _ := do(h, "/", map[string]string{"Authorization": tok}); w.Code != 503 {
		t.Fatalf("without the CA: %d, want 503", w.Code)
	}
	if _, err := New(context.Background(), http.NotFoundHandler(), &config.JWT{JWKSURL: idp.URL, JWKSTLS: &config.ClientTLS{CA: "/nonexistent"}}, "m"); err == nil || !strings.HasPrefix(err.Error(), "jwt: jwksTLS.ca: ") {
		t.Fatalf("a missing CA: %v", err)
	}
}
