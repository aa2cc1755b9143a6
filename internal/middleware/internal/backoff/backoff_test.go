package backoff

import (
	"net/netip"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	now := time.Unix(1e9, 0)
	c := New(4)
	c.now = func() time.Time { return now }
	a := netip.MustParseAddr("203.0.113.5")
	for i := range Free {
		if d := c.Fail(a); d != 0 {
			t.Fatalf("failure %d: wait %s, want the first %d free", i+1, d, Free)
		}
	}
	if c.Wait(a) != 0 {
		t.Fatal("a wait within the free failures")
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute}
	for i, w := range want {
		if d := c.Fail(a); d != w {
			t.Fatalf("failure %d over: wait %s, want %s", i+1, d, w)
		}
		if d := c.Wait(a); d != w {
			t.Fatalf("Wait %s, want %s", d, w)
		}
		now = now.Add(w)
		if d := c.Wait(a); d != 0 {
			t.Fatalf("after the wait: still %s", d)
		}
	}
	if c.Wait(netip.MustParseAddr("203.0.113.6")) != 0 {
		t.Error("another client waits too")
	}
	c.Succeed(a)
	if c.Fail(a) != 0 {
		t.Error("a success does not forget the failures")
	}
	// An IPv6 client cannot escape by changing addresses within its /64.
	v6 := netip.MustParseAddr("2001:db8:1:2::1")
	for range Free + 1 {
		c.Fail(v6)
	}
	if c.Wait(netip.MustParseAddr("2001:db8:1:2:ffff::9")) == 0 {
		t.Error("another address of the same /64 does not wait")
	}
	if c.Wait(netip.MustParseAddr("2001:db8:1:3::1")) != 0 {
		t.Error("another /64 waits")
	}
	// Bounded: more clients than room never grow the table past it.
	for i := range 100 {
		c.Fail(netip.AddrFrom4([4]byte{10, 0, byte(i), 1}))
		if c.Len() > 4 {
			t.Fatalf("%d clients remembered, max 4", c.Len())
		}
	}
	// Failures long ago do not count.
	b := netip.MustParseAddr("198.51.100.1")
	c2 := New(0)
	c2.now = func() time.Time { return now }
	for range Free {
		c2.Fail(b)
	}
	now = now.Add(Forget + time.Second)
	if d := c2.Fail(b); d != 0 {
		t.Errorf("a failure after %s of quiet waits %s", Forget, d)
	}
}
