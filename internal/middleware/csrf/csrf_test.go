package csrf

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/usher-lb/usher/internal/config"
)

func TestCrossOriginProtection(t *testing.T) {
	h, err := New(t.Context(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }),
		&config.CSRF{TrustedOrigins: []string{"https://SSO.example.com"}, BypassPaths: []string{"/webhooks/", "POST /api/{id}/hook"}}, "c")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		method, target string
		fields         []string
		want           int
		why            string // in the body of a 403
	}{
		{"GET", "/", []string{"Sec-Fetch-Site: cross-site", "Origin: https://evil.com"}, 418, ""},
		{"HEAD", "/", []string{"Sec-Fetch-Site: cross-site"}, 418, ""},
		{"OPTIONS", "/", []string{"Sec-Fetch-Site: cross-site"}, 418, ""},
		{"POST", "/", []string{"Sec-Fetch-Site: same-origin", "Origin: https://shop.example.com"}, 418, ""},
		{"POST", "/", []string{"Sec-Fetch-Site: none"}, 418, ""},
		{"POST", "/", []string{"Sec-Fetch-Site: cross-site", "Origin: https://evil.com"}, 403, "Sec-Fetch-Site"},
		{"PUT", "/", []string{"Sec-Fetch-Site: same-site", "Origin: https://a.example.com"}, 403, "Sec-Fetch-Site"},
		{"DELETE", "/", []string{"Sec-Fetch-Site: cross-site"}, 403, "Sec-Fetch-Site"},
		{"PATCH", "/", []string{"Sec-Fetch-Site: cross-site"}, 403, "Sec-Fetch-Site"},
		{"PROPFIND", "/", []string{"Sec-Fetch-Site: cross-site"}, 403, "Sec-Fetch-Site"},
		// Old browsers: Origin against Host.
		{"POST", "/", []string{"Origin: https://shop.example.com"}, 418, ""},
		{"POST", "/", []string{"Origin: http://shop.example.com"}, 418, ""}, // the scheme is not known: open, as Go's
		{"POST", "/", []string{"Origin: https://evil.com"}, 403, "Origin"},
		{"POST", "/", []string{"Origin: https://shop.example.com:8443"}, 403, "Origin"},
		{"POST", "/", []string{"Origin: null"}, 403, "Origin"},
		// Not a browser: no Sec-Fetch-Site, no Origin.
		{"POST", "/", nil, 418, ""},
		// Trusted origins and bypass paths.
		{"POST", "/", []string{"Sec-Fetch-Site: cross-site", "Origin: https://sso.example.com"}, 418, ""},
		{"POST", "/", []string{"Origin: https://sso.example.com"}, 418, ""},
		{"POST", "/webhooks/github", []string{"Sec-Fetch-Site: cross-site", "Origin: https://evil.com"}, 418, ""},
		{"POST", "/webhooks", []string{"Sec-Fetch-Site: cross-site"}, 403, ""}, // ServeMux would redirect: not a match
		{"POST", "/api/7/hook", []string{"Sec-Fetch-Site: cross-site"}, 418, ""},
		{"PUT", "/api/7/hook", []string{"Sec-Fetch-Site: cross-site"}, 403, ""},
	} {
		r := httptest.NewRequest(c.method, "https://shop.example.com"+c.target, nil)
		for _, f := range c.fields {
			k, v, _ := strings.Cut(f, ": ")
			r.Header.Add(k, v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != c.want {
			t.Errorf("%s %s %q: %d, want %d", c.method, c.target, c.fields, w.Code, c.want)
			continue
		}
		if c.want == 403 {
			b := w.Body.String()
			if !strings.HasPrefix(b, "Forbidden: cross-origin request refused.") || !strings.Contains(b, c.why) || w.Header().Get("Content-Type") != "text/plain; charset=utf-8" {
				t.Errorf("%s %s %q: body %q", c.method, c.target, c.fields, b)
			}
		}
	}
}

func TestBadConfig(t *testing.T) {
	for _, c := range []struct {
		cfg  config.CSRF
		want string
	}{
		{config.CSRF{TrustedOrigins: []string{"example.com"}}, "trustedOrigins[0]"},
		{config.CSRF{BypassPaths: []string{"nope"}}, "bypassPaths[0]"},
		{config.CSRF{BypassPaths: []string{"/a/", "/a/"}}, "bypassPaths[1]"},
	} {
		if _, err := New(t.Context(), http.NotFoundHandler(), &c.cfg, "c"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
}

func BenchmarkSameOriginPost(b *testing.B) {
	h, _ := New(b.Context(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), &config.CSRF{BypassPaths: []string{"/webhooks/"}}, "c")
	r := httptest.NewRequest("POST", "https://shop.example.com/cart", nil)
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}
