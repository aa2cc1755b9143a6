package observe

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"
)

func TestBusRecent(t *testing.T) {
	for _, tc := range []struct {
		keep, publish int
		want          string
	}{
		{3, 0, "[]"},
		{3, 2, "[e0 e1]"},
		{3, 3, "[e0 e1 e2]"},
		{3, 5, "[e2 e3 e4]"},
		{3, 7, "[e4 e5 e6]"},
		{0, 2, "[e1]"},
	} {
		b := NewBus(tc.keep)
		for i := 0; i < tc.publish; i++ {
			b.Publish(Event{Type: "health", Reason: fmt.Sprintf("e%d", i)})
		}
		var got []string
		for _, e := range b.Recent() {
			if e.Time.IsZero() {
				t.Error("an event without time")
			}
			got = append(got, e.Reason)
		}
		if s := fmt.Sprint(got); s != tc.want {
			t.Errorf("keep %d, publish %d: Recent = %s, want %s", tc.keep, tc.publish, s, tc.want)
		}
	}
}

func TestBusSubscribe(t *testing.T) {
	b := NewBus(10)
	ctx, cancel := context.WithCancel(context.Background())
	ch := b.Subscribe(ctx)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.Publish(Event{Time: at, Type: "health", Service: "api", Server: "http://a", From: "healthy", To: "unhealthy", Reason: "3 failed checks"})
	b.Publish(Event{Type: "reload", To: "ok"})
	e := <-ch
	if e.Time != at || e.Server != "http://a" || e.To != "unhealthy" {
		t.Errorf("first event %+v", e)
	}
	if e := <-ch; e.Type != "reload" {
		t.Errorf("second event %+v", e)
	}
	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			t.Error("an event after the subscription ended")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the channel was not closed when the context ended")
	}
	waitFor(t, "the subscription to go", func() bool { return b.Subscribers() == 0 })
	b.Publish(Event{Type: "drain"}) // no one listens: no panic
}

// A subscriber that does not read never blocks Publish; it loses what does
// not fit its buffer, and the loss is counted.
func TestBusSlowSubscriber(t *testing.T) {
	b := NewBus(1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	slow := b.Subscribe(ctx)
	fast := b.Subscribe(ctx)
	got := 0
	done := make(chan struct{})
	go func() {
		for range fast {
			got++
		}
		close(done)
	}()
	const n = subscriberBuffer + 36
	published := make(chan struct{})
	go func() {
		for i := 0; i < n; i++ {
			b.Publish(Event{Type: "health"})
		}
		close(published)
	}()
	select {
	case <-published:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish blocked on a slow subscriber")
	}
	if len(slow) != subscriberBuffer {
		t.Errorf("slow subscriber holds %d events, want %d", len(slow), subscriberBuffer)
	}
	cancel()
	<-done
	if uint64(got)+b.Dropped() != 2*n-subscriberBuffer {
		t.Errorf("fast got %d, dropped %d: events lost without being counted", got, b.Dropped())
	}
}

// Subscriptions leave no goroutine behind once their context ends.
func TestBusSubscriptionsStop(t *testing.T) {
	b := NewBus(4)
	before := runtime.NumGoroutine()
	var cancels []context.CancelFunc
	var chans []<-chan Event
	for i := 0; i < 100; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		cancels = append(cancels, cancel)
		chans = append(chans, b.Subscribe(ctx))
	}
	if b.Subscribers() != 100 {
		t.Fatalf("%d subscribers", b.Subscribers())
	}
	for _, c := range cancels {
		c()
	}
	for _, ch := range chans {
		for range ch { // drains, ends when closed
		}
	}
	if b.Subscribers() != 0 {
		t.Errorf("%d subscribers left", b.Subscribers())
	}
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}
