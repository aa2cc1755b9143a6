package service

import "net/http"

// Failover serves from Main, and from Fallback while Main has no available server.
type Failover struct {
	Main, Fallback         Handler
	MainName, FallbackName string // the services' names, for Explain
}

// Available tells whether either service can serve.
func (f *Failover) Available() bool { return f.Main.Available() || f.Fallback.Available() }

func (f *Failover) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.Main.Available() || !f.Fallback.Available() {
		f.Main.ServeHTTP(w, r)
		return
	}
	f.Fallback.ServeHTTP(w, r)
}
