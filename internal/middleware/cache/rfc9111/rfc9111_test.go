package rfc9111

import (
	"net/http"
	"slices"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want func(d Directives) bool
	}{
		{[]string{"max-age=60"}, func(d Directives) bool { return d.MaxAge == 60 && d.SMaxAge == Absent }},
		{[]string{`max-age="60"`}, func(d Directives) bool { return d.MaxAge == 60 }},
		{[]string{"MAX-AGE=60"}, func(d Directives) bool { return d.MaxAge == 60 }},
		{[]string{"max-age=60, max-age=5"}, func(d Directives) bool { return d.MaxAge == 60 }},
		{[]string{"max-age=5", "max-age=60"}, func(d Directives) bool { return d.MaxAge == 5 }},
		{[]string{"max-age=-1"}, func(d Directives) bool { return d.MaxAge == Invalid }},
		{[]string{"max-age=1.5"}, func(d Directives) bool { return d.MaxAge == Invalid }},
		{[]string{"max-age="}, func(d Directives) bool { return d.MaxAge == Invalid }},
		{[]string{"max-age"}, func(d Directives) bool { return d.MaxAge == Invalid }},
		{[]string{"max-age =60"}, func(d Directives) bool { return d.MaxAge == Absent }},
		{[]string{"max-age=99999999999999999999"}, func(d Directives) bool { return d.MaxAge == MaxDelta }},
		{[]string{"s-maxage=10, public"}, func(d Directives) bool { return d.SMaxAge == 10 && d.Public }},
		{[]string{"no-cache"}, func(d Directives) bool { return d.NoCache && d.NoCacheFields == nil }},
		{[]string{`no-cache="set-cookie, x-foo"`}, func(d Directives) bool {
			return !d.NoCache && slices.Equal(d.NoCacheFields, []string{"Set-Cookie", "X-Foo"})
		}},
		{[]string{`private="x-a", max-age=3`}, func(d Directives) bool {
			return !d.Private && slices.Equal(d.PrivateFields, []string{"X-A"}) && d.MaxAge == 3
		}},
		{[]string{"private"}, func(d Directives) bool { return d.Private }},
		{[]string{"max-stale"}, func(d Directives) bool { return d.MaxStale == AnyStale }},
		{[]string{"max-stale=30, min-fresh=5"}, func(d Directives) bool { return d.MaxStale == 30 && d.MinFresh == 5 }},
		{[]string{"stale-while-revalidate=10,stale-if-error=20"}, func(d Directives) bool {
			return d.StaleWhileRevalidate == 10 && d.StaleIfError == 20
		}},
		{[]string{"no-store, must-understand"}, func(d Directives) bool { return d.NoStore && d.MustUnderstand }},
		{[]string{"  , must-revalidate ,, proxy-revalidate"}, func(d Directives) bool { return d.MustRevalidate && d.ProxyRevalidate }},
		{[]string{`foo="a,b", max-age=7`}, func(d Directives) bool { return d.MaxAge == 7 }},
		{[]string{`max-age="7"x`}, func(d Directives) bool { return d.MaxAge == Invalid }},
		{[]string{"only-if-cached"}, func(d Directives) bool { return d.OnlyIfCached }},
		{nil, func(d Directives) bool { return d.MaxAge == Absent && !d.NoCache }},
	} {
		if d := Parse(tc.in); !tc.want(d) {
			t.Errorf("Parse(%q) = %+v", tc.in, d)
		}
	}
}

func TestPragma(t *testing.T) {
	if d := RequestDirectives(http.Header{"Pragma": {"no-cache"}}); !d.NoCache {
		t.Error("Pragma: no-cache alone is no-cache")
	}
	if d := RequestDirectives(http.Header{"Pragma": {"no-cache"}, "Cache-Control": {"max-age=5"}}); d.NoCache {
		t.Error("Pragma is ignored when Cache-Control is there")
	}
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func date(t time.Time) string { return t.Format(http.TimeFormat) }

func TestLifetime(t *testing.T) {
	for _, tc := range []struct {
		name      string
		status    int
		h         http.Header
		want      time.Duration
		heuristic bool
	}{
		{"s-maxage wins", 200, http.Header{"Cache-Control": {"max-age=10, s-maxage=20"}}, 20 * time.Second, false},
		{"max-age over Expires", 200, http.Header{"Cache-Control": {"max-age=10"}, "Date": {date(t0)}, "Expires": {date(t0.Add(time.Hour))}}, 10 * time.Second, false},
		{"Expires minus Date", 200, http.Header{"Date": {date(t0)}, "Expires": {date(t0.Add(time.Hour))}}, time.Hour, false},
		{"Expires in the past", 200, http.Header{"Date": {date(t0)}, "Expires": {date(t0.Add(-time.Hour))}}, 0, false},
		{"Expires invalid is expired", 200, http.Header{"Expires": {"0"}, "Last-Modified": {date(t0.Add(-100 * time.Hour))}}, 0, false},
		{"invalid max-age is stale", 200, http.Header{"Cache-Control": {"max-age=x"}, "Last-Modified": {date(t0.Add(-100 * time.Hour))}}, 0, false},
		{"heuristic 10%", 200, http.Header{"Date": {date(t0)}, "Last-Modified": {date(t0.Add(-10 * time.Hour))}}, time.Hour, true},
		{"heuristic capped", 200, http.Header{"Date": {date(t0)}, "Last-Modified": {date(t0.Add(-1000 * time.Hour))}}, MaxHeuristic, true},
		{"no heuristic for 302", 302, http.Header{"Date": {date(t0)}, "Last-Modified": {date(t0.Add(-10 * time.Hour))}}, 0, false},
		{"heuristic for public 302", 302, http.Header{"Cache-Control": {"public"}, "Date": {date(t0)}, "Last-Modified": {date(t0.Add(-10 * time.Hour))}}, time.Hour, true},
		{"no Last-Modified", 200, http.Header{"Date": {date(t0)}}, 0, false},
	} {
		r := &Response{Status: tc.status, Header: tc.h, CC: Parse(tc.h["Cache-Control"]), RequestTime: t0, ResponseTime: t0}
		got, heur := r.Lifetime()
		if got != tc.want || heur != tc.heuristic {
			t.Errorf("%s: Lifetime = %v %v, want %v %v", tc.name, got, heur, tc.want, tc.heuristic)
		}
	}
}

func TestCurrentAge(t *testing.T) {
	for _, tc := range []struct {
		name           string
		h              http.Header
		req, resp, now time.Time
		want           time.Duration
	}{
		{"resident time", http.Header{"Date": {date(t0)}}, t0, t0, t0.Add(5 * time.Second), 5 * time.Second},
		{"Age header and delay", http.Header{"Date": {date(t0)}, "Age": {"10"}}, t0, t0.Add(2 * time.Second), t0.Add(5 * time.Second), 15 * time.Second},
		{"apparent age from an old Date", http.Header{"Date": {date(t0.Add(-30 * time.Second))}}, t0, t0, t0.Add(time.Second), 31 * time.Second},
		{"Date in the future", http.Header{"Date": {date(t0.Add(time.Hour))}}, t0, t0, t0, 0},
		{"bad Age ignored", http.Header{"Date": {date(t0)}, "Age": {"abc"}}, t0, t0, t0, 0},
		{"Age list: first", http.Header{"Date": {date(t0)}, "Age": {"7, 9"}}, t0, t0, t0, 7 * time.Second},
		{"no Date: response time", http.Header{}, t0, t0, t0.Add(3 * time.Second), 3 * time.Second},
	} {
		r := &Response{Status: 200, Header: tc.h, RequestTime: tc.req, ResponseTime: tc.resp}
		if got := r.CurrentAge(tc.now); got != tc.want {
			t.Errorf("%s: CurrentAge = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestStorable(t *testing.T) {
	for _, tc := range []struct {
		name   string
		req    string
		auth   bool
		status int
		h      http.Header
		want   string
	}{
		{"plain max-age", "", false, 200, http.Header{"Cache-Control": {"max-age=5"}}, ""},
		{"heuristic status, no freshness", "", false, 200, http.Header{}, ""},
		{"302 without freshness", "", false, 302, http.Header{}, NoFreshness},
		{"302 with max-age", "", false, 302, http.Header{"Cache-Control": {"max-age=5"}}, ""},
		{"no-store", "", false, 200, http.Header{"Cache-Control": {"no-store, max-age=5"}}, NoStore},
		{"request no-store", "no-store", false, 200, http.Header{"Cache-Control": {"max-age=5"}}, RequestNoStore},
		{"must-understand over no-store", "", false, 200, http.Header{"Cache-Control": {"no-store, must-understand, max-age=5"}}, ""},
		{"must-understand, unknown status", "", false, 299, http.Header{"Cache-Control": {"must-understand, max-age=5"}}, NotUnderstood},
		{"private", "", false, 200, http.Header{"Cache-Control": {"private, max-age=5"}}, Private},
		{"qualified private is storable", "", false, 200, http.Header{"Cache-Control": {`private="x-a", max-age=5`}}, ""},
		{"authorization", "", true, 200, http.Header{"Cache-Control": {"max-age=5"}}, Authorization},
		{"authorization, public", "", true, 200, http.Header{"Cache-Control": {"public, max-age=5"}}, ""},
		{"authorization, s-maxage", "", true, 200, http.Header{"Cache-Control": {"s-maxage=5"}}, ""},
		{"authorization, must-revalidate", "", true, 200, http.Header{"Cache-Control": {"must-revalidate, max-age=5"}}, ""},
		{"vary star", "", false, 200, http.Header{"Cache-Control": {"max-age=5"}, "Vary": {"Accept, *"}}, VaryStar},
		{"set-cookie", "", false, 200, http.Header{"Cache-Control": {"max-age=5"}, "Set-Cookie": {"a=b"}}, SetCookie},
		{"206", "", false, 206, http.Header{"Cache-Control": {"max-age=5"}}, NotFinal},
		{"304", "", false, 304, http.Header{"Cache-Control": {"max-age=5"}}, NotFinal},
	} {
		resp := &Response{Status: tc.status, Header: tc.h, CC: Parse(tc.h["Cache-Control"])}
		if got := Storable(Parse([]string{tc.req}), tc.auth, resp); got != tc.want {
			t.Errorf("%s: Storable = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestStaleProhibited(t *testing.T) {
	for cc, want := range map[string]bool{
		"max-age=5": false, "max-age=5, must-revalidate": true, "proxy-revalidate": true,
		"s-maxage=5": true, "no-cache": true, `no-cache="x-a"`: false,
	} {
		r := &Response{CC: Parse([]string{cc})}
		if got := r.StaleProhibited(); got != want {
			t.Errorf("%q: StaleProhibited = %v", cc, got)
		}
	}
}

// TestParseHTTPDate: the three forms of the grammar, and what net/http
// would take but the grammar does not.
func TestParseHTTPDate(t *testing.T) {
	want := time.Date(2050, 8, 18, 2, 1, 18, 0, time.UTC)
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"Thu, 18 Aug 2050 02:01:18 GMT", true},
		{" Thu, 18 Aug 2050 02:01:18 GMT ", true},
		{"Thursday, 18-Aug-50 02:01:18 GMT", true},
		{"Thu Aug 18 02:01:18 2050", true},
		{"THU, 18 AUG 2050 02:01:18 GMT", true},
		{"Thu, 18  Aug  2050 02:01:18 GMT", false},
		{"Thu, 18 Aug 2050 2:01:18 GMT", false},
		{"Thu, 18  Aug 2050 2:01:18 GMT", false},
		{"Thu, 18 Aug 2050 02:01:18 UTC", false},
		{"Thu, 18 Aug 50 02:01:18 GMT", false},
		{"Thu 18 Aug 2050 02:01:18 GMT", false},
		{"Thu, 18-Aug-2050 02:01:18 GMT", false},
		{"Thu, 18 Aug 2050 02.01.18 GMT", false},
		{"Thursday, 18-Aug-50 02:01:18 PST", false},
		{"Thu Aug 18 2:01:18 2050", false},
		{"0", false},
		{"", false},
	} {
		got, ok := ParseHTTPDate(tc.in)
		if ok != tc.ok || (ok && !got.Equal(want)) {
			t.Errorf("ParseHTTPDate(%q) = %v, %v; want ok=%v", tc.in, got, ok, tc.ok)
		}
	}
	if got, ok := ParseHTTPDate("Thu Aug  8 02:01:18 2050"); !ok || got.Day() != 8 {
		t.Errorf("asctime with a one-digit day: %v %v", got, ok)
	}
}
