package config

import "time"

// Queue is where a load balancer's requests wait while every server is at its
// maxConns (HAProxy's maxqueue and timeout queue): first come, first served,
// bounded in length and in time, so that overload gets a fast 503 with
// Retry-After instead of piling up.
type Queue struct {
	MaxSize int      `json:"maxSize,omitempty" doc:"most requests waiting at once; one more gets 503 at once; default 100"`
	Timeout Duration `json:"timeout,omitempty" doc:"longest wait for a server; a request still waiting then gets 503; default 1s"`
}

// Defaults of Queue.
const (
	DefaultQueueMaxSize = 100
	DefaultQueueTimeout = time.Second
)

func (q *Queue) applyDefaults() {
	if q == nil {
		return
	}
	orN(&q.MaxSize, DefaultQueueMaxSize)
	orDur(&q.Timeout, DefaultQueueTimeout)
}

// ServerMaxConns is the limit of lb's server i: its own maxConns, else the load
// balancer's maxConnsPerServer; 0 is none.
func (lb *LoadBalancer) ServerMaxConns(i int) int {
	if n := lb.Servers[i].MaxConns; n > 0 {
		return n
	}
	return lb.MaxConnsPerServer
}
