package rfc9111

import (
	"net/http"
	"strings"
	"time"
)

// HeuristicFraction is the part of a response's Last-Modified age that is
// its heuristic freshness lifetime (RFC 9111 §4.2.2 suggests 10%), and
// MaxHeuristic its cap: a page last changed a year ago is not taken as fresh
// for five weeks.
const (
	HeuristicFraction = 10
	MaxHeuristic      = 24 * time.Hour
)

// HeuristicallyCacheable tells whether status may be given a heuristic
// freshness lifetime (RFC 9110 §15.1) and so be stored without explicit
// freshness.
func HeuristicallyCacheable(status int) bool {
	switch status {
	case 200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501:
		return true
	}
	return false
}

// Understood tells whether a cache that stores full responses knows what
// status means for caching (must-understand, RFC 9111 §5.2.2.3): not 206
// (a part) nor 304 (no representation), nor a status this list lacks.
func Understood(status int) bool {
	switch status {
	case 200, 203, 204, 300, 301, 302, 303, 307, 308,
		400, 403, 404, 405, 410, 414, 421, 451, 500, 501, 502, 503, 504:
		return true
	}
	return false
}

// Response is what freshness is computed from: the stored response's
// header, status and the times of the exchange that got it.
type Response struct {
	Status int
	Header http.Header
	CC     Directives // Parse(Header["Cache-Control"])
	// RequestTime is when the request that got it was sent, ResponseTime
	// when its header arrived (RFC 9111 §4.2.3).
	RequestTime, ResponseTime time.Time
}

// date returns the Date of the response, or its ResponseTime when it has
// none or a bad one.
func (r *Response) date() time.Time {
	if t, ok := httpDate(r.Header, "Date"); ok {
		return t
	}
	return r.ResponseTime
}

func httpDate(h http.Header, name string) (time.Time, bool) {
	v := h[name]
	if len(v) == 0 {
		return time.Time{}, false
	}
	return ParseHTTPDate(v[0])
}

// The shapes of the three forms of HTTP-date (RFC 9110 §5.6.7): 'a' a
// letter, 'd' a digit, '_' a space or a digit, anything else itself. The
// weekday of the RFC 850 form has its own length, so its shape starts at
// the comma.
const (
	imfShape     = "aaa, dd aaa dddd dd:dd:dd GMT"
	rfc850Shape  = ", dd-aaa-dd dd:dd:dd GMT"
	asctimeShape = "aaa aaa _d dd:dd:dd dddd"
)

// ParseHTTPDate reads an HTTP-date: IMF-fixdate, or one of the obsolete
// RFC 850 and asctime forms. It is stricter than net/http's ParseTime,
// which takes a run of spaces for one and a one-digit hour: the grammar
// has no room for either, and a date that is not an HTTP-date must not be
// read as one — an Expires that is invalid means already expired (RFC 9111
// §5.3), not some time the parser guessed.
func ParseHTTPDate(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	var layout string
	switch {
	case shaped(s, imfShape):
		layout = http.TimeFormat
	case shaped(s, asctimeShape):
		layout = time.ANSIC
	default:
		i := strings.IndexByte(s, ',')
		if i < 6 || i > 9 || !shaped(s[i:], rfc850Shape) {
			return time.Time{}, false
		}
		layout = time.RFC850
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

func shaped(s, shape string) bool {
	if len(s) != len(shape) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		digit := c >= '0' && c <= '9'
		switch shape[i] {
		case 'a':
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				return false
			}
		case 'd':
			if !digit {
				return false
			}
		case '_':
			if !digit && c != ' ' {
				return false
			}
		default:
			if c != shape[i] {
				return false
			}
		}
	}
	return true
}

// Lifetime is the freshness lifetime of a response in a shared cache
// (RFC 9111 §4.2.1): s-maxage, else max-age, else Expires minus Date, else
// a heuristic for responses that allow one; heuristic says which. An
// invalid s-maxage, max-age or Expires makes a lifetime of 0: explicit, and
// already stale.
func (r *Response) Lifetime() (d time.Duration, heuristic bool) {
	switch {
	case r.CC.SMaxAge != Absent:
		return seconds(r.CC.SMaxAge), false
	case r.CC.MaxAge != Absent:
		return seconds(r.CC.MaxAge), false
	}
	if ev := r.Header["Expires"]; len(ev) > 0 {
		exp, ok := ParseHTTPDate(ev[0])
		if !ok {
			return 0, false
		}
		if d := exp.Sub(r.date()); d > 0 {
			return d, false
		}
		return 0, false
	}
	if !HeuristicallyCacheable(r.Status) && !r.CC.Public {
		return 0, false
	}
	lm, ok := httpDate(r.Header, "Last-Modified")
	if !ok {
		return 0, false
	}
	age := r.date().Sub(lm)
	if age <= 0 {
		return 0, false
	}
	h := age / HeuristicFraction
	if h > MaxHeuristic {
		h = MaxHeuristic
	}
	return h.Truncate(time.Second), true
}

// Explicit tells whether the response has an explicit freshness (s-maxage,
// max-age or Expires, valid or not).
func (r *Response) Explicit() bool {
	return r.CC.SMaxAge != Absent || r.CC.MaxAge != Absent || len(r.Header["Expires"]) > 0
}

func seconds(v int64) time.Duration {
	if v < 0 {
		return 0
	}
	return time.Duration(v) * time.Second
}

// AgeValue is the response's Age header in seconds: the first value of the
// first line, 0 when absent or not delta-seconds.
func AgeValue(h http.Header) time.Duration {
	v := h["Age"]
	if len(v) == 0 {
		return 0
	}
	s, _, _ := strings.Cut(v[0], ",")
	n := delta(strings.TrimSpace(s), true)
	if n < 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}

// CurrentAge is the age of the response at now (RFC 9111 §4.2.3):
//
//	apparent_age = max(0, response_time - date_value)
//	corrected_age_value = age_value + (response_time - request_time)
//	corrected_initial_age = max(apparent_age, corrected_age_value)
//	current_age = corrected_initial_age + (now - response_time)
func (r *Response) CurrentAge(now time.Time) time.Duration {
	return Aged(r.InitialAge(), r.ResponseTime, now)
}

// InitialAge is corrected_initial_age: the part of the current age that the
// stored header and the exchange's times fix, so that a cache can compute it
// once per stored response.
func (r *Response) InitialAge() time.Duration {
	apparent := r.ResponseTime.Sub(r.date())
	if apparent < 0 {
		apparent = 0
	}
	delay := r.ResponseTime.Sub(r.RequestTime)
	if delay < 0 {
		delay = 0
	}
	corrected := AgeValue(r.Header) + delay
	return max(apparent, corrected)
}

// Aged is current_age from corrected_initial_age: initial plus the time
// resident since responseTime.
func Aged(initial time.Duration, responseTime, now time.Time) time.Duration {
	resident := now.Sub(responseTime)
	if resident < 0 {
		resident = 0
	}
	return initial + resident
}

// StaleProhibited tells whether a stale copy of the response may never be
// served without revalidation in a shared cache: must-revalidate,
// proxy-revalidate, s-maxage (which implies proxy-revalidate) and an
// unqualified no-cache (RFC 9111 §4.2.4, §5.2.2).
func (r *Response) StaleProhibited() bool {
	return r.CC.MustRevalidate || r.CC.ProxyRevalidate || r.CC.SMaxAge != Absent || r.CC.NoCache
}

// Why a response is not stored; "" when it may be.
const (
	NotGET            = "method"
	NotFinal          = "status"
	NoStore           = "no-store"
	RequestNoStore    = "request-no-store"
	Private           = "private"
	Authorization     = "authorization"
	VaryStar          = "vary-star"
	NotUnderstood     = "must-understand"
	NoFreshness       = "no-freshness"
	SetCookie         = "set-cookie"
	PartialOrTrailers = "trailers"
)

// Storable tells whether a shared cache may store resp, the response to a
// GET whose request directives are req (RFC 9111 §3): "" when it may, or
// why not. authorized is whether the request had Authorization (§3.5).
//
// Beyond the RFC, a response with Set-Cookie is never stored: a cookie is
// one user's, and a stored copy (even with the cookie removed) would give
// every later user a response made for that one.
func Storable(req Directives, authorized bool, resp *Response) string {
	cc := &resp.CC
	switch {
	case resp.Status < 200 || resp.Status == 206 || resp.Status == 304:
		return NotFinal
	case cc.MustUnderstand && !Understood(resp.Status):
		return NotUnderstood
	case cc.NoStore && !cc.MustUnderstand:
		return NoStore
	case req.NoStore:
		return RequestNoStore
	case cc.Private:
		return Private
	case authorized && !cc.Public && !cc.MustRevalidate && cc.SMaxAge == Absent:
		return Authorization
	case hasVaryStar(resp.Header):
		return VaryStar
	case len(resp.Header["Set-Cookie"]) > 0:
		return SetCookie
	case len(resp.Header["Trailer"]) > 0:
		return PartialOrTrailers
	}
	if !resp.Explicit() && !cc.Public && !HeuristicallyCacheable(resp.Status) {
		return NoFreshness
	}
	return ""
}

func hasVaryStar(h http.Header) bool {
	for _, v := range h["Vary"] {
		for _, f := range strings.Split(v, ",") {
			if strings.TrimSpace(f) == "*" {
				return true
			}
		}
	}
	return false
}
