// Package service holds the HTTP services of a snapshot: a load balancer over
// servers, and the services made of other services (weighted, mirror,
// failover). Each is an http.Handler that also tells whether it can serve now,
// which failover and weighted use to skip a service with no healthy server.
package service

import (
	"net/http"
)

// Handler is a compiled service.
type Handler interface {
	http.Handler
	// Available tells whether the service has a server that can take a request.
	Available() bool
}

// noServer answers when a service has no server to send to.
func noServer(w http.ResponseWriter, retryAfter string) {
	if retryAfter != "" {
		w.Header()["Retry-After"] = []string{retryAfter}
	}
	w.Header()["Content-Type"] = []string{"text/plain; charset=utf-8"}
	w.WriteHeader(http.StatusServiceUnavailable)
	w.Write([]byte("Service Unavailable\n"))
}
