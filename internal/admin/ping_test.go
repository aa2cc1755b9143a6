package admin

import (
	"io"
	"net/http"
	"testing"

	"github.com/usher-lb/usher/internal/runtime"
)

// /ping is the liveness probe: "OK" once a snapshot serves, without the
// token (a probe should not hold the admin's secret), and under the
// loopback Host rule when there is no token.
func TestPing(t *testing.T) {
	withToken := newFixture(t, fixtureOpts{token: adminToken})
	noToken := newFixture(t, fixtureOpts{})
	for _, tt := range []struct {
		name   string
		f      *fixture
		method string
		host   string
		code   int
		body   string
	}{
		{"token set, none sent", withToken, http.MethodGet, "", 200, "OK\n"},
		{"token set, any host", withToken, http.MethodGet, "usher.example", 200, "OK\n"},
		{"HEAD", withToken, http.MethodHead, "", 200, ""},
		{"POST", withToken, http.MethodPost, "", 405, ""},
		{"no token, loopback host", noToken, http.MethodGet, "", 200, "OK\n"},
		{"no token, another host", noToken, http.MethodGet, "evil.example", 421, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			host := tt.host
			if host == "" {
				host = tt.f.admin.Listener.Addr().String()
			}
			code, body := tt.f.doHost(tt.method, "/ping", host)
			if code != tt.code {
				t.Fatalf("%d, want %d: %s", code, tt.code, body)
			}
			if tt.body != "" && body != tt.body {
				t.Fatalf("body %q, want %q", body, tt.body)
			}
		})
	}
	// Other endpoints still need the token.
	if code, _ := withToken.doHost(http.MethodGet, "/api/overview", withToken.admin.Listener.Addr().String()); code != 401 {
		t.Fatalf("/api/overview without the token: %d, want 401", code)
	}
}

func TestPingBeforeASnapshot(t *testing.T) {
	srv := newServer(t, Deps{Snapshot: func() *runtime.Snapshot { return nil }})
	resp, err := http.Get(srv + "/ping")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: %s", resp.StatusCode, b)
	}
}
