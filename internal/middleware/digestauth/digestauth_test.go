package digestauth

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/middleware/env"
	"github.com/usher-lb/usher/internal/observe"
)

// TestRFC7616Example: the response of RFC 7616 §3.9.1's example, in both
// algorithms.
func TestRFC7616Example(t *testing.T) {
	const nonce, cnonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
	for _, tc := range []struct {
		alg  *algorithm
		want string
	}{
		{md5Alg, "8ca523f5e9506fed4657c9700eebdbec"},
		{sha256Alg, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
	} {
		ha1 := hexH(tc.alg, "Mufasa:http-auth@example.org:Circle of Life")
		if got := response(tc.alg, false, ha1, nonce, "00000001", cnonce, "GET", "/dir/index.html"); got != tc.want {
			t.Errorf("%s: response %s, want %s", tc.alg.name, got, tc.want)
		}
	}
}

func ha1(h func() []byte) string { return hex.EncodeToString(h()) }

func md5HA1(user, realm, pw string) string {
	return ha1(func() []byte { s := md5.Sum([]byte(user + ":" + realm + ":" + pw)); return s[:] })
}

func sha256HA1(user, realm, pw string) string {
	return ha1(func() []byte { s := sha256.Sum256([]byte(user + ":" + realm + ":" + pw)); return s[:] })
}

type setup struct {
	d    *digestAuth
	logs *bytes.Buffer
	mu   sync.Mutex
	seen http.Header
}

func newSetup(t *testing.T, cfg *config.DigestAuth) *setup {
	t.Helper()
	s := &setup{logs: &bytes.Buffer{}}
	log := slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h, err := New(env.With(context.Background(), env.New(env.Config{Log: log}, nil)), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.seen = r.Header.Clone()
		s.mu.Unlock()
	}), cfg, "digest")
	if err != nil {
		t.Fatal(err)
	}
	s.d = h.(*digestAuth)
	return s
}

func (s *setup) do(method, uri, auth string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, uri, nil)
	r.RemoteAddr = "198.51.100.7:4000"
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	r.Header.Set("X-User", "admin")
	w := httptest.NewRecorder()
	s.mu.Lock()
	s.seen = nil
	s.mu.Unlock()
	s.d.ServeHTTP(observe.NewRecorder(w), r)
	return w
}

// challenges parses the 401's challenges: algorithm → parameters.
func challenges(t *testing.T, w *httptest.ResponseRecorder) (algs []string, params map[string]map[string]string) {
	t.Helper()
	params = map[string]map[string]string{}
	for _, c := range w.Header().Values("WWW-Authenticate") {
		rest, ok := strings.CutPrefix(c, "Digest ")
		if !ok {
			t.Fatalf("challenge %q", c)
		}
		p, err := parseParams(rest)
		if err != nil {
			t.Fatalf("challenge %q: %v", c, err)
		}
		algs = append(algs, p["algorithm"])
		params[p["algorithm"]] = p
	}
	return algs, params
}

// client answers a challenge as RFC 7616 §3.4 says.
type client struct {
	user, realm, pw string
	alg             string // as in the challenge
	nonce, opaque   string
	nc              int
	userhash        bool
}

func (c *client) header(method, uri string, over map[string]string) string {
	c.nc++
	a := md5Alg
	if strings.HasPrefix(c.alg, "SHA-256") {
		a = sha256Alg
	}
	sess := strings.HasSuffix(c.alg, "-sess")
	p := map[string]string{
		"username": c.user, "realm": c.realm, "nonce": c.nonce, "uri": uri, "qop": "auth",
		"nc": fmt.Sprintf("%08x", c.nc), "cnonce": "0a4f113b", "opaque": c.opaque, "algorithm": c.alg,
	}
	if c.userhash {
		p["username"], p["userhash"] = hexH(a, c.user+":"+c.realm), "true"
	}
	for k, v := range over {
		p[k] = v
	}
	if _, ok := over["response"]; !ok {
		p["response"] = response(a, sess, hexH(a, c.user+":"+c.realm+":"+c.pw), p["nonce"], p["nc"], p["cnonce"], method, p["uri"])
	}
	var b strings.Builder
	b.WriteString("Digest ")
	first := true
	for _, k := range []string{"username", "realm", "nonce", "uri", "algorithm", "response", "opaque", "qop", "nc", "cnonce", "userhash", "username*"} {
		v, ok := p[k]
		if !ok || v == "\x00" {
			continue
		}
		if !first {
			b.WriteString(", ")
		}
		first = false
		if k == "qop" || k == "nc" || k == "algorithm" || k == "userhash" || k == "username*" {
			b.WriteString(k + "=" + v)
		} else {
			b.WriteString(k + `="` + strings.ReplaceAll(v, `"`, `\"`) + `"`)
		}
	}
	return b.String()
}

func TestDigestAuth(t *testing.T) {
	users := []string{
		"Mufasa:shop:" + md5HA1("Mufasa", "shop", "Circle of Life"),
		"Mufasa:shop:" + sha256HA1("Mufasa", "shop", "Circle of Life"),
		"old:shop:" + md5HA1("old", "shop", "pw"),
		"Jäsøn:shop:" + sha256HA1("Jäsøn", "shop", "Secret, or not?"),
	}
	s := newSetup(t, &config.DigestAuth{Realm: "shop", Users: users, HeaderField: "X-User", RemoveHeader: true, Userhash: true})
	w := s.do("GET", "/orders?id=7", "")
	if w.Code != 401 || s.seen != nil {
		t.Fatalf("no credentials: status %d", w.Code)
	}
	algs, ch := challenges(t, w)
	if strings.Join(algs, ",") != "SHA-256,MD5" {
		t.Fatalf("challenges for %q, want SHA-256 then MD5", algs)
	}
	for _, p := range ch {
		if p["realm"] != "shop" || p["qop"] != "auth" || p["userhash"] != "true" || p["stale"] != "" || p["nonce"] == "" || p["opaque"] == "" {
			t.Errorf("challenge %v", p)
		}
	}
	nonce, opaque := ch["SHA-256"]["nonce"], ch["SHA-256"]["opaque"]
	// One nonce for all the table, each client on counts of its own: a
	// count is spent whoever sent it.
	nc := 0
	fresh := func(user, pw, alg string) *client {
		nc++
		return &client{user: user, realm: "shop", pw: pw, alg: alg, nonce: nonce, opaque: opaque, nc: nc}
	}
	for _, tc := range []struct {
		name   string
		c      *client
		method string
		uri    string
		over   map[string]string
		user   string // "" when refused
		stale  bool
	}{
		{"SHA-256", fresh("Mufasa", "Circle of Life", "SHA-256"), "GET", "/orders?id=7", nil, "Mufasa", false},
		{"MD5", fresh("Mufasa", "Circle of Life", "MD5"), "GET", "/orders?id=7", nil, "Mufasa", false},
		{"MD5 by default", fresh("old", "pw", "MD5"), "GET", "/orders?id=7", map[string]string{"algorithm": "\x00"}, "old", false},
		{"SHA-256-sess", fresh("Mufasa", "Circle of Life", "SHA-256-sess"), "GET", "/orders?id=7", nil, "Mufasa", false},
		{"MD5-sess", fresh("Mufasa", "Circle of Life", "MD5-sess"), "GET", "/orders?id=7", nil, "Mufasa", false},
		{"userhash", &client{user: "Mufasa", realm: "shop", pw: "Circle of Life", alg: "SHA-256", nonce: nonce, opaque: opaque, userhash: true, nc: 40}, "GET", "/orders?id=7", nil, "Mufasa", false},
		{"username* in UTF-8", fresh("Jäsøn", "Secret, or not?", "SHA-256"), "POST", "/orders?id=7", map[string]string{"username": "\x00", "username*": "UTF-8''J%C3%A4s%C3%B8n"}, "Jäsøn", false},
		{"wrong password", fresh("Mufasa", "Circle of life", "SHA-256"), "GET", "/orders?id=7", nil, "", false},
		{"unknown user", fresh("Scar", "Circle of Life", "SHA-256"), "GET", "/orders?id=7", nil, "", false},
		{"a user without that algorithm's HA1", fresh("old", "pw", "SHA-256"), "GET", "/orders?id=7", nil, "", false},
		{"wrong realm", &client{user: "Mufasa", realm: "other", pw: "Circle of Life", alg: "SHA-256", nonce: nonce, opaque: opaque}, "GET", "/orders?id=7", nil, "", false},
		{"another uri than the request's", fresh("Mufasa", "Circle of Life", "SHA-256"), "GET", "/admin", map[string]string{"uri": "/orders?id=7"}, "", false},
		{"another method than the digest's", fresh("Mufasa", "Circle of Life", "SHA-256"), "DELETE", "/orders?id=7", map[string]string{"nc": "00000030", "response": response(sha256Alg, false, sha256HA1("Mufasa", "shop", "Circle of Life"), nonce, "00000030", "0a4f113b", "GET", "/orders?id=7")}, "", false},
		{"a count used already", &client{user: "Mufasa", realm: "shop", pw: "Circle of Life", alg: "SHA-256", nonce: nonce, opaque: opaque, nc: 1}, "GET", "/orders?id=7", nil, "", true},
		{"a nonce not of ours", fresh("Mufasa", "Circle of Life", "SHA-256"), "GET", "/orders?id=7", map[string]string{"nonce": "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"}, "", false},
		{"a nonce of ours, altered", fresh("Mufasa", "Circle of Life", "SHA-256"), "GET", "/orders?id=7", map[string]string{"nonce": "A" + nonce[1:]}, "", false},
		{"wrong opaque", fresh("Mufasa", "Circle of Life", "SHA-256"), "GET", "/orders?id=7", map[string]string{"opaque": "x"}, "", false},
		{"no opaque", fresh("Mufasa", "Circle of Life", "SHA-256"), "GET", "/orders?id=7", map[string]string{"opaque": "\x00"}, "", false},
		{"qop auth-int", fresh("Mufasa", "Circle of Life", "SHA-256"), "GET", "/orders?id=7", map[string]string{"qop": "auth-int"}, "", false},
		{"no qop (RFC 2069)", fresh("Mufasa", "Circle of Life", "SHA-256"), "GET", "/orders?id=7", map[string]string{"qop": "\x00", "nc": "\x00", "cnonce": "\x00"}, "", false},
		{"nc not hex", fresh("Mufasa", "Circle of Life", "SHA-256"), "GET", "/orders?id=7", map[string]string{"nc": "0000000g"}, "", false},
		{"nc zero", fresh("Mufasa", "Circle of Life", "SHA-256"), "GET", "/orders?id=7", map[string]string{"nc": "00000000"}, "", false},
		{"unknown algorithm", fresh("Mufasa", "Circle of Life", "SHA-512-256"), "GET", "/orders?id=7", nil, "", false},
		{"userhash sent plain", fresh("Mufasa", "Circle of Life", "SHA-256"), "GET", "/orders?id=7", map[string]string{"userhash": "true"}, "", false},
		{"username and username*", fresh("Mufasa", "Circle of Life", "SHA-256"), "GET", "/orders?id=7", map[string]string{"username*": "UTF-8''Mufasa"}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.d.clients.Succeed(mustAddr("198.51.100.7")) // the table's failures must not add up to a wait
			w := s.do(tc.method, tc.uri, tc.c.header(tc.method, tc.uri, tc.over))
			if tc.user == "" {
				if w.Code != 401 || s.seen != nil {
					t.Fatalf("status %d, server reached %v: want 401", w.Code, s.seen != nil)
				}
				_, ch := challenges(t, w)
				if (ch["SHA-256"]["stale"] == "true") != tc.stale {
					t.Errorf("stale=%q, want %v", ch["SHA-256"]["stale"], tc.stale)
				}
				return
			}
			if w.Code != 200 || s.seen == nil {
				t.Fatalf("status %d: want the server's 200\n%s", w.Code, s.logs)
			}
			if v := s.seen.Values("X-User"); len(v) != 1 || v[0] != tc.user {
				t.Errorf("X-User %q, want only %q", v, tc.user)
			}
			if s.seen.Get("Authorization") != "" {
				t.Error("Authorization forwarded with removeHeader")
			}
		})
	}
	if strings.Contains(s.logs.String(), "Circle") || strings.Contains(s.logs.String(), users[0][12:]) {
		t.Errorf("the log shows a secret:\n%s", s.logs)
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// TestReplayAndStale: a request replayed with its nonce count is refused
// (stale=true: the digest was right); counts may come out of order within
// the window; an expired nonce gets stale=true, a new nonce works.
func TestReplayAndStale(t *testing.T) {
	s := newSetup(t, &config.DigestAuth{Users: []string{"bob:usher:" + sha256HA1("bob", "usher", "pw")}, NonceTTL: config.Duration(time.Minute)})
	now := time.Now()
	s.d.now = func() time.Time { return now }
	_, ch := challenges(t, s.do("GET", "/", ""))
	p := ch["SHA-256"]
	c := &client{user: "bob", realm: "usher", pw: "pw", alg: "SHA-256", nonce: p["nonce"], opaque: p["opaque"]}
	first := c.header("GET", "/a", nil)
	if w := s.do("GET", "/a", first); w.Code != 200 {
		t.Fatalf("first use: %d", w.Code)
	}
	w := s.do("GET", "/a", first)
	if _, ch := challenges(t, w); w.Code != 401 || ch["SHA-256"]["stale"] != "true" {
		t.Fatalf("replay: status %d stale %q, want 401 stale=true", w.Code, ch["SHA-256"]["stale"])
	}
	// Counts 3 and 2 sent at once arrive 3 first.
	c.nc = 2
	three := c.header("GET", "/b", nil)
	c.nc = 1
	two := c.header("GET", "/b", nil)
	if s.do("GET", "/b", three).Code != 200 || s.do("GET", "/b", two).Code != 200 {
		t.Error("counts out of order within the window are refused")
	}
	if s.do("GET", "/b", two).Code != 401 {
		t.Error("count 2 replayed is taken")
	}
	c.nc = 200
	s.do("GET", "/c", c.header("GET", "/c", nil))
	c.nc = 100
	if s.do("GET", "/c", c.header("GET", "/c", nil)).Code != 401 {
		t.Error("a count more than 64 below the highest is taken")
	}
	// Expired.
	now = now.Add(time.Minute + time.Second)
	c.nc = 500
	w = s.do("GET", "/d", c.header("GET", "/d", nil))
	_, ch = challenges(t, w)
	if w.Code != 401 || ch["SHA-256"]["stale"] != "true" || ch["MD5"] != nil {
		t.Fatalf("expired nonce: status %d challenges %v, want 401 stale=true, SHA-256 only (no MD5 users)", w.Code, ch)
	}
	// The same expired nonce with a wrong password: not stale, a plain refusal.
	bad := &client{user: "bob", realm: "usher", pw: "wrong", alg: "SHA-256", nonce: p["nonce"], opaque: p["opaque"], nc: 600}
	if _, ch := challenges(t, s.do("GET", "/d", bad.header("GET", "/d", nil))); ch["SHA-256"]["stale"] != "" {
		t.Error("stale=true for a wrong password on an expired nonce")
	}
	c.nonce, c.nc = ch["SHA-256"]["nonce"], 0
	if w := s.do("GET", "/d", c.header("GET", "/d", nil)); w.Code != 200 {
		t.Errorf("the new nonce: %d", w.Code)
	}
}

func TestNonceTableIsBounded(t *testing.T) {
	tab := newNonceTable(64)
	const ttl = int64(time.Hour)
	for i := range 1000 {
		var id [16]byte
		id[0], id[1] = byte(i), byte(i>>8)
		if !tab.use(id, int64(i+1), 1, 1000, ttl) {
			t.Fatalf("nonce %d refused", i)
		}
		if tab.len() > 64 {
			t.Fatalf("%d nonces kept, max 64", tab.len())
		}
	}
	// A forgotten nonce cannot be replayed: it is as good as expired.
	var old [16]byte
	if tab.use(old, 1, 1, 1000, ttl) || tab.use(old, 1, 2, 1000, ttl) {
		t.Error("a nonce whose state was forgotten is taken")
	}
}

func TestParseParams(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string]string
		err  string
	}{
		{`username="Mufasa", realm="a, \"b\"", nc=00000001,qop=auth`, map[string]string{"username": "Mufasa", "realm": `a, "b"`, "nc": "00000001", "qop": "auth"}, ""},
		{` USERNAME = "x" ,, `, map[string]string{"username": "x"}, ""},
		{`username="x`, nil, "unterminated"},
		{`username`, nil, "has no value"},
		{`username="x" realm="y"`, nil, "unexpected"},
		{`username="x", username="y"`, nil, "twice"},
		{`=x`, nil, "expected a parameter name"},
		{"username=\"a\x01\"", nil, "control character"},
		{strings.Repeat("a", maxCredentials+1), nil, "too long"},
	} {
		got, err := parseParams(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %s", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%q: %v %v, want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestMalformedHeaders(t *testing.T) {
	s := newSetup(t, &config.DigestAuth{Users: []string{"bob:usher:" + md5HA1("bob", "usher", "pw")}})
	for _, h := range []string{"Digest", "Digest ", "Digest username=", `Digest username="bob"`, "Basic Ym9iOnB3", "Digest " + strings.Repeat("x=y,", 2000)} {
		s.d.clients.Succeed(mustAddr("198.51.100.7"))
		if w := s.do("GET", "/", h); w.Code != 401 || s.seen != nil {
			t.Errorf("%.40q: status %d", h, w.Code)
		}
	}
	_, ch := challenges(t, s.do("GET", "/", ""))
	if ch["SHA-256"] != nil || ch["MD5"] == nil {
		t.Errorf("MD5 users only: challenges %v, want MD5 alone", ch)
	}
}

// TestFailuresSlowDown: wrong digests count toward the client's wait, as
// basicAuth's wrong passwords do; a stale nonce with a right digest does not.
func TestFailuresSlowDown(t *testing.T) {
	s := newSetup(t, &config.DigestAuth{Users: []string{"bob:usher:" + md5HA1("bob", "usher", "pw")}})
	_, ch := challenges(t, s.do("GET", "/", ""))
	p := ch["MD5"]
	c := &client{user: "bob", realm: "usher", pw: "guess", alg: "MD5", nonce: p["nonce"], opaque: p["opaque"]}
	for i := range 6 {
		if w := s.do("GET", "/", c.header("GET", "/", nil)); w.Code != 401 {
			t.Fatalf("failure %d: %d", i+1, w.Code)
		}
	}
	c.pw = "pw"
	if w := s.do("GET", "/", c.header("GET", "/", nil)); w.Code != 429 || w.Header().Get("Retry-After") == "" {
		t.Fatalf("after 6 failures: %d, want 429 with Retry-After", w.Code)
	}
}

// TestUserhashOff: a hashed user name is not taken when userhash is off,
// and the challenge does not offer it.
func TestUserhashOff(t *testing.T) {
	s := newSetup(t, &config.DigestAuth{Users: []string{"bob:usher:" + sha256HA1("bob", "usher", "pw")}})
	_, ch := challenges(t, s.do("GET", "/", ""))
	p := ch["SHA-256"]
	if p["userhash"] != "" {
		t.Errorf("userhash offered: %v", p)
	}
	c := &client{user: "bob", realm: "usher", pw: "pw", alg: "SHA-256", nonce: p["nonce"], opaque: p["opaque"], userhash: true}
	if w := s.do("GET", "/", c.header("GET", "/", nil)); w.Code != 401 {
		t.Errorf("hashed user name with userhash off: %d", w.Code)
	}
	c.userhash = false
	if w := s.do("GET", "/", c.header("GET", "/", nil)); w.Code != 200 {
		t.Errorf("plain user name: %d", w.Code)
	}
}
