package observe

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Event is a change of state worth showing to an operator: a server going
// down or up, a reload, a drain.
type Event struct {
	Time    time.Time `json:"time"`
	Type    string    `json:"type"` // health, reload, drain
	Service string    `json:"service,omitempty"`
	Server  string    `json:"server,omitempty"` // the server's URL
	From    string    `json:"from,omitempty"`   // the state before, e.g. healthy
	To      string    `json:"to,omitempty"`     // the state after, e.g. unhealthy
	Reason  string    `json:"reason,omitempty"` // why, in a few words (never a secret)
}

// Bus hands events to subscribers (the admin API's stream, the dashboard) and
// keeps the last ones for those who arrive later. Publish never blocks: a
// subscriber that does not keep up loses events, which are counted.
type Bus struct {
	mu   sync.Mutex
	ring []Event // the last len(ring) events; next is where the next goes
	next int
	full bool
	subs map[chan Event]struct{}

	dropped atomic.Uint64
}

// subscriberBuffer is how many events a subscriber may fall behind before it
// loses some.
const subscriberBuffer = 64

// NewBus returns a bus that keeps the last keep events (at least one).
func NewBus(keep int) *Bus {
	return &Bus{ring: make([]Event, max(keep, 1)), subs: map[chan Event]struct{}{}}
}

// Publish records e (its Time set to now when zero) and sends it to every
// subscriber that has room for it.
func (b *Bus) Publish(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ring[b.next] = e
	b.next++
	if b.next == len(b.ring) {
		b.next, b.full = 0, true
	}
	for ch := range b.subs {
		select {
		case ch <- e:
		default:
			b.dropped.Add(1)
		}
	}
}

// Subscribe returns a channel of the events published from now on. It is
// closed when ctx ends; the subscriber must keep reading until then or lose
// events. No goroutine is left behind (context.AfterFunc does the closing).
func (b *Bus) Subscribe(ctx context.Context) <-chan Event {
	ch := make(chan Event, subscriberBuffer)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	context.AfterFunc(ctx, func() {
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
		close(ch)
	})
	return ch
}

// Recent returns the kept events, oldest first.
func (b *Bus) Recent() []Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.full {
		return append([]Event(nil), b.ring[:b.next]...)
	}
	out := make([]Event, 0, len(b.ring))
	out = append(out, b.ring[b.next:]...)
	return append(out, b.ring[:b.next]...)
}

// Dropped is the number of events subscribers lost by falling behind.
func (b *Bus) Dropped() uint64 { return b.dropped.Load() }

// Subscribers is the number of live subscriptions.
func (b *Bus) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}
