package cache

import (
	"context"
	"sync"
	"time"
)

// Memory is a byte-bounded LRU store in the process. Entries past their
// Expires are dropped when met; the least recently used go when a Put
// would take the store over maxBytes.
type Memory struct {
	maxBytes int64
	now      func() time.Time

	mu    sync.Mutex
	urls  map[string]map[string]*node // url → variant → node
	head  node                        // sentinel of the LRU ring: head.next is the most recent
	bytes int64
	n     int64
}

type node struct {
	e          *Entry
	size       int64
	prev, next *node
}

// NewMemory returns a memory store of at most maxBytes.
func NewMemory(maxBytes int64, now func() time.Time) *Memory {
	m := &Memory{maxBytes: maxBytes, now: now, urls: map[string]map[string]*node{}}
	m.head.next, m.head.prev = &m.head, &m.head
	return m
}

func (m *Memory) unlink(n *node) {
	n.prev.next, n.next.prev = n.next, n.prev
	n.prev, n.next = nil, nil
}

func (m *Memory) pushFront(n *node) {
	n.next, n.prev = m.head.next, &m.head
	m.head.next.prev = n
	m.head.next = n
}

func (m *Memory) remove(n *node) {
	m.unlink(n)
	vs := m.urls[n.e.URL]
	delete(vs, n.e.Variant)
	if len(vs) == 0 {
		delete(m.urls, n.e.URL)
	}
	m.bytes -= n.size
	m.n--
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, url string) ([]*Entry, error) {
	return m.appendGet(nil, url), nil
}

// appendGet is Get appending to out.
func (m *Memory) appendGet(out []*Entry, url string) []*Entry {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	vs := m.urls[url]
	if len(vs) == 0 {
		return out
	}
	for _, n := range vs {
		if !n.e.Expires.After(now) {
			m.remove(n)
			continue
		}
		m.unlink(n)
		m.pushFront(n)
		out = append(out, n.e)
	}
	return out
}

// Put implements Store. An entry larger than the whole store is not kept.
func (m *Memory) Put(_ context.Context, e *Entry) error {
	n := &node{e: e.sealed(), size: e.size()}
	if n.size > m.maxBytes {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	vs := m.urls[e.URL]
	if old := vs[e.Variant]; old != nil {
		m.remove(old)
	} else if len(vs) >= maxVariants {
		// A client making up header values must not make one URL take
		// the store: the oldest variant goes.
		var oldest *node
		for _, n := range vs {
			if oldest == nil || n.e.ResponseTime.Before(oldest.e.ResponseTime) {
				oldest = n
			}
		}
		m.remove(oldest)
	}
	for m.bytes+n.size > m.maxBytes && m.head.prev != &m.head {
		m.remove(m.head.prev)
	}
	vs = m.urls[e.URL]
	if vs == nil {
		vs = map[string]*node{}
		m.urls[e.URL] = vs
	}
	vs[e.Variant] = n
	m.pushFront(n)
	m.bytes += n.size
	m.n++
	return nil
}

// Delete implements Store.
func (m *Memory) Delete(_ context.Context, url, variant string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := m.urls[url][variant]; n != nil {
		m.remove(n)
	}
	return nil
}

// Purge implements Store.
func (m *Memory) Purge(_ context.Context, sel Selector) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	count := 0
	if sel.URL != "" && sel.URL[0] != '/' {
		for _, n := range m.urls[sel.URL] {
			m.remove(n)
			count++
		}
		return count, nil
	}
	for n := m.head.next; n != &m.head; {
		nx := n.next
		if sel.matches(n.e.URL, n.e.Tags) {
			m.remove(n)
			count++
		}
		n = nx
	}
	return count, nil
}

// Stats implements Store.
func (m *Memory) Stats(context.Context) (StoreStats, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return StoreStats{Entries: m.n, Bytes: m.bytes}, nil
}
