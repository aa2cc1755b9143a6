package test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestMirrorCompareCountsDifferences: a mirror service copies every request
// to a shadow that differs from the main on some paths (its status on
// /status, its body on /body, its Content-Type on /type); the client always
// gets the main's response, and /metrics, the admin API and the log count
// and tell exactly what differed.
func TestMirrorCompareCountsDifferences(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 16<<10) // 256KiB, streamed in pieces
	answer := func(shadow bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			p := r.URL.Path
			w.Header().Set("Content-Type", "application/json")
			if shadow && p == "/type" {
				w.Header().Set("Content-Type", "text/plain")
			}
			if p == "/big" {
				for i := 0; i < len(big); i += 32 << 10 {
					io.WriteString(w, big[i:i+32<<10])
					w.(http.Flusher).Flush()
				}
				return
			}
			status, v := 200, 1
			if shadow && p == "/status" {
				status = 500
			}
			if shadow && p == "/body" {
				v = 2
			}
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"path":%q,"v":%d}`, p, v)
		}
	}
	mainBE, shadowBE := backendFunc(t, answer(false)), backendFunc(t, answer(true))
	u := startUsher(t, config(`
admin: { address: "127.0.0.1:0", dashboard: true }
log: { level: info, format: json }
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    shop: { rule: "PathPrefix(`+"`/`"+`)", service: shop-shadowed }
  services:
    shop-shadowed:
      mirror:
        service: shop
        mirrors: [ { name: shop-next, percent: 100 } ]
        compare: { status: true, body: true, headers: [Content-Type], maxBodySize: 1MiB }
    shop:      { loadBalancer: { servers: [ { url: "{{main}}" } ] } }
    shop-next: { loadBalancer: { servers: [ { url: "{{shadow}}" } ] } }
`, "main", mainBE.URL, "shadow", shadowBE.URL))

	const each = 10
	paths := []string{"/same", "/status", "/body", "/type", "/big"}
	start := time.Now()
	for range each {
		for _, p := range paths {
			resp, err := http.Get(u.url("web") + p)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := fmt.Sprintf(`{"path":%q,"v":1}`, p)
			if p == "/big" {
				want = big
			}
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || string(body) != want {
				t.Fatalf("GET %s: %d %s %.80q: not the main's response", p, resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
		}
	}
	series := func(field, header, result string) string {
		return fmt.Sprintf(`usher_mirror_compare_total{field=%q,header=%q,mirror="shop-next",result=%q,service="shop-shadowed"}`, field, header, result)
	}
	want := map[string]int{
		series("status", "", "match"):               4 * each,
		series("status", "", "differ"):              each,
		series("body", "", "match"):                 4 * each,
		series("body", "", "differ"):                each,
		series("header", "Content-Type", "match"):   4 * each,
		series("header", "Content-Type", "differ"):  each,
		series("status", "", "skipped"):             0,
		series("body", "", "skipped"):               0,
		series("header", "Content-Type", "skipped"): 0,
	}
	// The comparisons end with the slower side: poll until they are all in.
	var metrics string
	deadline := time.Now().Add(10 * time.Second)
	for {
		metrics = metricsOf(t, u)
		ok := true
		for s, n := range want {
			if !strings.Contains(metrics, fmt.Sprintf("%s %d\n", s, n)) {
				ok = false
			}
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			var lines []string
			for _, l := range strings.Split(metrics, "\n") {
				if strings.HasPrefix(l, "usher_mirror_compare_total{") {
					lines = append(lines, l)
				}
			}
			t.Fatalf("the counts are not those of the differences:\n%s", strings.Join(lines, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(start)

	// The admin API shows the same counts with the service.
	_, body := get(t, "http://"+u.addrs["admin"]+"/api/http/services")
	var services []struct {
		Name    string `json:"name"`
		Compare []struct {
			Mirror  string                    `json:"mirror"`
			Status  map[string]int            `json:"status"`
			Body    map[string]int            `json:"body"`
			Headers map[string]map[string]int `json:"headers"`
		} `json:"compare"`
	}
	if err := json.Unmarshal([]byte(body), &services); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range services {
		if s.Name != "shop-shadowed" {
			continue
		}
		found = true
		if len(s.Compare) != 1 || s.Compare[0].Mirror != "shop-next" ||
			s.Compare[0].Status["match"] != 4*each || s.Compare[0].Status["differ"] != each ||
			s.Compare[0].Body["differ"] != each || s.Compare[0].Headers["Content-Type"]["differ"] != each {
			t.Fatalf("admin API: %+v", s.Compare)
		}
	}
	if !found {
		t.Fatalf("no shop-shadowed in %s", body)
	}

	// Differences are logged, a line a second at most, never a body.
	log := u.logText()
	lines := strings.Count(log, `"msg":"mirror: response differs"`)
	if lines < 1 || lines > int(elapsed/time.Second)+2 {
		t.Fatalf("%d difference lines in %s", lines, elapsed)
	}
	for _, never := range []string{`\"v\":2`, `"v":2`, "text/plain", "0123456789abcdef"} {
		if strings.Contains(log, never) {
			t.Fatalf("the log shows %s:\n%s", never, log)
		}
	}
	if !strings.Contains(log, `"mirror":"shop-next"`) || !strings.Contains(log, `"method":"GET"`) {
		t.Fatalf("a difference line without its mirror or method:\n%s", log)
	}

	// The dashboard shows them with the service, a chip per field.
	ctx := openDashboard(t, u.addrs["admin"], 30*time.Second)
	chip := func(field string) string {
		return fmt.Sprintf(`(document.querySelector('[data-service="shop-shadowed"] .mirror-compare [data-mirror="shop-next"][data-field="%s"]') || {}).textContent`, field)
	}
	var conds []string
	for _, f := range []string{"status", "body", "Content-Type"} {
		conds = append(conds, fmt.Sprintf(`%s === 'shop-next %s: %d of %d differ'`, chip(f), f, each, 5*each))
	}
	wantChips := strings.Join(conds, " && ")
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](wantChips)); err != nil {
		got, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-service="shop-shadowed"]`)))
		t.Fatalf("the dashboard never showed the comparisons: %v\n%s", err, got)
	}
}
