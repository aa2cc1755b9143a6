package runtime

import (
	"net/http"
	"reflect"
	"testing"
)

func TestDropConnectionFields(t *testing.T) {
	tests := []struct {
		name string
		in   http.Header
		want http.Header
	}{
		{"none", http.Header{"A": {"1"}}, http.Header{"A": {"1"}}},
		{"keep-alive", http.Header{"Connection": {"keep-alive"}, "Keep-Alive": {"timeout=5"}, "A": {"1"}}, http.Header{"A": {"1"}}},
		{"named fields go, case and spaces aside", http.Header{"Connection": {"close, x-forwarded-for ,X-REAL-IP", "X-Guard"}, "X-Forwarded-For": {"1.2.3.4"}, "X-Real-Ip": {"1.2.3.4"}, "X-Guard": {"x"}, "A": {"1"}}, http.Header{"A": {"1"}}},
		{"empty and invalid tokens", http.Header{"Connection": {",, ,a b,\"x\""}, "A": {"1"}}, http.Header{"A": {"1"}}},
		{"upgrade keeps its pair", http.Header{"Connection": {"keep-alive, Upgrade, X-Forwarded-For"}, "Upgrade": {"websocket"}, "X-Forwarded-For": {"1.2.3.4"}}, http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}},
		{"upgrade token without Upgrade", http.Header{"Connection": {"upgrade"}, "A": {"1"}}, http.Header{"A": {"1"}}},
		{"Upgrade not in Connection", http.Header{"Connection": {"close"}, "Upgrade": {"h2c"}}, http.Header{"Upgrade": {"h2c"}}},
		{"an upgrade to h2c is the client's with usher, never the server's", http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Upgrade": {"h2c"}, "Http2-Settings": {"AAMAAABkAAQCAAAAAAIAAAAA"}}, http.Header{}},
		{"h2c beside another protocol", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"H2C, websocket"}}, http.Header{"Connection": {"Upgrade"}, "Upgrade": {"H2C, websocket"}}},
		{"empty Upgrade is no upgrade", http.Header{"Connection": {"upgrade"}, "Upgrade": {""}}, http.Header{}},
	}
	for _, tc := range tests {
		dropConnectionFields(tc.in)
		if !reflect.DeepEqual(tc.in, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.in, tc.want)
		}
	}
}

func TestDropConnectionFieldsDoesNotAllocate(t *testing.T) {
	h := http.Header{"Accept": {"*/*"}}
	conn := []string{"keep-alive"}
	if n := testing.AllocsPerRun(100, func() {
		h["Connection"] = conn
		dropConnectionFields(h)
		dropConnectionFields(h)
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

func TestCleanHeader(t *testing.T) {
	tp, _ := parseTrust([]string{"10.0.0.0/8"})
	spoofed := http.Header{
		"X-Forwarded-For": {"1.2.3.4"}, "X-Forwarded-Prefix": {"/admin"}, "True-Client-Ip": {"1.2.3.4"},
		"X-Client-Ip": {"1.2.3.4"}, "Cf-Connecting-Ip": {"1.2.3.4"}, "X-Original-Url": {"/admin"},
		"X-Rewrite-Url": {"/admin"}, "X-Original-Uri": {"/admin"}, "Forwarded": {"for=1.2.3.4"},
		"X-Forwarded-Tls-Client-Cert": {"MII..."}, "X-Forwarded-User": {"root"}, "Remote-User": {"root"},
		"X_forwarded_for": {"1.2.3.4"}, "X_real_ip": {"1.2.3.4"},
		"Accept": {"*/*"}, "Cookie": {"a=b"}, "X-Http-Method-Override": {"PUT"},
	}
	tests := []struct {
		name        string
		remote      string
		underscores bool
		kept        []string
	}{
		{"untrusted", "203.0.113.5:1", false, []string{"Accept", "Cookie", "X-Http-Method-Override"}},
		{"untrusted, underscores allowed", "203.0.113.5:1", true, []string{"Accept", "Cookie", "X-Http-Method-Override", "X_forwarded_for", "X_real_ip"}},
		{"trusted proxy", "10.0.0.1:1", false, []string{"Accept", "Cookie", "X-Http-Method-Override", "X-Forwarded-For", "X-Forwarded-Prefix", "True-Client-Ip",
			"X-Client-Ip", "Cf-Connecting-Ip", "X-Original-Url", "X-Rewrite-Url", "X-Original-Uri", "Forwarded", "X-Forwarded-Tls-Client-Cert", "X-Forwarded-User", "Remote-User"}},
		{"trusted proxy, underscores allowed", "10.0.0.1:1", true, nil}, // all kept
	}
	for _, tc := range tests {
		ep := &Entrypoint{trust: tp, AllowUnderscores: tc.underscores}
		r, _ := http.NewRequest("GET", "http://a/", nil)
		r.RemoteAddr = tc.remote
		r.Header = spoofed.Clone()
		p := ep.Clean(r)
		if p.trusted != (tc.remote == "10.0.0.1:1") {
			t.Errorf("%s: trusted = %v", tc.name, p.trusted)
		}
		want := map[string]bool{}
		for _, k := range tc.kept {
			want[k] = true
		}
		if tc.kept == nil {
			for k := range spoofed {
				want[k] = true
			}
		}
		for k := range spoofed {
			if _, ok := r.Header[k]; ok != want[k] {
				t.Errorf("%s: %s kept = %v, want %v", tc.name, k, ok, want[k])
			}
		}
	}
}

func TestCleanHeaderDoesNotAllocate(t *testing.T) {
	ep := &Entrypoint{}
	r, _ := http.NewRequest("GET", "http://a/", nil)
	r.RemoteAddr = "203.0.113.5:4000"
	r.Header = http.Header{"Accept": {"*/*"}, "User-Agent": {"x"}, "Cookie": {"a=b"}}
	conn := []string{"keep-alive"}
	if n := testing.AllocsPerRun(100, func() {
		r.Header["Connection"] = conn
		ep.Clean(r)
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}
