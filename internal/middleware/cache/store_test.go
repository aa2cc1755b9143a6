package cache

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-lb/usher/internal/redisconn/redistest"
)

func entry(url, variant string, body string, exp time.Time, tags ...string) *Entry {
	return &Entry{URL: url, Variant: variant, Status: 200, Header: http.Header{"Cache-Control": {"max-age=60"}, "X-Two": {"a", "b"}},
		Body: []byte(body), RequestTime: exp.Add(-time.Minute), ResponseTime: exp.Add(-time.Minute), Expires: exp, Tags: tags}
}

// testStore runs what every store must do.
func testStore(t *testing.T, s Store, clk *clock) {
	ctx := context.Background()
	exp := clk.Now().Add(time.Minute)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Put(ctx, entry("http://a/x", "", "x", exp, "t1")))
	must(s.Put(ctx, entry("http://a/x", "v2", "x2", exp, "t2")))
	must(s.Put(ctx, entry("http://a/y/1", "", "y1", exp, "t1")))
	must(s.Put(ctx, entry("http://b/y/2", "", "y2", exp)))
	must(s.Put(ctx, entry("http://a/old", "", "o", clk.Now().Add(time.Second))))
	es, err := s.Get(ctx, "http://a/x")
	must(err)
	if len(es) != 2 {
		t.Fatalf("got %d variants, want 2", len(es))
	}
	for _, e := range es {
		if e.URL != "http://a/x" || !slices.Equal(e.Header["X-Two"], []string{"a", "b"}) || e.Status != 200 {
			t.Fatalf("entry came back as %+v", e)
		}
	}
	// Put replaces the same variant.
	must(s.Put(ctx, entry("http://a/x", "v2", "new", exp, "t2")))
	es, _ = s.Get(ctx, "http://a/x")
	bodies := []string{}
	for _, e := range es {
		bodies = append(bodies, string(e.Body))
	}
	slices.Sort(bodies)
	if !slices.Equal(bodies, []string{"new", "x"}) {
		t.Fatalf("bodies %q", bodies)
	}
	clk.Add(2 * time.Second)
	if es, _ := s.Get(ctx, "http://a/old"); len(es) != 0 {
		t.Fatal("an expired entry was returned")
	}
	must(s.Delete(ctx, "http://a/x", "v2"))
	if es, _ := s.Get(ctx, "http://a/x"); len(es) != 1 {
		t.Fatalf("after Delete: %d variants", len(es))
	}
	n, err := s.Purge(ctx, Selector{Tag: "t1"})
	must(err)
	if n != 2 {
		t.Fatalf("purge by tag removed %d, want 2", n)
	}
	if es, _ := s.Get(ctx, "http://a/y/1"); len(es) != 0 {
		t.Fatal("tagged entry left")
	}
	must(s.Put(ctx, entry("http://a/y/3", "", "y3", exp)))
	n, err = s.Purge(ctx, Selector{Prefix: "/y/"})
	must(err)
	if n != 2 {
		t.Fatalf("purge by path prefix removed %d, want 2", n)
	}
	must(s.Put(ctx, entry("http://a/z", "", "z", exp)))
	n, err = s.Purge(ctx, Selector{URL: "http://a/z"})
	must(err)
	if n != 1 {
		t.Fatalf("purge by URL removed %d", n)
	}
	must(s.Put(ctx, entry("http://a/z*", "", "z", exp)))
	must(s.Put(ctx, entry("http://a/zz", "", "z", exp)))
	n, err = s.Purge(ctx, Selector{Prefix: "http://a/z*"})
	must(err)
	if n != 1 {
		t.Fatalf("purge by a prefix with a glob character removed %d, want 1", n)
	}
	n, err = s.Purge(ctx, Selector{All: true})
	must(err)
	if n != 1 {
		t.Fatalf("purge all removed %d, want 1", n)
	}
	st, err := s.Stats(ctx)
	must(err)
	if st.Entries != 0 {
		t.Fatalf("stats after purging all: %+v", st)
	}
}

func TestMemoryStore(t *testing.T) {
	clk := &clock{t: time.Unix(1e9, 0)}
	testStore(t, NewMemory(1<<20, clk.Now), clk)
}

func TestRedisStore(t *testing.T) {
	srv := redistest.Start(t)
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rc.Close() })
	clk := &clock{t: time.Now()}
	testStore(t, NewRedis(rc, "test:", clk.Now), clk)
}

func TestMemoryLRU(t *testing.T) {
	clk := &clock{t: time.Unix(1e9, 0)}
	exp := clk.Now().Add(time.Hour)
	one := entry("http://a/1", "", string(make([]byte, 1000)), exp)
	m := NewMemory(3*one.size()+10, clk.Now)
	ctx := context.Background()
	for i := range 3 {
		m.Put(ctx, entry("http://a/"+string(rune('1'+i)), "", string(make([]byte, 1000)), exp))
	}
	m.Get(ctx, "http://a/1") // now the most recent
	m.Put(ctx, entry("http://a/4", "", string(make([]byte, 1000)), exp))
	if es, _ := m.Get(ctx, "http://a/2"); len(es) != 0 {
		t.Fatal("the least recently used entry was not evicted")
	}
	for _, u := range []string{"http://a/1", "http://a/3", "http://a/4"} {
		if es, _ := m.Get(ctx, u); len(es) != 1 {
			t.Fatalf("%s evicted", u)
		}
	}
	st, _ := m.Stats(ctx)
	if st.Entries != 3 || st.Bytes > 3*one.size()+10 {
		t.Fatalf("stats %+v", st)
	}
	m.Put(ctx, entry("http://a/huge", "", string(make([]byte, 10000)), exp))
	if es, _ := m.Get(ctx, "http://a/huge"); len(es) != 0 {
		t.Fatal("an entry larger than the store was kept")
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	e := entry("http://a/x", "Accept:x\n", "body", time.Unix(1e9, 5), "a", "b")
	got, err := decodeEntry(encodeEntry(e))
	if err != nil || got.URL != e.URL || got.Variant != e.Variant || string(got.Body) != "body" ||
		!got.Expires.Equal(e.Expires) || !slices.Equal(got.Tags, e.Tags) || !slices.Equal(got.Header["X-Two"], e.Header["X-Two"]) {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	b := encodeEntry(e)
	for i := range b {
		if _, err := decodeEntry(b[:i]); err == nil {
			t.Fatalf("a truncated entry (%d of %d bytes) decoded", i, len(b))
		}
	}
}

// TestRedisDownFailsOpen: with its store unreachable the cache forwards
// every request, as if it had nothing stored.
func TestRedisDownFailsOpen(t *testing.T) {
	rc := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { rc.Close() })
	c := newFixed(t, "Cache-Control", "max-age=60")
	c.h.st.store = NewRedis(rc, "x:", c.clk.Now)
	for range 2 {
		if w := c.do("GET", "/"); w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
	}
	if c.o.count() != 2 {
		t.Fatalf("origin saw %d", c.o.count())
	}
}

func TestVariantsBounded(t *testing.T) {
	clk := &clock{t: time.Now()}
	srv := redistest.Start(t)
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rc.Close() })
	for name, s := range map[string]Store{"memory": NewMemory(1<<20, clk.Now), "redis": NewRedis(rc, "v:", clk.Now)} {
		ctx := context.Background()
		for i := range maxVariants + 5 {
			e := entry("http://a/v", "lang:"+string(rune('a'+i)), "x", clk.Now().Add(time.Hour))
			e.ResponseTime = clk.Now().Add(time.Duration(i) * time.Second)
			s.Put(ctx, e)
		}
		es, _ := s.Get(ctx, "http://a/v")
		if len(es) == 0 || len(es) > maxVariants {
			t.Errorf("%s: %d variants kept, want 1 to %d", name, len(es), maxVariants)
		}
	}
}
