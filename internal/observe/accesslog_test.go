package observe

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// readLines reads the JSON lines of an access log file.
func readLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var m map[string]any
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

var logKeys = []string{"time", "requestId", "clientIp", "method", "host", "path", "protocol", "status",
	"bytesIn", "bytesOut", "durationMs", "ttfbMs", "entrypoint", "router", "service", "server", "retries", "userAgent"}

// A proxied request, a retried one and a 404, through real sockets, each with
// every field; secrets the client sends leave no trace.
func TestAccessLogLines(t *testing.T) {
	good, seen := backend(t, "hello")
	dead := deadAddr(t)
	path := filepath.Join(t.TempDir(), "access.log")
	al, err := NewAccessLog(path, "json")
	if err != nil {
		t.Fatal(err)
	}
	e := &testEntry{name: "web", obs: al, upstream: &http.Transport{}, routes: map[string]route{
		"/api/items": {router: "api", service: "api", servers: []string{good.URL}},
		"/retry":     {router: "api", service: "api", servers: []string{"http://alice:pw0rd@" + hostPort(dead), good.URL}},
	}}
	front := httptest.NewServer(e)
	defer front.Close()
	c := &http.Client{}

	const basic = "Basic YWxpY2U6czNjcjN0LXB3"
	secrets := map[string]string{
		"Authorization":       basic,
		"Cookie":              "session=c00kie-v4lue; other=0th3r",
		"Proxy-Authorization": "Bearer pr0xy-t0ken",
		"X-Api-Key":           "ap1-k3y",
		"User-Agent":          "test-agent/1.0",
	}
	start := time.Now()
	r1, body := get(t, c, front.URL+"/api/items?token=qu3ry-s3cret&x=1", secrets)
	if body != "hello" || r1.StatusCode != 200 {
		t.Fatalf("proxied: %d %q", r1.StatusCode, body)
	}
	if got := seen.Get("X-Request-Id"); got == "" || got != r1.Header.Get("X-Request-Id") {
		t.Errorf("server got request id %q, client %q", got, r1.Header.Get("X-Request-Id"))
	}
	r2, _ := get(t, c, front.URL+"/retry", map[string]string{"User-Agent": "retry-agent", "X-Request-Id": "client-id-42"})
	r3, _ := get(t, c, front.URL+"/nope/x?y=z", map[string]string{"User-Agent": "ua with \"quotes\"\tand tab"})
	if err := al.Close(); err != nil {
		t.Fatal(err)
	}
	end := time.Now()

	lines := readLines(t, path)
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3", len(lines))
	}
	front_ := front.Listener.Addr().String()
	want := []map[string]any{
		{"requestId": r1.Header.Get("X-Request-Id"), "clientIp": "127.0.0.1", "method": "GET", "host": front_,
			"path": "/api/items", "protocol": "HTTP/1.1", "status": "200", "bytesIn": "0", "bytesOut": "5",
			"entrypoint": "web", "router": "api", "service": "api", "server": good.URL, "retries": "0", "userAgent": "test-agent/1.0"},
		{"requestId": "client-id-42", "clientIp": "127.0.0.1", "method": "GET", "host": front_,
			"path": "/retry", "protocol": "HTTP/1.1", "status": "200", "bytesIn": "0", "bytesOut": "5",
			"entrypoint": "web", "router": "api", "service": "api", "server": good.URL, "retries": "1", "userAgent": "retry-agent"},
		{"requestId": r3.Header.Get("X-Request-Id"), "clientIp": "127.0.0.1", "method": "GET", "host": front_,
			"path": "/nope/x", "protocol": "HTTP/1.1", "status": "404", "bytesIn": "0", "bytesOut": "10",
			"entrypoint": "web", "router": "", "service": "", "server": "", "retries": "0", "userAgent": "ua with \"quotes\"\tand tab"},
	}
	if r2.Header.Get("X-Request-Id") != "client-id-42" {
		t.Errorf("client's request id not kept: %q", r2.Header.Get("X-Request-Id"))
	}
	for i, line := range lines {
		if len(line) != len(logKeys) {
			t.Errorf("line %d has %d keys, want %d: %v", i, len(line), len(logKeys), line)
		}
		for k, v := range want[i] {
			if got := stringOf(line[k]); got != v {
				t.Errorf("line %d: %s = %q, want %q", i, k, got, v)
			}
		}
		ts, err := time.Parse(time.RFC3339Nano, stringOf(line["time"]))
		if err != nil || ts.Before(start.Add(-time.Second)) || ts.After(end) || ts.Location() != time.UTC {
			t.Errorf("line %d: time %v (%v), want in [%v, %v] UTC", i, line["time"], err, start, end)
		}
		dur := number(t, line["durationMs"])
		if dur <= 0 || dur > float64(end.Sub(start).Milliseconds()+1) {
			t.Errorf("line %d: durationMs %v", i, dur)
		}
		ttfb := number(t, line["ttfbMs"])
		if (i < 2) != (ttfb > 0) || ttfb > dur {
			t.Errorf("line %d: ttfbMs %v (duration %v)", i, ttfb, dur)
		}
		if id := stringOf(line["requestId"]); id == "" {
			t.Errorf("line %d: no request id", i)
		}
	}
	data, _ := os.ReadFile(path)
	for _, secret := range []string{"YWxpY2U6czNjcjN0LXB3", "c00kie-v4lue", "0th3r", "pr0xy-t0ken", "ap1-k3y", "qu3ry-s3cret", "token=", "pw0rd", "alice", "Basic", "Cookie", "Authorization"} {
		if bytes.Contains(data, []byte(secret)) {
			t.Errorf("the access log holds %q:\n%s", secret, data)
		}
	}
}

func stringOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case nil:
		return "<absent>"
	}
	return "<?>"
}

func number(t *testing.T, v any) float64 {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("%v is not a number", v)
	}
	f, err := n.Float64()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// The exact line, in both formats, for a fixed record.
func TestAccessLogFormat(t *testing.T) {
	r := httptest.NewRequest("POST", "http://shop.example:8443/cart/add?id=7&sig=abc", strings.NewReader("x"))
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11)")
	r.Header.Set("Authorization", "Bearer t0k3n")
	r.Header.Set("Cookie", "a=b")
	r.Proto = "HTTP/2.0"
	rec := &Record{
		Start:      time.Date(2026, 3, 4, 5, 6, 7, 890123000, time.FixedZone("CET", 3600)),
		Entrypoint: "websecure", Router: "shop", Service: "shop-blue", Server: "http://u:p@10.0.0.7:8080",
		RequestID: "9f86d081884c7d659a2feaa0c55ad015", ClientIP: netip.MustParseAddr("2001:db8::1"),
		Status: 201, BytesIn: 123, BytesOut: 4567, TTFB: 1234567 * time.Nanosecond, Duration: 12*time.Millisecond + 345*time.Microsecond, Retries: 2,
	}
	for _, tc := range []struct{ format, want string }{
		{"json", `{"time":"2026-03-04T04:06:07.890123Z","requestId":"9f86d081884c7d659a2feaa0c55ad015","clientIp":"2001:db8::1","method":"POST","host":"shop.example:8443","path":"/cart/add","protocol":"HTTP/2.0","status":201,"bytesIn":123,"bytesOut":4567,"durationMs":12.345,"ttfbMs":1.234,"entrypoint":"websecure","router":"shop","service":"shop-blue","server":"http://10.0.0.7:8080","retries":2,"userAgent":"Mozilla/5.0 (X11)"}` + "\n"},
		{"text", `time=2026-03-04T04:06:07.890123Z requestId=9f86d081884c7d659a2feaa0c55ad015 clientIp=2001:db8::1 method=POST host=shop.example:8443 path=/cart/add protocol=HTTP/2.0 status=201 bytesIn=123 bytesOut=4567 durationMs=12.345 ttfbMs=1.234 entrypoint=websecure router=shop service=shop-blue server=http://10.0.0.7:8080 retries=2 userAgent="Mozilla/5.0 (X11)"` + "\n"},
	} {
		t.Run(tc.format, func(t *testing.T) {
			var buf bytes.Buffer
			al := newAccessLog(&buf, nil, tc.format, 8)
			al.Observe(r, rec)
			al.Close()
			if buf.String() != tc.want {
				t.Errorf("got\n%s\nwant\n%s", buf.String(), tc.want)
			}
		})
	}
	// An unmatched request before a router: empty fields, status 200 when
	// nothing was written, no client IP.
	var buf bytes.Buffer
	al := newAccessLog(&buf, nil, "text", 8)
	bare := httptest.NewRequest("GET", "/", nil)
	al.Observe(bare, &Record{Start: rec.Start})
	al.Close()
	want := `time=2026-03-04T04:06:07.890123Z requestId="" clientIp="" method=GET host=example.com path=/ protocol=HTTP/1.1 status=200 bytesIn=0 bytesOut=0 durationMs=0.000 ttfbMs=0.000 entrypoint="" router="" service="" server="" retries=0 userAgent=""` + "\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

// Whatever a client puts in the path, host or user agent, a JSON line stays
// one valid object on one line and says what was sent.
func TestAccessLogEscaping(t *testing.T) {
	for _, s := range []string{
		"plain", `quote " backslash \`, "new\nline\r\ttab", "ctl\x00\x01\x1f\x7f", "utf8 é 日本",
		"bad \xff\xfe utf8", "sep \u2028 \u2029", "<script>&amp;", strings.Repeat("é", 400) + "x",
	} {
		b := appendJSONString(nil, s)
		if bytes.ContainsAny(b, "\n\r") {
			t.Errorf("%q: raw line break in %s", s, b)
		}
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Errorf("%q: %s is not a JSON string: %v", s, b, err)
			continue
		}
		if want := strings.ToValidUTF8(s, "\ufffd"); got != want && !strings.Contains(s, "\xff") {
			t.Errorf("%q round-trips to %q", s, got)
		}
		tv := appendTextValue(nil, s)
		if bytes.ContainsAny(tv, "\n\r") {
			t.Errorf("%q: raw line break in text value %s", s, tv)
		}
	}
	if got := string(appendJSONString(nil, "bad \xff\xfe")); got != `"bad \ufffd\ufffd"` {
		t.Errorf("invalid UTF-8: %s", got)
	}
	// Long values are cut.
	r := httptest.NewRequest("GET", "/"+strings.Repeat("a", 5000), nil)
	r.Header.Set("User-Agent", strings.Repeat("u", 5000))
	line := appendJSON(nil, r, &Record{})
	if len(line) > maxPath+maxUserAgent+600 {
		t.Errorf("line of %d bytes for oversized fields", len(line))
	}
}

// blockingWriter blocks every Write until released.
type blockingWriter struct {
	release chan struct{}
	mu      sync.Mutex
	buf     bytes.Buffer
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

// A stuck disk never stalls a request: lines beyond the queue are dropped and
// counted, and every line is either written or counted.
func TestAccessLogDropsWhenFull(t *testing.T) {
	w := &blockingWriter{release: make(chan struct{})}
	al := newAccessLog(w, nil, "json", 4)
	r := httptest.NewRequest("GET", "/", nil)
	const n = 2000
	done := make(chan struct{})
	go func() {
		for i := 0; i < n; i++ {
			al.Observe(r, &Record{Status: 200})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Observe blocked on a stuck writer")
	}
	if al.Dropped() == 0 {
		t.Fatal("no line dropped with a stuck writer and a queue of 4")
	}
	close(w.release)
	al.Close()
	written := uint64(strings.Count(w.buf.String(), "\n"))
	if written+al.Dropped() != n {
		t.Errorf("written %d + dropped %d != %d", written, al.Dropped(), n)
	}
}

// A quiet log reaches the disk without Close, within a drain period (10ms;
// the bound checked is loose for loaded machines).
func TestAccessLogFlushesSoon(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	al, err := NewAccessLog(path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer al.Close()
	start := time.Now()
	al.Observe(httptest.NewRequest("GET", "/soon", nil), &Record{Status: 204})
	waitFor(t, "the line on disk", func() bool {
		b, _ := os.ReadFile(path)
		return bytes.Contains(b, []byte(`"path":"/soon"`))
	})
	if d := time.Since(start); d > time.Second {
		t.Errorf("the line took %v to reach the disk", d)
	}
}

// Close writes what is queued, stops the writer goroutine and closes the file;
// it is idempotent and later lines are ignored.
func TestAccessLogCloseStops(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	al, err := NewAccessLog(path, "text")
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	for i := 0; i < 100; i++ {
		al.Observe(r, &Record{Status: 200})
	}
	if err := al.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-al.done:
	default:
		t.Fatal("the writer goroutine still runs after Close")
	}
	if err := al.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	al.Observe(r, &Record{Status: 200})
	b, _ := os.ReadFile(path)
	if n := strings.Count(string(b), "\n"); n != 100 {
		t.Errorf("%d lines after Close, want 100", n)
	}
}

func TestNewAccessLog(t *testing.T) {
	for _, tc := range []struct {
		path, format string
		ok           bool
	}{
		{"stdout", "json", true},
		{"stderr", "text", true},
		{"", "", true},
		{"stdout", "xml", false},
		{filepath.Join(t.TempDir(), "no", "such", "dir", "a.log"), "json", false},
	} {
		al, err := NewAccessLog(tc.path, tc.format)
		if (err == nil) != tc.ok {
			t.Errorf("NewAccessLog(%q, %q): %v", tc.path, tc.format, err)
		}
		if al != nil {
			al.Close()
		}
	}
}

// The request's side of a line (format, queue) allocates nothing once
// buffers come back from the writer. The writer here is played inline, since
// AllocsPerRun runs on one thread, where the real one would only run between
// two iterations when the scheduler pleases.
func TestAccessLogAllocs(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		al := &AccessLog{text: format == "text", queue: make(chan *[]byte, 1)}
		r := httptest.NewRequest("GET", "/api/items?x=1", nil)
		r.Header.Set("User-Agent", "bench/1.0")
		rec := benchRecord()
		n := testing.AllocsPerRun(2000, func() {
			al.Observe(r, rec)
			putBuf(<-al.queue)
		})
		if n != 0 {
			t.Errorf("%s: AccessLog.Observe: %v allocations per line, want 0", format, n)
		}
	}
}

func benchRecord() *Record {
	return &Record{Start: time.Now(), Entrypoint: "web", Router: "api", Service: "api", Server: "http://10.0.0.11:8080",
		RequestID: "9f86d081884c7d659a2feaa0c55ad015", ClientIP: netip.MustParseAddr("192.0.2.7"), Status: 200,
		BytesOut: 1234, TTFB: 800 * time.Microsecond, Duration: 1200 * time.Microsecond}
}

func BenchmarkAccessLogObserve(b *testing.B) {
	for _, format := range []string{"json", "text"} {
		for _, par := range []bool{false, true} {
			name := format
			if par {
				name += "/parallel"
			}
			b.Run(name, func(b *testing.B) {
				al := newAccessLog(io.Discard, nil, format, accessLogQueue)
				defer al.Close()
				r := httptest.NewRequest("GET", "/api/items?x=1", nil)
				r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) bench/1.0")
				rec := benchRecord()
				b.ReportAllocs()
				if par {
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							al.Observe(r, rec)
						}
					})
				} else {
					for b.Loop() {
						al.Observe(r, rec)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(al.Dropped())/float64(b.N), "dropped/op")
			})
		}
	}
}

// BenchmarkAccessLogFormat is the formatting alone, on the request goroutine.
func BenchmarkAccessLogFormat(b *testing.B) {
	r := httptest.NewRequest("GET", "/api/items?x=1", nil)
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) bench/1.0")
	rec := benchRecord()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendJSON(buf[:0], r, rec)
	}
}
