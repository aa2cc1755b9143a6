package server

import (
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/jwtverify/jwttest"
)

// BenchmarkRequestJWT is BenchmarkRequest behind a jwt middleware that
// verifies an ES256 or RS256 token (its PEM key, issuer, audience, a claim
// to a header) and behind apiKey; plain is the same request (its
// Authorization too) without a middleware. A client sends the same token
// on each request, as a client does until it expires: the verification is
// kept (see package jwt), so this is the cost usher adds per request after
// the first; package jwtverify's BenchmarkVerify is the first.
func BenchmarkRequestJWT(b *testing.B) {
	ec, rsa := jwttest.EC(elliptic.P256()), jwttest.RSA()
	dir := b.TempDir()
	pem := filepath.Join(dir, "keys.pem")
	if err := os.WriteFile(pem, append(jwttest.PEM(ec), jwttest.PEM(rsa)...), 0o600); err != nil {
		b.Fatal(err)
	}
	claims := map[string]any{"sub": "alice", "iss": "https://id.example.com", "aud": "shop", "exp": time.Now().Add(time.Hour).Unix()}
	es := http.Header{"Authorization": {"Bearer " + jwttest.Sign("ES256", "", ec, claims, nil)}}
	rs := http.Header{"Authorization": {"Bearer " + jwttest.Sign("RS256", "", rsa, claims, nil)}}
	spec := `fwd: { jwt: { publicKeyFile: "` + pem + `", issuer: "https://id.example.com", audience: shop, claimsToHeaders: { sub: X-User } } }`
	apiKey := http.Header{"X-Api-Key": {"mobile-key-7f3a9c"}}
	sum := sha256.Sum256([]byte("mobile-key-7f3a9c"))
	keys := `fwd: { apiKey: { keys: [ { id: mobile, sha256: "` + hex.EncodeToString(sum[:]) + `" } ], idHeader: X-Api-Key-Id } }`
	// Each plain run sends the same fields as the run after it: a longer
	// Authorization costs the server (in this process) more to read.
	b.Run("plain-ES256-token", withCPU(func(b *testing.B) { benchRequest(b, es) }))
	b.Run("ES256", withCPU(func(b *testing.B) { benchRequestWith(b, spec, es) }))
	b.Run("plain-RS256-token", withCPU(func(b *testing.B) { benchRequest(b, rs) }))
	b.Run("RS256", withCPU(func(b *testing.B) { benchRequestWith(b, spec, rs) }))
	b.Run("plain-api-key", withCPU(func(b *testing.B) { benchRequest(b, apiKey) }))
	b.Run("apiKey", withCPU(func(b *testing.B) { benchRequestWith(b, keys, apiKey) }))
}

// withCPU reports the process's CPU time (user and system, the in-process
// server's included) per op beside the wall time: on a shared machine the
// wall time says more about the neighbours than about usher. The set-up
// (a server, a compile) is in it too, a small part for a large b.N.
func withCPU(f func(b *testing.B)) func(b *testing.B) {
	return func(b *testing.B) {
		before := cpuTime()
		f(b)
		b.ReportMetric(float64((cpuTime()-before).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
