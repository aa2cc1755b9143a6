package oidc

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/jwtverify/jwttest"
)

// fakeOP is a small OpenID provider for the table tests: the protocol's
// checks on its side (PKCE, client authentication, redirect_uri, codes used
// once, refresh tokens rotated) written from the RFCs. The end-to-end tests
// run a real one.
type fakeOP struct {
	t   testing.TB
	srv *httptest.Server
	key *ecdsa.PrivateKey

	mu                   sync.Mutex
	codes                map[string]*grant
	refresh              map[string]*grant
	access               map[string]map[string]any // access token → userinfo claims
	authPost             bool                      // the client must use client_secret_post
	noRT                 bool                      // no refresh tokens
	expires              int                       // expires_in of access tokens
	tokenErr             int                       // status the token endpoint answers, 0: normal
	uiDown               bool                      // the userinfo endpoint fails
	exchanges, refreshes int
}

type grant struct {
	claims    map[string]any // of the ID token
	userinfo  map[string]any // only in userinfo
	challenge string
	redirect  string
}

const (
	testClient = "shop"
	testSecret = "s3cret:with/odd&chars"
)

func newFakeOP(t testing.TB) *fakeOP {
	op := &fakeOP{t: t, key: jwttest.EC(elliptic.P256()), codes: map[string]*grant{}, refresh: map[string]*grant{}, access: map[string]map[string]any{}, expires: 300}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		u := op.srv.URL
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": u, "authorization_endpoint": u + "/authorize", "token_endpoint": u + "/token",
			"userinfo_endpoint": u + "/userinfo", "jwks_uri": u + "/jwks", "end_session_endpoint": u + "/logout",
			"id_token_signing_alg_values_supported": []string{"ES256"},
			"code_challenge_methods_supported":      []string{"S256"},
		})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		w.Write(jwttest.JWKS(jwttest.JWK("k1", "ES256", op.key)))
	})
	mux.HandleFunc("/token", op.token)
	mux.HandleFunc("/userinfo", func(w http.ResponseWriter, r *http.Request) {
		op.mu.Lock()
		c := op.access[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
		down := op.uiDown
		op.mu.Unlock()
		if down {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		if c == nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(c)
	})
	op.srv = httptest.NewServer(mux)
	t.Cleanup(op.srv.Close)
	return op
}

func (op *fakeOP) idToken(claims map[string]any) string {
	return jwttest.Sign("ES256", "k1", op.key, claims, nil)
}

// approve is the user logging in at the provider: it checks the
// authorization request and returns the callback URL the provider sends the
// browser to. tweak changes the ID token's claims (nil: none).
func (op *fakeOP) approve(authURL string, sub, email string, extra map[string]any, tweak func(map[string]any)) string {
	op.t.Helper()
	u, err := url.Parse(authURL)
	if err != nil || !strings.HasPrefix(authURL, op.srv.URL+"/authorize?") {
		op.t.Fatalf("not a redirect to the provider: %q", authURL)
	}
	q := u.Query()
	for _, k := range []string{"state", "nonce", "code_challenge", "redirect_uri"} {
		if q.Get(k) == "" {
			op.t.Fatalf("authorization request without %s: %s", k, authURL)
		}
	}
	if q.Get("response_type") != "code" || q.Get("client_id") != testClient || q.Get("code_challenge_method") != "S256" || !strings.Contains(q.Get("scope"), "openid") {
		op.t.Fatalf("authorization request: %v", q)
	}
	now := time.Now()
	claims := map[string]any{
		"iss": op.srv.URL, "sub": sub, "aud": testClient, "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(),
		"nonce": q.Get("nonce"),
	}
	ui := map[string]any{"sub": sub}
	if email != "" {
		ui["email"], ui["email_verified"] = email, true
	}
	for k, v := range extra {
		claims[k] = v
	}
	if tweak != nil {
		tweak(claims)
	}
	code := "code-" + sub + "-" + q.Get("state")[:8]
	op.mu.Lock()
	op.codes[code] = &grant{claims: claims, userinfo: ui, challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri")}
	op.mu.Unlock()
	cb, _ := url.Parse(q.Get("redirect_uri"))
	cq := url.Values{"code": {code}, "state": {q.Get("state")}}
	cb.RawQuery = cq.Encode()
	return cb.String()
}

func (op *fakeOP) token(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	fail := func(status int, code string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": "nope"})
	}
	op.mu.Lock()
	defer op.mu.Unlock()
	if op.tokenErr != 0 {
		w.WriteHeader(op.tokenErr)
		return
	}
	id, secret, basic := r.BasicAuth()
	if basic {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != testClient || secret != testSecret || basic == op.authPost {
		fail(http.StatusUnauthorized, "invalid_client")
		return
	}
	var g *grant
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		op.exchanges++
		code := r.PostForm.Get("code")
		g = op.codes[code]
		delete(op.codes, code) // once only
		if g == nil || r.PostForm.Get("redirect_uri") != g.redirect {
			fail(http.StatusBadRequest, "invalid_grant")
			return
		}
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
			fail(http.StatusBadRequest, "invalid_grant")
			return
		}
	case "refresh_token":
		op.refreshes++
		rt := r.PostForm.Get("refresh_token")
		g = op.refresh[rt]
		delete(op.refresh, rt) // rotated
		if g == nil {
			fail(http.StatusBadRequest, "invalid_grant")
			return
		}
		c := map[string]any{}
		for k, v := range g.claims {
			if k != "nonce" {
				c[k] = v
			}
		}
		c["exp"] = time.Now().Add(time.Hour).Unix()
		g = &grant{claims: c, userinfo: g.userinfo}
	default:
		fail(http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	at := "at-" + randomHex()
	op.access[at] = g.userinfo
	resp := map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": op.expires, "id_token": op.idToken(g.claims)}
	if !op.noRT {
		rt := "rt-" + randomHex()
		op.refresh[rt] = g
		resp["refresh_token"] = rt
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}

func randomHex() string { return random()[:16] }
