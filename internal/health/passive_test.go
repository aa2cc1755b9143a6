package health

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/pool"
)

// passiveEnv is a service "app" of n servers (not dialled) with a passive check,
// and its reporter.
func passiveEnv(t *testing.T, n int, pc PassiveCheck) (*env, *Reporter, []*pool.Server) {
	t.Helper()
	e := newEnv(t)
	urls := make([]string, n)
	for i := range urls {
		urls[i] = fmt.Sprintf("http://10.0.0.%d:80", i+1)
	}
	l := lb(nil, urls...)
	l.passive = &pc
	svcs := e.sync(map[string]*lbSpec{"app": l})
	return e, svcs[0].Passive, svcs[0].Servers
}

// passive is a passive check with the config's defaults, changed by the
// test as it needs.
func passive() PassiveCheck {
	return PassiveCheck{MaxFailures: 5, Window: 10 * time.Second, EjectFor: 30 * time.Second, MaxEjectedPercent: 50}
}

// outcome is one report: F a failure, S a success, C a request the client gave
// up (neither), 5 a 503 response.
func report(rep *Reporter, s *pool.Server, outcomes string) {
	for _, o := range outcomes {
		switch o {
		case 'F':
			rep.Report(s, true, 0)
		case 'R': // reset after the response began
			rep.Report(s, true, 200)
		case 'S':
			rep.Report(s, false, 200)
		case 'C':
			rep.Report(s, false, 0)
		case '5':
			rep.Report(s, false, 503)
		}
	}
}

func TestPassiveEjection(t *testing.T) {
	for _, tc := range []struct {
		name     string
		on5xx    bool
		outcomes string
		ejected  bool
		reason   string
	}{
		{"maxFailures in a row", false, "FFF", true, "3 failures in a row within 10s, last: no response; ejected for 1h0m0s"},
		{"fewer", false, "FF", false, ""},
		{"a success resets the count", false, "FFSFF", false, ""},
		{"a request the client gave up counts for nothing", false, "FFCF", true, ""},
		{"a reset after the status", false, "RRR", true, "last: failed after status 200"},
		{"5xx is a success without on5xx", false, "555", false, ""},
		{"5xx is a failure with on5xx", true, "FF5", true, "last: status 503"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, rep, ss := passiveEnv(t, 2, PassiveCheck{
				MaxFailures: 3, Window: 10 * time.Second, EjectFor: time.Hour, MaxEjectedPercent: 50, On5xx: tc.on5xx,
			})
			report(rep, ss[0], tc.outcomes)
			if ss[0].Ejected() != tc.ejected || ss[0].Available() == tc.ejected {
				t.Fatalf("ejected %v, available %v; want ejected %v", ss[0].Ejected(), ss[0].Available(), tc.ejected)
			}
			trs := e.rec.transitions()
			if !tc.ejected {
				if len(trs) != 0 {
					t.Errorf("transitions %v", trs)
				}
				return
			}
			if len(trs) != 1 || trs[0].From != StateUp || trs[0].To != StateEjected || !strings.Contains(trs[0].Reason, tc.reason) {
				t.Fatalf("transitions %+v", trs)
			}
			if d := ss[0].EjectedUntil().Sub(trs[0].Time); d != time.Hour {
				t.Errorf("ejected until %s after the ejection, want 1h", d)
			}
			report(rep, ss[0], "FFFFFF") // requests sent before the ejection
			if len(e.rec.transitions()) != 1 {
				t.Errorf("failures of an ejected server made transitions: %v", e.rec.transitions())
			}
			e.m.Stop()
			checkLogged(t, e.rec)
		})
	}
}

// The failures must fall within window: two failures further apart do not
// eject, the next one close to the last does.
func TestPassiveWindow(t *testing.T) {
	const window = 100 * time.Millisecond
	_, rep, ss := passiveEnv(t, 2, PassiveCheck{MaxFailures: 2, Window: window, EjectFor: time.Hour, MaxEjectedPercent: 50})
	report(rep, ss[0], "F")
	time.Sleep(window + 20*time.Millisecond)
	report(rep, ss[0], "F")
	if ss[0].Ejected() {
		t.Fatal("ejected by two failures further apart than the window")
	}
	report(rep, ss[0], "F")
	if !ss[0].Ejected() {
		t.Fatal("not ejected by two failures within the window")
	}
}

// An ejected server comes back when its time is up, and a repeated ejection
// lasts twice as long.
func TestPassiveReadmitAndDouble(t *testing.T) {
	const ejectFor = 80 * time.Millisecond
	e, rep, ss := passiveEnv(t, 2, PassiveCheck{MaxFailures: 2, Window: time.Second, EjectFor: ejectFor, MaxEjectedPercent: 50})
	n := 0
	for i, want := range []time.Duration{ejectFor, 2 * ejectFor, 4 * ejectFor} {
		report(rep, ss[0], "FF")
		var tr Transition
		tr, n = e.rec.waitFor(t, n, to(ss[0].URL.String(), StateEjected))
		if d := ss[0].EjectedUntil().Sub(tr.Time); d != want {
			t.Errorf("ejection %d lasts %s, want %s", i+1, d, want)
		}
		if ss[0].Available() {
			t.Fatal("available while ejected")
		}
		var back Transition
		back, n = e.rec.waitFor(t, n, to(ss[0].URL.String(), StateBack))
		if el := back.Time.Sub(tr.Time); el < want {
			t.Errorf("back after %s, before the %s of the ejection", el, want)
		}
		if !ss[0].Available() || !ss[0].EjectedUntil().IsZero() {
			t.Fatalf("readmitted but available %v, ejected until %v", ss[0].Available(), ss[0].EjectedUntil())
		}
	}
}

// The length of successive ejections: doubled, capped at 10 ejectFor and 5m,
// halved back per ejectFor of healthy time.
func TestNextEjection(t *testing.T) {
	type step struct {
		healthy time.Duration // since the last readmission
		want    time.Duration
	}
	s := time.Second
	for _, tc := range []struct {
		name     string
		ejectFor time.Duration
		steps    []step
	}{
		{"doubles up to 10 times", s, []step{{0, s}, {0, 2 * s}, {0, 4 * s}, {0, 8 * s}, {0, 10 * s}, {0, 10 * s}}},
		{"capped at 5m", time.Minute, []step{{0, time.Minute}, {0, 2 * time.Minute}, {0, 4 * time.Minute}, {0, 5 * time.Minute}, {0, 5 * time.Minute}}},
		{"an ejectFor above 5m is not cut", 10 * time.Minute, []step{{0, 10 * time.Minute}, {0, 10 * time.Minute}}},
		{"halved per ejectFor healthy", s, []step{{0, s}, {0, 2 * s}, {0, 4 * s}, {2500 * time.Millisecond, 2 * s}, {0, 4 * s}}},
		{"back to ejectFor after long", s, []step{{0, s}, {0, 2 * s}, {0, 4 * s}, {time.Hour, s}}},
		{"healthy less than ejectFor keeps it", s, []step{{0, s}, {999 * time.Millisecond, 2 * s}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := PassiveCheck{EjectFor: tc.ejectFor}
			var o outlier
			now := time.Now()
			for i, st := range tc.steps {
				now = now.Add(st.healthy)
				d := o.nextEjection(now, spec)
				if d != st.want {
					t.Errorf("ejection %d: %s, want %s", i+1, d, st.want)
				}
				now = now.Add(d)
				o.readmitted = now
			}
		})
	}
}

// Never more than maxEjectedPercent of the servers are ejected, and never all.
func TestMaxEjectedPercent(t *testing.T) {
	for _, tc := range []struct {
		servers, percent, want int
	}{
		{4, 50, 2},
		{3, 50, 1},
		{3, 100, 2},
		{1, 100, 0},
		{10, 10, 1},
		{5, 10, 0},
	} {
		t.Run(fmt.Sprintf("%d servers at %d%%", tc.servers, tc.percent), func(t *testing.T) {
			pc := passive()
			pc.MaxFailures, pc.EjectFor, pc.MaxEjectedPercent = 1, time.Hour, tc.percent
			_, rep, ss := passiveEnv(t, tc.servers, pc)
			for _, s := range ss {
				report(rep, s, "FF")
			}
			got := 0
			for _, s := range ss {
				if s.Ejected() {
					got++
				}
			}
			if got != tc.want {
				t.Errorf("%d ejected, want %d", got, tc.want)
			}
		})
	}
}

// A server kept in by maxEjectedPercent is ejected once another comes back.
func TestMaxEjectedPercentMakesRoom(t *testing.T) {
	pc := passive()
	pc.MaxFailures, pc.EjectFor = 2, 30*time.Millisecond
	e, rep, ss := passiveEnv(t, 2, pc)
	report(rep, ss[0], "FF")
	report(rep, ss[1], "FFF")
	if !ss[0].Ejected() || ss[1].Ejected() {
		t.Fatalf("ejected %v %v, want only the first", ss[0].Ejected(), ss[1].Ejected())
	}
	_, n := e.rec.waitFor(t, 0, to(ss[0].URL.String(), StateBack))
	report(rep, ss[1], "F") // its streak goes on
	e.rec.waitFor(t, n, to(ss[1].URL.String(), StateEjected))
	if ss[0].Ejected() {
		t.Fatal("the first was ejected again")
	}
}

// Removing the passive check readmits at once.
func TestPassiveRemovedReadmits(t *testing.T) {
	pc := passive()
	pc.MaxFailures, pc.EjectFor = 1, time.Hour
	e, rep, ss := passiveEnv(t, 2, pc)
	report(rep, ss[0], "F")
	if !ss[0].Ejected() {
		t.Fatal("not ejected")
	}
	e.sync(map[string]*lbSpec{"app": lb(nil, ss[0].URL.String(), ss[1].URL.String())})
	tr, _ := e.rec.waitFor(t, 0, to(ss[0].URL.String(), StateBack))
	if tr.Reason != "passive health check removed" || ss[0].Ejected() || !ss[0].Available() {
		t.Errorf("transition %+v, ejected %v", tr, ss[0].Ejected())
	}
}

// The success path allocates nothing.
func TestReportAllocs(t *testing.T) {
	_, rep, ss := passiveEnv(t, 2, passive())
	report(rep, ss[0], "F") // a server with a record
	for _, s := range ss {
		if n := testing.AllocsPerRun(1000, func() { rep.Report(s, false, 200) }); n != 0 {
			t.Errorf("%v allocations a success", n)
		}
	}
}

func BenchmarkReportSuccess(b *testing.B) {
	m := NewManager(nil, nil)
	defer m.Stop()
	ss := make([]*pool.Server, 8)
	for i := range ss {
		u := &url.URL{Scheme: "http", Host: fmt.Sprintf("10.0.0.%d:80", i+1)}
		ss[i] = pool.NewServer(pool.Key("app", u.String()), u, 1)
	}
	rep := m.Reporter("app", passive(), len(ss))
	rep.Report(ss[0], true, 0)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			rep.Report(ss[i%len(ss)], false, 200)
			i++
		}
	})
}
