package rule

import (
	"math"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/usher-lb/usher/internal/bucketkey"
)

// Where the keys of these tables fall (bucketkey.Point): alice 77.3,
// bob 43.2, carol 13.6, dave 32.6; client 10.0.0.1 97.7.
func TestBucketMatch(t *testing.T) {
	cookie := func(v string) rq { return rq{hdr: []string{"Cookie", "theme=dark; uid=" + v}} }
	runMatch(t, []matchCase{
		{"Bucket(`cookie:uid`, 0, 20)", cookie("carol"), true},
		{"Bucket(`cookie:uid`, 0, 20)", cookie("bob"), false},
		{"Bucket(`cookie:uid`, 20, 50)", cookie("bob"), true},
		{"Bucket(`cookie:uid`, 20, 50)", cookie("dave"), true},
		{"Bucket(`cookie:uid`, 0, 100)", cookie("alice"), true},
		{"Bucket(`cookie:uid`, 77.2, 77.3)", cookie("alice"), true},
		{"Bucket(`cookie:uid`, `0`, `20`)", cookie("carol"), true},
		{"Bucket(\"cookie:uid\", 0, 20)", cookie("carol"), true},
		// Without the key no range matches, nor its complement.
		{"Bucket(`cookie:uid`, 0, 100)", rq{}, false},
		{"Bucket(`cookie:uid`, 0, 100)", rq{hdr: []string{"Cookie", "uid="}}, false},
		{"Bucket(`cookie:uid`, 0, 100)", rq{hdr: []string{"Cookie", "xuid=carol"}}, false},
		{"Bucket(`cookie:uid`, 0, 20) || Bucket(`cookie:uid`, 20, 100)", rq{}, false},
		{"!Bucket(`cookie:uid`, 0, 20)", rq{}, true}, // '!' is what it is: use it knowingly
		{"Bucket(`header:X-User`, 0, 20)", rq{hdr: []string{"X-User", "carol"}}, true},
		{"Bucket(`header:x-user`, 0, 20)", rq{hdr: []string{"X-User", "carol"}}, true},
		{"Bucket(`header:X-User`, 0, 20)", rq{hdr: []string{"X-User", "alice", "X-User", "carol"}}, false}, // the first value, as bucketBy
		{"Bucket(`header:X-User`, 0, 100)", rq{hdr: []string{"X-User", ""}}, false},
		{"Bucket(`clientIP`, 97, 98)", rq{ip: "10.0.0.1"}, true},
		{"Bucket(`clientIP`, 97, 98)", rq{ip: "::ffff:10.0.0.1"}, true},
		{"Bucket(`clientIP`, 0, 97)", rq{ip: "10.0.0.1"}, false},
		{"Bucket(`clientIP`, 0, 100)", rq{}, false},
		{"PathPrefix(`/new`) && Bucket(`cookie:uid`, 0, 20)", rq{target: "/new/x", hdr: []string{"Cookie", "uid=carol"}}, true},
	})
}

func TestBucketParseErrors(t *testing.T) {
	for _, tt := range []struct {
		expr string
		col  int
		msg  string
	}{
		{"Bucket(`cookie:uid`, 0)", 1, "Bucket needs 3 arguments, got 2"},
		{"Bucket(`cookie`, 0, 20)", 8, `Bucket: unknown key "cookie": cookie:NAME, header:NAME, claim:NAME or clientIP`},
		{"Bucket(`header:X Y`, 0, 20)", 8, `Bucket: "X Y" is not a valid header name`},
		{"Bucket(`claim:sub`, 0, 20)", 8, "Bucket: a claim is known only once an auth middleware ran, after routing; bucket by claim with a weighted service's bucketBy"},
		{"Bucket(5, 0, 20)", 8, "Bucket: the first argument is the key, like `cookie:uid`, `header:X-User` or `clientIP`"},
		{"Bucket(`cookie:uid`, 20, 20)", 22, "Bucket: empty range [20, 20): the first percent must be below the second"},
		{"Bucket(`cookie:uid`, 50, 20)", 22, "Bucket: empty range [50, 20): the first percent must be below the second"},
		{"Bucket(`cookie:uid`, 0, 120)", 25, "Bucket: percent 120 is out of 0 to 100"},
		{"Bucket(`cookie:uid`, `-1`, 20)", 22, "Bucket: percent -1 is out of 0 to 100"},
		{"Bucket(`cookie:uid`, 0, 2.0.1)", 25, `Bucket: invalid percent "2.0.1"; want a number from 0 to 100, like 20 or 0.5`},
		{"Bucket(`cookie:uid`, `1e1`, 20)", 22, `Bucket: invalid percent "1e1"; want a number from 0 to 100, like 20 or 0.5`},
		{"Bucket(`cookie:uid`, `NaN`, 20)", 22, `Bucket: invalid percent "NaN"; want a number from 0 to 100, like 20 or 0.5`},
		{"Bucket(`cookie:uid`, 0, 20x)", 25, `invalid number "20x"`},
		{"Path(5)", 6, "Path takes strings; quote it: `5`"},
		{"Header(`X`, 5)", 13, "Header takes strings; quote it: `5`"},
		{"Host(`a`) && 5", 14, "expected matcher, '!' or '(', got number 5"},
	} {
		_, err := ParseHTTP(tt.expr)
		se, ok := err.(*SyntaxError)
		if !ok || se.Col != tt.col || se.Msg != tt.msg {
			t.Errorf("ParseHTTP(%q):\n got %v\nwant %s at column %d", tt.expr, err, tt.msg, tt.col)
		}
	}
	if _, err := ParseTCP("Bucket(`clientIP`, 0, 20)"); err == nil || err.Error() != "Bucket is an HTTP matcher, not allowed in a TCP rule at column 1" {
		t.Errorf("Bucket in a TCP rule: %v", err)
	}
}

func cookieReq(uid string) *Request {
	r := &http.Request{Method: "GET", URL: &url.URL{Path: "/"}, Header: http.Header{"Cookie": {"uid=" + uid}}}
	return &Request{R: r}
}

// A range holds its share of the users, each user always the same side, and
// a change of the range moves only the users at the points it gains or loses.
func TestBucketSplitAndMoves(t *testing.T) {
	r20, _ := ParseHTTP("Bucket(`cookie:uid`, 0, 20)")
	r30, _ := ParseHTTP("Bucket(`cookie:uid`, 0, 30)")
	rest, _ := ParseHTTP("Bucket(`cookie:uid`, 20, 100)")
	const users = 20000
	in20, in30, moved := 0, 0, 0
	for u := range users {
		req := cookieReq("user-" + strconv.Itoa(u))
		a, b, c := r20.Match(req), r30.Match(req), rest.Match(req)
		if a == c {
			t.Fatalf("user %d is in both or neither of [0,20) and [20,100)", u)
		}
		if a && !b {
			t.Fatalf("user %d in [0,20) left it when it grew to [0,30)", u)
		}
		if a != r20.Match(req) {
			t.Fatalf("user %d changed sides between two matches", u)
		}
		if a {
			in20++
		}
		if b {
			in30++
		}
		if b != a {
			moved++
		}
	}
	for _, tt := range []struct {
		name string
		got  int
		want float64
	}{{"[0,20)", in20, 0.2}, {"[0,30)", in30, 0.3}, {"moved", moved, 0.1}} {
		if f := float64(tt.got) / users; math.Abs(f-tt.want) > 0.01 {
			t.Errorf("%s: %.3f of the users, want %.2f", tt.name, f, tt.want)
		}
	}
}

// The matcher places a user where bucketkey does, so that a key read by a
// weighted service's bucketBy and by the matcher is the same key.
func TestBucketUsesBucketkeyPoint(t *testing.T) {
	for u := range 500 {
		key := "user-" + strconv.Itoa(u)
		p := bucketkey.Point(bucketkey.Hash(key))
		lo := math.Floor(p)
		r, err := ParseHTTP("Bucket(`cookie:uid`, " + strconv.FormatFloat(lo, 'f', -1, 64) + ", " + strconv.FormatFloat(lo+1, 'f', -1, 64) + ")")
		if err != nil {
			t.Fatal(err)
		}
		if !r.Match(cookieReq(key)) {
			t.Fatalf("%s at %v not in [%v, %v)", key, p, lo, lo+1)
		}
	}
}
