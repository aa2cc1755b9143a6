package test

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// freeFailures is how many failures in a row a client has before it waits
// (the middleware's backoff.Free).
const freeFailures = 5

// whoBackend answers with the user usher named in X-User and whether the
// Authorization reached it.
func whoBackend(t *testing.T) string {
	return backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s auth=%v", r.Header.Get("X-User"), r.Header.Get("Authorization") != "")
	}).URL
}

// hashPassword runs the real `usher hash-password`, the password on its
// standard input.
func hashPassword(t *testing.T, pw string, flags ...string) string {
	t.Helper()
	cmd := exec.Command(usherBin, append([]string{"hash-password"}, flags...)...)
	cmd.Stdin = strings.NewReader(pw + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("usher hash-password: %v", err)
	}
	return strings.TrimSpace(string(out))
}

const basicAuthTpl = `
accessLog: { path: "{{log}}", format: json }
admin: { address: "127.0.0.1:0" }
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    app: { rule: "PathPrefix(` + "`/`" + `)", middlewares: [basic], service: app }
  middlewares:
    basic:
      basicAuth:
        realm: shop
        users: ["alice:{{alice}}", "carol:{{carol}}"]
        usersFile: "{{file}}"
        headerField: X-User
        removeHeader: true
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`

func TestBasicAuthThroughUsher(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "users.htpasswd")
	// bob comes from another server's htpasswd -m: apr1, taken with a warning.
	if err := os.WriteFile(file, []byte("# moved from apache\nbob:$apr1$r31.....$ARC3pREO82RIm0aQ2zszC0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	alice := hashPassword(t, "correct horse")
	carol := hashPassword(t, "battery staple", "--bcrypt", "--cost", "4")
	if !strings.HasPrefix(alice, "$argon2id$") || !strings.HasPrefix(carol, "$2y$04$") {
		t.Fatalf("hash-password printed %q and %q", alice, carol)
	}
	logPath := filepath.Join(dir, "access.log")
	cfg := config(basicAuthTpl, "alice", alice, "carol", carol, "file", file, "be", whoBackend(t), "log", logPath)
	u := startUsher(t, cfg)
	web := u.url("web")

	t.Run("no credentials: a challenge", func(t *testing.T) {
		resp, _ := send(t, "GET", web+"/orders", nil)
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Basic realm="shop", charset="UTF-8"` {
			t.Fatalf("status %d challenge %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	})
	t.Run("each user with their password, the user sent on, the Authorization not", func(t *testing.T) {
		for user, pw := range map[string]string{"alice": "correct horse", "carol": "battery staple", "bob": "password"} {
			req, _ := http.NewRequest("GET", web+"/orders", nil)
			req.SetBasicAuth(user, pw)
			req.Header.Set("X-User", "admin")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp)
			if resp.StatusCode != 200 || body != "hello "+user+" auth=false" {
				t.Errorf("%s: status %d body %q", user, resp.StatusCode, body)
			}
		}
	})
	t.Run("curl -u", func(t *testing.T) {
		out, err := exec.Command("curl", "-sS", "-u", "alice:correct horse", web+"/x").CombinedOutput()
		if err != nil || string(out) != "hello alice auth=false" {
			t.Fatalf("curl: %v %q", err, out)
		}
	})
	t.Run("wrong password, unknown user", func(t *testing.T) {
		for _, c := range [][2]string{{"alice", "correct horse!"}, {"mallory", "correct horse"}, {"bob", ""}} {
			req, _ := http.NewRequest("GET", web+"/orders", nil)
			req.SetBasicAuth(c[0], c[1])
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			readAll(t, resp)
			if resp.StatusCode != 401 {
				t.Errorf("%s: status %d, want 401", c[0], resp.StatusCode)
			}
		}
	})
	t.Run("a client that keeps failing waits", func(t *testing.T) {
		var last *http.Response
		for range freeFailures + 2 {
			req, _ := http.NewRequest("GET", web+"/orders", nil)
			req.SetBasicAuth("carol", "guess")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			readAll(t, resp)
			last = resp
		}
		if last.StatusCode != 429 || last.Header.Get("Retry-After") == "" {
			t.Fatalf("status %d Retry-After %q, want 429 with Retry-After", last.StatusCode, last.Header.Get("Retry-After"))
		}
		// alice's right password was checked before: it still comes in.
		req, _ := http.NewRequest("GET", web+"/orders", nil)
		req.SetBasicAuth("alice", "correct horse")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if readAll(t, resp); resp.StatusCode != 200 {
			t.Errorf("a known good login during the wait: %d", resp.StatusCode)
		}
	})
	t.Run("the users file is read again on reload", func(t *testing.T) {
		bob := hashPassword(t, "new password", "--bcrypt", "--cost", "4")
		os.WriteFile(file, []byte("bob:"+bob+"\n"), 0o600)
		if l := u.rewrite(cfg); l.msg() != "configuration applied" {
			t.Fatalf("reload: %v", l)
		}
		for pw, want := range map[string]int{"password": 401, "new password": 200} {
			req, _ := http.NewRequest("GET", web+"/orders", nil)
			req.SetBasicAuth("bob", pw)
			// Another address than the one waiting above: 127.0.0.2.
			resp, err := clientFrom(t, "127.0.0.2").Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if readAll(t, resp); resp.StatusCode != want {
				t.Errorf("bob with %q after the change: %d, want %d", pw, resp.StatusCode, want)
			}
		}
		os.WriteFile(file, []byte("bob:plain\n"), 0o600)
		if l := u.rewrite(cfg); !strings.Contains(l.msg()+fmt.Sprint(l), file+":1:") {
			t.Errorf("a bad users file: %v, want refused naming %s:1", l, file)
		}
	})
	t.Run("decisions counted, the user logged, no password anywhere", func(t *testing.T) {
		_, metrics := get(t, "http://"+u.addrs["admin"]+"/metrics")
		if !strings.Contains(metrics, `usher_middleware_decisions_total{kind="basicAuth",middleware="basic",result="allow"}`) ||
			!strings.Contains(metrics, `usher_middleware_decisions_total{kind="basicAuth",middleware="basic",result="deny"}`) {
			t.Errorf("metrics lack basicAuth's decisions")
		}
		var lines []map[string]any
		waitFor(t, 5*time.Second, func() bool {
			lines = readJSONLines(t, logPath)
			return len(lines) > 2
		})
		if lines[1]["user"] != "alice" && lines[1]["user"] != "carol" && lines[1]["user"] != "bob" {
			t.Errorf("access log line of a login: user %v", lines[1]["user"])
		}
		all := u.logText() + fmt.Sprint(lines)
		for _, secret := range []string{"correct horse", "battery", "new password", alice[30:], "ARC3pREO"} {
			if strings.Contains(all, secret) {
				t.Errorf("a log shows %q", secret)
			}
		}
		if !strings.Contains(u.logText(), "taken for migration only") {
			t.Error("no warning for bob's apr1 hash")
		}
		_, shown := get(t, "http://"+u.addrs["admin"]+"/api/http/middlewares")
		if strings.Contains(shown, "$argon2id$") || strings.Contains(shown, "$2y$") || strings.Count(shown, `"********"`) != 2 {
			t.Errorf("the admin API shows the hashes, or not the users redacted:\n%s", shown)
		}
	})
}

const digestAuthTpl = `
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    app: { rule: "PathPrefix(` + "`/`" + `)", middlewares: [digest], service: app }
    old: { rule: "PathPrefix(` + "`/old`" + `)", middlewares: [digest-md5], service: app }
  middlewares:
    digest:
      digestAuth:
        realm: shop
        users: ["alice:shop:{{aliceMD5}}", "alice:shop:{{aliceSHA}}"]
        headerField: X-User
    digest-md5: { digestAuth: { usersFile: "{{file}}", headerField: X-User, removeHeader: true } }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`

// TestDigestAuthWithCurl: curl --digest, a real client, through usher: with
// SHA-256 (curl takes the first challenge, usher's SHA-256), and MD5 from
// an htdigest file.
func TestDigestAuthWithCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is needed (scripts/test.sh installs it)")
	}
	m := md5.Sum([]byte("alice:shop:wonder land"))
	s := sha256.Sum256([]byte("alice:shop:wonder land"))
	old := md5.Sum([]byte("bob:usher:p@ss:word"))
	dir := t.TempDir()
	file := filepath.Join(dir, "users.htdigest")
	os.WriteFile(file, []byte("bob:usher:"+hex.EncodeToString(old[:])+"\nbob:elsewhere:"+hex.EncodeToString(old[:])+"\n"), 0o600)
	u := startUsher(t, config(digestAuthTpl, "aliceMD5", hex.EncodeToString(m[:]), "aliceSHA", hex.EncodeToString(s[:]), "file", file, "be", whoBackend(t)))
	web := u.url("web")
	curl := func(args ...string) (string, string) {
		t.Helper()
		out, err := exec.Command("curl", append([]string{"-sS", "-o", "-", "-w", "\n%{http_code}", "--digest"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %q: %v %s", args, err, out)
		}
		i := strings.LastIndexByte(string(out), '\n')
		return strings.TrimSpace(string(out[:i])), string(out[i+1:])
	}
	for _, tc := range []struct {
		name, user, url, body, code string
	}{
		{"SHA-256", "alice:wonder land", web + "/orders?id=7&x=%2F", "hello alice auth=true", "200"},
		{"wrong password", "alice:wonderland", web + "/orders", "401 Unauthorized", "401"},
		{"unknown user", "eve:wonder land", web + "/orders", "401 Unauthorized", "401"},
		{"MD5 from an htdigest file, colons in the password", "bob:p@ss:word", web + "/old/page", "hello bob auth=false", "200"},
		{"a user of the other middleware", "alice:wonder land", web + "/old/page", "401 Unauthorized", "401"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, code := curl("-u", tc.user, tc.url)
			if code != tc.code || body != tc.body {
				t.Errorf("status %s body %q, want %s %q", code, body, tc.code, tc.body)
			}
		})
	}
	t.Run("many requests on one connection", func(t *testing.T) {
		// curl keeps the nonce across the URLs of one run: nonce counts 1, 2, 3.
		out, err := exec.Command("curl", "-sS", "--digest", "-u", "alice:wonder land", web+"/a", web+"/b", web+"/c").CombinedOutput()
		if err != nil || string(out) != strings.Repeat("hello alice auth=true", 3) {
			t.Errorf("curl: %v %q", err, out)
		}
	})
	if strings.Contains(u.logText(), "wonder land") || strings.Contains(u.logText(), hex.EncodeToString(s[:])) {
		t.Error("a log shows a password or an HA1")
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// clientFrom is an HTTP client whose connections come from the local
// address ip (any of 127.0.0.0/8 on Linux): another client to usher.
func clientFrom(t *testing.T, ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}
