package reqinfo

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestScheme(t *testing.T) {
	tests := []struct {
		xfp  []string
		tls  bool
		want string
	}{
		{nil, false, "http"},
		{nil, true, "https"},
		{[]string{"https"}, false, "https"},
		{[]string{"HTTPS"}, false, "https"},
		{[]string{"http"}, true, "http"},
		{[]string{"wss"}, false, "https"},
		{[]string{"ws"}, true, "http"},
		{[]string{"https, http"}, false, "https"},
		{[]string{" http ,https"}, true, "http"},
		{[]string{"gopher"}, true, "https"},
		{[]string{""}, false, "http"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if tt.xfp != nil {
			r.Header["X-Forwarded-Proto"] = tt.xfp
		}
		if tt.tls {
			r.TLS = &tls.ConnectionState{}
		}
		if got := Scheme(r); got != tt.want {
			t.Errorf("X-Forwarded-Proto %q TLS %v: %s, want %s", tt.xfp, tt.tls, got, tt.want)
		}
	}
}

func TestRequestURI(t *testing.T) {
	tests := []struct{ requestURI, urlPath, want string }{
		{"/a/b?c=d", "/changed", "/a/b?c=d"},
		{"http://h.example/x?y", "/changed", "/x?y"},
		{"http://h.example?y", "/changed", "/?y"},
		{"http://h.example", "/changed", "/"},
		{"", "/built", "/built"},
		{"*", "*", "/"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RequestURI = tt.requestURI
		r.URL.Path = tt.urlPath
		if got := RequestURI(r); got != tt.want {
			t.Errorf("RequestURI %q: %q, want %q", tt.requestURI, got, tt.want)
		}
	}
}

func TestHostname(t *testing.T) {
	for in, want := range map[string]string{
		"":                 "",
		"example.com":      "example.com",
		"example.com:8080": "example.com",
		"[::1]:8080":       "[::1]",
		"[::1]":            "[::1]",
		"::1":              "[::1]",
		"10.0.0.1:80":      "10.0.0.1",
	} {
		if got := Hostname(in); got != want {
			t.Errorf("Hostname(%q) = %q, want %q", in, got, want)
		}
	}
}
