package reqkey

import (
	"net/http/httptest"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	if Claims(r) != nil || APIKeyID(r) != "" {
		t.Fatal("a fresh request carries values")
	}
	r = WithClaims(r, map[string]any{"sub": "alice"})
	r = WithAPIKeyID(r, "mobile")
	if Claims(r)["sub"] != "alice" || APIKeyID(r) != "mobile" {
		t.Fatalf("got %v %q", Claims(r), APIKeyID(r))
	}
}
