package server

import (
	"net"
	"net/http"
	"sync"
)

// connSet is an entrypoint's connections that its HTTP server still serves,
// hijacked ones (tunnels) left out. When the entrypoint's grace period ends
// these are closed, and the tunnels are not: they get the longest grace
// period of all entrypoints. (The server's own Close would close the
// hijacked connections that it still tracks too.)
//
// It changes only when a connection opens, is hijacked or closes: the
// per-request Active and Idle states take no lock.
type connSet struct {
	mu sync.Mutex
	m  map[net.Conn]struct{}
}

// hook returns a ConnState callback that tracks connections in cs and then
// calls next (when not nil).
func (cs *connSet) hook(next func(net.Conn, http.ConnState)) func(net.Conn, http.ConnState) {
	return func(c net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			cs.mu.Lock()
			if cs.m == nil {
				cs.m = map[net.Conn]struct{}{}
			}
			cs.m[c] = struct{}{}
			cs.mu.Unlock()
		case http.StateHijacked, http.StateClosed:
			cs.mu.Lock()
			delete(cs.m, c)
			cs.mu.Unlock()
		}
		if next != nil {
			next(c, st)
		}
	}
}

// closeAll closes every connection of cs and returns how many there were.
func (cs *connSet) closeAll() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	n := len(cs.m)
	for c := range cs.m {
		c.Close()
		delete(cs.m, c)
	}
	return n
}
