package jwtverify

import (
	"context"
	"crypto"
	"crypto/elliptic"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/jwtverify/jwttest"
)

var (
	rsaKey  = jwttest.RSA()
	ecKey   = jwttest.EC(elliptic.P256())
	ec384   = jwttest.EC(elliptic.P384())
	edKey   = jwttest.Ed25519()
	otherEC = jwttest.EC(elliptic.P256())
	secret  = []byte("0123456789abcdef0123456789abcdef")
	t0      = time.Unix(1_800_000_000, 0)
)

func pemKeys(t *testing.T, keys ...crypto.Signer) []Key {
	t.Helper()
	var all []Key
	for _, k := range keys {
		ks, err := ParsePEM(jwttest.PEM(k))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ks...)
	}
	return all
}

func claims(extra map[string]any) map[string]any {
	c := map[string]any{"sub": "alice", "iss": "https://id.example.com", "aud": "shop", "exp": t0.Unix() + 60, "iat": t0.Unix() - 10}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func TestVerify(t *testing.T) {
	sk, err := SecretKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	pub := pemKeys(t, rsaKey, ecKey, ec384, edKey)
	// The RSA public key's PKIX DER as an HMAC secret: what a key-confusion
	// attacker signs with when a verifier lets the token's alg pick.
	rsaPEM := jwttest.PEM(rsaKey)
	v, err := New(Options{
		Keys: pub, Issuer: "https://id.example.com", Audience: []string{"shop", "admin"},
		Leeway: 30 * time.Second, Now: func() time.Time { return t0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	hv, err := New(Options{Keys: []Key{sk}, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	ok := claims(nil)
	tests := []struct {
		name   string
		v      *Verifier
		token  string
		reason string // "" accepted; else a part of the reason
	}{
		{"RS256", v, jwttest.Sign("RS256", "", rsaKey, ok, nil), ""},
		{"RS384", v, jwttest.Sign("RS384", "", rsaKey, ok, nil), ""},
		{"RS512", v, jwttest.Sign("RS512", "", rsaKey, ok, nil), ""},
		{"PS256", v, jwttest.Sign("PS256", "", rsaKey, ok, nil), ""},
		{"PS512", v, jwttest.Sign("PS512", "", rsaKey, ok, nil), ""},
		{"ES256", v, jwttest.Sign("ES256", "", ecKey, ok, nil), ""},
		{"ES384", v, jwttest.Sign("ES384", "", ec384, ok, nil), ""},
		{"EdDSA", v, jwttest.Sign("EdDSA", "", edKey, ok, nil), ""},
		{"HS256", hv, jwttest.Sign("HS256", "", secret, ok, nil), ""},
		{"HS384", hv, jwttest.Sign("HS384", "", secret, ok, nil), ""},
		{"HS512", hv, jwttest.Sign("HS512", "", secret, ok, nil), ""},
		{"audience in a list", v, jwttest.Sign("ES256", "", ecKey, claims(map[string]any{"aud": []string{"x", "admin"}}), nil), ""},
		{"expired within the leeway", v, jwttest.Sign("ES256", "", ecKey, claims(map[string]any{"exp": t0.Unix() - 20}), nil), ""},

		{"alg none", v, jwttest.Sign("none", "", nil, ok, nil), "alg none"},
		{"alg None", v, jwttest.Sign("None", "", nil, ok, nil), "alg none"},
		{"alg none with a signature", v, strings.TrimSuffix(jwttest.Sign("none", "", nil, ok, nil), ".") + ".c2ln", "alg none"},
		{"no alg", v, jwttest.Sign("", "", nil, ok, nil), "alg none"},
		{"HMAC with the RSA public key (PEM) as secret", v, jwttest.Sign("HS256", "", rsaPEM, ok, nil), "no key known"},
		{"HMAC with the RSA public key (DER) as secret", v, jwttest.Sign("HS256", "", pemDER(rsaPEM), ok, nil), "no key known"},
		{"RS256 against a secret", hv, jwttest.Sign("RS256", "", rsaKey, ok, nil), "no key known"},
		{"ES384 on a P-256 key", v, jwttest.Sign("ES384", "", ecKey, ok, nil), "signature is not valid"},
		{"unknown alg", v, jwttest.Sign("XS256", "", secret, ok, nil), "algorithm is not accepted"},
		{"bad signature", v, jwttest.Sign("ES256", "", otherEC, ok, nil), "signature is not valid"},
		{"payload changed", v, swapPayload(jwttest.Sign("ES256", "", ecKey, ok, nil), claims(map[string]any{"sub": "root"})), "signature is not valid"},
		{"expired", v, jwttest.Sign("ES256", "", ecKey, claims(map[string]any{"exp": t0.Unix() - 31}), nil), "expired"},
		{"exp now minus the leeway", v, jwttest.Sign("ES256", "", ecKey, claims(map[string]any{"exp": t0.Unix() - 30}), nil), "expired"},
		{"exp a string", v, jwttest.Sign("ES256", "", ecKey, claims(map[string]any{"exp": "soon"}), nil), "exp is not a number"},
		{"nbf ahead", v, jwttest.Sign("ES256", "", ecKey, claims(map[string]any{"nbf": t0.Unix() + 3600}), nil), "not valid yet"},
		{"nbf within the leeway", v, jwttest.Sign("ES256", "", ecKey, claims(map[string]any{"nbf": t0.Unix() + 20}), nil), ""},
		{"exp past int64", v, jwttest.Sign("ES256", "", ecKey, claims(map[string]any{"exp": 1e300}), nil), ""},
		{"nbf past int64", v, jwttest.Sign("ES256", "", ecKey, claims(map[string]any{"nbf": 1e300}), nil), "not valid yet"},
		{"exp before int64", v, jwttest.Sign("ES256", "", ecKey, claims(map[string]any{"exp": -1e300}), nil), "expired"},
		{"iat ahead", v, jwttest.Sign("ES256", "", ecKey, claims(map[string]any{"iat": t0.Unix() + 3600}), nil), "issued in the future"},
		{"wrong issuer", v, jwttest.Sign("ES256", "", ecKey, claims(map[string]any{"iss": "https://evil.example"}), nil), "issuer"},
		{"no issuer", v, jwttest.Sign("ES256", "", ecKey, claims(map[string]any{"iss": nil}), nil), "issuer"},
		{"wrong audience", v, jwttest.Sign("ES256", "", ecKey, claims(map[string]any{"aud": "other"}), nil), "audience"},
		{"wrong audiences", v, jwttest.Sign("ES256", "", ecKey, claims(map[string]any{"aud": []string{"a", "b"}}), nil), "audience"},
		{"no audience", v, jwttest.Sign("ES256", "", ecKey, claims(map[string]any{"aud": nil}), nil), "audience"},
		{"crit", v, jwttest.Sign("ES256", "", ecKey, ok, map[string]any{"crit": []string{"exp"}, "exp": 1}), "critical"},
		{"two parts", v, "eyJhbGciOiJIUzI1NiJ9.e30", "not a signed JWT"},
		{"four parts", v, jwttest.Sign("ES256", "", ecKey, ok, nil) + ".x", "not a signed JWT"},
		{"header not base64", v, "!!." + strings.SplitN(jwttest.Sign("ES256", "", ecKey, ok, nil), ".", 2)[1], "header is not base64url"},
		{"header not JSON", v, "bm90IGpzb24." + strings.SplitN(jwttest.Sign("ES256", "", ecKey, ok, nil), ".", 2)[1], "header is not a JSON object"},
		{"too long", v, strings.Repeat("a", DefaultMaxBytes+1), "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.v.Verify(context.Background(), tt.token)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if c["sub"] != "alice" {
					t.Fatalf("claims %v", c)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("accepted (claims %v), want %q", c, tt.reason)
			}
			if !strings.Contains(e.Reason, tt.reason) || e.Unavailable {
				t.Fatalf("reason %q (unavailable %v), want %q", e.Reason, e.Unavailable, tt.reason)
			}
			if strings.Contains(e.Reason, tt.token) || strings.ContainsAny(e.Reason, "\"\\\r\n") {
				t.Fatalf("reason %q quotes the token or cannot go in a header", e.Reason)
			}
		})
	}
}

func pemDER(p []byte) []byte {
	s := string(p)
	s = s[strings.Index(s, "\n")+1 : strings.Index(s, "-----END")]
	b, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(s, "\n", ""))
	if err != nil {
		panic(err)
	}
	return b
}

func swapPayload(tok string, c map[string]any) string {
	p := strings.Split(tok, ".")
	q := strings.Split(jwttest.Sign("HS256", "", secret, c, nil), ".")
	return p[0] + "." + q[1] + "." + p[2]
}

func TestAlgorithmAllowlist(t *testing.T) {
	keys := pemKeys(t, rsaKey)
	v, err := New(Options{Keys: keys, Algorithms: []string{"PS256"}, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), jwttest.Sign("PS256", "", rsaKey, claims(nil), nil)); err != nil {
		t.Fatalf("PS256 refused: %v", err)
	}
	if _, err := v.Verify(context.Background(), jwttest.Sign("RS256", "", rsaKey, claims(nil), nil)); err == nil || !strings.Contains(err.Error(), "not accepted") {
		t.Fatalf("RS256 outside the allowlist: %v", err)
	}
	if _, err := New(Options{Keys: keys, Algorithms: []string{"HS256"}}); err == nil {
		t.Fatal("HS256 allowed with only an RSA key")
	}
	if _, err := New(Options{Keys: keys, Algorithms: []string{"none"}}); err == nil {
		t.Fatal("none allowed")
	}
}

func TestParsePEM(t *testing.T) {
	both := append(jwttest.PEM(rsaKey), jwttest.PEM(ecKey)...)
	ks, err := ParsePEM(both)
	if err != nil || len(ks) != 2 {
		t.Fatalf("%d keys, %v", len(ks), err)
	}
	if a := ks[1].Algorithms(); len(a) != 1 || a[0] != "ES256" {
		t.Fatalf("EC key algorithms %v", a)
	}
	for _, bad := range []string{
		"", "not pem",
		"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
		"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
	} {
		if _, err := ParsePEM([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseJWKS(t *testing.T) {
	set := jwttest.JWKS(
		jwttest.JWK("r", "RS256", rsaKey), jwttest.JWK("e", "", ecKey), jwttest.JWK("d", "", edKey),
		map[string]any{"kty": "oct", "kid": "s", "k": "c2VjcmV0"},
		map[string]any{"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
		jwttest.JWK("wrongalg", "HS256", rsaKey),
		map[string]any{"kty": "EC", "kid": "offcurve", "crv": "P-256", "x": strings.Repeat("A", 43), "y": strings.Repeat("A", 43)},
	)
	ks, skipped, err := ParseJWKS(set)
	if err != nil || len(ks) != 3 || skipped != 4 {
		t.Fatalf("%d keys, %d skipped, %v", len(ks), skipped, err)
	}
	if a := ks[0].Algorithms(); len(a) != 1 || a[0] != "RS256" {
		t.Fatalf("a key with alg RS256 allows %v", a)
	}
	if _, _, err := ParseJWKS([]byte(`{"keys":[]}`)); err == nil {
		t.Fatal("an empty set accepted")
	}
}

// jwksServer serves a JWK Set that the test can change, counting fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	body    []byte
	cc      string
	fetches atomic.Int64
	fetched chan struct{}
}

func newJWKSServer(t *testing.T, body []byte) *jwksServer {
	s := &jwksServer{body: body, fetched: make(chan struct{}, 100)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		b, cc := s.body, s.cc
		s.mu.Unlock()
		if cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
		s.fetched <- struct{}{}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(body []byte) {
	s.mu.Lock()
	s.body = body
	s.mu.Unlock()
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestUnknownKidRefetch: a kid the set lacks fetches it again, once per
// MinRefetch whatever the number of such tokens; a key the provider added
// is then found.
func TestUnknownKidRefetch(t *testing.T) {
	srv := newJWKSServer(t, jwttest.JWKS(jwttest.JWK("k1", "ES256", ecKey)))
	clk := &clock{t: t0}
	j, err := NewJWKS(srv.URL, JWKSOptions{Now: clk.now, Refresh: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Stop()
	v, err := New(Options{JWKS: j, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := v.Verify(ctx, jwttest.Sign("ES256", "k1", ecKey, claims(nil), nil)); err != nil {
		t.Fatalf("known kid: %v", err)
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches at start, want 1", n)
	}
	// The provider rotates in k2; a burst of tokens with made-up kids and
	// with k2 right after the first fetch makes no fetch.
	srv.set(jwttest.JWKS(jwttest.JWK("k1", "ES256", ecKey), jwttest.JWK("k2", "ES256", otherEC)))
	for i := range 50 {
		_, err := v.Verify(ctx, jwttest.Sign("ES256", "made-up-"+string(rune('a'+i%26)), otherEC, claims(nil), nil))
		if err == nil || !strings.Contains(err.Error(), "no key known") {
			t.Fatalf("made-up kid: %v", err)
		}
	}
	k2 := jwttest.Sign("ES256", "k2", otherEC, claims(nil), nil)
	if _, err := v.Verify(ctx, k2); err == nil {
		t.Fatal("k2 accepted before a refetch")
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches within MinRefetch, want 1", n)
	}
	clk.add(MinRefetch)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 20 {
		wg.Go(func() {
			if _, err := v.Verify(ctx, k2); err != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after MinRefetch, want 2", n)
	}
	if _, err := v.Verify(ctx, k2); err != nil {
		t.Fatalf("k2 after the refetch: %v", err)
	}
	// Each of the concurrent requests waited for the one fetch or found its
	// keys.
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of 20 requests refused k2 around the refetch", n)
	}
	if _, err := v.Verify(ctx, jwttest.Sign("ES256", "k3", otherEC, claims(nil), nil)); err == nil {
		t.Fatal("k3 accepted")
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want still 2", n)
	}
}

// TestJWKSUnavailable: without keys the verifier cannot decide, and says
// so; keys had before survive a failed fetch.
func TestJWKSUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", 500) }))
	defer srv.Close()
	j, err := NewJWKS(srv.URL, JWKSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Stop()
	v, _ := New(Options{JWKS: j, Now: func() time.Time { return t0 }})
	_, err = v.Verify(context.Background(), jwttest.Sign("ES256", "k1", ecKey, claims(nil), nil))
	var e *Error
	if !errors.As(err, &e) || !e.Unavailable {
		t.Fatalf("got %v, want unavailable", err)
	}
}

func TestJWKSRefreshByMaxAge(t *testing.T) {
	srv := newJWKSServer(t, jwttest.JWKS(jwttest.JWK("k1", "", ecKey)))
	srv.cc = "public, max-age=0"
	j, err := NewJWKS(srv.URL, JWKSOptions{MinRefetch: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	<-srv.fetched
	srv.set(jwttest.JWKS(jwttest.JWK("k2", "", otherEC)))
	<-srv.fetched // max-age=0: again after MinRefetch, in the background
	j.Stop()
	s, err := j.current(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The second fetch's keys may or may not be stored by the time Stop
	// returned from it; either way the set is k1's or k2's, whole.
	if !s.has("k1") && !s.has("k2") {
		t.Fatalf("kids %v", s.kids)
	}
	n := srv.fetches.Load()
	time.Sleep(60 * time.Millisecond) // stopped: no fetch may come, whatever the wait
	if srv.fetches.Load() != n {
		t.Fatal("fetched after Stop")
	}
}

func TestMaxAge(t *testing.T) {
	for _, tt := range []struct {
		cc   []string
		want int64
	}{
		{nil, -1}, {[]string{"public, max-age=600"}, 600}, {[]string{"no-cache"}, 0},
		{[]string{"max-age=60", "no-store"}, 0}, {[]string{"max-age=x"}, -1}, {[]string{`MAX-AGE="30"`}, 30},
	} {
		if got := maxAge(tt.cc); got != tt.want {
			t.Errorf("%q: %d, want %d", tt.cc, got, tt.want)
		}
	}
}

// BenchmarkVerify is one whole verification, signature and claims, of a
// token of each family: what the jwt middleware pays for a token it has
// not seen.
func BenchmarkVerify(b *testing.B) {
	sk, _ := SecretKey(secret)
	var pub []Key
	for _, k := range []crypto.Signer{rsaKey, ecKey, edKey} {
		ks, err := ParsePEM(jwttest.PEM(k))
		if err != nil {
			b.Fatal(err)
		}
		pub = append(pub, ks...)
	}
	v, err := New(Options{Keys: append(pub, sk), Issuer: "https://id.example.com", Audience: []string{"shop"}, Now: func() time.Time { return t0 }})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		alg string
		key any
	}{{"HS256", secret}, {"ES256", ecKey}, {"RS256", rsaKey}, {"PS256", rsaKey}, {"EdDSA", edKey}} {
		b.Run(bc.alg, func(b *testing.B) {
			tok := jwttest.Sign(bc.alg, "", bc.key, claims(nil), nil)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestJWKSBackUp: a provider down at start, then back: the first token
// after MinRefetch fetches the set and is let through, without waiting for
// the background retry.
func TestJWKSBackUp(t *testing.T) {
	var up atomic.Bool
	var fetches atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		if !up.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		w.Write(jwttest.JWKS(jwttest.JWK("k1", "", ecKey)))
	}))
	defer srv.Close()
	clk := &clock{t: t0}
	j, err := NewJWKS(srv.URL, JWKSOptions{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Stop()
	v, _ := New(Options{JWKS: j, Now: clk.now})
	tok := jwttest.Sign("ES256", "k1", ecKey, claims(nil), nil)
	for range 10 {
		if _, err := v.Verify(context.Background(), tok); err == nil {
			t.Fatal("accepted without keys")
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches while down within MinRefetch, want 1", n)
	}
	up.Store(true)
	clk.add(MinRefetch)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("after the provider came back: %v", err)
	}
}

// TestJWKSSameSetKeepsGeneration: fetching the same set again leaves the
// generation as it was (kept verifications stay good); a changed set moves
// it.
func TestJWKSSameSetKeepsGeneration(t *testing.T) {
	srv := newJWKSServer(t, jwttest.JWKS(jwttest.JWK("k1", "", ecKey)))
	clk := &clock{t: t0}
	j, err := NewJWKS(srv.URL, JWKSOptions{Now: clk.now, Refresh: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Stop()
	v, _ := New(Options{JWKS: j, Now: clk.now})
	ctx := context.Background()
	if _, err := v.Verify(ctx, jwttest.Sign("ES256", "k1", ecKey, claims(nil), nil)); err != nil {
		t.Fatal(err)
	}
	g := v.Generation()
	clk.add(MinRefetch)
	v.Verify(ctx, jwttest.Sign("ES256", "k9", ecKey, claims(nil), nil)) // an unknown kid: a refetch
	if n := srv.fetches.Load(); n != 2 || v.Generation() != g {
		t.Fatalf("%d fetches, generation %d → %d; want 2 and the same", n, g, v.Generation())
	}
	srv.set(jwttest.JWKS(jwttest.JWK("k1", "", ecKey), jwttest.JWK("k9", "", otherEC)))
	clk.add(MinRefetch)
	if _, err := v.Verify(ctx, jwttest.Sign("ES256", "k9", otherEC, claims(map[string]any{"exp": t0.Unix() + 3600}), nil)); err != nil {
		t.Fatalf("k9 after the rotation: %v", err)
	}
	if v.Generation() == g {
		t.Fatal("a new set kept the generation")
	}
}
