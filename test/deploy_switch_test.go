package test

import (
	"io"
	"math"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSwitchBlueGreenDrainsAndGoesBack: usher switch moves every new
// request to green at once; a request in flight on blue finishes there, the
// drain is reported when it has, and --back returns to blue at once.
func TestSwitchBlueGreenDrainsAndGoesBack(t *testing.T) {
	release, entered := make(chan struct{}), make(chan struct{}, 1)
	blue := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			<-release
		}
		io.WriteString(w, "blue")
	})
	green := backend(t, "green")
	u := startUsher(t, config(`
admin: { address: "127.0.0.1:0" }
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    shop: { rule: "PathPrefix(`+"`/`"+`)", service: shop }
  services:
    shop:
      weighted:
        services: [ { name: blue, weight: 1 }, { name: green, weight: 0 } ]
    blue:  { loadBalancer: { servers: [ { url: "{{blue}}" } ] } }
    green: { loadBalancer: { servers: [ { url: "{{green}}" } ] } }
`, "blue", blue.URL, "green", green.URL))
	web, admin := u.url("web"), u.addrs["admin"]
	slow := make(chan string, 1)
	go func() {
		resp, err := http.Get(web + "/slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow <- string(b)
	}()
	<-entered
	out := runCLI(t, "switch", "shop", "green", "--admin", admin)
	if !strings.Contains(out, "weights set by switch") || !regexpMatch(`blue +0\.0% +1 +draining`, out) || !regexpMatch(`green +100\.0% +0 +serving`, out) {
		t.Fatalf("usher switch:\n%s", out)
	}
	for i := range 50 {
		if code, body := get(t, web+"/"); code != 200 || body != "green" {
			t.Fatalf("request %d after the switch: %d %s", i, code, body)
		}
	}
	if v := deployStatus(t, u, "shop"); v.Services[0].State != "draining" {
		t.Fatalf("blue drained with a request in flight: %+v", v.Services)
	}
	close(release)
	if got := <-slow; got != "blue" {
		t.Fatalf("the request in flight on blue got %q", got)
	}
	u.waitMsg("switch: old side drained", 10*time.Second)
	if v := deployStatus(t, u, "shop"); v.Services[0].State != "idle" || v.actions() != "switch drained" {
		t.Fatalf("after the drain: %+v %s", v.Services, v.actions())
	}
	out = runCLI(t, "switch", "shop", "--back", "--admin", admin)
	if !regexpMatch(`blue +100\.0%`, out) {
		t.Fatalf("usher switch --back:\n%s", out)
	}
	for i := range 50 {
		if code, body := get(t, web+"/"); code != 200 || body != "blue" {
			t.Fatalf("request %d after going back: %d %s", i, code, body)
		}
	}
	// Errors are the admin API's, said plainly.
	cmdOut, err := runCLIErr("switch", "shop", "purple", "--admin", admin)
	if err == nil || !strings.Contains(cmdOut, "weighted service shop has no service purple") {
		t.Fatalf("switch to nothing: %v\n%s", err, cmdOut)
	}
}

// TestBucketsStickyAcrossRequestsAndReloads: with bucketBy, 100 users
// sending 1000 requests each stay on one variant, which the server sees in
// X-Usher-Variant (a client's own value is replaced); a reload keeps every
// user where they were, and moving weight 50/50 to 80/20 moves only users
// of the shrinking variant, about the share it must.
func TestBucketsStickyAcrossRequestsAndReloads(t *testing.T) {
	arm := func(name string) string {
		return backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, name+" "+r.Header.Get("X-Usher-Variant"))
		}).URL
	}
	tpl := `
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    shop: { rule: "PathPrefix(` + "`/`" + `)", service: shop }
{{extra}}
  services:
    shop:
      weighted:
        services: [ { name: a, weight: {{wa}} }, { name: b, weight: {{wb}} } ]
        bucketBy: cookie:uid
    a: { loadBalancer: { servers: [ { url: "{{a}}" } ] } }
    b: { loadBalancer: { servers: [ { url: "{{b}}" } ] } }
`
	a, b := arm("a"), arm("b")
	vars := []string{"a", a, "b", b, "extra", "", "wa", "50", "wb", "50"}
	u := startUsher(t, config(tpl, vars...))
	client := &http.Client{}
	variants := func() map[int]string {
		out := map[int]string{}
		for i := range 1000 {
			user := i % 100
			req, _ := http.NewRequest("GET", u.url("web")+"/", nil)
			req.Header.Set("Cookie", "theme=dark; uid=user-"+strconv.Itoa(user))
			req.Header.Set("X-Usher-Variant", "spoofed")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got := strings.Fields(string(body))
			if resp.StatusCode != 200 || len(got) != 2 || got[0] != got[1] {
				t.Fatalf("user %d: %d %q (the server must see its own variant)", user, resp.StatusCode, body)
			}
			if prev, ok := out[user]; ok && prev != got[0] {
				t.Fatalf("user %d moved from %s to %s between requests", user, prev, got[0])
			}
			out[user] = got[0]
		}
		return out
	}
	count := func(m map[int]string, v string) int {
		n := 0
		for _, x := range m {
			if x == v {
				n++
			}
		}
		return n
	}
	first := variants()
	if na := count(first, "a"); na < 30 || na > 70 {
		t.Fatalf("50/50 split %d users to a of 100", na)
	}
	extra := `    other: { rule: "PathPrefix(` + "`/other`" + `)", service: a }`
	if l := u.rewrite(config(tpl, append(vars[:4:4], "extra", extra, "wa", "50", "wb", "50")...)); l.msg() != "configuration applied" {
		t.Fatalf("reload: %v", l)
	}
	again := variants()
	for user, v := range first {
		if again[user] != v {
			t.Fatalf("user %d moved from %s to %s across a reload", user, v, again[user])
		}
	}
	if l := u.rewrite(config(tpl, append(vars[:4:4], "extra", extra, "wa", "80", "wb", "20")...)); l.msg() != "configuration applied" {
		t.Fatalf("reload: %v", l)
	}
	moved := variants()
	toA := 0
	for user, v := range first {
		switch {
		case v == "a" && moved[user] != "a":
			t.Fatalf("user %d left a, which grew", user)
		case v == "b" && moved[user] == "a":
			toA++
		}
	}
	// From 50/50 to 80/20, b keeps 20/50 of its users: 60% of them move.
	nb := count(first, "b")
	if want := 0.6 * float64(nb); math.Abs(float64(toA)-want) > 0.3*float64(nb)+3 {
		t.Fatalf("%d of b's %d users moved to a, want about %.0f", toA, nb, want)
	}
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }

// runCLIErr runs usher with args and returns its output and error.
func runCLIErr(args ...string) (string, error) {
	out, err := exec.Command(usherBin, args...).CombinedOutput()
	return string(out), err
}
