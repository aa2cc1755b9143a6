package server

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestCountBody(t *testing.T) {
	r, _ := http.NewRequest("GET", "http://a/", nil)
	r.Body = http.NoBody
	if n := testing.AllocsPerRun(100, func() {
		if countBody(r) != nil {
			t.Fatal("a counter for no body")
		}
	}); n != 0 {
		t.Errorf("%v allocations without a body", n)
	}
	r, _ = http.NewRequest("POST", "http://a/", strings.NewReader("hello, world"))
	cb := countBody(r)
	b, err := io.ReadAll(r.Body)
	if err != nil || string(b) != "hello, world" || cb.n.Load() != 12 {
		t.Errorf("read %q %v, counted %d", b, err, cb.n.Load())
	}
}
