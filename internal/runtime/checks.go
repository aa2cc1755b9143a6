package runtime

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/health"
)

// healthCheck compiles a load balancer's healthCheck (its defaults applied)
// into the spec its probers run; tc is the TLS client config of the load
// balancer's transport, which probes share with requests. A check that
// cannot run is a problem: the config is refused, never half applied.
func (c *compiler) healthCheck(path string, hc *config.HealthCheck, tc *tls.Config) (*health.Check, bool) {
	if hc == nil {
		return nil, true
	}
	ck := &health.Check{
		TCP:            hc.Kind == "tcp",
		GRPC:           hc.Kind == "grpc",
		GRPCService:    hc.GRPCService,
		Method:         hc.Method,
		Host:           hc.Hostname,
		Port:           hc.Port,
		Interval:       hc.Interval.D(),
		Timeout:        hc.Timeout.D(),
		HealthyAfter:   hc.HealthyAfter,
		UnhealthyAfter: hc.UnhealthyAfter,
		TLS:            tc,
	}
	ok := true
	if !ck.TCP && !ck.GRPC {
		u, err := url.Parse(hc.Path)
		if err != nil {
			c.problem(path+".path", "%q is not a path: %v", hc.Path, urlCause(err))
			ok = false
		} else {
			ck.Path, ck.Query = u.Path, u.RawQuery
		}
		if ck.StatusMin, ck.StatusMax, err = statusRange(hc.ExpectStatus); err != nil {
			c.problem(path+".expectStatus", "%v", err)
			ok = false
		}
		if hc.ExpectBody != "" {
			if ck.Body, err = regexp.Compile(hc.ExpectBody); err != nil {
				c.problem(path+".expectBody", "bad regexp: %v", err)
				ok = false
			}
		}
	}
	if !ck.TCP {
		for _, k := range sortedKeys(hc.Headers) {
			if strings.EqualFold(k, "Host") {
				ck.Host = hc.Headers[k]
				continue
			}
			if ck.Header == nil {
				ck.Header = http.Header{}
			}
			ck.Header.Set(k, hc.Headers[k])
		}
	}
	if !ok {
		return nil, false
	}
	if err := ck.Validate(); err != nil {
		c.problem(path, "%v", err)
		return nil, false
	}
	return ck, true
}

// passiveCheck compiles a passiveHealthCheck (its defaults applied).
func (c *compiler) passiveCheck(path string, p *config.PassiveHealthCheck) (health.PassiveCheck, bool) {
	pc := health.PassiveCheck{
		MaxFailures:       p.MaxFailures,
		Window:            p.Window.D(),
		EjectFor:          p.EjectFor.D(),
		MaxEjectedPercent: p.MaxEjectedPercent,
		On5xx:             p.On5xx,
	}
	if err := pc.Validate(); err != nil {
		c.problem(path, "%v", err)
		return pc, false
	}
	return pc, true
}

// statusRange reads "200" or "200-399".
func statusRange(s string) (lo, hi int, err error) {
	a, b, isRange := strings.Cut(strings.TrimSpace(s), "-")
	if !isRange {
		b = a
	}
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || lo < 100 || hi > 599 || hi < lo {
		return 0, 0, fmt.Errorf("%q is not a status or a range of statuses (like 200 or 200-399)", s)
	}
	return lo, hi, nil
}

// urlCause drops url.Error's repetition of the URL, which the message quotes.
func urlCause(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
