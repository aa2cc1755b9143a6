package config

import (
	"strings"
	"time"
)

// ApplyDefaults fills every absent value that has a documented default (the
// `doc` tags say which), so that the rest of usher reads values and never
// decides what an absent key means. It only fills zero values, so applying it
// twice changes nothing.
//
// Sections that switch a feature on stay absent when absent: no accessLog
// means no access log, no admin means no admin listener, no tracing means no span export, no healthCheck means
// no active checks. Two sections are always there after it: log, and for each
// load balancer its retry policy and transport, whose defaults are on.
func (c *Config) ApplyDefaults() {
	if c == nil {
		return
	}
	if c.Log == nil {
		c.Log = &Log{}
	}
	orStr(&c.Log.Level, "info")
	orStr(&c.Log.Format, "json")
	if a := c.AccessLog; a != nil {
		orStr(&a.Path, "stdout")
		orStr(&a.Format, "json")
	}
	if a := c.Admin; a != nil {
		orStr(&a.Address, "127.0.0.1:9090")
	}
	if t := c.Tracing; t != nil {
		orStr(&t.ServiceName, "usher")
		if t.SampleRatio == nil {
			one := 1.0
			t.SampleRatio = &one
		}
	}
	for _, ep := range c.Entrypoints {
		ep.applyDefaults()
	}
	if r := c.Redis; r != nil {
		orDur(&r.Timeout, 500*time.Millisecond)
		orN(&r.PoolSize, 64)
	}
	if p := c.Providers; p != nil && p.Docker != nil {
		orStr(&p.Docker.Endpoint, "unix:///var/run/docker.sock")
		if p.Docker.Watch == nil {
			on := true
			p.Docker.Watch = &on
		}
		orDur(&p.Docker.Throttle, 100*time.Millisecond)
	}
	if h := c.HTTP; h != nil {
		for name, s := range h.Services {
			s.applyDefaults(name)
		}
		for _, m := range h.Middlewares {
			if b, ok := m.spec().(*Buffering); ok {
				orSize(&b.MemRequestBodyBytes, 1<<20)
			}
			if f, ok := m.spec().(*ForwardAuth); ok {
				f.applyDefaults()
			}
			if j, ok := m.spec().(*JWT); ok {
				j.applyDefaults()
			}
			if a, ok := m.spec().(*APIKey); ok {
				a.applyDefaults()
			}
		}
	}
	if t := c.TCP; t != nil {
		for _, s := range t.Services {
			s.applyDefaults()
		}
	}
	if u := c.UDP; u != nil {
		for _, s := range u.Services {
			s.applyDefaults()
		}
	}
	if t := c.TLS; t != nil {
		for _, o := range t.Options {
			if o == nil {
				continue
			}
			orStr(&o.MinVersion, "1.2")
			orStr(&o.MaxVersion, "1.3")
			if o.ClientAuth != nil {
				orStr(&o.ClientAuth.Mode, "none")
			}
		}
	}
}

func (ep *Entrypoint) applyDefaults() {
	if ep == nil {
		return
	}
	orStr(&ep.Protocol, "http")
	if ep.Protocol == "http" {
		orDur(&ep.ReadHeaderTimeout, 10*time.Second)
		orDur(&ep.IdleTimeout, 180*time.Second)
		orDur(&ep.BodyIdleTimeout, 60*time.Second)
		orSize(&ep.MaxHeaderBytes, 64<<10)
	}
	orDur(&ep.GracePeriod, 10*time.Second)
	if ep.Protocol == "http" && ep.SanitizePath == nil {
		t := true
		ep.SanitizePath = &t
	}
	if ep.TLS != nil {
		orStr(&ep.TLS.Options, "default")
	}
}

func (s *Service) applyDefaults(name string) {
	if s == nil {
		return
	}
	if lb := s.LoadBalancer; lb != nil {
		lb.applyDefaults(name)
	}
	if w := s.Weighted; w != nil {
		for i := range w.Services {
			orInt(&w.Services[i].Weight, 1)
		}
		w.Sticky.applyDefaults(name)
		w.Canary.applyDefaults()
		if w.BucketBy != "" {
			orStr(&w.VariantHeader, VariantHeader)
		}
	}
	if m := s.Mirror; m != nil {
		orSize(&m.MaxBodySize, 64<<10)
		m.Compare.applyDefaults()
		for i := range m.Mirrors {
			if m.Mirrors[i].Percent == nil {
				hundred := 100
				m.Mirrors[i].Percent = &hundred
			}
		}
	}
}

func (lb *LoadBalancer) applyDefaults(service string) {
	orStr(&lb.Algorithm, "round-robin")
	if lb.HashBalanceFactor == 0 {
		lb.HashBalanceFactor = 1.25
	}
	orDur(&lb.Decay, 10*time.Second)
	if lb.PassHostHeader == nil {
		t := true
		lb.PassHostHeader = &t
	}
	for i := range lb.Servers {
		orInt(&lb.Servers[i].Weight, 1)
	}
	lb.Sticky.applyDefaults(service)
	if hc := lb.HealthCheck; hc != nil {
		if hc.Kind == "" {
			hc.Kind = hc.Mode
		}
		orStr(&hc.Kind, "http")
		if hc.Kind == "http" {
			orStr(&hc.Path, "/")
			orStr(&hc.Method, "GET")
			orStr(&hc.ExpectStatus, "200-399")
		}
		orDur(&hc.Interval, 3*time.Second)
		// 1s, or less when the interval is shorter: a probe ends before the
		// next. This is the one default of the probe timeout (Validate keeps
		// the interval at 1ms or more, so it is never 0).
		orDur(&hc.Timeout, max(time.Millisecond, min(time.Second, hc.Interval.D()*4/5)))
		orN(&hc.HealthyAfter, 2)
		orN(&hc.UnhealthyAfter, 3)
	}
	if p := lb.PassiveHealthCheck; p != nil {
		orN(&p.MaxFailures, 5)
		orDur(&p.Window, 10*time.Second)
		orDur(&p.EjectFor, 30*time.Second)
		orN(&p.MaxEjectedPercent, 50)
	}
	if lb.Retry == nil {
		lb.Retry = &Retry{}
	}
	orInt(&lb.Retry.Attempts, 2)
	if lb.Retry.OnStatus == nil {
		lb.Retry.OnStatus = []int{502, 503, 504}
	}
	if lb.Retry.Methods == nil {
		lb.Retry.Methods = []string{"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}
	}
	orStr(&lb.WhenNoHealthy, "503")
	lb.Queue.applyDefaults()
	lb.Autoscale.applyDefaults()
	if lb.Transport == nil {
		lb.Transport = &Transport{}
	}
	t := lb.Transport
	orDur(&t.DialTimeout, 2*time.Second)
	orDur(&t.ResponseHeaderTimeout, 30*time.Second)
	orDur(&t.IdleConnTimeout, 90*time.Second)
	orN(&t.MaxIdleConnsPerHost, 256)
}

func (s *Sticky) applyDefaults(service string) {
	if s == nil || s.Cookie == nil {
		return
	}
	orStr(&s.Cookie.Name, StickyCookieName(service))
	orStr(&s.Cookie.Path, "/")
}

// StickyCookieName is the cookie name of a sticky service that names none:
// "usher_" and the service name, with characters a cookie name cannot hold
// turned into "_".
func StickyCookieName(service string) string {
	return "usher_" + strings.Map(func(r rune) rune {
		if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return r
		}
		return '_'
	}, service)
}

func (s *TCPService) applyDefaults() {
	if s == nil || s.LoadBalancer == nil {
		return
	}
	for i := range s.LoadBalancer.Servers {
		orInt(&s.LoadBalancer.Servers[i].Weight, 1)
	}
}

// spec is m.Spec, or nil for a nil middleware.
func (m *Middleware) spec() any {
	if m == nil {
		return nil
	}
	return m.Spec
}

func orStr(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func orDur(p *Duration, v time.Duration) {
	if *p == 0 {
		*p = Duration(v)
	}
}

func orSize(p *ByteSize, v ByteSize) {
	if *p == 0 {
		*p = v
	}
}

func orN(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func orInt(p **int, v int) {
	if *p == nil {
		*p = &v
	}
}

// The defaults of mirror.compare.
const MirrorCompareMaxBodySize ByteSize = 1 << 20

func (c *MirrorCompare) applyDefaults() {
	if c == nil {
		return
	}
	for _, p := range []**bool{&c.Status, &c.Body} {
		if *p == nil {
			t := true
			*p = &t
		}
	}
	orSize(&c.MaxBodySize, MirrorCompareMaxBodySize)
}
