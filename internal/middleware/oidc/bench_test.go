package oidc

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// BenchmarkSessionRequest is the cost of a request with a session: the
// cookie opened, the session read from the memory store, the headers set.
func BenchmarkSessionRequest(b *testing.B) {
	op := newFakeOP(b)
	s := newSite(b, op, nil)
	br := newBrowser(b)
	if a := br.login(s, "/", "u1", "a@b.c", map[string]any{"groups": []string{"staff"}}, nil); a.status != 303 {
		b.Fatalf("login: %d", a.status)
	}
	u, _ := url.Parse(s.srv.URL)
	var cookie string
	for _, c := range br.jar.Cookies(u) {
		if c.Name == "_usher_oidc" {
			cookie = c.Name + "=" + c.Value
		}
	}
	m := *s.m
	m.next = http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	req := httptest.NewRequest("GET", "http://app.example.com/", nil)
	b.ReportAllocs()
	for b.Loop() {
		r := req.Clone(req.Context())
		r.Header["Cookie"] = []string{cookie + "; theme=dark"}
		w := httptest.NewRecorder()
		m.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("status %d", w.Code)
		}
	}
}
