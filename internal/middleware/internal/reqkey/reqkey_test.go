package reqkey

import (
	"bytes"
	"net/http/httptest"
	"testing"

	"github.com/usher-lb/usher/internal/observe"
)

// TestIdentityKeys: apiKey and claim:NAME read what an auth middleware
// recorded with SetIdentity, on the Record or, without one, in the context;
// without it, the client IP.
func TestIdentityKeys(t *testing.T) {
	apiKey, _ := Parse("apiKey", 0)
	role, _ := Parse("claim:org", 0)
	ip, _ := Parse("clientIP", 0)

	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "192.0.2.1:5"
	w := httptest.NewRecorder()
	if !bytes.Equal(apiKey(nil, w, r), ip(nil, w, r)) || !bytes.Equal(role(nil, w, r), ip(nil, w, r)) {
		t.Fatal("without an identity, apiKey and claim keys are not the client IP")
	}

	rec := observe.NewRecorder(httptest.NewRecorder())
	defer rec.Release()
	r2 := SetIdentity(rec, r, &observe.Identity{KeyID: "mobile", Claims: map[string]any{"org": 42.0}})
	if rec.Rec.Identity == nil || rec.Rec.Identity.KeyID != "mobile" {
		t.Fatal("SetIdentity did not record the identity for the access log")
	}
	if got := string(apiKey(nil, rec, r2)); got != "kmobile" {
		t.Errorf("apiKey key %q", got)
	}
	if got := string(role(nil, w, r2)); got != "c42" { // no Record on w: from the context
		t.Errorf("claim key %q", got)
	}
}

func TestParseRefuses(t *testing.T) {
	for _, s := range []string{"header:", "claim:", "cookie:a", "clientip", "Host"} {
		if _, err := Parse(s, 0); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	if _, err := Parse("clientIP", 129); err == nil {
		t.Error("ipv6Subnet 129 accepted")
	}
}
