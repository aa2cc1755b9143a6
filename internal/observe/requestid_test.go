package observe

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestEnsureRequestID(t *testing.T) {
	long := strings.Repeat("a", 128)
	tests := []struct {
		name string
		sent []string // X-Request-Id values the client sent
		keep bool
	}{
		{"none", nil, false},
		{"sane", []string{"abc-123_XYZ.:/=+"}, true},
		{"uuid", []string{"0b7c2f0e-2d1f-4a59-9c5e-3a1e6f0d9b21"}, true},
		{"128 chars", []string{long}, true},
		{"129 chars", []string{long + "a"}, false},
		{"empty", []string{""}, false},
		{"space", []string{"a b"}, false},
		{"control", []string{"a\x01b"}, false},
		{"non-ASCII", []string{"é"}, false},
		{"two values", []string{"a", "b"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if tc.sent != nil {
				r.Header["X-Request-Id"] = tc.sent
			}
			rw := NewRecorder(httptest.NewRecorder())
			defer rw.Release()
			id := EnsureRequestID(rw, r)
			if tc.keep && id != tc.sent[0] {
				t.Errorf("id %q, want the client's %q", id, tc.sent[0])
			}
			if !tc.keep && !isGenerated(id) {
				t.Errorf("id %q is not 32 hex digits", id)
			}
			if got := r.Header["X-Request-Id"]; len(got) != 1 || got[0] != id {
				t.Errorf("request header %q, want [%q]", got, id)
			}
			if got := rw.Header()["X-Request-Id"]; len(got) != 1 || got[0] != id {
				t.Errorf("response header %q, want [%q]", got, id)
			}
			if rw.Rec.RequestID != id {
				t.Errorf("record's id %q, want %q", rw.Rec.RequestID, id)
			}
			// The two headers do not share a slot.
			r.Header.Set("X-Request-Id", "changed")
			if rw.Header().Get("X-Request-Id") != id {
				t.Error("changing the request's id changed the response's")
			}
		})
	}
}

func isGenerated(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !strings.ContainsRune("0123456789abcdef", rune(id[i])) {
			return false
		}
	}
	return true
}

func TestRequestIDsAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 10000; i++ {
		id := newRequestID()
		if seen[id] {
			t.Fatalf("id %s made twice", id)
		}
		seen[id] = true
	}
}

func TestEnsureRequestIDAllocs(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	w := httptest.NewRecorder()
	n := testing.AllocsPerRun(1000, func() {
		delete(r.Header, "X-Request-Id")
		EnsureRequestID(w, r)
	})
	// the id string and the one backing array of both header values
	if n > 2 {
		t.Errorf("EnsureRequestID: %v allocations, want at most 2", n)
	}
}

func BenchmarkEnsureRequestID(b *testing.B) {
	r := httptest.NewRequest("GET", "/", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		delete(r.Header, "X-Request-Id")
		EnsureRequestID(w, r)
	}
}

var _ http.ResponseWriter = (*Recorder)(nil)
