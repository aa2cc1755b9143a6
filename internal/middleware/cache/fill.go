package cache

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/usher-lb/usher/internal/middleware/cache/rfc9111"
	"github.com/usher-lb/usher/internal/observe"
	"github.com/usher-lb/usher/internal/wire"
)

// filler is the ResponseWriter the next handler answers a forwarded request
// through. It decides at the response's header what becomes of it: passed
// to the client (and, when storable, kept as it streams), or, when it
// answers a revalidation, swallowed: a 304 updates the stored entry, a
// server failure lets stale-if-error serve the stale one; the client then
// gets the entry.
type filler struct {
	h   *handler
	w   http.ResponseWriter
	r   *http.Request
	key string
	req rfc9111.Directives
	j   *judged // the stale entry forwarded for; nil on a miss
	fwd string  // Cache-Status's fwd part

	revalidating    bool // conditional on j's validators
	judgeConditions bool // the client's own conditions were taken off: judged here
	noStore         bool
	freshen         *Entry // the stored GET a forwarded HEAD's 200 updates or invalidates

	header      http.Header
	status      int
	mode        int
	reqTime     time.Time
	respTime    time.Time
	entry       *Entry // being filled; nil when not storing
	buf         []byte
	notModified bool // the client gets a 304 for this 200
	stored      bool
	pass        bool // the server's response may not be stored, whoever asks
	wroteBody   bool
}

const (
	modeNone    = iota // no header yet
	modePass           // to the client
	mode304            // the server's 304 to a revalidation
	modeFailure        // the server's failure, stale-if-error will answer
)

func (h *handler) newFiller(w http.ResponseWriter, r *http.Request, key string, req rfc9111.Directives, j *judged, fwd string) *filler {
	return &filler{h: h, w: w, r: r, key: key, req: req, j: j, fwd: fwd, header: http.Header{}, reqTime: h.now()}
}

// Header is the handler's own header until the response is decided; once
// passing to the client it is the client's, so that trailers set after the
// body reach it.
func (f *filler) Header() http.Header {
	if f.mode == modePass {
		return f.w.Header()
	}
	return f.header
}

func (f *filler) Unwrap() http.ResponseWriter { return f.w }

func (f *filler) WriteHeader(code int) {
	if f.mode != modeNone {
		return
	}
	if code < 200 {
		f.interim(code)
		return
	}
	f.status = code
	f.respTime = f.h.now()
	switch {
	case f.j != nil && f.revalidating && code == http.StatusNotModified:
		f.mode = mode304
		return
	case f.j != nil && code >= 500 && f.j.staleOK && !f.noStore:
		f.mode = modeFailure
		return
	}
	f.mode = modePass
	status := "usher; " + f.fwd
	if f.revalidating {
		status += "; fwd-status=" + strconv.Itoa(code)
	}
	if reason := f.storable(); reason == "" {
		status += "; stored; ttl=" + strconv.FormatInt(int64((f.entryLifetime()-f.entryAge())/time.Second), 10)
	} else if f.pass = replaces(reason) || reason == "too-large"; f.pass && f.j != nil {
		// The server's new answer says it is not to be kept: the old one
		// must not be served in its place any more.
		_ = f.h.st.store.Delete(f.r.Context(), f.key, f.j.e.Variant)
	}
	dst := f.w.Header()
	for k, vv := range f.header {
		dst[k] = vv
	}
	dst["Cache-Status"] = append(dst["Cache-Status"], status)
	if f.judgeConditions && code == http.StatusOK && notModified(f.r, f.header, f.respTime) {
		f.notModified = true
		strip304(dst)
		f.w.WriteHeader(http.StatusNotModified)
		return
	}
	f.w.WriteHeader(code)
}

// interim passes an interim response (103 Early Hints, 100, 102) to the
// client at once, with the fields the handler set for it: it is this
// exchange's, never stored (RFC 9111 §3: only final responses are), and
// the client may act on it before the final response arrives. The
// client's header is left as it was, for the final response.
func (f *filler) interim(code int) {
	if code == http.StatusSwitchingProtocols {
		return // upgrades bypass the cache; a 101 here would be a server's error
	}
	dst := f.w.Header()
	saved := dst.Clone()
	for k, vv := range f.header {
		dst[k] = vv
	}
	f.w.WriteHeader(code)
	clear(dst)
	for k, vv := range saved {
		dst[k] = vv
	}
}

// replaces tells whether a response not stored for reason takes the place
// of the stale entry it was forwarded for: it does when the server's
// directives say so, not when only this request (a range, a HEAD, its
// Authorization) or this body (too large) kept it out.
func replaces(reason string) bool {
	switch reason {
	case rfc9111.NoStore, rfc9111.Private, rfc9111.VaryStar, rfc9111.SetCookie, rfc9111.NoFreshness:
		return true
	}
	return false
}

// storable prepares the entry being filled when the response may be
// stored, and says why not otherwise.
func (f *filler) storable() string {
	if f.noStore || f.r.Method != http.MethodGet {
		return "method"
	}
	resp := &rfc9111.Response{Status: f.status, Header: f.header, CC: rfc9111.Parse(f.header["Cache-Control"]),
		RequestTime: f.reqTime, ResponseTime: f.respTime}
	if reason := rfc9111.Storable(f.req, len(f.r.Header["Authorization"]) > 0, resp); reason != "" {
		return reason
	}
	if cl := f.header["Content-Length"]; len(cl) > 0 {
		if n, err := strconv.ParseInt(cl[0], 10, 64); err != nil || n > f.h.maxEntry {
			return "too-large"
		}
	}
	e := f.h.prepare(f.key, f.r, f.status, f.header.Clone(), f.reqTime, f.respTime, resp.CC)
	if e == nil {
		return "no-freshness"
	}
	f.entry = e
	return ""
}

func (f *filler) entryLifetime() time.Duration {
	r := f.entry.response()
	d, _ := r.Lifetime()
	return d
}

func (f *filler) entryAge() time.Duration {
	r := f.entry.response()
	return r.CurrentAge(f.respTime)
}

func (e *Entry) response() *rfc9111.Response {
	return &rfc9111.Response{Status: e.Status, Header: e.Header, CC: e.directives(),
		RequestTime: e.RequestTime, ResponseTime: e.ResponseTime}
}

// hopByHop are the fields never stored (RFC 9111 §3.1), nor taken from a
// 304 into a stored header, with those a stored body depends on.
var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Transfer-Encoding", "Upgrade",
	"Trailer", "Proxy-Authenticate", "Proxy-Authentication-Info", "Proxy-Authorization"}

// prepare makes the entry to store for a response with header h (the
// caller's to give away); nil when it would be of no use: no freshness, no
// validator, no stale window.
func (h *handler) prepare(key string, r *http.Request, status int, hd http.Header, reqT, respT time.Time, cc rfc9111.Directives) *Entry {
	dropConnectionNamed(hd)
	for _, k := range hopByHop {
		delete(hd, k)
	}
	for _, k := range cc.PrivateFields {
		delete(hd, k)
	}
	if len(hd["Date"]) == 0 {
		hd["Date"] = []string{respT.UTC().Format(http.TimeFormat)}
	}
	names, _ := varyNames(hd)
	e := (&Entry{URL: key, Variant: variantOf(names, r.Header), Status: status, Header: hd,
		RequestTime: reqT, ResponseTime: respT, Tags: tagsOf(hd)}).parsed()
	if !h.expire(e) {
		return nil
	}
	return e
}

// expire sets when the store may forget e: at the end of its freshness,
// of its stale-while-revalidate and stale-if-error windows, and of
// keepStale when it has a validator. It reports false when that is now.
func (h *handler) expire(e *Entry) bool {
	resp := e.response()
	life, _ := resp.Lifetime()
	left := life - resp.CurrentAge(e.ResponseTime)
	if !resp.StaleProhibited() {
		extra := max(resp.CC.StaleWhileRevalidate, resp.CC.StaleIfError)
		if extra > 0 {
			left += time.Duration(extra) * time.Second
		}
	}
	if len(e.Header["Etag"]) > 0 || len(e.Header["Last-Modified"]) > 0 {
		left += h.keepStale
	}
	if left <= 0 {
		return false
	}
	e.Expires = e.ResponseTime.Add(left)
	return true
}

// dropConnectionNamed removes the fields a Connection header names: they
// are this hop's (RFC 9110 §7.6.1), never stored. usher's proxy already
// removes them; the next handler need not be the proxy.
func dropConnectionNamed(hd http.Header) {
	if cv := hd["Connection"]; len(cv) > 0 {
		wire.ConnectionTokens(cv, func(k string) { delete(hd, k) })
	}
}

// tagsOf reads Cache-Tag (comma-separated) and Surrogate-Key
// (space-separated).
func tagsOf(h http.Header) []string {
	var tags []string
	for _, v := range h["Cache-Tag"] {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				tags = append(tags, t)
			}
		}
	}
	for _, v := range h["Surrogate-Key"] {
		tags = append(tags, strings.Fields(v)...)
	}
	if len(tags) > maxTags {
		tags = tags[:maxTags]
	}
	return tags
}

func (f *filler) Write(b []byte) (int, error) {
	if f.mode == modeNone {
		f.WriteHeader(http.StatusOK)
	}
	if f.mode != modePass {
		return len(b), nil
	}
	if f.entry != nil {
		if int64(len(f.buf)+len(b)) > f.h.maxEntry {
			f.entry, f.buf, f.pass = nil, nil, true
		} else {
			f.buf = append(f.buf, b...)
		}
	}
	if f.notModified || f.r.Method == http.MethodHead {
		return len(b), nil
	}
	f.wroteBody = true
	n, err := f.w.Write(b)
	if err != nil {
		f.entry, f.buf = nil, nil
	}
	return n, err
}

func (f *filler) Flush() {
	if f.mode == modeNone {
		f.WriteHeader(http.StatusOK)
	}
	if f.mode == modePass && !f.notModified {
		_ = http.NewResponseController(f.w).Flush()
	}
}

// finish ends the exchange once the next handler returned.
func (f *filler) finish() {
	if f.mode == modeNone {
		f.WriteHeader(http.StatusOK)
	}
	switch f.mode {
	case mode304:
		if et := f.header["Etag"]; len(et) > 0 && !strings.HasPrefix(et[0], "W/") {
			if old := f.j.e.Header["Etag"]; len(old) > 0 && old[0] != et[0] {
				// The 304 names another representation than the one
				// stored (RFC 9111 §4.3.4): it updates nothing, and the
				// whole response is asked for.
				f.refetch()
				return
			}
		}
		e := f.h.update(f.j.e, f.header, f.r, f.reqTime, f.respTime)
		status := "usher; " + f.fwd + "; fwd-status=304"
		if e != nil {
			if err := f.h.st.store.Put(f.r.Context(), e); err == nil {
				status += "; stored"
			}
		} else {
			_ = f.h.st.store.Delete(f.r.Context(), f.key, f.j.e.Variant)
			e = f.h.merged(f.j.e, f.header, f.reqTime, f.respTime)
		}
		j := f.h.judge(e, rfc9111.Directives{MaxAge: rfc9111.Absent, MinFresh: rfc9111.Absent, MaxStale: rfc9111.Absent,
			StaleIfError: rfc9111.Absent, SMaxAge: rfc9111.Absent, StaleWhileRevalidate: rfc9111.Absent}, f.h.now())
		if sc := f.header["Set-Cookie"]; len(sc) > 0 {
			f.w.Header()["Set-Cookie"] = sc // this client's only: never stored
		}
		f.h.serve(f.w, f.r, e, j.age, status+"; ttl="+strconv.FormatInt(j.ttl(), 10), nil)
		f.stored = true
		return
	case modeFailure:
		f.h.st.c.Stale.Add(1)
		j := f.h.judge(f.j.e, f.req, f.h.now())
		f.h.serve(f.w, f.r, f.j.e, j.age, "usher; "+f.fwd+"; fwd-status="+strconv.Itoa(f.status)+
			"; ttl="+strconv.FormatInt(j.ttl(), 10)+"; detail=stale-if-error", j.stripped)
		return
	}
	if f.freshen != nil && f.status == http.StatusOK {
		f.h.freshenFromHead(f.freshen, f.header, f.r, f.reqTime, f.respTime)
		return
	}
	if f.entry == nil {
		return
	}
	if rec := observe.From(f.w); rec != nil && rec.Abort {
		return // cut short: a part is never taken for the whole
	}
	if cl := f.header["Content-Length"]; len(cl) > 0 {
		if n, err := strconv.Atoi(cl[0]); err != nil || n != len(f.buf) {
			return
		}
	}
	f.entry.Body = f.buf
	if err := f.h.st.store.Put(f.r.Context(), f.entry); err != nil {
		f.h.storeFailed("put", err)
		return
	}
	f.h.st.c.StoredBytes.Add(int64(len(f.buf)))
	f.stored = true
}

// freshenFromHead applies the 200 to a forwarded HEAD to the stored GET
// that could have answered it (RFC 9111 §4.3.5): when the HEAD's validators
// (ETag, Last-Modified; at least one) equal the stored ones and its
// Content-Length, when it has one, is the stored body's, its header updates
// the stored one as a 304's would; otherwise the stored response no longer
// describes what the server has, and is dropped.
func (h *handler) freshenFromHead(old *Entry, hd http.Header, r *http.Request, reqT, respT time.Time) {
	ctx := r.Context()
	if !sameValidators(old, hd) {
		_ = h.st.store.Delete(ctx, old.URL, old.Variant)
		return
	}
	e := h.update(old, hd, r, reqT, respT)
	if e == nil {
		_ = h.st.store.Delete(ctx, old.URL, old.Variant)
		return
	}
	if err := h.st.store.Put(ctx, e); err != nil {
		h.storeFailed("put", err)
	}
}

// sameValidators tells whether the validators of a HEAD's header (at least
// one) and its Content-Length match a stored response.
func sameValidators(e *Entry, hd http.Header) bool {
	n := 0
	for _, k := range []string{"Etag", "Last-Modified"} {
		v := hd[k]
		if len(v) == 0 {
			continue
		}
		n++
		if old := e.Header[k]; len(old) == 0 || strings.TrimSpace(old[0]) != strings.TrimSpace(v[0]) {
			return false
		}
	}
	if cl := hd["Content-Length"]; len(cl) > 0 {
		if m, err := strconv.Atoi(strings.TrimSpace(cl[0])); err != nil || m != len(e.Body) {
			return false
		}
	}
	return n > 0
}

// refetch asks the server again, unconditionally, for a revalidation whose
// 304 did not match the stored entry.
func (f *filler) refetch() {
	out := f.r.Clone(f.r.Context())
	for _, k := range append(conditionalHeaders, "Range") {
		delete(out.Header, k)
	}
	g := f.h.newFiller(f.w, f.r, f.key, f.req, f.j, f.fwd)
	g.judgeConditions = true
	f.h.next.ServeHTTP(g, out)
	g.finish()
	f.stored = g.stored
}

// merged is old with the header of a 304 that validated it (RFC 9111 §3.2):
// each field of the 304 replaces the stored one, but for the framing, the
// hop-by-hop fields, Content-Encoding (the stored body's) and Set-Cookie
// (one user's). Its age starts again from the 304.
func (h *handler) merged(old *Entry, h304 http.Header, reqT, respT time.Time) *Entry {
	hd := old.Header.Clone()
	var hop []string
	wire.ConnectionTokens(h304["Connection"], func(k string) { hop = append(hop, k) })
	for k, vv := range h304 {
		switch k {
		case "Content-Length", "Content-Range", "Content-Encoding", "Set-Cookie", "Cache-Status":
			continue
		}
		if slices.Contains(hop, k) {
			continue
		}
		hd[k] = append([]string(nil), vv...)
	}
	for _, k := range hopByHop {
		delete(hd, k)
	}
	if len(h304["Date"]) == 0 {
		hd["Date"] = []string{respT.UTC().Format(http.TimeFormat)}
	}
	if len(h304["Age"]) == 0 {
		delete(hd, "Age")
	}
	return (&Entry{URL: old.URL, Variant: old.Variant, Status: old.Status, Header: hd, Body: old.Body,
		RequestTime: reqT, ResponseTime: respT, Tags: tagsOf(hd)}).parsed()
}

// update is the entry to store after a 304; nil when the updated header no
// longer lets it be stored.
func (h *handler) update(old *Entry, h304 http.Header, r *http.Request, reqT, respT time.Time) *Entry {
	e := h.merged(old, h304, reqT, respT)
	resp := e.response()
	req := rfc9111.RequestDirectives(r.Header)
	if rfc9111.Storable(req, len(r.Header["Authorization"]) > 0, resp) != "" {
		return nil
	}
	for _, k := range resp.CC.PrivateFields {
		delete(e.Header, k)
	}
	if !h.expire(e) {
		return nil
	}
	return e
}

// serve answers r from a stored entry: its header (each value copied, so
// that later handlers may change them), Age and Cache-Status, then a 304
// when the client's conditions match, a 206 or 416 for a byte range, or the
// stored response.
func (h *handler) serve(w http.ResponseWriter, r *http.Request, e *Entry, age time.Duration, status string, strip []string) {
	dst := w.Header()
	// One backing array for the copied values and the three set here: a
	// hit is a few allocations, not one per field.
	n := 3
	for _, vv := range e.Header {
		n += len(vv)
	}
	vals := make([]string, n)
	for k, vv := range e.Header {
		if k == "Set-Cookie" {
			continue
		}
		c := vals[:len(vv):len(vv)]
		copy(c, vv)
		vals = vals[len(vv):]
		dst[k] = c
	}
	for _, k := range strip {
		delete(dst, k)
	}
	one := func(v string) []string {
		vals[0] = v
		c := vals[:1:1]
		vals = vals[1:]
		return c
	}
	dst["Age"] = one(strconv.FormatInt(int64(age/time.Second), 10))
	if cs := dst["Cache-Status"]; len(cs) > 0 {
		dst["Cache-Status"] = append(cs, status)
	} else {
		dst["Cache-Status"] = one(status)
	}
	if e.Status >= 200 && e.Status < 300 && (len(r.Header["If-None-Match"]) > 0 || len(r.Header["If-Modified-Since"]) > 0) &&
		notModified(r, e.Header, h.now()) {
		strip304(dst)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := e.Body
	code := e.Status
	if e.Status == http.StatusOK && len(r.Header["Range"]) > 0 && ifRange(r, e.Header) {
		if start, end, ok, parsed := byteRange(r.Header["Range"], int64(len(body))); parsed {
			if !ok {
				dst["Content-Range"] = []string{"bytes */" + strconv.Itoa(len(body))}
				delete(dst, "Content-Type")
				dst["Content-Length"] = []string{"0"}
				w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
				return
			}
			dst["Content-Range"] = []string{"bytes " + strconv.FormatInt(start, 10) + "-" + strconv.FormatInt(end, 10) + "/" + strconv.Itoa(len(body))}
			body = body[start : end+1]
			code = http.StatusPartialContent
		}
	}
	if code != http.StatusNoContent && code != http.StatusNotModified {
		cl := e.contentLength
		if cl == "" || len(body) != len(e.Body) {
			cl = strconv.Itoa(len(body))
		}
		dst["Content-Length"] = one(cl)
	}
	w.WriteHeader(code)
	if r.Method != http.MethodHead && len(body) > 0 {
		_, _ = w.Write(body)
	}
}

// strip304 removes from a header what a 304 does not carry: the framing
// and the body's own fields.
func strip304(h http.Header) {
	for _, k := range []string{"Content-Length", "Content-Range", "Content-Type", "Content-Encoding", "Transfer-Encoding"} {
		delete(h, k)
	}
}

// notModified evaluates the client's If-None-Match, or else its
// If-Modified-Since, against a response's header (RFC 9110 §13.1.2,
// §13.1.3; RFC 9111 §4.3.2).
//
// An If-Modified-Since later than now is not a date the resource could have
// been modified at, and is ignored (RFC 9110 §13.1.3).
func notModified(r *http.Request, h http.Header, now time.Time) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if inm := r.Header["If-None-Match"]; len(inm) > 0 {
		et := ""
		if v := h["Etag"]; len(v) > 0 {
			et = v[0]
		}
		for _, v := range inm {
			for _, t := range strings.Split(v, ",") {
				t = strings.TrimSpace(t)
				if t == "*" || (et != "" && weakEqual(t, et)) {
					return true
				}
			}
		}
		return false
	}
	ims := r.Header["If-Modified-Since"]
	if len(ims) == 0 {
		return false
	}
	since, ok := rfc9111.ParseHTTPDate(ims[0])
	if !ok || since.After(now) {
		return false
	}
	lmv := h["Last-Modified"]
	if len(lmv) == 0 {
		lmv = h["Date"]
	}
	if len(lmv) == 0 {
		return false
	}
	lm, ok := rfc9111.ParseHTTPDate(lmv[0])
	return ok && !lm.After(since)
}

func weakEqual(a, b string) bool {
	return strings.TrimPrefix(a, "W/") == strings.TrimPrefix(b, "W/")
}

// ifRange tells whether the client's If-Range (when any) lets a range of the
// stored response be served: a strong ETag equal to the stored one, or the
// stored Last-Modified exactly.
func ifRange(r *http.Request, h http.Header) bool {
	ir := r.Header["If-Range"]
	if len(ir) == 0 {
		return true
	}
	v := strings.TrimSpace(ir[0])
	if strings.HasPrefix(v, `"`) || strings.HasPrefix(v, "W/") {
		et := h["Etag"]
		return len(et) > 0 && !strings.HasPrefix(v, "W/") && !strings.HasPrefix(et[0], "W/") && et[0] == v
	}
	lm := h["Last-Modified"]
	return len(lm) > 0 && lm[0] == v
}

// byteRange reads a Range of one byte range of a body of size n. parsed is
// false when the field is not one range of bytes (the whole body is then
// served); ok false when the range cannot be satisfied.
func byteRange(vv []string, n int64) (start, end int64, ok, parsed bool) {
	if len(vv) != 1 {
		return 0, 0, false, false
	}
	spec, found := strings.CutPrefix(strings.TrimSpace(vv[0]), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false, false
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false, false
	}
	if a == "" {
		k, err := strconv.ParseInt(b, 10, 64)
		if err != nil || k < 0 {
			return 0, 0, false, false
		}
		if k == 0 || n == 0 {
			return 0, 0, false, true
		}
		return max(0, n-k), n - 1, true, true
	}
	s, err := strconv.ParseInt(a, 10, 64)
	if err != nil || s < 0 {
		return 0, 0, false, false
	}
	e := n - 1
	if b != "" {
		if e, err = strconv.ParseInt(b, 10, 64); err != nil || e < s {
			return 0, 0, false, false
		}
		e = min(e, n-1)
	}
	if s >= n {
		return 0, 0, false, true
	}
	return s, e, true, true
}

// discard is where a revalidation that no client waits for writes; the
// Recorder around it tells whether the body was cut short.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }

func newBackgroundWriter() *observe.Recorder {
	return observe.NewRecorder(&discard{h: http.Header{}})
}
