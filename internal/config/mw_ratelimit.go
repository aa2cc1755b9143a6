package config

import "time"

// RateLimit limits how often each client (or API key, host, header value,
// token claim) may send requests: GCRA, a token bucket of burst requests
// refilled at average per period. The defaults are applied by the middleware
// (RateLimitPeriod and the others below), so that a config built in code gets
// them too.
type RateLimit struct {
	Average      int64    `json:"average" doc:"requests let through per period, sustained; required, 1 or more"`
	Period       Duration `json:"period,omitempty" doc:"the period average counts over; default 1s"`
	Burst        int64    `json:"burst,omitempty" doc:"requests let through at once, on top of none in the bucket's past; default 1"`
	Key          string   `json:"key,omitempty" doc:"what a bucket is kept for: clientIP, host, apiKey, header:NAME, claim:NAME; default clientIP"`
	IPv6Subnet   int      `json:"ipv6Subnet,omitempty" doc:"IPv6 clients share a bucket per prefix of this length (e.g. 64); default 0 = per address"`
	Store        string   `json:"store,omitempty" doc:"memory (this usher's) or redis (shared by every usher on the static redis section); default memory"`
	OnStoreError string   `json:"onStoreError,omitempty" doc:"when Redis does not answer: allow (let requests through) or deny (503); default allow"`
	MaxKeys      int      `json:"maxKeys,omitempty" doc:"memory store: buckets kept, the least recently used dropped beyond; default 100000"`
}

// InFlightReq limits the requests in progress at once per key.
type InFlightReq struct {
	Amount     int64  `json:"amount" doc:"requests in progress at once per key; the next gets 429; required, 1 or more"`
	Key        string `json:"key,omitempty" doc:"what requests are counted by, as rateLimit's key; default clientIP"`
	IPv6Subnet int    `json:"ipv6Subnet,omitempty" doc:"IPv6 clients are counted per prefix of this length; default 0 = per address"`
}

// The defaults of rateLimit and inFlightReq.
const (
	RateLimitPeriod  = time.Second
	RateLimitBurst   = 1
	RateLimitKey     = "clientIP"
	RateLimitStore   = "memory"
	RateLimitOnError = "allow"
	RateLimitMaxKeys = 100000
)
