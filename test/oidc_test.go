package test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// oidcOPVersion is the version of zitadel's example OpenID provider the
// tests run; scripts/test.sh installs it (GOBIN=$GOPATH/lib/zitadel-oidc-<v>).
const oidcOPVersion = "v3.52.0"

// oidcOPBinary finds the example provider, or skips (fails in CI).
func oidcOPBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("USHER_OIDC_OP"); p != "" {
		return p
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "lib", "zitadel-oidc-"+oidcOPVersion, "server")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := "no OpenID provider: GOBIN=$(go env GOPATH)/lib/zitadel-oidc-" + oidcOPVersion + " go install github.com/zitadel/oidc/v3/example/server@" + oidcOPVersion
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// freePortText is a port nobody listens on now (the provider needs to know
// usher's callback before usher runs, and usher the provider's issuer).
func freePortText(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// startOIDCOP runs the example provider on port with its users file and
// the redirect URIs it accepts; it returns once the provider answers its
// discovery document, and the test stops it by its PID.
func startOIDCOP(t *testing.T, port string, redirects []string, users string) {
	t.Helper()
	bin := oidcOPBinary(t)
	usersFile := filepath.Join(t.TempDir(), "users.json")
	if err := os.WriteFile(usersFile, []byte(users), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "PORT="+port, "USERS_FILE="+usersFile, "REDIRECT_URI="+strings.Join(redirects, ","))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan struct{})
	var logMu = make(chan []string, 1)
	logMu <- nil
	go func() {
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			l := <-logMu
			logMu <- append(l, sc.Text())
			if !once && strings.Contains(sc.Text(), "server listening") {
				once = true
				close(listening)
			}
		}
	}()
	t.Cleanup(func() {
		syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	select {
	case <-listening:
	case <-time.After(20 * time.Second):
		t.Fatalf("the OpenID provider did not start; log:\n%s", strings.Join(<-logMu, "\n"))
	}
	// It logs before it listens: its discovery document says when it does.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://localhost:" + port + "/.well-known/openid-configuration")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the OpenID provider does not answer: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const oidcTpl = `
accessLog: { path: "{{log}}", format: json }
admin: { address: "127.0.0.1:0" }
entrypoints:
  web: { address: "127.0.0.1:{{port}}" }
http:
  routers:
    app:    { rule: "PathPrefix(` + "`/`" + `)", middlewares: [sso], service: app }
    staff:  { rule: "PathPrefix(` + "`/staff`" + `)", middlewares: [staff], service: app }
  middlewares:
    sso:
      oidc:
        issuer: "http://localhost:{{op}}/"
        clientID: web
        clientSecretFile: "{{secret}}"
        redirectURL: /oauth2/callback
        scopes: [openid, email]
        domains: [example.com]
    staff:
      oidc:
        issuer: "http://localhost:{{op}}/"
        clientID: web
        clientSecretFile: "{{secret}}"
        redirectURL: /staff/oauth2/callback
        logoutPath: /staff/logout
        scopes: [openid, email, custom_scope]
        cookieName: _staff
        groups: [web]
        groupsClaim: custom_claim.client
        userHeader: X-User
        groupsHeader: X-Groups
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`

// zitadel's example provider's users file (its storage.User fields).
const oidcUsers = `{
 "a1": {"ID": "a1", "Username": "alice", "Password": "alice-pw-1", "Email": "alice@example.com", "EmailVerified": true},
 "b1": {"ID": "b1", "Username": "bob", "Password": "bob-pw-2", "Email": "bob@other.org", "EmailVerified": true}
}`

var loginIDRe = regexp.MustCompile(`name="id" value="([^"]+)"`)

type oidcBrowser struct {
	t    *testing.T
	c    *http.Client
	hops []string
}

func newOIDCBrowser(t *testing.T) *oidcBrowser {
	jar, _ := cookiejar.New(nil)
	b := &oidcBrowser{t: t}
	b.c = &http.Client{Jar: jar, Timeout: 15 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		b.hops = append(b.hops, req.URL.String())
		if len(via) > 10 {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return b
}

func (b *oidcBrowser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	b.hops = nil
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

func (b *oidcBrowser) get(u string, hdr ...string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return b.do(req)
}

// login asks usher for u, follows it to the provider's login form, fills
// it in as a person would, and returns what the browser ends on.
func (b *oidcBrowser) login(u, user, password string) (*http.Response, string) {
	b.t.Helper()
	resp, body := b.get(u)
	if resp.Request.URL.Path != "/login/username" {
		b.t.Fatalf("GET %s ended at %s (%d), not the provider's login form: %q", u, resp.Request.URL, resp.StatusCode, body)
	}
	m := loginIDRe.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("no auth request id in the login form: %q", body)
	}
	form := url.Values{"id": {m[1]}, "username": {user}, "password": {password}}
	action := resp.Request.URL.ResolveReference(&url.URL{Path: "/login/username"})
	req, _ := http.NewRequest("POST", action.String(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// TestOIDCWithARealProvider: usher logs browsers in at zitadel's example
// OpenID provider, run by the test: discovery, the code flow with PKCE, the
// ID token verified on the provider's JWK Set, userinfo for the email and
// groups, restrictions by domain and by group, 401 for API clients, and
// logout at the provider's end-session endpoint.
func TestOIDCWithARealProvider(t *testing.T) {
	opPort, usherPort := freePortText(t), freePortText(t)
	base := "http://127.0.0.1:" + usherPort
	startOIDCOP(t, opPort, []string{base + "/oauth2/callback", base + "/staff/oauth2/callback"}, oidcUsers)

	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{
			"path": r.URL.RequestURI(), "user": r.Header.Get("X-Forwarded-User"), "email": r.Header.Get("X-Forwarded-Email"),
			"groups": r.Header.Get("X-Forwarded-Groups"), "xuser": r.Header.Get("X-User"), "xgroups": r.Header.Get("X-Groups"),
			"cookie": r.Header.Get("Cookie"),
		})
	})
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("secret\n"), 0o600)
	accessLog := filepath.Join(dir, "access.log")
	u := startUsher(t, config(oidcTpl, "log", accessLog, "port", usherPort, "op", opPort, "secret", secret, "be", be.URL))

	// An API client never sees the login page.
	for _, hdr := range [][]string{{"Accept", "application/json"}, {"Authorization", "Bearer nope"}} {
		resp, _ := newOIDCBrowser(t).get(base+"/api/items", hdr...)
		if resp.StatusCode != 401 || resp.Request.URL.Host != "127.0.0.1:"+usherPort {
			t.Fatalf("API client %v: %d at %s", hdr, resp.StatusCode, resp.Request.URL)
		}
	}

	// alice (example.com) logs in and lands on the page she asked for.
	alice := newOIDCBrowser(t)
	resp, body := alice.login(base+"/orders?page=2", "alice", "alice-pw-1")
	var got map[string]string
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &got) != nil {
		t.Fatalf("after the login: %d %q (hops %q)", resp.StatusCode, body, alice.hops)
	}
	if got["path"] != "/orders?page=2" || got["user"] != "alice@example.com" || got["email"] != "alice@example.com" {
		t.Fatalf("the server got %v", got)
	}
	if strings.Contains(got["cookie"], "_usher_oidc") {
		t.Fatalf("usher's session cookie reached the server: %q", got["cookie"])
	}
	// Her session goes on, without the provider; a forged user header is
	// replaced.
	_, body = alice.get(base+"/again", "X-Forwarded-User", "root@example.com")
	if json.Unmarshal([]byte(body), &got); got["user"] != "alice@example.com" || len(alice.hops) != 0 {
		t.Fatalf("second request: %v, hops %q", got, alice.hops)
	}

	// bob (other.org) is refused by domains, and gets no session.
	bob := newOIDCBrowser(t)
	if resp, body := bob.login(base+"/", "bob", "bob-pw-2"); resp.StatusCode != 403 {
		t.Fatalf("bob: %d %q", resp.StatusCode, body)
	}
	// A wrong password stays at the provider.
	if resp, body := newOIDCBrowser(t).login(base+"/", "alice", "wrong"); resp.StatusCode != 200 || resp.Request.URL.Host == "127.0.0.1:"+usherPort || !strings.Contains(body, "password") {
		t.Fatalf("wrong password: %d at %s", resp.StatusCode, resp.Request.URL)
	}

	// The staff router: groups from userinfo's custom_claim.client, which
	// the provider sets to the client id for custom_scope.
	resp, body = bob.login(base+"/staff/board", "bob", "bob-pw-2")
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &got) != nil || got["xuser"] != "bob@other.org" || got["xgroups"] != "web" || got["path"] != "/staff/board" {
		t.Fatalf("staff login: %d %q", resp.StatusCode, body)
	}

	// Logout: the session ends at usher, then at the provider.
	resp, body = alice.get(base + "/oauth2/logout")
	if resp.StatusCode != 200 || !strings.Contains(body, "signed out") || !strings.Contains(strings.Join(alice.hops, " "), "/end_session") {
		t.Fatalf("logout: %d %q hops %q", resp.StatusCode, body, alice.hops)
	}
	if resp, _ := alice.get(base + "/orders"); resp.Request.URL.Path != "/login/username" {
		t.Fatalf("after logout: ended at %s, not the provider's login", resp.Request.URL)
	}

	// Decisions are counted; no secret, token or cookie is logged.
	_, metrics := get(t, "http://"+u.addrs["admin"]+"/metrics")
	for _, want := range []string{`kind="oidc",middleware="sso",result="allow"`, `kind="oidc",middleware="sso",result="deny"`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	u.stop()
	logs := u.logText()
	al, _ := os.ReadFile(accessLog)
	if !strings.Contains(string(al), `"alice@example.com"`) {
		t.Errorf("the access log does not name the user: %s", al)
	}
	for _, secretish := range []string{"secret\"", "alice-pw-1", "code=", "id_token_hint", "eyJ"} {
		if strings.Contains(logs, secretish) || strings.Contains(string(al), secretish) {
			t.Errorf("a log shows %q", secretish)
		}
	}
}
