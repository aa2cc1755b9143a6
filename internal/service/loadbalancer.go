package service

import (
	"errors"
	"net/http"
	"time"

	"github.com/usher-lb/usher/internal/balance"
	"github.com/usher-lb/usher/internal/observe"
	"github.com/usher-lb/usher/internal/pool"
	"github.com/usher-lb/usher/internal/proxy"
)

// Target is one server of a load balancer with the upstream that reaches it.
type Target struct {
	Server   *pool.Server
	Upstream *proxy.Upstream
}

// LoadBalancer sends each request to one server chosen by its picker.
type LoadBalancer struct {
	name    string
	picker  balance.Picker
	targets map[*pool.Server]*proxy.Upstream
	servers []*pool.Server
	ro      proxy.RequestOptions
}

// LoadBalancerOptions configures NewLoadBalancer.
type LoadBalancerOptions struct {
	Balance  balance.Options
	PassHost bool
}

// NewLoadBalancer returns a load balancer over targets.
func NewLoadBalancer(name string, targets []Target, opts LoadBalancerOptions) (*LoadBalancer, error) {
	lb := &LoadBalancer{
		name:    name,
		targets: make(map[*pool.Server]*proxy.Upstream, len(targets)),
		ro:      proxy.RequestOptions{PassHost: opts.PassHost},
	}
	for _, t := range targets {
		lb.targets[t.Server] = t.Upstream
		lb.servers = append(lb.servers, t.Server)
	}
	p, err := balance.New(opts.Balance, lb.servers)
	if err != nil {
		return nil, err
	}
	lb.picker = p
	return lb, nil
}

// Servers returns the load balancer's servers, in config order.
func (lb *LoadBalancer) Servers() []*pool.Server { return lb.servers }

// Available tells whether any server can take a request.
func (lb *LoadBalancer) Available() bool {
	for _, s := range lb.servers {
		if s.Available() {
			return true
		}
	}
	return false
}

func (lb *LoadBalancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := lb.picker.Pick(0)
	if s == nil {
		noServer(w, "1")
		return
	}
	rec := observe.From(w)
	if rec != nil {
		rec.Service = lb.name
		rec.Server = s.Key[len(lb.name)+1:]
	}
	up := lb.targets[s]
	s.Start()
	if proxy.IsUpgrade(r) {
		out := up.ServeUpgrade(w, r, lb.ro)
		s.Done(out.Err != nil)
		return
	}
	start := time.Now()
	resp, err := up.RoundTrip(r, lb.ro)
	if err != nil {
		proxy.WriteError(w, err)
		s.Done(!errors.Is(err, proxy.ErrCanceled))
		return
	}
	if rec != nil {
		rec.TTFB = time.Since(start)
	}
	_, err = resp.WriteTo(w)
	s.Done(err != nil && !proxy.IsClientError(err))
}
