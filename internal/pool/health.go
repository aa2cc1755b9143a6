package pool

import "time"

// What health checks record on a server besides the state bits: the last active
// probe, what the server's agent reported, and when a passive ejection ends.
// internal/health writes them (one prober goroutine per server, so the probe and
// agent fields have one writer at a time); anyone reads them without a lock.

// Agent states, as a server reports them in the Usher-State header of a probe
// response (see internal/health).
const (
	AgentReady = "ready" // takes traffic (the default when the server says nothing)
	AgentDrain = "drain" // takes no new request, as an operator's drain
	AgentDown  = "down"  // counts as down at once
)

// The agent word packs 100 minus the weight percent in its low byte and the state
// above it, so that its zero value is ready at 100%.
const (
	agentWeightMask = 0xff
	agentStateShift = 8
	agentStateReady = 0
	agentStateDrain = 1
	agentStateDown  = 2
)

// probeResult is the outcome of one active probe; a new one is stored per probe.
type probeResult struct {
	ok      bool
	latency time.Duration
	at      time.Time
}

// Probe returns the outcome of the last active health probe: whether it passed,
// how long it took and when it ended. at is the zero time when no probe ran.
func (s *Server) Probe() (ok bool, latency time.Duration, at time.Time) {
	if p := s.probe.Load(); p != nil {
		return p.ok, p.latency, p.at
	}
	return false, 0, time.Time{}
}

// SetProbe records the outcome of an active probe (see Probe).
func (s *Server) SetProbe(ok bool, latency time.Duration, at time.Time) {
	s.probe.Store(&probeResult{ok: ok, latency: latency, at: at})
}

// ClearProbe forgets the last probe, when active checks are removed.
func (s *Server) ClearProbe() { s.probe.Store(nil) }

// SetAgent records what the server's agent reported: state is AgentReady,
// AgentDrain or AgentDown, weight the percent (0 to 100, clamped) of the
// configured weight the server wants. It applies at once: drain, and a weight of
// 0%, take the server out of new traffic (as an operator's drain, but on a bit of
// its own, so that an operator's undrain does not undo it); down makes it
// unavailable; pickers multiply the weight into the server's effective weight
// (see internal/balance). An unknown state counts as ready.
func (s *Server) SetAgent(state string, weight int) {
	weight = max(0, min(weight, 100))
	st := agentStateReady
	switch state {
	case AgentDrain:
		st = agentStateDrain
	case AgentDown:
		st = agentStateDown
	}
	var bits uint32
	if st == agentStateDrain || weight == 0 {
		bits |= stateAgentDrain
	}
	if st == agentStateDown {
		bits |= stateAgentDown
	}
	word := uint32(st)<<agentStateShift | uint32(100-weight)
	// A picker that sees the server available must never see a weight of 0:
	// going to 0% the drain bit is set first, leaving it the weight comes first.
	if weight == 0 {
		s.setBits(stateAgentDrain|stateAgentDown, bits)
		s.agent.Store(word)
		return
	}
	s.agent.Store(word)
	s.setBits(stateAgentDrain|stateAgentDown, bits)
}

// AgentState is the state the server's agent last reported (AgentReady when it
// never said anything or active checks are off).
func (s *Server) AgentState() string {
	switch s.agent.Load() >> agentStateShift {
	case agentStateDrain:
		return AgentDrain
	case agentStateDown:
		return AgentDown
	}
	return AgentReady
}

// AgentWeight is the percent of its configured weight the server's agent asked
// for, 0 to 100 (100 when it never said).
func (s *Server) AgentWeight() int { return 100 - int(s.agent.Load()&agentWeightMask) }

// AgentDraining tells whether the server's agent keeps it out of new traffic
// (it said drain, or a weight of 0%).
func (s *Server) AgentDraining() bool { return s.state.Load()&stateAgentDrain != 0 }

// Eject marks the server ejected by passive health checks until the given time,
// which EjectedUntil reports; readmission is SetEjected(false), by whoever
// ejected it.
func (s *Server) Eject(until time.Time) {
	s.ejectEnd.Store(until.UnixNano())
	if !s.Ejected() {
		s.ejects.Add(1)
	}
	s.setBit(stateEjected, true)
}

// Ejections is the number of times the server was ejected.
func (s *Server) Ejections() uint64 { return s.ejects.Load() }

// NoteRetry counts a request that this server failed and that was sent to another.
func (s *Server) NoteRetry() { s.retries.Add(1) }

// Retries is the number of requests this server failed that were sent to another.
func (s *Server) Retries() uint64 { return s.retries.Load() }

// EjectedUntil is when a passive ejection ends, the zero time when the server is
// not ejected.
func (s *Server) EjectedUntil() time.Time {
	if ns := s.ejectEnd.Load(); ns != 0 && s.Ejected() {
		return time.Unix(0, ns)
	}
	return time.Time{}
}
