package redirectscheme

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/usher-lb/usher/internal/config"
)

func TestRedirectScheme(t *testing.T) {
	tests := []struct {
		name     string
		cfg      config.RedirectScheme
		host     string
		target   string
		xfp      string
		tls      bool
		status   int // 200: passed to next
		location string
	}{
		{"http to https", config.RedirectScheme{Scheme: "https"}, "example.com", "/a?b=c", "", false,
			http.StatusTemporaryRedirect, "https://example.com/a?b=c"},
		{"permanent", config.RedirectScheme{Scheme: "https", Permanent: true}, "example.com", "/", "", false,
			http.StatusPermanentRedirect, "https://example.com/"},
		{"port dropped", config.RedirectScheme{Scheme: "https"}, "example.com:8080", "/x", "", false,
			http.StatusTemporaryRedirect, "https://example.com/x"},
		{"port replaced", config.RedirectScheme{Scheme: "https", Port: "8443"}, "example.com:8080", "/x", "", false,
			http.StatusTemporaryRedirect, "https://example.com:8443/x"},
		{"default port omitted", config.RedirectScheme{Scheme: "https", Port: "443"}, "example.com:80", "/x", "", false,
			http.StatusTemporaryRedirect, "https://example.com/x"},
		{"ipv6 host", config.RedirectScheme{Scheme: "https", Port: "8443"}, "[::1]:8080", "/x", "", false,
			http.StatusTemporaryRedirect, "https://[::1]:8443/x"},
		{"already https by TLS", config.RedirectScheme{Scheme: "https"}, "example.com", "/", "", true, http.StatusOK, ""},
		{"already https by X-Forwarded-Proto", config.RedirectScheme{Scheme: "https"}, "example.com", "/", "https", false, http.StatusOK, ""},
		{"X-Forwarded-Proto wins over TLS", config.RedirectScheme{Scheme: "https"}, "example.com", "/", "http", true,
			http.StatusTemporaryRedirect, "https://example.com/"},
		{"to http", config.RedirectScheme{Scheme: "HTTP"}, "example.com:443", "/x", "", true,
			http.StatusTemporaryRedirect, "http://example.com/x"},
		{"already http", config.RedirectScheme{Scheme: "http"}, "example.com", "/", "", false, http.StatusOK, ""},
		{"encoded path kept", config.RedirectScheme{Scheme: "https"}, "example.com", "/a%2Fb%20c?q=%41", "", false,
			http.StatusTemporaryRedirect, "https://example.com/a%2Fb%20c?q=%41"},
		{"no host", config.RedirectScheme{Scheme: "https"}, "", "/", "", false, http.StatusBadRequest, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := New(t.Context(), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), &tt.cfg, "rs")
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest(http.MethodPost, tt.target, nil)
			r.Host = tt.host
			if tt.xfp != "" {
				r.Header.Set("X-Forwarded-Proto", tt.xfp)
			}
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Errorf("status %d, want %d", w.Code, tt.status)
			}
			if got := w.Header().Get("Location"); got != tt.location {
				t.Errorf("Location %q, want %q", got, tt.location)
			}
		})
	}
}

// TestRedirectSchemeOriginalTarget checks that the redirect goes to the target
// the client sent, not to a path rewritten by an earlier middleware.
func TestRedirectSchemeOriginalTarget(t *testing.T) {
	h, _ := New(t.Context(), http.NotFoundHandler(), &config.RedirectScheme{Scheme: "https"}, "rs")
	r := httptest.NewRequest(http.MethodGet, "http://example.com/api/x?y=1", nil)
	r.URL.Path = "/x" // as stripPrefix leaves it
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if got := w.Header().Get("Location"); got != "https://example.com/api/x?y=1" {
		t.Errorf("Location %q", got)
	}
}

func TestRedirectSchemeConfig(t *testing.T) {
	tests := []struct {
		cfg config.RedirectScheme
		err string
	}{
		{config.RedirectScheme{}, "redirectScheme: scheme is empty"},
		{config.RedirectScheme{Scheme: "ftp"}, `redirectScheme: scheme "ftp" is not http or https`},
		{config.RedirectScheme{Scheme: "https", Port: "0"}, `redirectScheme: port "0" is not a number from 1 to 65535`},
		{config.RedirectScheme{Scheme: "https", Port: "70000"}, `redirectScheme: port "70000" is not a number from 1 to 65535`},
		{config.RedirectScheme{Scheme: "https", Port: ":443"}, `redirectScheme: port ":443" is not a number from 1 to 65535`},
		{config.RedirectScheme{Scheme: "https", Port: "+443"}, `redirectScheme: port "+443" is not a number from 1 to 65535`},
	}
	for _, tt := range tests {
		_, err := New(t.Context(), http.NotFoundHandler(), &tt.cfg, "r")
		if err == nil || err.Error() != tt.err {
			t.Errorf("%+v: error %v, want %s", tt.cfg, err, tt.err)
		}
	}
}
