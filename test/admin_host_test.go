package test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// A DNS-rebinding page (evil.example made to resolve to 127.0.0.1) reaches
// the admin as its own origin but with its own name as Host: the admin
// without a token refuses it (421), so it can neither read nor drain; a
// client on a loopback name is served.
func TestAdminWithoutTokenRefusesRebindingHosts(t *testing.T) {
	a, b := backend(t, "a"), backend(t, "b")
	u := startUsher(t, config(lbTpl, "addr", "127.0.0.1:0", "extra", "", "servers", serverList(a.URL, b.URL))+`
admin: { address: "127.0.0.1:0", dashboard: true }
`)
	admin := u.addrs["admin"]
	port := admin[strings.LastIndexByte(admin, ':'):]
	do := func(method, path, host string, hdr ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+admin+path, nil)
		req.Host = host
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	evil := "evil.example" + port
	for _, path := range []string{"/api/overview", "/api/http/services", "/metrics", "/dashboard/"} {
		if code, body := do("GET", path, evil); code != 421 || !strings.Contains(body, "admin.token") {
			t.Errorf("GET %s as %s: %d %s", path, evil, code, body)
		}
		if code, _ := do("GET", path, "localhost"+port); code != 200 {
			t.Errorf("GET %s as localhost: %d", path, code)
		}
	}
	drain := "/api/http/services/app/servers/" + urlPathEscape(b.URL) + "/drain"
	if code, _ := do("POST", drain, evil, "Origin", "http://"+evil, "Sec-Fetch-Site", "same-origin"); code != 421 {
		t.Errorf("drain from a rebound page: %d", code)
	}
	if code, _ := do("POST", drain, "127.0.0.1"+port, "Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site"); code != 403 {
		t.Errorf("drain from another site: %d", code)
	}
	seen := map[string]bool{}
	for i := 0; i < 6; i++ {
		_, body := get(t, u.url("web")+"/")
		seen[body] = true
	}
	if !seen["b"] {
		t.Fatal("a refused drain drained the server")
	}
}
