package service

import (
	"context"
	"hash/maphash"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/usher-lb/usher/internal/observe"
)

// Compare is what a mirror service compares of each mirror's response with
// the main one (shadow traffic): the final status, the values of chosen
// headers, and the bodies, each streamed into a hash as it goes (the main
// one as it goes to the client, never held), of which at most MaxBody bytes
// are hashed.
//
// The main response is never held for the comparison: each side records
// what it saw as it ends, and whichever of the two ends last compares them,
// counts each field's result and, at most once a second per mirror service,
// logs a difference: method, path, what differed, both statuses and body
// lengths, never a body or a header's value.
type Compare struct {
	Status  bool
	Body    bool
	Headers []string // canonical names
	MaxBody int64
	// Count returns the counter of one result (match, differ, skipped) of
	// one field (status, body, header; header names the header, "" for the
	// others) of mirror's comparisons; observe.Metrics.MirrorCompare.
	Count func(mirror, field, header, result string) observe.Counter
	Log   *slog.Logger // nil: differences are not logged
}

// The results of a field's comparison.
const (
	resMatch = iota
	resDiffer
	resSkipped
)

var resultNames = [...]string{"match", "differ", "skipped"}

// fieldCounters are the counters of one compared field, by result.
type fieldCounters [3]observe.Counter

func (f *fieldCounters) counts() CompareCounts {
	return CompareCounts{Match: f[resMatch].Value(), Differ: f[resDiffer].Value(), Skipped: f[resSkipped].Value()}
}

// targetCompare is the counting of one mirror's comparisons.
type targetCompare struct {
	status, body fieldCounters
	headers      []fieldCounters // by Compare.Headers
}

func (c *Compare) counters(mirror string) *targetCompare {
	count := c.Count
	if count == nil {
		// Counted all the same, on counters of their own.
		count = func(mirror, field, header, result string) observe.Counter {
			return (*observe.Metrics)(nil).MirrorCompare("", mirror, field, header, result)
		}
	}
	tc := &targetCompare{headers: make([]fieldCounters, len(c.Headers))}
	for r, res := range resultNames {
		if c.Status {
			tc.status[r] = count(mirror, "status", "", res)
		}
		if c.Body {
			tc.body[r] = count(mirror, "body", "", res)
		}
		for i, h := range c.Headers {
			tc.headers[i][r] = count(mirror, "header", h, res)
		}
	}
	return tc
}

// CompareCounts are the results of one field's comparisons since usher
// started (the counters of usher_mirror_compare_total).
type CompareCounts struct {
	Match   uint64 `json:"match"`
	Differ  uint64 `json:"differ"`
	Skipped uint64 `json:"skipped"`
}

// MirrorComparison is what the admin API shows of one mirror's comparisons;
// a field not compared is absent.
type MirrorComparison struct {
	Mirror  string                   `json:"mirror"`
	Status  *CompareCounts           `json:"status,omitempty"`
	Body    *CompareCounts           `json:"body,omitempty"`
	Headers map[string]CompareCounts `json:"headers,omitempty"`
}

// Comparisons are the counts of each mirror's comparisons; nil without
// compare.
func (m *Mirror) Comparisons() []MirrorComparison {
	if m.cmp == nil {
		return nil
	}
	out := make([]MirrorComparison, 0, len(m.mirrors))
	for _, t := range m.mirrors {
		mc := MirrorComparison{Mirror: t.Name}
		if m.cmp.Status {
			c := t.cmp.status.counts()
			mc.Status = &c
		}
		if m.cmp.Body {
			c := t.cmp.body.counts()
			mc.Body = &c
		}
		if len(m.cmp.Headers) > 0 {
			mc.Headers = map[string]CompareCounts{}
			for i, h := range m.cmp.Headers {
				mc.Headers[h] = t.cmp.headers[i].counts()
			}
		}
		out = append(out, mc)
	}
	return out
}

// seen is what one side recorded of its response.
type seen struct {
	status  int        // final (>= 200); 0: none yet
	headers [][]string // values of Compare.Headers when the status was sent
	sum     maphash.Hash
	digest  uint64 // of sum, once ended: the comparisons of several mirrors read it at once
	n       int64  // body bytes, all of them (only the first MaxBody are hashed)
	whole   bool   // the response ended as it should: not cut short, not abandoned
}

func (s *seen) head(cmp *Compare, code int, h http.Header) {
	if s.status != 0 || code < 200 {
		return // 1xx are not the response; the first final status is
	}
	s.status = code
	if len(cmp.Headers) > 0 {
		s.headers = make([][]string, len(cmp.Headers))
		for i, k := range cmp.Headers {
			s.headers[i] = slices.Clone(h[k])
		}
	}
}

// body records body bytes; hdr is the header of an implicit 200 when no
// status came first.
func (s *seen) body(cmp *Compare, hdr http.Header, b []byte) {
	if s.status == 0 {
		s.head(cmp, http.StatusOK, hdr)
	}
	if cmp.Body {
		if left := cmp.MaxBody - s.n; left > 0 {
			s.sum.Write(b[:min(int64(len(b)), left)])
		}
	}
	s.n += int64(len(b))
}

// end is called once the side's handler returned: a handler that wrote
// nothing sent an empty 200.
func (s *seen) end(cmp *Compare, hdr http.Header, whole bool) {
	if s.status == 0 && whole {
		s.head(cmp, http.StatusOK, hdr)
	}
	s.whole = whole
	s.digest = s.sum.Sum64()
}

// shadow is one comparison under way: the main response (shared by the
// comparisons of every mirror the request was copied to) and one mirror's.
type shadow struct {
	m      *Mirror
	t      *MirrorTarget
	main   *seen
	mirror seen
	method string
	path   string
	left   atomic.Int32 // sides still running; the one that ends the last compares
}

func (sh *shadow) done() {
	if sh.left.Add(-1) == 0 {
		sh.m.compare(sh)
	}
}

// mainTee is the main response's writer: what goes to the client also goes
// into the main side's record, as it goes.
type mainTee struct {
	http.ResponseWriter
	cmp  *Compare
	seen *seen
}

func (w *mainTee) WriteHeader(code int) {
	w.seen.head(w.cmp, code, w.ResponseWriter.Header())
	w.ResponseWriter.WriteHeader(code)
}

func (w *mainTee) Write(b []byte) (int, error) {
	if w.seen.status == 0 {
		// The headers as the handler set them, before a writer below adds
		// its own (a sniffed Content-Type).
		w.seen.head(w.cmp, http.StatusOK, w.ResponseWriter.Header())
	}
	n, err := w.ResponseWriter.Write(b)
	w.seen.body(w.cmp, nil, b[:n])
	return n, err
}

// Flush keeps streams streaming: the proxy flushes what it can.
func (w *mainTee) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets observe.From and http.ResponseController reach the writers below.
func (w *mainTee) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// mirrorSink is a compared mirror's writer: nothing goes anywhere, what is
// compared is recorded.
type mirrorSink struct {
	h    http.Header
	cmp  *Compare
	seen *seen
}

func (w *mirrorSink) Header() http.Header         { return w.h }
func (w *mirrorSink) WriteHeader(code int)        { w.seen.head(w.cmp, code, w.h) }
func (w *mirrorSink) Write(b []byte) (int, error) { w.seen.body(w.cmp, w.h, b); return len(b), nil }

// compare counts the results of a finished comparison and logs what
// differed. Both sides are over: nothing else touches sh.
func (m *Mirror) compare(sh *shadow) {
	cmp, tc, a, b := m.cmp, sh.t.cmp, sh.main, &sh.mirror
	var differ []string
	count := func(f *fieldCounters, name string, r int) {
		f[r].Inc()
		if r == resDiffer {
			differ = append(differ, name)
		}
	}
	switch {
	case !a.whole:
		// The client left or the main response was cut short: what it
		// sent is no answer to compare with.
		if cmp.Status {
			tc.status[resSkipped].Inc()
		}
		if cmp.Body {
			tc.body[resSkipped].Inc()
		}
		for i := range cmp.Headers {
			tc.headers[i][resSkipped].Inc()
		}
		return
	case b.status == 0:
		// The mirror gave no response in time: its status differs, there
		// is nothing else of it.
		if cmp.Status {
			count(&tc.status, "status", resDiffer)
		}
		if cmp.Body {
			tc.body[resSkipped].Inc()
		}
		for i := range cmp.Headers {
			tc.headers[i][resSkipped].Inc()
		}
	default:
		if cmp.Status {
			count(&tc.status, "status", verdict(a.status == b.status))
		}
		for i, h := range cmp.Headers {
			count(&tc.headers[i], "header "+h, verdict(slices.Equal(a.headers[i], b.headers[i])))
		}
		if cmp.Body {
			r := resSkipped
			switch {
			case !b.whole:
				// Abandoned at the copy's deadline: its body is not all there.
			case a.n != b.n:
				r = resDiffer // one body past MaxBody and not the other, too
			case a.n <= cmp.MaxBody:
				r = verdict(a.digest == b.digest)
			}
			switch r {
			case resSkipped:
				tc.body[resSkipped].Inc()
			default:
				count(&tc.body, "body", r)
			}
		}
	}
	if len(differ) > 0 && cmp.Log != nil && m.logs.allow() {
		cmp.Log.Info("mirror: response differs",
			"service", m.self, "mirror", sh.t.Name, "method", sh.method, "path", sh.path,
			"differ", strings.Join(differ, ", "),
			"status", a.status, "mirrorStatus", b.status, "bytes", a.n, "mirrorBytes", b.n,
			"suppressed", m.logs.suppressed.Swap(0))
	}
}

func verdict(equal bool) int {
	if equal {
		return resMatch
	}
	return resDiffer
}

// logLimit lets one line through a second; the lines it holds back are
// counted, and the next line says how many.
type logLimit struct {
	next       atomic.Int64 // unix nanoseconds before which lines are held back
	suppressed atomic.Uint64
}

func (l *logLimit) allow() bool {
	now := time.Now().UnixNano()
	n := l.next.Load()
	if now < n || !l.next.CompareAndSwap(n, now+int64(time.Second)) {
		l.suppressed.Add(1)
		return false
	}
	return true
}

// ended tells whether the main response ended whole: its record says when
// it was cut short or its client left. Not its context: a client may close
// the connection once it has the whole response, before the handler is back.
// Without a record (a handler called in code), the context is all there is.
func ended(ctx context.Context, rec *observe.Record) bool {
	if rec != nil {
		return !rec.Abort
	}
	return ctx.Err() == nil
}

// clipPath bounds a path in a log line.
func clipPath(p string) string {
	if len(p) > 256 {
		return p[:256] + "…"
	}
	return p
}
