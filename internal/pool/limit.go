package pool

// A server's limit is HAProxy's maxconn: the most requests it is sent at once
// (requests, not connections: an idle pooled connection counts for nothing).
// A request over it waits in the service's Queue, or is refused; a picker
// never picks a full server (Full), and TryStart makes the limit exact when
// pickers race for the last slot.

// MaxConns is the server's limit of requests in flight; 0 is none.
func (s *Server) MaxConns() int64 { return s.limit.Load() }

// SetMaxConns sets the limit of requests in flight (0: none). Requests in
// flight above a lowered limit finish; no new one starts until the count is
// below it.
func (s *Server) SetMaxConns(n int) { s.limit.Store(int64(max(n, 0))) }

// Full tells whether the server is at its limit.
func (s *Server) Full() bool {
	l := s.limit.Load()
	return l > 0 && s.inflight.Load() >= l
}

// TryStart is Start unless the server is at its limit (false: nothing counted).
func (s *Server) TryStart() bool {
	l := s.limit.Load()
	if l <= 0 {
		s.Start()
		return true
	}
	for {
		n := s.inflight.Load()
		if n >= l {
			return false
		}
		if s.inflight.CompareAndSwap(n, n+1) {
			s.total.Add(1)
			return true
		}
	}
}

// Queue is the waiting line of the server's service; nil for a server not
// made by a Registry.
func (s *Server) Queue() *Queue { return s.queue }

// handoff passes the slot of a request that ends to the first waiter of the
// queue, when the server has a limit, may take requests and is not above
// its limit (a lowered one). The slot stays counted: it changes hands.
func (s *Server) handoff() bool {
	q := s.queue
	if q == nil || q.n.Load() == 0 {
		return false
	}
	l := s.limit.Load()
	if l <= 0 || !s.Available() || s.inflight.Load() > l {
		return false
	}
	if !q.handoff(s) {
		return false
	}
	s.total.Add(1)
	return true
}
