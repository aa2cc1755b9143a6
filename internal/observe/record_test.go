package observe

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAccessLogSaysWhatWentWrong: the error key appears on the line of a
// request where something went wrong, and only there.
func TestAccessLogSaysWhatWentWrong(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	for _, tc := range []struct {
		err, json, text string
	}{
		{"", "", ""},
		{ErrUpstreamTruncated, `,"retries":0,"error":"upstream: body cut short","userAgent"`, ` retries=0 error="upstream: body cut short" userAgent=`},
		{ErrClientBody, `,"error":"client: bad request body",`, ` error="client: bad request body" `},
	} {
		rec := &Record{Status: 200, Error: tc.err}
		j, txt := string(appendJSON(nil, r, rec)), string(appendText(nil, r, rec))
		if tc.err == "" {
			if strings.Contains(j, "error") || strings.Contains(txt, "error") {
				t.Errorf("an error key on a line without error:\n%s%s", j, txt)
			}
			continue
		}
		if !strings.Contains(j, tc.json) || !strings.Contains(txt, tc.text) {
			t.Errorf("error %q:\n%s%s", tc.err, j, txt)
		}
	}
}

// TestMetricsCountTruncatedBodies: a response whose server cut its body short
// is counted by service, without an allocation once its series is known.
func TestMetricsCountTruncatedBodies(t *testing.T) {
	m := NewMetrics()
	r := httptest.NewRequest("GET", "/", nil)
	cut := &Record{Entrypoint: "web", Router: "r", Service: "api", Status: 200, Error: ErrUpstreamTruncated}
	whole := &Record{Entrypoint: "web", Router: "r", Service: "api", Status: 200}
	m.Observe(r, cut)
	m.Observe(r, whole)
	if n := testing.AllocsPerRun(100, func() { m.Observe(r, cut) }); n != 0 {
		t.Errorf("%v allocations per truncated request, want 0", n)
	}
	rr := httptest.NewRecorder()
	m.Handler().ServeHTTP(rr, httptest.NewRequest("GET", "/metrics", nil))
	if want := `usher_upstream_truncated_total{service="api"} 102` + "\n"; !strings.Contains(rr.Body.String(), want) {
		t.Errorf("metrics lack %q", want)
	}
	gone := &Record{Entrypoint: "web", Router: "r", Service: "api", Status: 499, Error: ErrClientGone}
	m.Observe(r, gone)
	rr = httptest.NewRecorder()
	m.Handler().ServeHTTP(rr, httptest.NewRequest("GET", "/metrics", nil))
	if want := `usher_requests_total{code="499",entrypoint="web",router="r",service="api"} 1` + "\n"; !strings.Contains(rr.Body.String(), want) {
		t.Errorf("metrics lack %q", want)
	}
}

// TestAccessLogNamesTheIdentity: the user (or the API key's id) an auth
// middleware established is on the line, nothing else of the identity.
func TestAccessLogNamesTheIdentity(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	for _, tc := range []struct {
		id         *Identity
		json, text string
	}{
		{nil, "", ""},
		{&Identity{Middleware: "basic", User: "alice", Claims: map[string]any{"secret": "x"}}, `"user":"alice"`, ` user=alice `},
		{&Identity{Middleware: "keys", KeyID: "mobile"}, `"user":"mobile"`, ` user=mobile `},
	} {
		rec := &Record{Status: 200, Identity: tc.id}
		j, txt := string(appendJSON(nil, r, rec)), string(appendText(nil, r, rec))
		if tc.id == nil {
			if strings.Contains(j, `"user"`) || strings.Contains(txt, " user=") {
				t.Errorf("a user on a line without identity:\n%s%s", j, txt)
			}
			continue
		}
		if !strings.Contains(j, tc.json) || !strings.Contains(txt, tc.text) || strings.Contains(j+txt, "secret") {
			t.Errorf("identity %+v:\n%s%s", tc.id, j, txt)
		}
	}
}
