package test

import (
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestBucketMatcherSplitsUsers: a router with Bucket(`cookie:uid`, 0, 20)
// takes a stable fifth of 1000 users to b, the rest (and users without the
// cookie) go to a; each server sees its variant from a headers middleware,
// whatever the client claimed; widening the range to [0, 30) moves only
// users from a to b, about a tenth of them.
func TestBucketMatcherSplitsUsers(t *testing.T) {
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
    shop-b: { rule: "PathPrefix(` + "`/`" + `) && Bucket(` + "`cookie:uid`" + `, 0, {{hi}})", service: b, middlewares: [variant-b] }
    shop:   { rule: "PathPrefix(` + "`/`" + `)", service: a, middlewares: [variant-a] }
  middlewares:
    variant-a: { headers: { customRequestHeaders: { X-Usher-Variant: a } } }
    variant-b: { headers: { customRequestHeaders: { X-Usher-Variant: b } } }
  services:
    a: { loadBalancer: { servers: [ { url: "{{a}}" } ] } }
    b: { loadBalancer: { servers: [ { url: "{{b}}" } ] } }
`
	a, b := arm("a"), arm("b")
	u := startUsher(t, config(tpl, "a", a, "b", b, "hi", "20"))
	client := &http.Client{}
	send := func(cookie string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", u.url("web")+"/", nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		req.Header.Set("X-Usher-Variant", "spoofed")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got := strings.Fields(string(body))
		if resp.StatusCode != 200 || len(got) != 2 || got[0] != got[1] {
			t.Fatalf("cookie %q: %d %q (the server must see its own variant)", cookie, resp.StatusCode, body)
		}
		return got[0]
	}
	const users = 1000
	variants := func() []string {
		out := make([]string, users)
		for i := range users {
			out[i] = send("theme=dark; uid=user-" + strconv.Itoa(i))
		}
		// The same user, again, in another order: always the same side.
		for i := users - 1; i >= 0; i -= 7 {
			if got := send("uid=user-" + strconv.Itoa(i)); got != out[i] {
				t.Fatalf("user %d went to %s, then to %s", i, out[i], got)
			}
		}
		return out
	}
	count := func(vs []string, v string) int {
		n := 0
		for _, x := range vs {
			if x == v {
				n++
			}
		}
		return n
	}
	first := variants()
	// 1000 users at 20%: the standard deviation is 12.6 users.
	if nb := count(first, "b"); math.Abs(float64(nb)-200) > 50 {
		t.Fatalf("[0, 20) took %d of %d users to b", nb, users)
	}
	for range 20 {
		if got := send(""); got != "a" {
			t.Fatalf("a user without the cookie went to %s", got)
		}
		if got := send("uid="); got != "a" {
			t.Fatalf("a user with an empty cookie went to %s", got)
		}
	}
	if l := u.rewrite(config(tpl, "a", a, "b", b, "hi", "30")); l.msg() != "configuration applied" {
		t.Fatalf("reload: %v", l)
	}
	wider := variants()
	moved := 0
	for i := range users {
		switch {
		case first[i] == "b" && wider[i] != "b":
			t.Fatalf("user %d left b when its range grew", i)
		case first[i] == "a" && wider[i] == "b":
			moved++
		}
	}
	if math.Abs(float64(moved)-100) > 40 {
		t.Fatalf("widening [0, 20) to [0, 30) moved %d users, want about 100", moved)
	}
	if nb := count(wider, "b"); math.Abs(float64(nb)-300) > 60 {
		t.Fatalf("[0, 30) took %d of %d users to b", nb, users)
	}
	// A mistake in the matcher is refused with its column; the old rule serves.
	bad := strings.Replace(config(tpl, "a", a, "b", b, "hi", "30"), "`cookie:uid`", "`claim:sub`", 1)
	l := u.rewrite(bad)
	if !strings.HasPrefix(l.msg(), "configuration refused") || !strings.Contains(u.logText(), "Bucket: a claim is known only once an auth middleware ran") {
		t.Fatalf("a Bucket on a claim: %v\n%s", l, u.logText())
	}
	if got := send("uid=user-" + strconv.Itoa(indexOf(wider, "b"))); got != "b" {
		t.Fatalf("after a refused reload: %s", got)
	}
}

func indexOf(vs []string, v string) int {
	for i, x := range vs {
		if x == v {
			return i
		}
	}
	return -1
}
