package pool

import (
	"context"
	"net/url"
	"testing"
	"time"
)

func limited(n int) (*Server, *Registry) {
	r := NewRegistry()
	b := r.Begin()
	u, _ := url.Parse("http://127.0.0.1:1")
	s := r.Get(b, "app", u, 1)
	b.SetMaxConns(s, n)
	b.Commit()
	return s, r
}

func TestTryStartKeepsTheLimit(t *testing.T) {
	s, _ := limited(2)
	first, second := s.TryStart(), s.TryStart()
	if !first || !second {
		t.Fatal("under the limit, refused")
	}
	if s.TryStart() || !s.Full() || s.InFlight() != 2 {
		t.Fatalf("over the limit: in flight %d, full %v", s.InFlight(), s.Full())
	}
	s.Done(false)
	if s.Full() || s.InFlight() != 1 {
		t.Fatalf("after Done: in flight %d", s.InFlight())
	}
}

// TestHandoff: the end of a request at the limit passes its slot to the
// first waiter, who holds it; a slot of a server drained is not passed on.
func TestHandoff(t *testing.T) {
	s, _ := limited(1)
	s.TryStart()
	q := s.Queue()
	got := make(chan *Server)
	go func() {
		w, err := q.Wait(context.Background(), 5*time.Second, 10)
		if err != nil {
			t.Error(err)
		}
		got <- w
	}()
	for q.Len() != 1 {
		time.Sleep(time.Millisecond)
	}
	s.Done(false)
	if w := <-got; w != s || s.InFlight() != 1 {
		t.Fatalf("handed %v, in flight %d", w, s.InFlight())
	}
	if _, err := q.Wait(context.Background(), time.Millisecond, 0); err != ErrQueueFull {
		t.Errorf("maxSize 0: %v", err)
	}
	if _, err := q.Wait(context.Background(), time.Millisecond, 1); err != ErrQueueTimeout {
		t.Errorf("timeout: %v", err)
	}
	go func() {
		_, err := q.Wait(context.Background(), 200*time.Millisecond, 10)
		if err != ErrQueueTimeout {
			t.Errorf("waiter of a drained server: %v", err)
		}
		got <- nil
	}()
	for q.Len() != 1 {
		time.Sleep(time.Millisecond)
	}
	s.SetDraining(true)
	s.Done(false)
	<-got
	if s.InFlight() != 0 {
		t.Errorf("in flight %d", s.InFlight())
	}
}

// BenchmarkSlot is a request's start and end on a server: Start and Done
// with no limit, TryStart and Done with one not reached.
func BenchmarkSlot(b *testing.B) {
	b.Run("unlimited", func(b *testing.B) {
		s, _ := limited(0)
		for range b.N {
			s.Start()
			s.Done(false)
		}
	})
	b.Run("limited", func(b *testing.B) {
		s, _ := limited(1 << 20)
		for range b.N {
			s.TryStart()
			s.Done(false)
		}
	})
}

// TestRecoveryWakesWaiters: a server that becomes available again lets the
// requests waiting try it at once.
func TestRecoveryWakesWaiters(t *testing.T) {
	s, _ := limited(1)
	s.SetHealthy(false)
	q := s.Queue()
	got := make(chan error)
	go func() {
		w, err := q.Wait(context.Background(), 5*time.Second, 10)
		if w != nil {
			t.Error("handed a server; want a wake-up to pick one")
		}
		got <- err
	}()
	for q.Len() != 1 {
		time.Sleep(time.Millisecond)
	}
	s.SetHealthy(true)
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the waiter was not woken when the server recovered")
	}
}
