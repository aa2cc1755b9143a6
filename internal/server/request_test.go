package server

import (
	"net/http"
	"reflect"
	"testing"
)

func TestDropConnectionFields(t *testing.T) {
	tests := []struct {
		name string
		in   http.Header
		want http.Header
	}{
		{"none", http.Header{"A": {"1"}}, http.Header{"A": {"1"}}},
		{"keep-alive", http.Header{"Connection": {"keep-alive"}, "Keep-Alive": {"timeout=5"}, "A": {"1"}}, http.Header{"A": {"1"}}},
		{"named fields go, case and spaces aside", http.Header{"Connection": {"close, x-forwarded-for ,X-REAL-IP", "X-Guard"}, "X-Forwarded-For": {"1.2.3.4"}, "X-Real-Ip": {"1.2.3.4"}, "X-Guard": {"x"}, "A": {"1"}}, http.Header{"A": {"1"}}},
		{"empty and invalid tokens", http.Header{"Connection": {",, ,a b,\"x\""}, "A": {"1"}}, http.Header{"A": {"1"}}},
		{"upgrade keeps its pair", http.Header{"Connection": {"keep-alive, Upgrade, X-Forwarded-For"}, "Upgrade": {"websocket"}, "X-Forwarded-For": {"1.2.3.4"}}, http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}},
		{"upgrade token without Upgrade", http.Header{"Connection": {"upgrade"}, "A": {"1"}}, http.Header{"A": {"1"}}},
		{"Upgrade not in Connection", http.Header{"Connection": {"close"}, "Upgrade": {"h2c"}}, http.Header{"Upgrade": {"h2c"}}},
		{"empty Upgrade is no upgrade", http.Header{"Connection": {"upgrade"}, "Upgrade": {""}}, http.Header{}},
	}
	for _, tc := range tests {
		dropConnectionFields(tc.in)
		if !reflect.DeepEqual(tc.in, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.in, tc.want)
		}
	}
}

func TestDropConnectionFieldsDoesNotAllocate(t *testing.T) {
	h := http.Header{"Accept": {"*/*"}}
	conn := []string{"keep-alive"}
	if n := testing.AllocsPerRun(100, func() {
		h["Connection"] = conn
		dropConnectionFields(h)
		dropConnectionFields(h)
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}
