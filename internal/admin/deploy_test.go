package admin

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/deploy"
	"github.com/usher-lb/usher/internal/runtime"
)

func TestDeploymentEndpoints(t *testing.T) {
	reg := deploy.NewRegistry()
	defer reg.Close()
	b := reg.Begin()
	b.Get(deploy.Spec{Service: "shop", Arms: []string{"stable", "next"}, Weights: []int{100, 0},
		Canary: &deploy.Canary{Arm: 1, Steps: []int{10, 100}, Interval: time.Hour, MaxErrorRate: 0.01, MinRequests: 10}})
	b.Get(deploy.Spec{Service: "bg", Arms: []string{"blue", "green"}, Weights: []int{1, 0}})
	b.Commit()
	srv := httptest.NewServer(New(Deps{Snapshot: func() *runtime.Snapshot { return nil }, Status: func() runtime.Status { return runtime.Status{} }, Deployments: reg}))
	defer srv.Close()
	call := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := call("GET", "/api/http/deployments", "")
	var all []deploy.Status
	if code != 200 || json.Unmarshal([]byte(body), &all) != nil || len(all) != 2 || all[0].Service != "bg" || all[1].Canary == nil {
		t.Fatalf("list: %d %s", code, body)
	}
	for _, c := range []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"GET", "/api/http/deployments/nope", "", 404, "no weighted service nope is running"},
		{"POST", "/api/http/deployments/shop/switch", `{"to": "next"}`, 409, "a canary is in progress"},
		{"POST", "/api/http/deployments/bg/switch", `{"to": "purple"}`, 404, "has no service purple"},
		{"POST", "/api/http/deployments/bg/switch", `{"too": "green"}`, 400, "body:"},
		{"POST", "/api/http/deployments/bg/switch/back", ``, 409, "nothing to go back to"},
		{"POST", "/api/http/deployments/bg/canary/promote", ``, 409, "has no canary"},
		{"GET", "/api/http/deployments/bg/switch", ``, 405, "use POST"},
		{"POST", "/api/http/deployments/bg/switch", `{"to": "green"}`, 200, `"mode": "switch"`},
		{"POST", "/api/http/deployments/shop/canary/promote", `{"full": true}`, 200, `"state": "promoted"`},
		{"POST", "/api/http/deployments/shop/canary/abort", ``, 200, `"state": "aborted"`},
	} {
		if code, body := call(c.method, c.path, c.body); code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%s %s %s: %d %s, want %d with %q", c.method, c.path, c.body, code, body, c.code, c.want)
		}
	}
	// A page of another origin changes nothing.
	req, _ := http.NewRequest("POST", srv.URL+"/api/http/deployments/bg/switch/back", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("cross-site switch: %d", resp.StatusCode)
	}
}
