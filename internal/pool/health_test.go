package pool

import (
	"net/url"
	"testing"
	"time"
)

func TestAgent(t *testing.T) {
	for _, tc := range []struct {
		name              string
		state             string
		weight            int
		wantState         string
		wantWeight        int
		available, agentD bool
	}{
		{"ready", AgentReady, 100, AgentReady, 100, true, false},
		{"half", AgentReady, 50, AgentReady, 50, true, false},
		{"zero is a drain", AgentReady, 0, AgentReady, 0, false, true},
		{"drain", AgentDrain, 100, AgentDrain, 100, false, true},
		{"down", AgentDown, 30, AgentDown, 30, false, false},
		{"clamped", AgentReady, 250, AgentReady, 100, true, false},
		{"negative", AgentReady, -3, AgentReady, 0, false, true},
		{"unknown state is ready", "maint", 100, AgentReady, 100, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewServer("k", &url.URL{Scheme: "http", Host: "a:1"}, 1)
			if s.AgentState() != AgentReady || s.AgentWeight() != 100 {
				t.Fatalf("new server: agent %s %d%%", s.AgentState(), s.AgentWeight())
			}
			s.SetAgent(tc.state, tc.weight)
			if s.AgentState() != tc.wantState || s.AgentWeight() != tc.wantWeight {
				t.Errorf("agent %s %d%%, want %s %d%%", s.AgentState(), s.AgentWeight(), tc.wantState, tc.wantWeight)
			}
			if s.Available() != tc.available || s.AgentDraining() != tc.agentD {
				t.Errorf("available %v, agent draining %v; want %v, %v", s.Available(), s.AgentDraining(), tc.available, tc.agentD)
			}
			// The operator's drain is a bit of its own.
			s.SetDraining(true)
			s.SetDraining(false)
			if s.Available() != tc.available || s.Draining() {
				t.Errorf("after an operator's drain and undrain: available %v, draining %v", s.Available(), s.Draining())
			}
			s.SetAgent(AgentReady, 100)
			if !s.Available() {
				t.Error("not available after the agent said ready, 100%")
			}
		})
	}
}

func TestProbeAndEjectedUntil(t *testing.T) {
	s := NewServer("k", &url.URL{Scheme: "http", Host: "a:1"}, 1)
	if ok, lat, at := s.Probe(); ok || lat != 0 || !at.IsZero() {
		t.Errorf("no probe yet: %v %v %v", ok, lat, at)
	}
	now := time.Now()
	s.SetProbe(true, 3*time.Millisecond, now)
	if ok, lat, at := s.Probe(); !ok || lat != 3*time.Millisecond || !at.Equal(now) {
		t.Errorf("Probe = %v %v %v", ok, lat, at)
	}
	s.ClearProbe()
	if _, _, at := s.Probe(); !at.IsZero() {
		t.Error("ClearProbe kept the probe")
	}
	until := now.Add(time.Minute)
	s.Eject(until)
	if !s.Ejected() || s.Available() || !s.EjectedUntil().Equal(until) {
		t.Errorf("ejected %v available %v until %v", s.Ejected(), s.Available(), s.EjectedUntil())
	}
	s.SetEjected(false)
	if s.Ejected() || !s.Available() || !s.EjectedUntil().IsZero() {
		t.Errorf("readmitted: ejected %v available %v until %v", s.Ejected(), s.Available(), s.EjectedUntil())
	}
}
