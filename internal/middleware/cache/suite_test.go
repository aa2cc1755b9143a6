package cache

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The scenarios here follow the required tests of the HTTP cache tests
// (cache-tests.fyi) that the other tables of this package do not already
// cover; each is named by the suite's id. They are written in that suite's
// terms, so that a failure reads the way the suite would report it:
//
//   - every request carries Req-Num (its place in the scenario), and an
//     unrelated Cache-Control and Pragma as the suite's client does;
//   - the server answers request n with step n's status and fields, and
//     tells its own count in Server-Request-Count;
//   - "cached" means the response's Server-Request-Count is below the
//     request's number, "not_cached" that it equals it (every request so
//     far went to the server);
//   - "etag"/"lm" (the suite's etag_validated, lm_validated): the request
//     reached the server conditional on the previous step's ETag or
//     Last-Modified, which then answers 304; anything else gets 999;
//   - a field value "@n" is an HTTP-date n seconds from the server's now;
//   - pause moves the clock 3 seconds, the suite's pause.

type suiteStep struct {
	method string
	path   string      // "/" + the scenario's name when empty
	req    [][2]string // request fields, in order
	status int         // the server's status; 200 when 0
	resp   [][2]string // the server's fields, in order
	pause  bool
	// disconnect: the server closes the connection instead of answering;
	// usher's proxy then answers 502 with none of the server's fields.
	disconnect bool
	// background: the step's answer from the store starts a revalidation
	// (stale-while-revalidate), which is waited for before the next step.
	background bool
	want       string // cached, not_cached, etag, lm; "" checks no type
	code       int    // the status the client must get; the server's (or 200) when 0, none when -1
	has        map[string]string
	missing    []string
}

type suiteCase struct {
	id    string
	steps []suiteStep
}

func runSuite(t *testing.T, cases []suiteCase) {
	t.Helper()
	for _, sc := range cases {
		t.Run(sc.id, func(t *testing.T) {
			var c *tc
			c = newTC(t, func(w http.ResponseWriter, r *http.Request, n int) {
				i, _ := strconv.Atoi(r.Header.Get("Req-Num"))
				if i < 1 || i > len(sc.steps) {
					w.WriteHeader(409)
					return
				}
				st := sc.steps[i-1]
				if st.disconnect {
					w.WriteHeader(http.StatusBadGateway)
					return
				}
				code := st.status
				if code == 0 {
					code = 200
				}
				if st.want == "etag" || st.want == "lm" {
					code = 999
					prev := sc.steps[i-2].resp
					if lm := fieldOf(prev, "Last-Modified", c.clk.Now()); lm != "" && r.Header.Get("If-Modified-Since") == lm {
						code = 304
					}
					if et := fieldOf(prev, "Etag", c.clk.Now()); et != "" && r.Header.Get("If-None-Match") == et {
						code = 304
					}
				}
				hd := w.Header()
				hd.Set("Server-Request-Count", strconv.Itoa(n))
				hd.Set("Client-Request-Count", strconv.Itoa(i))
				for _, l := range st.resp {
					k := http.CanonicalHeaderKey(l[0])
					hd[k] = append(hd[k], suiteValue(l[1], c.clk.Now()))
				}
				w.WriteHeader(code)
				if code != 204 && code != 304 && code >= 200 {
					w.Write([]byte(sc.id))
				}
			})
			c.o.seen = make(chan struct{}, len(sc.steps)+1)
			for i, st := range sc.steps {
				path := st.path
				if path == "" {
					path = "/" + sc.id
				}
				hdr := []string{"Pragma", "foo", "Cache-Control", "nothing-to-see-here"}
				for _, l := range st.req {
					hdr = append(hdr, l[0], suiteValue(l[1], c.clk.Now()))
				}
				hdr = append(hdr, "Req-Num", strconv.Itoa(i+1))
				method := st.method
				if method == "" {
					method = "GET"
				}
				before := c.o.count()
				w := c.do(method, path, hdr...)
				if !st.background { // else the count may already hold the revalidation
					for range c.o.count() - before {
						<-c.o.seen
					}
				}
				num, _ := strconv.Atoi(w.Header().Get("Server-Request-Count"))
				where := "request " + strconv.Itoa(i+1) + " (Cache-Status " + status(w) + ")"
				switch st.want {
				case "cached":
					// The suite's test, and a stricter one where no
					// background request can blur the count.
					if num >= i+1 || (!st.background && c.o.count() != before) {
						t.Fatalf("%s: not from the store", where)
					}
				case "not_cached":
					if num != i+1 {
						t.Fatalf("%s: from the store (server count %d)", where, num)
					}
				case "etag", "lm":
					k := map[string]string{"etag": "If-None-Match", "lm": "If-Modified-Since"}[st.want]
					if c.o.count() == before || c.o.last().Header.Get(k) == "" {
						t.Fatalf("%s: no %s to the server", where, k)
					}
				}
				want := st.code
				if want == 0 {
					want = st.status
				}
				if want == 0 {
					want = 200
				}
				if want > 0 && w.Code != want {
					t.Fatalf("%s: status %d, want %d", where, w.Code, want)
				}
				for k, v := range st.has {
					if got := w.Header().Values(k); len(got) == 0 || strings.Join(got, ", ") != suiteValue(v, c.clk.Now()) {
						t.Fatalf("%s: %s = %q, want %q", where, k, got, v)
					}
				}
				for _, k := range st.missing {
					if got := w.Header().Values(k); len(got) > 0 {
						t.Fatalf("%s: %s = %q, want none", where, k, got)
					}
				}
				if st.background {
					awaitBackground(t, c)
				}
				if st.pause {
					c.clk.Add(3 * time.Second)
				}
			}
		})
	}
}

// awaitBackground waits for the background revalidation a step started:
// its request to the server, then its end (it leaves the reval set once it
// has stored what it got).
func awaitBackground(t *testing.T, c *tc) {
	t.Helper()
	select {
	case <-c.o.seen:
	case <-time.After(10 * time.Second):
		t.Fatal("no background revalidation reached the server")
	}
	awaitRevalidated(t, c)
}

// suiteValue turns "@n" into the HTTP-date n seconds from now.
func suiteValue(v string, now time.Time) string {
	if s, ok := strings.CutPrefix(v, "@"); ok {
		if n, err := strconv.Atoi(s); err == nil {
			return now.Add(time.Duration(n) * time.Second).UTC().Format(http.TimeFormat)
		}
	}
	return v
}

func fieldOf(lines [][2]string, name string, now time.Time) string {
	for _, l := range lines {
		if strings.EqualFold(l[0], name) {
			return suiteValue(l[1], now)
		}
	}
	return ""
}

// freshLines and staleLines are the suite's usual fresh and stale
// responses: an Expires a day ahead, or well past.
var (
	freshLines = [][2]string{{"Expires", "@100000"}, {"Last-Modified", "@0"}, {"Date", "@0"}}
	staleLines = [][2]string{{"Expires", "@-5000"}, {"Last-Modified", "@-100000"}, {"Date", "@0"}}
)

func with(a [][2]string, more ...[2]string) [][2]string {
	return append(append([][2]string(nil), a...), more...)
}

// storedThenAsked is the most common scenario: one response stored, then
// a second request and what it must get.
func storedThenAsked(id string, resp [][2]string, pause bool, second suiteStep) suiteCase {
	return suiteCase{id, []suiteStep{{resp: resp, pause: pause}, second}}
}

func TestSuiteExpires(t *testing.T) {
	var cases []suiteCase
	// An Expires that is not an HTTP-date is in the past (RFC 9111 §5.3),
	// even one that net/http's lenient parser would read.
	for id, v := range map[string]string{
		"freshness-expires-invalid-utc":             "Thu, 18 Aug 2050 02:01:18 UTC",
		"freshness-expires-invalid-aest":            "Thu, 18 Aug 2050 02:01:18 AEST",
		"freshness-expires-invalid-2-digit-year":    "Thu, 18 Aug 50 02:01:18 GMT",
		"freshness-expires-invalid-no-comma":        "Thu 18 Aug 2050 02:01:18 GMT",
		"freshness-expires-invalid-multiple-spaces": "Thu, 18  Aug  2050 02:01:18 GMT",
		"freshness-expires-invalid-date-dashes":     "Thu, 18-Aug-2050 02:01:18 GMT",
		"freshness-expires-invalid-time-periods":    "Thu, 18 Aug 2050 02.01.18 GMT",
		"freshness-expires-invalid-1-digit-hour":    "Thu, 18 Aug 2050 2:01:18 GMT",
	} {
		cases = append(cases, storedThenAsked(id, [][2]string{{"Expires", v}, {"Date", "@0"}}, false, suiteStep{want: "not_cached"}))
	}
	cases = append(cases,
		storedThenAsked("freshness-expires-invalid-multiple-lines", [][2]string{
			{"Expires", "Thu, 18 Aug 2050 2:01:18 GMT"}, {"Expires", "Thu, 18 Aug 2050 2:01:19 GMT"}, {"Date", "@0"}}, false, suiteStep{want: "not_cached"}),
		// Valid forms the optimal tests use, to show the strict parser
		// still reads them.
		storedThenAsked("freshness-expires-rfc850", [][2]string{{"Expires", "Thursday, 18-Aug-50 02:01:18 GMT"}, {"Date", "@0"}}, true, suiteStep{want: "cached"}),
		storedThenAsked("freshness-expires-ansi-c", [][2]string{{"Expires", "Thu Aug  8 02:01:18 2050"}, {"Date", "@0"}}, true, suiteStep{want: "cached"}),
		storedThenAsked("freshness-expires-wrong-case-month", [][2]string{{"Expires", "Thu, 18 AUG 2050 02:01:18 GMT"}, {"Date", "@0"}}, true, suiteStep{want: "cached"}),
		storedThenAsked("freshness-expires-far-future", [][2]string{{"Expires", "Sun, 21 Nov 2286 04:46:39 GMT"}, {"Date", "@0"}}, true, suiteStep{want: "cached"}),
		storedThenAsked("freshness-expires-present", [][2]string{{"Expires", "@0"}, {"Date", "@0"}}, false, suiteStep{want: "not_cached"}),
		storedThenAsked("freshness-expires-old-date", [][2]string{{"Expires", "@300"}, {"Date", "@400"}}, true, suiteStep{want: "not_cached"}),
		storedThenAsked("freshness-expires-age-slow-date", [][2]string{{"Date", "@-10"}, {"Expires", "@10"}, {"Age", "25"}}, false, suiteStep{want: "not_cached"}),
		storedThenAsked("freshness-expires-age-fast-date", [][2]string{{"Date", "@10"}, {"Expires", "@20"}, {"Age", "15"}}, false, suiteStep{want: "not_cached"}),
	)
	runSuite(t, cases)
}

// TestSuiteInterim: interim-not-cached. A 103 from the server reaches the
// client whose request it answers, and is not part of what is stored: the
// request answered from the store gets none.
func TestSuiteInterim(t *testing.T) {
	c := newTC(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Link", "</styles.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Header().Set("Cache-Control", "max-age=100000")
		w.Write([]byte("final"))
	})
	srv := httptest.NewServer(c.h)
	defer srv.Close()
	get := func() (hints []string, body string) {
		t.Helper()
		trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			hints = append(hints, strconv.Itoa(code)+" "+h.Get("Link"))
			return nil
		}}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", srv.URL+"/i", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if resp.Header.Get("Link") != "" {
			t.Errorf("the final response carries the 103's Link")
		}
		return hints, string(b)
	}
	if hints, body := get(); len(hints) != 1 || hints[0] != "103 </styles.css>; rel=preload; as=style" || body != "final" {
		t.Fatalf("miss: hints %q, body %q", hints, body)
	}
	if hints, body := get(); len(hints) != 0 || body != "final" || c.o.count() != 1 {
		t.Fatalf("hit: hints %q, body %q, server saw %d", hints, body, c.o.count())
	}
}

func TestSuiteCacheControl(t *testing.T) {
	nc := suiteStep{want: "not_cached"}
	cc := func(v ...string) [][2]string {
		var l [][2]string
		for _, s := range v {
			l = append(l, [2]string{"Cache-Control", s})
		}
		return l
	}
	runSuite(t, []suiteCase{
		// cc-freshness, cc-parse
		{"freshness-max-age-stale", []suiteStep{{resp: cc("max-age=2"), pause: true}, nc}},
		storedThenAsked("freshness-max-age-0-expires", with(cc("max-age=0"), [2]string{"Expires", "@3600"}, [2]string{"Date", "@0"}), true, nc),
		storedThenAsked("freshness-max-age-age", with(cc("max-age=3600"), [2]string{"Date", "@0"}, [2]string{"Age", "7200"}), true, nc),
		storedThenAsked("freshness-max-age-s-maxage-shared-longer", cc("max-age=3600, s-maxage=1"), true, nc),
		storedThenAsked("freshness-max-age-s-maxage-shared-longer-reversed", cc("s-maxage=1, max-age=3600"), true, nc),
		storedThenAsked("freshness-max-age-ignore-quoted-rev", cc(`max-age=1, extension="max-age=3600"`), true, nc),
		storedThenAsked("freshness-max-age-space-after-equals", cc("max-age= 3600"), true, nc),
		storedThenAsked("freshness-max-age-a100", cc("max-age=a100"), true, nc),
		// Required in earlier versions of the suite.
		storedThenAsked("freshness-max-age-ignore-quoted-all", cc(`extension="max-age=100", max-age="1"`), true, nc),
		storedThenAsked("freshness-max-age-ignore-quoted-all-rev", cc(`max-age="1", extension="max-age=100"`), true, nc),
		storedThenAsked("freshness-max-age-space-before-equals", cc("max-age =100"), true, nc),
		storedThenAsked("freshness-max-age-100a", cc("max-age=100a"), true, nc),
		// cc-response
		storedThenAsked("cc-resp-no-store-case-insensitive", cc("No-StOrE"), false, nc),
		storedThenAsked("cc-resp-no-store-fresh", with(cc("max-age=10000, no-store"), [2]string{"Expires", "@10000"}, [2]string{"Date", "@0"}), false, nc),
		storedThenAsked("cc-resp-no-cache-case-insensitive", with(cc("max-age=10000, No-CaChE"), [2]string{"Expires", "@10000"}, [2]string{"Date", "@0"}), false, nc),
		{"cc-resp-no-store-old-new", []suiteStep{
			{resp: with(cc("max-age=10000"), [2]string{"Expires", "@10000"}, [2]string{"Date", "@0"}, [2]string{"A", "1"}), pause: true},
			{resp: with(cc("no-store"), [2]string{"Date", "@0"}, [2]string{"A", "2"}), pause: true},
			{want: "cached", has: map[string]string{"A": "1"}},
		}},
		{"cc-resp-no-store-old-max-age", []suiteStep{
			{resp: with(cc("max-age=10000"), [2]string{"Expires", "@10000"}, [2]string{"Date", "@0"}, [2]string{"A", "1"}), pause: true},
			{resp: with(cc("no-store, max-age=0"), [2]string{"Date", "@0"}, [2]string{"A", "2"}), pause: true},
			{want: "cached", has: map[string]string{"A": "1"}},
		}},
		{"cc-resp-must-revalidate-stale", []suiteStep{
			{resp: with(cc("max-age=2, must-revalidate"), [2]string{"ETag", `"abcd"`})},
			{resp: with(cc("max-age=2, must-revalidate"), [2]string{"ETag", `"abcd"`}), want: "cached", pause: true},
			{want: "etag"},
		}},
		// authorization
		{"other-authorization", []suiteStep{{req: [][2]string{{"Authorization", "FOO"}}, resp: freshLines}, nc}},
	})
}

func TestSuiteStatus(t *testing.T) {
	var cases []suiteCase
	// status-<code>-stale: a stale response with explicit freshness is not
	// served, whatever its status.
	for _, code := range []int{200, 203, 204, 299, 301, 302, 303, 307, 308, 400, 404, 410, 499, 500, 502, 503, 504, 599} {
		cases = append(cases, suiteCase{"status-" + strconv.Itoa(code) + "-stale", []suiteStep{
			{status: code, resp: staleLines}, {want: "not_cached"}}})
	}
	cases = append(cases, suiteCase{"status-599-must-understand", []suiteStep{
		{status: 599, resp: [][2]string{{"Cache-Control", "max-age=3600, no-store, must-understand"}}}, {want: "not_cached"}}})
	runSuite(t, cases)
}

func TestSuiteVary(t *testing.T) {
	setup := func(vary string, req ...[2]string) suiteStep {
		return suiteStep{req: req, resp: [][2]string{{"Cache-Control", "max-age=5000"}, {"Last-Modified", "@-3000"}, {"Date", "@0"}, {"Vary", vary}}}
	}
	ask := func(req ...[2]string) suiteStep { return suiteStep{req: req, want: "not_cached"} }
	foo1, foo2, barAbc, baz := [2]string{"Foo", "1"}, [2]string{"Foo", "2"}, [2]string{"Bar", "abc"}, [2]string{"Baz", "789"}
	cases := []suiteCase{
		{"vary-no-match", []suiteStep{setup("Foo", foo1), ask(foo2)}},
		{"vary-omit-stored", []suiteStep{setup("Foo"), ask(foo1)}},
		{"vary-omit", []suiteStep{setup("Foo", foo1), ask()}},
		{"vary-2-no-match", []suiteStep{setup("Foo, Bar", foo1, barAbc), ask(foo2, barAbc)}},
		{"vary-2-match-omit", []suiteStep{setup("Foo, Bar", foo1, barAbc), ask()}},
		{"vary-3-no-match", []suiteStep{setup("Foo, Bar, Baz", foo1, barAbc, baz), ask(foo2, barAbc, baz)}},
		{"vary-3-order", []suiteStep{setup("Foo, Bar, Baz", foo1, barAbc, baz), ask(foo1, baz, [2]string{"Bar", "abcde"})}},
		{"vary-star", []suiteStep{setup("*", foo1, baz), ask(foo1, baz)}},
	}
	// vary-parse: a "*" anywhere in Vary, on any line. (The suite's
	// scenarios give these no freshness at all; with max-age they say
	// more.)
	for id, lines := range map[string][]string{
		"vary-syntax-star": {"*"}, "vary-syntax-star-star": {"*, *"}, "vary-syntax-star-star-lines": {"*", "*"},
		"vary-syntax-empty-star": {", *"}, "vary-syntax-empty-star-lines": {"", "*"},
		"vary-syntax-star-foo": {"*, Foo"}, "vary-syntax-foo-star": {"Foo, *"},
	} {
		s := suiteStep{req: [][2]string{foo1, baz}, resp: [][2]string{{"Cache-Control", "max-age=5000"}, {"Last-Modified", "@-3000"}, {"Date", "@0"}}}
		for _, l := range lines {
			s.resp = append(s.resp, [2]string{"Vary", l})
		}
		cases = append(cases, suiteCase{id, []suiteStep{s, ask(foo1, baz)}})
	}
	runSuite(t, cases)
}

func TestSuiteConditional(t *testing.T) {
	etag := [2]string{"ETag", `"abcdef"`}
	runSuite(t, []suiteCase{
		storedThenAsked("conditional-304-etag", with(freshLines, etag), false,
			suiteStep{req: [][2]string{{"If-None-Match", `"abcdef"`}}, want: "cached", code: 304, has: map[string]string{"Etag": `"abcdef"`}}),
		storedThenAsked("conditional-etag-precedence", with(freshLines, [2]string{"Last-Modified", "@-5000"}, etag), false,
			suiteStep{req: [][2]string{{"If-None-Match", `"abcdef"`}, {"If-Modified-Since", "@-1"}}, want: "cached", code: 304}),
		{"conditional-etag-vary-headers", []suiteStep{
			{req: [][2]string{{"Abc", "123"}}, resp: [][2]string{{"Expires", "@1"}, etag, {"Date", "@0"}, {"Vary", "Abc"}}, pause: true},
			{req: [][2]string{{"Abc", "123"}}, want: "etag"},
		}},
	})
}

func TestSuiteUpdate304(t *testing.T) {
	lm1 := "Wed, 01 Jan 2020 00:00:00 GMT"
	cases := []suiteCase{{"304-lm-use-stored-Test-Header", []suiteStep{
		{resp: [][2]string{{"Cache-Control", "max-age=2"}, {"Last-Modified", lm1}, {"Date", "@0"}, {"Test-Header", "A"}}, pause: true},
		{resp: [][2]string{{"Last-Modified", lm1}, {"Date", "@0"}}, want: "lm", has: map[string]string{"Test-Header": "A"}},
	}}}
	// 304-etag-update-response-<field>: the 304's value replaces the
	// stored one, and stays; Content-Length is the stored body's.
	for _, f := range []struct{ name, a, b, want string }{
		{"Test-Header", "a", "b", "b"}, {"X-Test-Header", "a", "b", "b"}, {"Content-Foo", "a", "b", "b"},
		{"X-Content-Foo", "a", "b", "b"}, {"Cache-Control", "max-age=1", "max-age=3600", "max-age=3600"},
		{"Content-Length", strconv.Itoa(len("304-etag-update-response-Content-Length")), "10", strconv.Itoa(len("304-etag-update-response-Content-Length"))},
	} {
		resp := func(v string, validator bool) [][2]string {
			l := [][2]string{{"Date", "@0"}, {f.name, v}}
			if f.name != "Cache-Control" {
				l = append(l, [2]string{"Cache-Control", "max-age=2"})
			}
			if validator {
				l = append(l, [2]string{"ETag", `"e1"`})
			}
			return l
		}
		cases = append(cases, suiteCase{"304-etag-update-response-" + f.name, []suiteStep{
			{resp: resp(f.a, true), pause: true},
			{resp: resp(f.b, true), want: "etag", has: map[string]string{f.name: f.want}},
			{resp: resp(f.want, false), want: "cached", has: map[string]string{f.name: f.want}},
		}})
	}
	runSuite(t, cases)
}

func TestSuiteStoredFields(t *testing.T) {
	var cases []suiteCase
	// headers-store-<field>: stored and served, or (the hop-by-hop ones)
	// not. Set-Cookie is left out: a response with it is never stored
	// (see the package doc).
	for _, name := range []string{"Test-Header", "X-Test-Header", "Content-Foo", "X-Content-Foo", "Content-Encoding", "Content-Location",
		"Content-MD5", "Content-Range", "Content-Security-Policy", "Content-Type", "Clear-Site-Data", "ETag", "Expires",
		"Public-Key-Pins", "Set-Cookie2", "X-Frame-Options", "X-XSS-Protection"} {
		v := "v-" + name
		if name == "Expires" {
			v = "Mon, 11 Jan 2038 11:11:11 GMT"
		}
		if name == "ETag" {
			v = `"ghijkl"`
		}
		cases = append(cases, storedThenAsked("headers-store-"+name, [][2]string{{"Date", "@0"}, {name, v}, {"Cache-Control", "max-age=3600"}}, true,
			suiteStep{want: "cached", has: map[string]string{name: v}}))
	}
	cases = append(cases, storedThenAsked("headers-store-Cache-Control", [][2]string{{"Date", "@0"}, {"Cache-Control", "max-age=3600"}}, true,
		suiteStep{want: "cached", has: map[string]string{"Cache-Control": "max-age=3600"}}))
	for _, name := range []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authentication-Info", "Proxy-Authorization",
		"Proxy-Connection", "TE", "Upgrade"} {
		cases = append(cases, storedThenAsked("headers-store-"+name, [][2]string{{"Date", "@0"}, {name, "v"}, {"Cache-Control", "max-age=3600"}}, true,
			suiteStep{want: "cached", missing: []string{name}}))
	}
	runSuite(t, cases)
}

func TestSuiteOther(t *testing.T) {
	var cases []suiteCase
	cases = append(cases,
		suiteCase{"other-age-gen", []suiteStep{{resp: freshLines, pause: true}, {want: "cached", has: map[string]string{"Age": "3"}}}},
		suiteCase{"other-age-update-expires", []suiteStep{
			{resp: [][2]string{{"Expires", "@2592000"}, {"Date", "@0"}, {"Age", "30"}}, pause: true},
			{want: "cached", has: map[string]string{"Age": "33"}}}},
		suiteCase{"other-age-update-max-age", []suiteStep{
			{resp: [][2]string{{"Cache-Control", "max-age=3600"}, {"Date", "@0"}, {"Age", "30"}}, pause: true},
			{want: "cached", has: map[string]string{"Age": "33"}}}},
		suiteCase{"other-date-update", []suiteStep{{resp: freshLines, pause: true}, {want: "cached", has: map[string]string{"Date": "@-3"}}}},
		suiteCase{"query-args-different", []suiteStep{{path: "/q?test=1", resp: freshLines}, {path: "/q?test=2", want: "not_cached"}}},
		// partial
		suiteCase{"partial-use-stored-headers", []suiteStep{
			{resp: [][2]string{{"Cache-Control", "max-age=3600"}, {"A", "1"}}},
			{req: [][2]string{{"Range", "bytes=0-1"}}, want: "cached", code: 206, has: map[string]string{"A": "1"}}}},
		// stale: a stale response that may not be served stale is not,
		// when the server fails (usher's proxy answers 502 for a server
		// that closed the connection).
		// The background revalidation stores the server's no-cache
		// answer: the third request, past the window, goes to the server.
		suiteCase{"stale-while-revalidate-window", []suiteStep{
			{resp: [][2]string{{"Cache-Control", "max-age=1, stale-while-revalidate=4"}, {"ETag", `"abc"`}}, pause: true},
			{resp: [][2]string{{"Cache-Control", "no-cache"}, {"ETag", `"def"`}}, want: "cached", background: true, pause: true},
			{has: map[string]string{"Client-Request-Count": "3"}}}},
		suiteCase{"stale-if-error-cc-response-expired", []suiteStep{
			{resp: [][2]string{{"Cache-Control", "max-age=0, stale-if-error=1"}}, pause: true}, {status: 500}}},
		suiteCase{"stale-if-error-cc-request-expired", []suiteStep{
			{resp: [][2]string{{"Cache-Control", "max-age=0"}}, pause: true},
			{req: [][2]string{{"Cache-Control", "stale-if-error=1"}}, status: 500}}},
	)
	for _, cc := range []string{"must-revalidate", "proxy-revalidate", "no-cache", "s-maxage=2"} {
		cases = append(cases, suiteCase{"stale-close-" + cc, []suiteStep{
			{resp: [][2]string{{"Cache-Control", "max-age=2, " + cc}}, pause: true},
			{disconnect: true, code: -1, missing: []string{"Server-Request-Count"}}}})
	}
	// invalidation: a successful unsafe request invalidates its URL.
	for _, m := range []string{"POST", "PUT", "DELETE", "M-SEARCH"} {
		cases = append(cases, suiteCase{"invalidate-" + m, []suiteStep{{resp: freshLines}, {method: m}, {want: "not_cached"}}})
	}
	runSuite(t, cases)
}
