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
	method  string
	path    string      // "/" + the scenario's name when empty
	req     [][2]string // request fields, in order
	status  int         // the server's status; 200 when 0
	resp    [][2]string // the server's fields, in order
	pause   bool
	want    string // cached, not_cached, etag, lm; "" checks no type
	code    int    // the status the client must get; the server's (or 200) when 0, none when -1
	has     map[string]string
	missing []string
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
				for _, l := range st.resp {
					k := http.CanonicalHeaderKey(l[0])
					hd[k] = append(hd[k], suiteValue(l[1], c.clk.Now()))
				}
				w.WriteHeader(code)
				if code != 204 && code != 304 && code >= 200 {
					w.Write([]byte(sc.id))
				}
			})
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
				num, _ := strconv.Atoi(w.Header().Get("Server-Request-Count"))
				where := "request " + strconv.Itoa(i+1) + " (Cache-Status " + status(w) + ")"
				switch st.want {
				case "cached":
					if c.o.count() != before || (num >= i+1 && w.Code != 304) {
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
				if st.pause {
					c.clk.Add(3 * time.Second)
				}
			}
		})
	}
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
