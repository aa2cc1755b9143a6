package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// errors checks an errors middleware: statuses and ranges of real codes, a
// service that exists, a query that is a path with known placeholders.
func (v *validator) errors(p string, s *Errors) {
	if len(s.Status) == 0 {
		v.add(p+".status", "at least one status or range is required, like \"500-599\" or \"404\"")
	}
	for i, st := range s.Status {
		if _, err := ParseStatusList(st); err != nil {
			v.add(fmt.Sprintf("%s.status[%d]", p, i), "%v", err)
		}
	}
	if _, err := StatusRewrites(s.StatusRewrites); err != nil {
		v.add(p+".statusRewrites", "%v", err)
	}
	v.serviceRef(p+".service", s.Service)
	if err := CheckErrorsQuery(s.Query); err != nil {
		v.add(p+".query", "%v", err)
	}
}

// StatusRange is a range of statuses, both ends included; To is what
// statusRewrites makes of them.
type StatusRange struct{ Lo, Hi, To int }

// ParseStatusList reads statuses and ranges separated by commas
// ("404,500-599").
func ParseStatusList(s string) ([]StatusRange, error) {
	var out []StatusRange
	for _, part := range strings.Split(s, ",") {
		lo, hi, err := ParseStatusRange(part)
		if err != nil {
			return nil, err
		}
		out = append(out, StatusRange{Lo: lo, Hi: hi})
	}
	return out, nil
}

// StatusRewrites checks the statusRewrites of an errors middleware and
// returns its ranges in the order of their keys: keys are statuses or
// ranges, values statuses from 100 to 599, and no status is rewritten by two
// keys.
func StatusRewrites(m map[string]int) ([]StatusRange, error) {
	var out []StatusRange
	for _, k := range sortedKeys(m) {
		to := m[k]
		if to < 100 || to > 599 {
			return nil, fmt.Errorf("%q: %d is not a status from 100 to 599", k, to)
		}
		rs, err := ParseStatusList(k)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			for _, o := range out {
				if r.Lo <= o.Hi && o.Lo <= r.Hi {
					return nil, fmt.Errorf("%q overlaps another key: a status is rewritten by one key only", k)
				}
			}
			r.To = to
			out = append(out, r)
		}
	}
	return out, nil
}

// ParseStatusRange reads "404" or "500-599" (both ends included), codes
// from 100 to 599.
func ParseStatusRange(s string) (lo, hi int, err error) {
	a, b, isRange := strings.Cut(strings.TrimSpace(s), "-")
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi = lo
	var err2 error
	if isRange {
		hi, err2 = strconv.Atoi(strings.TrimSpace(b))
	}
	switch {
	case err1 != nil || err2 != nil:
		return 0, 0, fmt.Errorf("%q is not a status (404) or a range of statuses (500-599)", s)
	case lo < 100 || lo > 599 || hi < 100 || hi > 599:
		return 0, 0, fmt.Errorf("%q: statuses are 100 to 599", s)
	case lo > hi:
		return 0, 0, fmt.Errorf("%q: the range ends before it starts", s)
	}
	return lo, hi, nil
}

// CheckErrorsQuery checks the query of an errors middleware: a path (a
// leading / is added when missing) with an optional query, no scheme, host
// or fragment, and no placeholder but {status}, {originalStatus} and {url}.
func CheckErrorsQuery(q string) error {
	rest := q
	for {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return fmt.Errorf("%q has a { without its }", q)
		}
		if ph := rest[i : i+j+1]; ph != "{status}" && ph != "{originalStatus}" && ph != "{url}" {
			return fmt.Errorf("%q: unknown placeholder %s; the placeholders are {status}, {originalStatus} and {url}", q, ph)
		}
		rest = rest[i+j+1:]
	}
	if strings.Contains(rest, "}") {
		return fmt.Errorf("%q has a } without its {", q)
	}
	sample := "/" + strings.TrimPrefix(q, "/")
	sample = strings.NewReplacer("{status}", "503", "{originalStatus}", "503", "{url}", "x").Replace(sample)
	if strings.HasPrefix(sample, "//") {
		return fmt.Errorf("%q must be a path on the error service, not a URL", q)
	}
	u, err := url.ParseRequestURI(sample)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a path and query: %v", q, err)
	case strings.ContainsAny(sample, "# \t\r\n"):
		return fmt.Errorf("%q must be a path and query, without spaces or a fragment", q)
	case u.Host != "" || u.Scheme != "":
		return fmt.Errorf("%q must be a path on the error service, not a URL", q)
	}
	return nil
}
