package service

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"

	"github.com/usher-lb/usher/internal/bucketkey"
	"github.com/usher-lb/usher/internal/observe"
)

// Bucket sends each user of a weighted service to one arm, chosen by a
// stable key (a cookie, a header, a token claim, the client's address) with
// weighted rendezvous hashing: every arm scores the key, weight/-ln(hash),
// and the highest score wins. The choice depends only on the key, the arms'
// names and their weights, so it is the same on every request, across
// reloads and restarts and on every usher instance; when a weight changes,
// only the users that the change must move (to the arm that grew, from the
// arm that shrank) change arm. An arm with no available server is skipped
// for the next best, which each user takes back once the arm recovers.
//
// A request without the key (no such cookie, header or claim) is bucketed by
// its client address instead.
type Bucket struct {
	src   bucketkey.Source
	seeds []uint64 // per arm, from its name
}

// NewBucket returns the bucketing by spec (cookie:NAME, header:NAME,
// claim:NAME or clientIP) over arms of these names.
func NewBucket(spec string, arms []string) (*Bucket, error) {
	src, err := bucketkey.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("bucketBy: %w", err)
	}
	b := &Bucket{src: src}
	seen := map[string]int{}
	for _, n := range arms {
		// The same service listed twice is two arms; each its own seed.
		k := n
		if c := seen[n]; c > 0 {
			k = n + "#" + strconv.Itoa(c)
		}
		seen[n]++
		b.seeds = append(b.seeds, bucketkey.Mix(bucketkey.Hash(k)))
	}
	return b, nil
}

// Arm returns the arm a key goes to under weights, every arm available; -1
// when every weight is 0. It is what serving does for a request with that key.
func (b *Bucket) Arm(key string, weights []int) int {
	return b.choose(bucketkey.Hash(key), weights, func(int) bool { return true })
}

func (b *Bucket) pick(w http.ResponseWriter, r *http.Request, weights []int, arms []Arm) int {
	return b.choose(b.keyHash(w, r), weights, func(i int) bool { return arms[i].Handler.Available() })
}

func (b *Bucket) choose(h uint64, weights []int, ok func(int) bool) int {
	best, bestScore := -1, 0.0
	for i, seed := range b.seeds {
		if weights[i] <= 0 || !ok(i) {
			continue
		}
		// u in (0, 1); -ln(u) is an exponential draw, and weight over it is
		// the weighted rendezvous score (Schindelhauer and Schomaker).
		u := (float64(bucketkey.Mix(h^seed)>>11) + 0.5) / (1 << 53)
		score := float64(weights[i]) / -math.Log(u)
		if best < 0 || score > bestScore {
			best, bestScore = i, score
		}
	}
	return best
}

// keyHash hashes the request's key, or its client address when it has none.
func (b *Bucket) keyHash(w http.ResponseWriter, r *http.Request) uint64 {
	switch b.src.Kind {
	case bucketkey.Cookie:
		if v, ok := bucketkey.CookieValue(r.Header["Cookie"], b.src.Name); ok {
			return bucketkey.Hash(v)
		}
	case bucketkey.Header:
		if v := r.Header[b.src.Name]; len(v) > 0 && v[0] != "" {
			return bucketkey.Hash(v[0])
		}
	case bucketkey.Claim:
		if rec := observe.From(w); rec != nil && rec.Identity != nil {
			if s := bucketkey.ClaimString(rec.Identity.Claims[b.src.Name]); s != "" {
				return bucketkey.Hash(s)
			}
		}
	}
	return bucketkey.HashAddr(clientAddr(w, r))
}

// clientAddr is the client's address as usher computed it (after the
// entrypoint's trustedProxies), else the connection's peer.
func clientAddr(w http.ResponseWriter, r *http.Request) string {
	if rec := observe.From(w); rec != nil && rec.ClientIP.IsValid() {
		return rec.ClientIP.String()
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap().String()
	}
	return host
}
