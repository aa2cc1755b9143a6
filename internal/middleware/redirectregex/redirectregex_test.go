package redirectregex

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/usher-lb/usher/internal/config"
)

func TestRedirectRegex(t *testing.T) {
	tests := []struct {
		name     string
		cfg      config.RedirectRegex
		url      string // as the client asks for it
		tls      bool
		xfp      string
		status   int // 200: passed to next
		location string
	}{
		{"submatch", config.RedirectRegex{Regex: `^http://localhost/(.*)$`, Replacement: "https://example.com/${1}"},
			"http://localhost/a/b?c=d", false, "", http.StatusTemporaryRedirect, "https://example.com/a/b?c=d"},
		{"permanent", config.RedirectRegex{Regex: `^http://localhost/(.*)$`, Replacement: "https://example.com/$1", Permanent: true},
			"http://localhost/x", false, "", http.StatusPermanentRedirect, "https://example.com/x"},
		{"named submatch", config.RedirectRegex{Regex: `^https://(?P<host>[^/:]+)(:\d+)?/old/(?P<rest>.*)`, Replacement: "https://$host/new/$rest"},
			"http://example.com:8443/old/a?b", true, "", http.StatusTemporaryRedirect, "https://example.com/new/a?b"},
		{"unanchored replaces the match only", config.RedirectRegex{Regex: `/old/`, Replacement: "/new/"},
			"http://h/old/x", false, "", http.StatusTemporaryRedirect, "http://h/new/x"},
		{"no match", config.RedirectRegex{Regex: `^https://`, Replacement: "http://x"},
			"http://localhost/", false, "", http.StatusOK, ""},
		{"scheme from X-Forwarded-Proto", config.RedirectRegex{Regex: `^https://(.*)`, Replacement: "https://www.$1"},
			"http://example.com/", false, "https", http.StatusTemporaryRedirect, "https://www.example.com/"},
		{"same URL passes", config.RedirectRegex{Regex: `^(http://.*)$`, Replacement: "$1"},
			"http://example.com/x", false, "", http.StatusOK, ""},
		{"escaped path as sent", config.RedirectRegex{Regex: `^http://h(/.*)`, Replacement: "https://h$1"},
			"http://h/a%2Fb%20c", false, "", http.StatusTemporaryRedirect, "https://h/a%2Fb%20c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true })
			h, err := New(t.Context(), next, &tt.cfg, "rr")
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest(http.MethodGet, tt.url, nil)
			r.RequestURI = r.URL.RequestURI() // origin-form, as a server sees it
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if tt.xfp != "" {
				r.Header.Set("X-Forwarded-Proto", tt.xfp)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Errorf("status %d, want %d", w.Code, tt.status)
			}
			if got := w.Header().Get("Location"); got != tt.location {
				t.Errorf("Location %q, want %q", got, tt.location)
			}
			if called != (tt.status == http.StatusOK) {
				t.Errorf("next called: %v", called)
			}
		})
	}
}

func TestRedirectRegexConfig(t *testing.T) {
	tests := []struct {
		cfg config.RedirectRegex
		err string
	}{
		{config.RedirectRegex{Replacement: "x"}, "redirectRegex: regex is empty"},
		{config.RedirectRegex{Regex: "(", Replacement: "x"}, `redirectRegex: invalid regex "(": error parsing regexp: missing closing ): ` + "`(`"},
		{config.RedirectRegex{Regex: "a"}, "redirectRegex: replacement is empty"},
		{config.RedirectRegex{Regex: "a", Replacement: "/x\r\nSet-Cookie: a=b"}, `redirectRegex: replacement "/x\r\nSet-Cookie: a=b" has a control character`},
	}
	for _, tt := range tests {
		_, err := New(t.Context(), http.NotFoundHandler(), &tt.cfg, "r")
		if err == nil || err.Error() != tt.err {
			t.Errorf("%+v: error %v, want %s", tt.cfg, err, tt.err)
		}
	}
	if _, err := New(t.Context(), http.NotFoundHandler(), &config.RedirectRegex{Regex: "(", Replacement: "x"}, "r"); !strings.HasPrefix(err.Error(), `redirectRegex: invalid regex "(": `) {
		t.Error(err)
	}
}
