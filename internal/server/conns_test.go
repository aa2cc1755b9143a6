package server

import (
	"net"
	"net/http"
	"testing"
)

func TestConnSetLeavesTunnelsOut(t *testing.T) {
	var cs connSet
	var seen []http.ConnState
	hook := cs.hook(func(_ net.Conn, st http.ConnState) { seen = append(seen, st) })
	plain, plainPeer := net.Pipe()
	tunnel, tunnelPeer := net.Pipe()
	defer plainPeer.Close()
	defer tunnelPeer.Close()
	defer tunnel.Close()
	for _, st := range []http.ConnState{http.StateNew, http.StateActive, http.StateIdle, http.StateActive} {
		hook(plain, st)
		hook(tunnel, st)
	}
	hook(tunnel, http.StateHijacked)
	if n := cs.closeAll(); n != 1 {
		t.Fatalf("closed %d connections, want 1", n)
	}
	if _, err := plain.Write([]byte("x")); err == nil {
		t.Error("the plain connection is still open")
	}
	go tunnelPeer.Read(make([]byte, 1))
	if _, err := tunnel.Write([]byte("x")); err != nil {
		t.Errorf("the tunnel was closed: %v", err)
	}
	if len(seen) != 9 {
		t.Errorf("next saw %d states, want 9", len(seen))
	}
}
